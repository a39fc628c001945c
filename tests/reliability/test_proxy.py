"""The fault proxy itself: each fault kind does what the matrix relies on, at the HTTP level,
and geth's replacement rule is enforced where anvil does not enforce it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

from bot.chain.anvil import Anvil
from tests.execute.scenario import BOT_KEY, GWEI
from tests.reliability.proxy import Fault, Lie, RpcProxy

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with Anvil() as a:
        yield a


@pytest.fixture
def proxy(node: Anvil) -> Iterator[RpcProxy]:
    with RpcProxy(node.url) as p:
        yield p


def _post(proxy: RpcProxy, method: str, params: list[Any], rid: int = 7) -> requests.Response:
    body: Any = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    return requests.post(proxy.url, json=body, timeout=5)


def test_faults_are_scheduled_per_method_and_call_number(proxy: RpcProxy) -> None:
    proxy.inject("eth_blockNumber", Fault.http(429), calls={2, 4})
    statuses = [_post(proxy, "eth_blockNumber", []).status_code for _ in range(5)]
    assert statuses == [200, 429, 200, 429, 200]
    assert _post(proxy, "eth_chainId", []).status_code == 200  # other methods untouched
    proxy.clear()
    proxy.inject("eth_chainId", Fault.http(503), times=1)
    assert [_post(proxy, "eth_chainId", []).status_code for _ in range(2)] == [503, 200]


def test_transport_faults(proxy: RpcProxy) -> None:
    proxy.inject("eth_blockNumber", Fault.non_json(), times=1)
    with pytest.raises(ValueError):
        _post(proxy, "eth_blockNumber", []).json()
    proxy.inject("eth_blockNumber", Fault.wrong_id(), times=1)
    assert _post(proxy, "eth_blockNumber", [], rid=7).json()["id"] != 7
    proxy.inject("eth_blockNumber", Fault.drop(), times=1)
    with pytest.raises(requests.ConnectionError):
        _post(proxy, "eth_blockNumber", [])
    assert proxy.counts["eth_blockNumber"] == 3  # the dropped one reached the proxy
    proxy.inject("eth_blockNumber", Fault.delay(1.0), times=1)
    with pytest.raises(requests.Timeout):
        requests.post(
            proxy.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            timeout=0.3,
        )


def test_lies_and_rewritten_errors(node: Anvil, proxy: RpcProxy) -> None:
    honest = Web3(Web3.HTTPProvider(node.url))
    account = str(honest.eth.accounts[0])
    proxy.inject("eth_chainId", Fault.lying(Lie.CHAIN_ID, 5), times=1)
    assert int(_post(proxy, "eth_chainId", []).json()["result"], 16) == honest.eth.chain_id + 5
    honest.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    proxy.inject("eth_blockNumber", Fault.lying(Lie.OLD_BLOCK, 1), times=1)
    lagged = int(_post(proxy, "eth_blockNumber", []).json()["result"], 16)
    assert lagged == honest.eth.block_number - 1
    proxy.inject("eth_getTransactionCount", Fault.lying(Lie.HUGE_HEX), times=1)
    assert _post(proxy, "eth_getTransactionCount", [account, "latest"]).json()["result"] == (
        "0x" + "f" * 64
    )
    fake_hash = "0x" + "ab" * 32
    proxy.inject("eth_getTransactionReceipt", Fault.lying(Lie.FAKE_RECEIPT))
    fake = _post(proxy, "eth_getTransactionReceipt", [fake_hash]).json()["result"]
    assert (
        fake["status"] == "0x1"
        and fake["blockHash"] == honest.eth.get_block("latest")["hash"].to_0x_hex()
    )
    proxy.clear()
    proxy.inject("eth_sendRawTransaction", Fault.rewrite("AlreadyKnown"), times=1)
    answer = _post(proxy, "eth_sendRawTransaction", ["0x00"]).json()
    assert answer["error"]["message"] == "AlreadyKnown"  # the node's own words replaced


def test_blackholed_send_is_answered_and_never_forwarded(node: Anvil, proxy: RpcProxy) -> None:
    honest = Web3(Web3.HTTPProvider(node.url))
    signed = Account.from_key(BOT_KEY).sign_transaction(
        {
            "chainId": honest.eth.chain_id,
            "nonce": 0,
            "to": list(honest.eth.accounts)[1],
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        }
    )
    proxy.inject("eth_sendRawTransaction", Fault.blackhole(), times=1)
    raw = "0x" + bytes(signed.raw_transaction).hex()
    reply = _post(proxy, "eth_sendRawTransaction", [raw]).json()
    assert reply["result"] == "0x" + bytes(signed.hash).hex()
    (sent,) = proxy.sends
    assert not sent.forwarded and sent.nonce == 0
    with pytest.raises(Exception, match="not found"):
        honest.eth.get_transaction(signed.hash)


def test_geth_replacement_rule_is_enforced(node: Anvil, proxy: RpcProxy) -> None:
    honest = Web3(Web3.HTTPProvider(node.url))
    key = Account.create().key
    sender = Account.from_key(key).address
    honest.provider.make_request("anvil_setBalance", [sender, hex(10**18)])  # type: ignore[arg-type]
    honest.provider.make_request("anvil_setAutomine", [False])  # type: ignore[arg-type]
    try:

        def send(max_fee: int, tip: int, value: int) -> dict[str, object]:
            signed = Account.from_key(key).sign_transaction(
                {
                    "chainId": honest.eth.chain_id,
                    "nonce": 0,
                    "to": sender,
                    "value": value,
                    "gas": 21_000,
                    "maxFeePerGas": max_fee,
                    "maxPriorityFeePerGas": tip,
                }
            )
            raw = "0x" + bytes(signed.raw_transaction).hex()
            reply: dict[str, object] = _post(proxy, "eth_sendRawTransaction", [raw]).json()
            return reply

        assert "result" in send(100 * GWEI, 10 * GWEI, 0)
        # anvil would take this (only the max fee rose); geth refuses: the tip did not.
        refused = send(200 * GWEI, 10 * GWEI, 1)
        assert refused["error"] == {
            "code": -32000,
            "message": "replacement transaction underpriced",
        }
        assert "error" in send(109 * GWEI, 11 * GWEI, 2)  # 9%: still under the 10% rule
        assert "result" in send(110 * GWEI, 11 * GWEI, 3)  # exactly 10% on both: accepted
        assert [s.answer for s in proxy.sends].count("replacement transaction underpriced") == 2
    finally:
        honest.provider.make_request("anvil_setAutomine", [True])  # type: ignore[arg-type]
