"""The multi-endpoint RPC client against real nodes: anvil behind a fault-injecting proxy,
and the in-process eth-tester chain."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil, free_port
from bot.chain.rpc import (
    HttpEndpoint,
    RetryPolicy,
    RpcClient,
    RpcError,
    RpcTransportError,
    RpcUnavailable,
    Web3Endpoint,
    _eip55,
    checksum_address,
)
from tests.chain.rpc_proxy import RpcProxy

FAST = RetryPolicy(attempts=4, timeout=0.5, base_delay=0.01, max_delay=0.05, cooldown=0.3)


@pytest.fixture
def proxy(anvil: Anvil) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as p:
        yield p


def dead_url(secret: str = "") -> str:
    return f"http://127.0.0.1:{free_port()}{secret}"


def test_counts_every_request_by_method(anvil: Anvil, proxy: RpcProxy) -> None:
    rpc = RpcClient([proxy.url], policy=FAST)
    rpc.block_number()
    rpc.get_block("latest")
    rpc.chain_id()
    rpc.block_number()
    assert rpc.stats.requests == 4 == proxy.total
    assert rpc.stats.by_method["eth_blockNumber"] == 2 == proxy.counts["eth_blockNumber"]
    assert rpc.stats.retries == rpc.stats.failovers == 0


def test_a_timeout_is_retried(anvil: Anvil, proxy: RpcProxy) -> None:
    proxy.faults.delays["eth_blockNumber"] = (1.5, 1)  # longer than the 0.5 s timeout, once
    rpc = RpcClient([proxy.url], policy=FAST)
    started = time.monotonic()
    assert rpc.block_number() == Web3(Web3.HTTPProvider(anvil.url)).eth.block_number
    assert rpc.stats.timeouts == 1
    assert rpc.stats.retries == 1
    assert proxy.counts["eth_blockNumber"] == 2
    assert time.monotonic() - started < 1.5


def test_error_answers_are_not_retried(anvil: Anvil, proxy: RpcProxy) -> None:
    rpc = RpcClient([proxy.url], policy=FAST)
    proxy.faults.errors["eth_chainId"] = [(-32602, "invalid params")]
    with pytest.raises(RpcError) as caught:
        rpc.chain_id()
    assert caught.value.code == -32602
    assert proxy.counts["eth_chainId"] == 1
    # Transient answers (rate limits) are retried.
    proxy.faults.errors["eth_chainId"] = [(-32005, "rate limit exceeded")]
    assert rpc.chain_id() == anvil.chain_id
    assert proxy.counts["eth_chainId"] == 3


def test_fails_over_from_a_dead_url(anvil: Anvil, proxy: RpcProxy) -> None:
    rpc = RpcClient([dead_url(), proxy.url], policy=FAST)
    for _ in range(5):
        rpc.block_number()
    assert rpc.stats.failovers == 1
    assert rpc.current == f"http://127.0.0.1:{proxy.port}"
    # The dead endpoint is not tried again while it cools down.
    assert rpc.stats.errors == 1
    assert proxy.counts["eth_blockNumber"] == 5


def test_fails_back_to_the_preferred_endpoint(anvil: Anvil) -> None:
    with RpcProxy(anvil.url) as preferred, RpcProxy(anvil.url) as backup:
        rpc = RpcClient([preferred.url, backup.url], policy=FAST)
        rpc.block_number()
        preferred.faults.down = True
        rpc.block_number()
        rpc.block_number()
        assert rpc.stats.failovers == 1
        assert backup.counts["eth_blockNumber"] == 2
        preferred.faults.down = False
        time.sleep(FAST.cooldown + 0.05)
        rpc.block_number()
        assert rpc.stats.failbacks == 1
        assert rpc.current == f"http://127.0.0.1:{preferred.port}"
        assert preferred.counts["eth_blockNumber"] == 2


def test_gives_up_after_bounded_attempts_and_redacts_urls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "/v3/SECRET-API-KEY"
    rpc = RpcClient([dead_url(secret), dead_url(secret + "?key=x")], policy=FAST)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(RpcUnavailable) as caught:
        rpc.block_number()
    assert time.monotonic() - started < 2
    assert caught.value.attempts == FAST.attempts
    assert rpc.stats.requests == FAST.attempts
    assert "SECRET" not in str(caught.value)
    assert caplog.records and all("SECRET" not in r.getMessage() for r in caplog.records)
    assert all(e.name.endswith("/…") for e in rpc.endpoints)


def test_a_lagging_node_is_noticed_and_avoided(anvil: Anvil) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    for _ in range(12):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    with RpcProxy(anvil.url) as lagging, RpcProxy(anvil.url) as good:
        lagging.faults.head_lag = 10
        rpc = RpcClient([lagging.url, good.url], policy=FAST, max_head_lag=3)
        heads = rpc.check_heads()
        head = w3.eth.block_number
        assert heads == {
            f"http://127.0.0.1:{lagging.port}": head - 10,
            f"http://127.0.0.1:{good.port}": head,
        }
        assert rpc.lagging() == [f"http://127.0.0.1:{lagging.port}"]
        assert rpc.current == f"http://127.0.0.1:{good.port}"
        good.reset_counts()
        assert rpc.get_block("latest").number == head
        assert good.counts["eth_getBlockByNumber"] == 1
        lagging.faults.head_lag = 0
        rpc.check_heads()
        assert rpc.lagging() == []
        rpc.block_number()  # the next request goes back to the preferred endpoint
        assert rpc.current == f"http://127.0.0.1:{lagging.port}"
        assert rpc.stats.failbacks == 1


def test_maybe_check_heads_is_rate_limited(anvil: Anvil, proxy: RpcProxy) -> None:
    single = RpcClient([proxy.url], policy=FAST, head_check_interval=0)
    single.maybe_check_heads()
    assert proxy.total == 0  # nothing to compare with one endpoint
    double = RpcClient([proxy.url, proxy.url], policy=FAST, head_check_interval=60)
    double.maybe_check_heads()
    double.maybe_check_heads()
    assert proxy.counts["eth_blockNumber"] == 2  # one check, two endpoints


def test_in_process_chain_through_web3_endpoint(w3: Web3) -> None:
    rpc = RpcClient([Web3Endpoint(w3, "eth-tester")])
    account = w3.eth.accounts[0]
    tx = w3.eth.send_transaction({"from": account, "to": w3.eth.accounts[1], "value": 1})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    header = rpc.get_block(receipt["blockNumber"])
    assert header.hash == "0x" + bytes(receipt["blockHash"]).hex()
    assert header.number == rpc.block_number()
    assert rpc.get_block("latest").parent_hash == rpc.get_block(header.number - 1).hash
    assert rpc.call(account, b"") == b""
    assert rpc.stats.by_method["eth_getBlockByNumber"] == 3


def test_checksum_spelling_is_eip55_in_every_input_form() -> None:
    """The table-driven EIP-55 agrees with web3's on random addresses, whatever their case
    or prefix, and refuses what web3 refuses."""
    rng = random.Random(55)
    for _ in range(2_000):
        lower = "0x" + rng.randbytes(20).hex()
        spelt = Web3.to_checksum_address(lower)
        for form in (lower, spelt, "0X" + lower[2:].upper(), lower[2:], spelt.lower()):
            assert checksum_address(form) == spelt, form
    for bad in ("0x12", "0x" + "zz" * 20, "hello", "0x" + "ab" * 21, "0x" + "ab" * 19 + "g0"):
        with pytest.raises(ValueError):
            checksum_address(bad)


def test_a_new_spelling_of_a_known_address_computes_no_checksum_again() -> None:
    """Logs spell addresses in lower case and the model in EIP-55: each address is hashed
    once, whatever spelling comes first."""
    lower = "0x" + random.Random(56).randbytes(20).hex()
    spelt = Web3.to_checksum_address(lower)
    assert checksum_address(lower) == spelt
    computed = _eip55.cache_info().misses
    assert checksum_address(spelt) == spelt
    assert checksum_address("0X" + lower[2:].upper()) == spelt
    assert _eip55.cache_info().misses == computed


class _Node(BaseHTTPRequestHandler):
    """A JSON-RPC answerer on loopback that notes each TCP connection it serves; a body of
    ``short`` bytes fewer than its Content-Length says, then the connection drops."""

    protocol_version = "HTTP/1.1"
    body = b""
    short = 0
    peers: ClassVar[list[tuple[str, int]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.peers.append(self.client_address)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body[: len(self.body) - self.short])
        if self.short:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def node() -> Iterator[tuple[str, type[_Node]]]:
    handler = type("Node", (_Node,), {"peers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_large_answer_is_read_whole_on_one_kept_connection(
    node: tuple[str, type[_Node]],
) -> None:
    """The body is read straight from urllib3 (not ``reply.content``): a crash block's 2 MB
    of logs comes back whole, and the connection is reused after every answer."""
    url, handler = node
    logs = [{"logIndex": hex(i), "data": "0x" + "ab" * 96} for i in range(8_000)]
    handler.body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}).encode()
    assert len(handler.body) > 1_000_000
    endpoint = HttpEndpoint(url)
    for _ in range(3):
        assert endpoint.request("eth_getLogs", [], timeout=5) == logs
    assert len(handler.peers) == 3
    assert len(set(handler.peers)) == 1


def test_an_answer_cut_short_is_a_transport_error(node: tuple[str, type[_Node]]) -> None:
    """A body shorter than its Content-Length (the node died mid-answer) is retried as a
    transport failure, never parsed as what arrived; the URL's secret stays out."""
    url, handler = node
    handler.body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0x" + "00" * 5_000}).encode()
    handler.short = 100
    endpoint = HttpEndpoint(url + "/v3/SECRETKEY")
    with pytest.raises(RpcTransportError) as raised:
        endpoint.request("eth_call", [], timeout=5)
    assert "SECRETKEY" not in str(raised.value)
    handler.short = 0
    assert endpoint.request("eth_call", [], timeout=5) == "0x" + "00" * 5_000
