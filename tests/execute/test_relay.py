"""Private submission: bundles to a relay, resubmitted within a limit, never the public pool."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak
from web3 import Web3

from bot.execute import Executor, IntentState, RelayConfig, Status
from bot.execute.journal import AttemptKind
from bot.execute.keys import Signer, signer_from_key
from bot.execute.relay import (
    PrivateRelay,
    PublicMempool,
    SendStatus,
    classify_send_error,
)
from tests.execute.invariants import assert_nothing_lost, figures
from tests.execute.scenario import (
    BOT_ADDRESS,
    GWEI,
    Scenario,
    automine,
    executor_config,
    mine,
    request_for,
)


@dataclass
class FakeRelay:
    """Records every request; ``include`` forwards bundles to a node (a builder that lands
    them), otherwise it accepts and never includes."""

    node_url: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    include: bool = False
    fail_with: str | None = None

    def handle(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        request = json.loads(body)
        self.received.append(request)
        self.headers.append(headers)
        self.bodies.append(body)
        if self.fail_with:
            return {
                "jsonrpc": "2.0",
                "id": request["id"],
                "error": {"code": -32000, "message": self.fail_with},
            }
        if self.include and self.node_url:
            params = request["params"]
            raws = params[0]["txs"] if request["method"] == "eth_sendBundle" else [params[0]]
            for raw in raws:
                requests.post(
                    self.node_url,
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "eth_sendRawTransaction",
                        "params": [raw],
                    },
                    timeout=10,
                )
        return {"jsonrpc": "2.0", "id": request["id"], "result": {"bundleHash": "0x" + "ab" * 32}}

    def raws(self) -> list[str]:
        found: list[str] = []
        for r in self.received:
            p = r["params"]
            found.extend(p[0]["txs"] if r["method"] == "eth_sendBundle" else [p[0]])
        return found


@pytest.fixture
def relay() -> Iterator[tuple[FakeRelay, str]]:
    fake = FakeRelay()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = json.dumps(fake.handle(body, dict(self.headers))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # An API key in the path must never be printed.
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/secret-api-key-123"
    finally:
        server.shutdown()
        server.server_close()


AUTH = signer_from_key("0x" + keccak(b"liqbot relay reputation key (tests)").hex(), "reputation")


def _open(sc: Scenario, tmp_path: Path, signer: Signer, url: str, **relay: Any) -> Executor:
    config = executor_config(
        sc.market,
        tmp_path / "journal.sqlite",
        confirmations=1,
        relay=RelayConfig(url=url, max_submissions=3, **relay),
    )
    return Executor.open(sc.w3, config, signer, relay_auth=AUTH, out=lambda _: None)


@pytest.mark.anvil
def test_a_relay_that_never_includes_gets_limited_resubmissions_and_no_public_fallback(
    anvil_scenario: Scenario,
    tmp_path: Path,
    signer: Signer,
    relay: tuple[FakeRelay, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, url = relay
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    ex = _open(sc, tmp_path, signer, url)
    automine(w3, False)
    result = ex.execute(request)
    assert result.sent
    for _ in range(10):
        mine(w3)
        ex.poll()
    assert ex.journal is not None
    attempts = ex.journal.attempts(result.intent_id)
    assert [a.kind for a in attempts] == [AttemptKind.ORIGINAL, AttemptKind.CANCEL]
    assert [a.broadcasts for a in attempts] == [3, 3]  # the limit, for each
    assert all(r["method"] == "eth_sendBundle" for r in fake.received)
    raws = fake.raws()
    assert raws.count("0x" + attempts[0].raw_tx.hex()) == 3
    assert raws.count("0x" + attempts[1].raw_tx.hex()) == 3
    # Never the public mempool: the node has seen nothing from the bot.
    for a in attempts:
        assert w3.eth.get_transaction_count(BOT_ADDRESS, "pending") == 0
        with pytest.raises(Exception, match="not found"):
            w3.eth.get_transaction(a.tx_hash)  # type: ignore[arg-type]
    assert ex.blocked_reason() is not None
    assert ex.execute(request).status in (Status.BLOCKED, Status.IN_FLIGHT)
    assert ex.journal.events("relay_exhausted")
    # Our own log lines show only the redacted URL (urllib3's DEBUG lines print request paths:
    # keep that logger above DEBUG in production).
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("liqbot")]
    assert ours and not any("secret-api-key-123" in line for line in ours)
    ex.close()


@pytest.mark.anvil
@pytest.mark.parametrize("method", ["eth_sendBundle", "eth_sendPrivateRawTransaction"])
def test_a_relay_that_includes_the_bundle(
    method: str,
    anvil: Any,
    anvil_scenario: Scenario,
    tmp_path: Path,
    signer: Signer,
    relay: tuple[FakeRelay, str],
) -> None:
    fake, url = relay
    fake.node_url, fake.include = anvil.url, True
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    ex = _open(sc, tmp_path, signer, url, method=method)
    result = ex.execute(request)  # automine: the "builder" lands it at once
    assert result.sent
    assert ex.journal is not None
    for _ in range(5):
        ex.poll()
        if not ex.in_flight():
            break
        mine(w3)
    assert ex.journal.intent(result.intent_id).state is IntentState.CONFIRMED  # type: ignore[arg-type]
    (received,) = fake.received
    assert received["method"] == method
    if method == "eth_sendBundle":
        assert int(received["params"][0]["blockNumber"], 16) == start + 1
    # The relay saw a signature by the reputation key over the exact body.
    header = fake.headers[0]["X-Flashbots-Signature"]
    address, signature = header.split(":")
    digest = "0x" + keccak(fake.bodies[0]).hex()
    assert Account.recover_message(encode_defunct(text=digest), signature=signature) == address
    assert address == AUTH.address
    assert_nothing_lost(figures(w3, ex.journal, BOT_ADDRESS, start, balance))
    ex.close()


def test_send_errors_are_read_as_maybe_sent_or_refused() -> None:
    from web3.exceptions import Web3RPCError

    def rpc_error(message: str) -> Web3RPCError:
        return Web3RPCError(json.dumps({"code": -32000, "message": message}))

    for maybe in (
        "already known",
        "transaction already imported",
        "nonce too low",
        "replacement transaction underpriced",
        "ALREADY_KNOWN",
    ):
        assert classify_send_error(rpc_error(maybe)).status is SendStatus.MAYBE, maybe
    assert classify_send_error(requests.ConnectionError("reset")).status is SendStatus.MAYBE
    assert classify_send_error(requests.Timeout("read timeout")).status is SendStatus.MAYBE
    for refused in (
        "insufficient funds for gas * price + value",
        "max fee per gas less than block base fee",
    ):
        assert classify_send_error(rpc_error(refused)).status is SendStatus.REJECTED


def test_public_mempool_reads_a_resend_as_maybe_sent(anvil_w3: Web3) -> None:
    from bot.execute.node import Node

    account = Account.create()
    anvil_w3.provider.make_request("anvil_setBalance", [account.address, hex(10**18)])  # type: ignore[arg-type]
    signed = account.sign_transaction(
        {
            "chainId": anvil_w3.eth.chain_id,
            "nonce": 0,
            "to": account.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        }
    )
    public = PublicMempool(Node(anvil_w3))
    tx_hash = "0x" + bytes(signed.hash).hex()
    assert public.submit(bytes(signed.raw_transaction), tx_hash, 0).status is SendStatus.ACCEPTED
    # Mined by automine; a resend (as web3's HTTP retry would do) is "maybe sent", not a failure.
    assert public.submit(bytes(signed.raw_transaction), tx_hash, 0).status is SendStatus.MAYBE


def test_relay_transport_failures_are_maybe_sent_and_the_url_is_redacted() -> None:
    relay = PrivateRelay(RelayConfig(url="http://127.0.0.1:9/path-with-api-key", timeout=0.5))
    outcome = relay.submit(b"\x02\x01", "0x" + "00" * 32, 10)
    assert outcome.status is SendStatus.MAYBE
    assert "api-key" not in outcome.detail and "127.0.0.1:9" in outcome.detail
