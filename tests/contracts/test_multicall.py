from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract

from bot.chain.contracts import deploy_contract, transact
from tests.helpers import reverts

CALL_FAILED = "Multicall3: call failed"


@dataclass
class Env:
    w3: Web3
    owner: str
    multicall: Contract
    token: Contract
    feed: Contract


def _env(w3: Web3) -> Env:
    owner = w3.eth.accounts[0]
    multicall = deploy_contract(w3, "Multicall3", sender=owner)
    token = deploy_contract(w3, "TestToken", "USD Coin", "USDC", 6, sender=owner)
    transact(w3, token.functions.mint(owner, 5_000_000), owner)
    feed = deploy_contract(w3, "PriceFeed", 8, "USDC / USD", 99_990_000, 1, 10**12, sender=owner)
    return Env(w3, owner, multicall, token, feed)


@pytest.fixture
def env(w3: Web3) -> Env:
    return _env(w3)


def _data(contract: Contract, fn: str, *args: object) -> bytes:
    return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])


def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'].removeprefix('tuple')}"
    return str(item["type"])


def test_interface_selectors_match_multicall3(env: Env) -> None:
    # The selectors every Multicall3 client hard-codes.
    expected = {
        "aggregate": "252dba42",
        "aggregate3": "82ad56cb",
        "aggregate3Value": "174dea71",
        "blockAndAggregate": "c3077fa9",
        "getBasefee": "3e64a696",
        "getBlockHash": "ee82ac5e",
        "getBlockNumber": "42cbb15c",
        "getChainId": "3408e470",
        "getCurrentBlockCoinbase": "a8b0574e",
        "getCurrentBlockDifficulty": "72425d9d",
        "getCurrentBlockGasLimit": "86d516e8",
        "getCurrentBlockTimestamp": "0f28c97d",
        "getEthBalance": "4d2301cc",
        "getLastBlockHash": "27e86d6e",
        "tryAggregate": "bce38bd7",
        "tryBlockAndAggregate": "399542e9",
    }
    functions = {
        item["name"]: _selector(f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})")
        for item in env.multicall.abi
        if item["type"] == "function"
    }
    assert {name: sel.hex() for name, sel in functions.items()} == expected


def test_aggregate3_mixes_success_and_allowed_failure(env: Env) -> None:
    mc, token, feed, owner = env.multicall, env.token, env.feed, env.owner
    calls = [
        (token.address, False, _data(token, "balanceOf", owner)),
        # The multicall holds no tokens: this transfer fails, and is allowed to.
        (token.address, True, _data(token, "transfer", owner, 1)),
        (feed.address, False, _data(feed, "latestRoundData")),
        (feed.address, True, _data(feed, "getRoundData", 7)),
    ]
    results = mc.functions.aggregate3(calls).call()
    assert [ok for ok, _ in results] == [True, False, True, False]
    assert decode(["uint256"], results[0][1]) == (5_000_000,)
    assert results[1][1] == _selector("InsufficientBalance()")
    round_data = decode(["uint80", "int256", "uint256", "uint256", "uint80"], results[2][1])
    assert round_data[:2] == (1, 99_990_000)
    assert results[3][1] == _selector("NoDataPresent()")

    # The same failure, not allowed: the whole batch reverts.
    strict = [calls[0], (token.address, False, calls[1][2])]
    with reverts(CALL_FAILED):
        mc.functions.aggregate3(strict).call()


