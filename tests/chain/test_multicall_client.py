"""Batched reads through the bundled Multicall3 on eth-tester: order, failures, chunking."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode

from bot.chain.multicall import Call, Multicall, Read, ReadFailed
from bot.chain.reverts import decode_revert
from bot.chain.rpc import RpcClient, RpcError
from bot.deploy.market import Market
from bot.protocols.base import AbiFunction

PRICE = AbiFunction.from_abi(
    [
        {
            "type": "function",
            "name": "getAssetPrice",
            "inputs": [{"name": "asset", "type": "address"}],
            "outputs": [{"name": "", "type": "uint256"}],
        }
    ],
    "getAssetPrice",
)


def _price_read(market: Market, asset: str) -> Read[int]:
    return Read(
        Call(market.deployment.oracle, PRICE.encode(asset)), lambda d: PRICE.decode(d)[0], asset
    )


def test_reads_come_back_in_order_with_failures_in_place(market: Market) -> None:
    rpc = RpcClient.for_web3(market.w3)
    multicall = Multicall(rpc, market.deployment.multicall3)
    tokens = [market.deployment.token(s) for s in market.specs]
    stranger = market.w3.eth.accounts[5]
    reads = [_price_read(market, t) for t in tokens]
    reads.insert(2, _price_read(market, stranger))  # no price source: reverts
    values = multicall.read_all(reads)
    assert rpc.stats.by_method["eth_call"] == 1
    expected = [int(spec.price_usd * 10**8) for spec in market.specs.values()]
    assert [v for i, v in enumerate(values) if i != 2] == expected
    failed = values[2]
    assert isinstance(failed, ReadFailed)
    assert decode_revert(failed.data).startswith("NoPriceSource")


def test_big_batches_are_chunked(market: Market) -> None:
    rpc = RpcClient.for_web3(market.w3)
    multicall = Multicall(rpc, market.deployment.multicall3, max_calls=3)
    tokens = [market.deployment.token(s) for s in market.specs] * 3  # 12 reads
    values = multicall.read_all([_price_read(market, t) for t in tokens])
    assert rpc.stats.by_method["eth_call"] == 4
    assert values == [int(s.price_usd * 10**8) for s in market.specs.values()] * 3


def test_a_disallowed_failure_fails_the_call(market: Market) -> None:
    rpc = RpcClient.for_web3(market.w3)
    multicall = Multicall(rpc, market.deployment.multicall3)
    stranger = market.w3.eth.accounts[5]
    call = Call(market.deployment.oracle, PRICE.encode(stranger), allow_failure=False)
    with pytest.raises(RpcError) as caught:
        multicall.aggregate3([call])
    assert caught.value.code == 3
    assert "Multicall3: call failed" in caught.value.message


def test_block_hashes_match_headers(market: Market) -> None:
    rpc = RpcClient.for_web3(market.w3)
    multicall = Multicall(rpc, market.deployment.multicall3)
    head = rpc.block_number()
    numbers = [head - 3, head - 2, head - 1, head]
    values = multicall.read_all([multicall.block_hash_read(n) for n in numbers], head)
    assert values[:3] == [rpc.get_block(n).hash for n in numbers[:3]]
    assert values[3] == "0x" + "00" * 32  # a block cannot see its own hash
    raw = multicall.aggregate3([multicall.block_hash_read(head - 1).call], head)
    assert raw[0].success and decode(["bytes32"], raw[0].data)[0].hex() == values[2][2:]
