"""Where new blocks come from: HTTP polling, or ``eth_subscribe("newHeads")`` over a websocket.

Both give the watcher :class:`~bot.chain.rpc.BlockHeader` values; a websocket delivers the
header with the notification, which saves the per-block ``eth_getBlockByNumber`` that polling
costs. Heads that pile up while the watcher is busy are collapsed to the newest: the watcher
processes the skipped range in one step.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from bot.chain.rpc import BlockHeader, RpcClient
from bot.chain.urls import redact_url

log = logging.getLogger("liqbot.heads")


class HeadSource(Protocol):
    def next_head(self, timeout: float) -> BlockHeader | None:
        """The newest head not yet returned, waiting up to ``timeout`` seconds; else None."""
        ...

    def close(self) -> None: ...


class PollingHeads:
    """Asks for the latest block every ``interval`` seconds."""

    def __init__(
        self,
        rpc: RpcClient,
        interval: float = 1.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpc = rpc
        self.interval = interval
        self._sleep = sleep
        self._clock = clock
        self._last_hash = ""
        self._next_poll = 0.0

    def next_head(self, timeout: float) -> BlockHeader | None:
        deadline = self._clock() + timeout
        while True:
            now = self._clock()
            if now < self._next_poll:
                if self._next_poll > deadline:
                    self._sleep(max(0.0, deadline - now))
                    return None
                self._sleep(self._next_poll - now)
            self._next_poll = self._clock() + self.interval
            header = self.rpc.get_block("latest")
            if header.hash != self._last_hash:
                self._last_hash = header.hash
                return header
            if self._clock() >= deadline:
                return None

    def close(self) -> None:
        return None


class WebSocketHeads:
    """A background subscription to ``newHeads`` that reconnects with backoff."""

    def __init__(
        self,
        url: str,
        *,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 10.0,
        open_timeout: float = 5.0,
    ) -> None:
        self._url = url
        self.name = redact_url(url)
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._open_timeout = open_timeout
        self._queue: queue.Queue[BlockHeader] = queue.Queue()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._run, name="newHeads", daemon=True)
        self._thread.start()

    def wait_subscribed(self, timeout: float = 5.0) -> bool:
        return self._subscribed.wait(timeout)

    def next_head(self, timeout: float) -> BlockHeader | None:
        try:
            head = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        while True:  # collapse a backlog to the newest head
            try:
                head = self._queue.get_nowait()
            except queue.Empty:
                return head

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from websockets.sync.client import connect

        failures = 0
        while not self._stop.is_set():
            try:
                with connect(self._url, open_timeout=self._open_timeout, close_timeout=1) as ws:
                    self.connections += 1
                    ws.send(
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "id": 1,
                                "method": "eth_subscribe",
                                "params": ["newHeads"],
                            }
                        )
                    )
                    failures = 0
                    self._listen(ws)
            except Exception as exc:
                if self._stop.is_set():
                    return
                failures += 1
                self._subscribed.clear()
                delay = min(self._max_reconnect_delay, self._reconnect_delay * 2 ** (failures - 1))
                delay *= 1 - 0.5 * random.random()
                log.warning(
                    "heads: websocket %s failed (%s); reconnecting in %.1fs",
                    self.name,
                    type(exc).__name__,
                    delay,
                )
                self._stop.wait(delay)

    def _listen(self, ws: Any) -> None:
        while not self._stop.is_set():
            try:
                message = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            payload = json.loads(message)
            if payload.get("id") == 1:
                if "error" in payload:
                    raise RuntimeError(f"eth_subscribe refused: {payload['error']}")
                self._subscribed.set()
                continue
            if payload.get("method") != "eth_subscription":
                continue
            result = payload.get("params", {}).get("result")
            if isinstance(result, dict) and "hash" in result:
                self._queue.put(BlockHeader.from_rpc(result))


def head_source(rpc: RpcClient, ws_url: str | None = None, *, interval: float = 1.0) -> HeadSource:
    """A websocket subscription when a ``ws://``/``wss://`` URL is given, else HTTP polling."""
    if ws_url and ws_url.startswith(("ws://", "wss://")):
        return WebSocketHeads(ws_url)
    return PollingHeads(rpc, interval)