def test_aggregate_and_try_variants(env: Env) -> None:
    mc, token, feed, w3 = env.multicall, env.token, env.feed, env.w3
    good = [
        (token.address, _data(token, "decimals")),
        (feed.address, _data(feed, "latestAnswer")),
    ]
    bad = (feed.address, _data(feed, "getRoundData", 9))
    number = w3.eth.block_number
    block_number, data = mc.functions.aggregate(good).call()
    assert block_number == number
    assert [int.from_bytes(d, "big") for d in data] == [6, 99_990_000]
    with reverts(CALL_FAILED):
        mc.functions.aggregate([*good, bad]).call()

    results = mc.functions.tryAggregate(False, [bad, *good]).call()
    assert [ok for ok, _ in results] == [False, True, True]
    with reverts(CALL_FAILED):
        mc.functions.tryAggregate(True, [bad, *good]).call()

    block_number, block_hash, results = mc.functions.tryBlockAndAggregate(False, [bad]).call()
    assert block_number == number
    assert block_hash == b"\x00" * 32  # blockhash of the executing block, as in Multicall3
    assert [tuple(r) for r in results] == [(False, _selector("NoDataPresent()"))]
    block_number, _, results = mc.functions.blockAndAggregate(good).call()
    assert block_number == number
    assert [ok for ok, _ in results] == [True, True]
    with reverts(CALL_FAILED):
        mc.functions.blockAndAggregate([bad]).call()


def test_aggregate3_value(env: Env) -> None:
    w3, mc, token = env.w3, env.multicall, env.token
    alice, bob = w3.eth.accounts[1], w3.eth.accounts[2]
    before = w3.eth.get_balance(alice), w3.eth.get_balance(bob)
    calls = [(alice, False, 10**15, b""), (bob, False, 2 * 10**15, b"")]
    transact(w3, mc.functions.aggregate3Value(calls), env.owner, value=3 * 10**15)
    assert w3.eth.get_balance(alice) == before[0] + 10**15
    assert w3.eth.get_balance(bob) == before[1] + 2 * 10**15
    assert mc.functions.getEthBalance(alice).call() == before[0] + 10**15
    with reverts("Multicall3: value mismatch"):
        mc.functions.aggregate3Value(calls).call({"from": env.owner, "value": 10**15 * 4})
    # Value sent to a non-payable function fails; allowed, the ETH stays in the multicall.
    payable_fail = [(token.address, True, 5, _data(token, "decimals"))]
    results = mc.functions.aggregate3Value(payable_fail).call({"from": env.owner, "value": 5})
    assert results[0][0] is False
    with reverts(CALL_FAILED):
        mc.functions.aggregate3Value([(token.address, False, 5, b"\x31\x3c\xe5\x67")]).call(
            {"from": env.owner, "value": 5}
        )


def _check_block_helpers(w3: Web3, mc: Contract) -> None:
    latest = w3.eth.get_block("latest")
    f = mc.functions
    at = {"block_identifier": latest["number"]}
    assert f.getBlockNumber().call(**at) == latest["number"]
    assert f.getCurrentBlockTimestamp().call(**at) == latest["timestamp"]
    assert f.getCurrentBlockGasLimit().call(**at) == latest["gasLimit"]
    assert f.getCurrentBlockCoinbase().call(**at) == latest["miner"]
    assert f.getBasefee().call(**at) == latest["baseFeePerGas"]
    assert f.getChainId().call() == w3.eth.chain_id
    parent = w3.eth.get_block(latest["number"] - 1)
    assert f.getLastBlockHash().call(**at) == parent["hash"]
    assert f.getBlockHash(parent["number"]).call(**at) == parent["hash"]
    assert f.getBlockHash(latest["number"] + 5).call(**at) == b"\x00" * 32
    account = w3.eth.accounts[3]
    assert f.getEthBalance(account).call(**at) == w3.eth.get_balance(account, latest["number"])


def test_block_helpers(env: Env) -> None:
    _check_block_helpers(env.w3, env.multicall)


@pytest.mark.anvil
def test_multicall_on_anvil(anvil_w3: Web3) -> None:
    env = _env(anvil_w3)
    mc, token, feed = env.multicall, env.token, env.feed
    calls = [
        (token.address, False, _data(token, "totalSupply")),
        (token.address, True, _data(token, "transfer", env.owner, 1)),
        (feed.address, False, _data(feed, "latestAnswer")),
    ]
    results = mc.functions.aggregate3(calls).call()
    assert [ok for ok, _ in results] == [True, False, True]
    assert int.from_bytes(results[2][1], "big") == 99_990_000
    with reverts(CALL_FAILED):
        mc.functions.aggregate3([(token.address, False, calls[1][2])]).call()
    _check_block_helpers(anvil_w3, mc)
