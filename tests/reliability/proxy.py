"""A fault-injecting HTTP JSON-RPC proxy on 127.0.0.1, in front of a real node (anvil).

Everything the client under test reads or sends crosses a real socket twice: client -> proxy
-> anvil. Faults are scheduled per method and per call number (:meth:`RpcProxy.inject`):

- ``delay`` (before forwarding: the client's timeout fires, nothing reached the node) and
  ``delay_after`` (after forwarding: the node has the request, the client times out);
- ``http`` (429/5xx, optionally after forwarding), ``drop`` (the request is forwarded, then
  the connection is closed without an answer), ``non_json``, ``wrong_id``;
- ``lie``: an old block number, a lower nonce, another chain id, a fake receipt (status 1)
  for a transaction that is not mined, a huge or a negative hex number;
- ``error`` (answered without forwarding), ``error_after`` (forwarded, then the answer
  replaced by an error) and ``rewrite`` (the node's error text replaced, as providers do);
- ``blackhole``: a send accepted (its hash returned) and never forwarded.

Independently of the faults it keeps a log of every raw transaction it was asked to send
(decoded: sender, nonce, both fee fields), and enforces geth's replacement rule, which anvil
does not: a transaction at a (sender, nonce) whose earlier transaction is still pending must
raise both ``maxFeePerGas`` and ``maxPriorityFeePerGas`` by ``replacement_bump_pct`` percent,
or it is refused with geth's "replacement transaction underpriced".

The older knobs (``Faults``: log-range refusal, slow logs, ``down``, ``head_lag``, queued
errors) are kept for the tests in tests/chain and tests/watch.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes


@dataclass
class Faults:
    max_log_range: int | None = None
    max_log_results: int | None = None
    suggest_range: bool = False
    """Name a range that would work in the refusal message (as Alchemy does)."""
    delays: dict[str, tuple[float, int]] = field(default_factory=dict)
    """method -> (seconds, how many requests to delay); count -1 means all."""
    slow_log_span: tuple[int, float] | None = None
    """(span, seconds): ``eth_getLogs`` wider than ``span`` blocks takes ``seconds``."""
    down: bool = False
    head_lag: int = 0
    errors: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """method -> queue of (code, message) answers for its next requests."""


class Kind(StrEnum):
    DELAY = "delay"
    DELAY_AFTER = "delay_after"
    HTTP = "http"
    DROP = "drop"
    NON_JSON = "non_json"
    WRONG_ID = "wrong_id"
    LIE = "lie"
    ERROR = "error"
    ERROR_AFTER = "error_after"
    REWRITE = "rewrite"
    BLACKHOLE = "blackhole"


class Lie(StrEnum):
    OLD_BLOCK = "old_block"
    LOWER_NONCE = "lower_nonce"
    CHAIN_ID = "chain_id"
    FAKE_RECEIPT = "fake_receipt"
    HUGE_HEX = "huge_hex"
    NEGATIVE_HEX = "negative_hex"


@dataclass(frozen=True)
class Fault:
    """One fault; build with the class methods."""

    kind: Kind
    seconds: float = 0.0
    status: int = 0
    forward: bool = False
    code: int = -32000
    message: str = ""
    lie: Lie | None = None
    amount: int = 1

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls(Kind.DELAY, seconds=seconds)

    @classmethod
    def delay_after(cls, seconds: float) -> Fault:
        return cls(Kind.DELAY_AFTER, seconds=seconds, forward=True)

    @classmethod
    def http(cls, status: int, *, forward: bool = False) -> Fault:
        return cls(Kind.HTTP, status=status, forward=forward)

    @classmethod
    def drop(cls) -> Fault:
        return cls(Kind.DROP, forward=True)

    @classmethod
    def non_json(cls) -> Fault:
        return cls(Kind.NON_JSON)

    @classmethod
    def wrong_id(cls) -> Fault:
        return cls(Kind.WRONG_ID, forward=True)

    @classmethod
    def lying(cls, lie: Lie, amount: int = 1) -> Fault:
        return cls(Kind.LIE, lie=lie, amount=amount, forward=True)

    @classmethod
    def error(cls, code: int, message: str) -> Fault:
        return cls(Kind.ERROR, code=code, message=message)

    @classmethod
    def error_after(cls, code: int, message: str) -> Fault:
        return cls(Kind.ERROR_AFTER, code=code, message=message, forward=True)

    @classmethod
    def rewrite(cls, message: str) -> Fault:
        return cls(Kind.REWRITE, message=message, forward=True)

    @classmethod
    def blackhole(cls) -> Fault:
        return cls(Kind.BLACKHOLE)

    def describe(self) -> str:
        extra = {
            Kind.DELAY: f" {self.seconds}s",
            Kind.DELAY_AFTER: f" {self.seconds}s",
            Kind.HTTP: f" {self.status}",
            Kind.LIE: f" {self.lie}",
            Kind.ERROR: f" {self.message!r}",
            Kind.ERROR_AFTER: f" {self.message!r}",
            Kind.REWRITE: f" {self.message!r}",
        }.get(self.kind, "")
        return f"{self.kind}{extra}"


@dataclass
class Rule:
    method: str
    """A JSON-RPC method, or ``*`` for every method."""
    fault: Fault
    calls: frozenset[int] | None
    """Call numbers of ``method`` counted from the injection, 1-based; None: every call."""
    remaining: int | None
    """How many more times it fires (None: no limit)."""
    base: int = 0
    hits: int = 0

    def fires(self, number: int) -> bool:
        if self.remaining == 0:
            return False
        return self.calls is None or number in self.calls


@dataclass(frozen=True)
class SentTx:
    """A raw transaction the proxy was asked to send, decoded, and what became of it."""

    tx_hash: str
    sender: str
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas: int
    to: str | None
    value: int
    forwarded: bool
    answer: str
    """``accepted``, or the error text the client got."""


class _Raw:
    """An HTTP-level answer (status and body), or a dropped connection (``body`` None)."""

    def __init__(self, status: int, body: bytes | None) -> None:
        self.status = status
        self.body = body


class RpcProxy:
    """``with RpcProxy(upstream) as proxy: proxy.url``; change ``proxy.faults`` or
    :meth:`inject` faults any time."""

    def __init__(self, upstream: str, *, replacement_bump_pct: int | None = 10) -> None:
        self.upstream = upstream
        self.faults = Faults()
        self.rules: list[Rule] = []
        self.counts: Counter[str] = Counter()
        self.http_requests = 0
        self.sends: list[SentTx] = []
        self.injected: Counter[str] = Counter()
        """How many times each fault kind fired."""
        self.replacement_bump_pct = replacement_bump_pct
        self._pending: dict[tuple[str, int], SentTx] = {}
        self._fakes: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                status, reply = proxy._handle(body)
                if isinstance(reply, _Raw):
                    if reply.body is None:  # forwarded, then the connection drops
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    status, data = reply.status, reply.body
                else:
                    data = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RpcProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.http_requests = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    # ------------------------------------------------------------------ scheduling

    def inject(
        self,
        method: str,
        fault: Fault,
        *,
        calls: set[int] | list[int] | range | None = None,
        times: int | None = None,
    ) -> Rule:
        """Fault the calls of ``method`` numbered ``calls`` (1 = the next call), or the next
        ``times`` calls, or (neither given) every call until :meth:`clear`."""
        with self._lock:
            rule = Rule(
                method,
                fault,
                frozenset(calls) if calls is not None else None,
                times,
                base=self.counts[method] if method != "*" else self.total,
            )
            self.rules.append(rule)
            return rule

    def clear(self) -> None:
        """Remove every scheduled fault (the legacy ``faults`` too)."""
        with self._lock:
            self.rules.clear()
            self.faults = Faults()

    def sends_from(self, sender: str) -> list[SentTx]:
        return [s for s in self.sends if s.sender.lower() == sender.lower()]

    def _take_rule(self, method: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.method not in (method, "*"):
                    continue
                number = (self.counts[method] if rule.method != "*" else self.total) - rule.base
                if rule.fires(number):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    self.injected[rule.fault.kind] += 1
                    return rule.fault
        return None

    # ------------------------------------------------------------------ internals

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _upstream(self, payload: Any) -> Any:
        return self._session().post(self.upstream, json=payload, timeout=60).json()

    def _handle(self, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.http_requests += 1
        if self.faults.down:
            return 503, None
        if isinstance(body, list):
            answers = [self._one(item) for item in body]
            for answer in answers:
                if isinstance(answer, _Raw):
                    return answer.status, answer
            return 200, answers
        answer = self._one(body)
        if isinstance(answer, _Raw):
            return answer.status, answer
        return 200, answer

    def _one(self, request: dict[str, Any]) -> dict[str, Any] | _Raw:
        method = str(request.get("method"))
        params = request.get("params") or []
        rid = request.get("id")
        with self._lock:
            self.counts[method] += 1
            delay = self._take_delay(method)
            queued = self.faults.errors.get(method)
            error = queued.pop(0) if queued else None
        fault = self._take_rule(method)
        if error is not None:
            return _error(rid, *error)
        if fault is not None and not fault.forward:
            early = self._before_forward(request, method, params, fault)
            if early is not None:
                return early
        if method == "eth_getLogs":
            refused = self._refuse_logs(rid, params[0])
            if refused is not None:
                return refused
        if delay:
            time.sleep(delay)
        if self.faults.head_lag and method in ("eth_blockNumber", "eth_getBlockByNumber"):
            return self._lagging(request, method, params)
        if method == "eth_sendRawTransaction":
            reply = self._send(request, params)
        else:
            reply = self._upstream(request)
        if (
            method == "eth_getLogs"
            and self.faults.max_log_results is not None
            and isinstance(reply.get("result"), list)
            and len(reply["result"]) > self.faults.max_log_results
        ):
            limit = self.faults.max_log_results
            return _error(rid, -32005, f"query returned more than {limit} results")
        if fault is not None and fault.forward:
            return self._after_forward(request, method, params, fault, reply)
        return reply

    def _before_forward(
        self, request: dict[str, Any], method: str, params: list[Any], fault: Fault
    ) -> dict[str, Any] | _Raw | None:
        rid = request.get("id")
        if fault.kind is Kind.DELAY:
            time.sleep(fault.seconds)
            return None
        if fault.kind is Kind.HTTP:
            return _Raw(fault.status, b'{"error": "rate limited or unavailable"}')
        if fault.kind is Kind.NON_JSON:
            return _Raw(200, b"<html><body>502 Bad Gateway</body></html>")
        if fault.kind is Kind.ERROR:
            return _error(rid, fault.code, fault.message)
        if fault.kind is Kind.BLACKHOLE:
            if method == "eth_sendRawTransaction":
                sent = self._record_send(params, forwarded=False, answer="accepted (blackholed)")
                return {"jsonrpc": "2.0", "id": rid, "result": sent.tx_hash}
            bundle = "0x" + keccak(json.dumps(params, sort_keys=True).encode()).hex()
            return {"jsonrpc": "2.0", "id": rid, "result": {"bundleHash": bundle}}
        raise AssertionError(f"unhandled fault {fault}")

    def _after_forward(
        self,
        request: dict[str, Any],
        method: str,
        params: list[Any],
        fault: Fault,
        reply: dict[str, Any],
    ) -> dict[str, Any] | _Raw:
        rid = request.get("id")
        if fault.kind is Kind.DELAY_AFTER:
            time.sleep(fault.seconds)
            return reply
        if fault.kind is Kind.HTTP:
            return _Raw(fault.status, b'{"error": "upstream failed"}')
        if fault.kind is Kind.DROP:
            return _Raw(0, None)
        if fault.kind is Kind.WRONG_ID:
            other = rid + 1000 if isinstance(rid, int) else f"{rid}-other"
            return {**reply, "id": other}
        if fault.kind is Kind.ERROR_AFTER:
            return _error(rid, fault.code, fault.message)
        if fault.kind is Kind.REWRITE:
            if "error" in reply:
                return _error(rid, int(reply["error"].get("code", -32000)), fault.message)
            return reply
        if fault.kind is Kind.LIE:
            assert fault.lie is not None
            return self._lie(request, method, params, fault.lie, fault.amount, reply)
        raise AssertionError(f"unhandled fault {fault}")

    def _lie(
        self,
        request: dict[str, Any],
        method: str,
        params: list[Any],
        lie: Lie,
        amount: int,
        reply: dict[str, Any],
    ) -> dict[str, Any]:
        result: Any = reply.get("result")
        if lie is Lie.HUGE_HEX and isinstance(result, str):
            return {**reply, "result": "0x" + "f" * 64}
        if lie is Lie.NEGATIVE_HEX and isinstance(result, str):
            return {**reply, "result": "-0x1"}
        if lie is Lie.LOWER_NONCE and method == "eth_getTransactionCount":
            return {**reply, "result": hex(max(0, int(result, 16) - amount))}
        if lie is Lie.CHAIN_ID and method in ("eth_chainId", "net_version"):
            other = int(result, 16 if str(result).startswith("0x") else 10) + amount
            return {**reply, "result": hex(other) if method == "eth_chainId" else str(other)}
        if lie is Lie.OLD_BLOCK:
            if method == "eth_blockNumber":
                return {**reply, "result": hex(max(0, int(result, 16) - amount))}
            if method == "eth_getBlockByNumber" and params and params[0] in ("latest", "pending"):
                head = int(self._upstream(_call("eth_blockNumber", []))["result"], 16)
                older = _call("eth_getBlockByNumber", [hex(max(0, head - amount)), *params[1:]])
                return {**reply, "result": self._upstream(older).get("result")}
        if lie is Lie.FAKE_RECEIPT and method == "eth_getTransactionReceipt" and result is None:
            # Only for a transaction that is not mined: a node inventing the contents of a
            # real receipt can only be caught with a second node (see the reliability notes).
            return {**reply, "result": self._fake_receipt(str(params[0]))}
        return reply

    def _fake_receipt(self, tx_hash: str) -> dict[str, Any]:
        """A receipt saying ``tx_hash`` succeeded in the head block at the first ask (a real
        block and hash, so that the lie deepens with the chain and survives a hash check)."""
        with self._lock:
            known = self._fakes.get(tx_hash)
        if known is not None:
            return known
        fake = self._make_fake_receipt(tx_hash)
        with self._lock:
            self._fakes[tx_hash] = fake
        return fake

    def _make_fake_receipt(self, tx_hash: str) -> dict[str, Any]:
        head = self._upstream(_call("eth_getBlockByNumber", ["latest", False]))["result"]
        tx = self._upstream(_call("eth_getTransactionByHash", [tx_hash])).get("result") or {}
        return {
            "transactionHash": tx_hash,
            "transactionIndex": "0x0",
            "blockHash": head["hash"],
            "blockNumber": head["number"],
            "from": tx.get("from", "0x" + "11" * 20),
            "to": tx.get("to"),
            "cumulativeGasUsed": "0x5208",
            "gasUsed": "0x5208",
            "effectiveGasPrice": head.get("baseFeePerGas", "0x1"),
            "contractAddress": None,
            "logs": [],
            "logsBloom": "0x" + "00" * 256,
            "status": "0x1",
            "type": "0x2",
        }

    # ------------------------------------------------------------------ sends

    def _record_send(self, params: list[Any], *, forwarded: bool, answer: str) -> SentTx:
        raw = HexBytes(params[0])
        sender = str(Account.recover_transaction(raw))
        if raw[0] <= 0x7F:
            fields = TypedTransaction.from_bytes(raw).as_dict()
            max_fee = int(fields.get("maxFeePerGas", fields.get("gasPrice", 0)))
            tip = int(fields.get("maxPriorityFeePerGas", max_fee))
        else:
            from eth_account._utils.legacy_transactions import (
                Transaction as LegacyTx,
            )

            fields = LegacyTx.from_bytes(raw).as_dict()
            max_fee = tip = int(fields["gasPrice"])
        to = fields.get("to")
        sent = SentTx(
            tx_hash="0x" + keccak(raw).hex(),
            sender=sender,
            nonce=int(fields["nonce"]),
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            gas=int(fields["gas"]),
            to="0x" + bytes(to).hex() if to else None,
            value=int(fields.get("value", 0)),
            forwarded=forwarded,
            answer=answer,
        )
        with self._lock:
            self.sends.append(sent)
        return sent

    def _underpriced(self, new: SentTx) -> bool:
        """geth's rule: both fee fields up by the bump over a still-pending transaction."""
        bump = self.replacement_bump_pct
        old = self._pending.get((new.sender, new.nonce))
        if bump is None or old is None or old.tx_hash == new.tx_hash:
            return False
        seen = self._upstream(_call("eth_getTransactionByHash", [old.tx_hash])).get("result")
        if not seen or seen.get("blockNumber") is not None:
            return False  # dropped or mined: nothing to replace
        floor = 100 + bump
        too_low_fee = new.max_fee_per_gas * 100 < old.max_fee_per_gas * floor
        too_low_tip = new.max_priority_fee_per_gas * 100 < old.max_priority_fee_per_gas * floor
        return too_low_fee or too_low_tip

    def _send(self, request: dict[str, Any], params: list[Any]) -> dict[str, Any]:
        rid = request.get("id")
        try:
            probe = self._record_send(params, forwarded=False, answer="")
        except Exception:  # not a transaction we can decode: the node will say so
            reply: dict[str, Any] = self._upstream(request)
            return reply
        with self._lock:
            self.sends.pop()
        if self._underpriced(probe):
            message = "replacement transaction underpriced"
            with self._lock:
                self.sends.append(_with(probe, forwarded=False, answer=message))
            return _error(rid, -32000, message)
        reply = self._upstream(request)
        answer = "accepted" if "error" not in reply else str(reply["error"].get("message"))
        sent = _with(probe, forwarded=True, answer=answer)
        with self._lock:
            self.sends.append(sent)
            if "error" not in reply:
                self._pending[(sent.sender, sent.nonce)] = sent
        return reply

    # ------------------------------------------------------------------ legacy knobs

    def _take_delay(self, method: str) -> float:
        entry = self.faults.delays.get(method)
        if not entry:
            return 0.0
        seconds, remaining = entry
        if remaining == 0:
            return 0.0
        if remaining > 0:
            self.faults.delays[method] = (seconds, remaining - 1)
        return seconds

    def _refuse_logs(self, rid: Any, query: dict[str, Any]) -> dict[str, Any] | None:
        first = int(query.get("fromBlock", "0x0"), 16)
        to = query.get("toBlock", "latest")
        last = int(to, 16) if isinstance(to, str) and to.startswith("0x") else 10**12
        span = last - first + 1
        limit = self.faults.max_log_range
        if limit is not None and span > limit:
            message = f"query exceeds max block range {limit}"
            if self.faults.suggest_range:
                suggestion = f"[{hex(first)}, {hex(first + limit - 1)}]"
                message += f", this block range should work: {suggestion}"
            return _error(rid, -32005, message)
        slow = self.faults.slow_log_span
        if slow is not None and span > slow[0]:
            time.sleep(slow[1])
        return None

    def _lagging(self, request: dict[str, Any], method: str, params: list[Any]) -> dict[str, Any]:
        rid = request.get("id")
        ask = {**request, "method": "eth_blockNumber", "params": []}
        lagged = max(0, int(self._upstream(ask)["result"], 16) - self.faults.head_lag)
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": rid, "result": hex(lagged)}
        tag = params[0] if params else "latest"
        if tag == "latest":
            params = [hex(lagged), *params[1:]]
        elif isinstance(tag, str) and tag.startswith("0x") and int(tag, 16) > lagged:
            return {"jsonrpc": "2.0", "id": rid, "result": None}  # "not seen yet"
        reply: dict[str, Any] = self._upstream({**request, "params": params})
        return reply


def _with(sent: SentTx, *, forwarded: bool, answer: str) -> SentTx:
    return SentTx(**{**sent.__dict__, "forwarded": forwarded, "answer": answer})


def _call(method: str, params: list[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}
