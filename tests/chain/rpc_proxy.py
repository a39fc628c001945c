"""A real HTTP JSON-RPC proxy on 127.0.0.1 that injects the faults real providers have.

It forwards every request to an upstream node (anvil) and can, on demand,

- refuse ``eth_getLogs`` over more than ``max_log_range`` blocks, or returning more than
  ``max_log_results`` logs (the error shapes real providers use);
- hold requests of some method for a while (the client's timeout fires);
- answer every request with HTTP 503 (``down``), as a dying node does;
- report a head ``head_lag`` blocks behind the upstream's (a lagging node);
- fail the next N requests of a method with a given JSON-RPC error.

It counts requests per method, so that tests can say what a block costs. No web3 mocking:
the client under test speaks HTTP to this proxy, which speaks HTTP to anvil.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests


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


class RpcProxy:
    """``with RpcProxy(upstream) as proxy: proxy.url``; change ``proxy.faults`` any time."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults = Faults()
        self.counts: Counter[str] = Counter()
        self.http_requests = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                status, reply = proxy._handle(body)
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
            return 200, [self._one(item) for item in body]
        return 200, self._one(body)

    def _one(self, request: dict[str, Any]) -> dict[str, Any]:
        method = str(request.get("method"))
        params = request.get("params") or []
        rid = request.get("id")
        with self._lock:
            self.counts[method] += 1
            delay = self._take_delay(method)
            queued = self.faults.errors.get(method)
            error = queued.pop(0) if queued else None
        if error is not None:
            return _error(rid, *error)
        if method == "eth_getLogs":
            refused = self._refuse_logs(rid, params[0])
            if refused is not None:
                return refused
        if delay:
            time.sleep(delay)
        if self.faults.head_lag and method in ("eth_blockNumber", "eth_getBlockByNumber"):
            return self._lagging(request, method, params)
        reply: dict[str, Any] = self._upstream(request)
        if (
            method == "eth_getLogs"
            and self.faults.max_log_results is not None
            and isinstance(reply.get("result"), list)
            and len(reply["result"]) > self.faults.max_log_results
        ):
            limit = self.faults.max_log_results
            return _error(rid, -32005, f"query returned more than {limit} results")
        return reply

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


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}
