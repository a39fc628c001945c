"""Prometheus metrics and a /health endpoint on an optional port."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric the bot exports, in its own registry (so tests can make many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.blocks = Counter("liqbot_blocks_processed", "Blocks processed", registry=r)
        self.head = Gauge("liqbot_head_block", "Latest block processed", registry=r)
        self.head_lag = Gauge("liqbot_head_lag_blocks", "Blocks behind the node's head", registry=r)
        self.positions = Gauge("liqbot_positions_tracked", "Borrowers in the book", registry=r)
        self.at_risk = Gauge("liqbot_positions_at_risk", "Borrowers near or below 1", registry=r)
        self.liquidatable = Gauge(
            "liqbot_positions_liquidatable", "Borrowers below health 1", registry=r
        )
        self.opportunities = Counter(
            "liqbot_opportunities_found", "Profitable liquidations found", registry=r
        )
        self.taken = Counter("liqbot_opportunities_taken", "Liquidations sent", registry=r)
        self.skipped = Counter(
            "liqbot_opportunities_skipped", "Liquidations skipped", ["reason"], registry=r
        )
        self.transactions = Counter(
            "liqbot_transactions", "Transaction state changes", ["state"], registry=r
        )
        self.reverts = Counter("liqbot_reverts", "Reverts by reason", ["reason"], registry=r)
        self.confirm_mismatches = Counter(
            "liqbot_confirm_mismatches",
            "Liquidatable accounts whose model health the pool's own read contradicted",
            registry=r,
        )
        self.profit = Gauge(
            "liqbot_realised_profit", "Realised profit, in the numeraire", registry=r
        )
        self.gas_spent = Counter("liqbot_gas_spent_wei", "Fees paid, in wei", registry=r)
        self.decision_latency = Histogram(
            "liqbot_block_to_decision_seconds",
            "From a block being seen to the ranked decision",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.broadcast_latency = Histogram(
            "liqbot_block_to_broadcast_seconds",
            "From a block being seen to a liquidation broadcast",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.last_block_time = 0.0

    def block_seen(self, number: int) -> None:
        self.blocks.inc()
        self.head.set(number)
        self.last_block_time = time.time()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """Serves /metrics (Prometheus text) and /health (JSON) on 127.0.0.1 or a given host."""

    def __init__(
        self, metrics: Metrics, port: int, host: str = "127.0.0.1", stale_after: float = 120.0
    ) -> None:
        self.metrics = metrics
        self.stale_after = stale_after
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body = outer.metrics.exposition()
                    self._reply(200, CONTENT_TYPE_LATEST, body)
                elif self.path.startswith("/health"):
                    status, payload = outer.health()
                    self._reply(status, "application/json", json.dumps(payload).encode())
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # keep scrapes out of the bot's logs

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def health(self) -> tuple[int, dict[str, object]]:
        last = self.metrics.last_block_time
        age = time.time() - last if last else None
        healthy = age is not None and age <= self.stale_after
        payload: dict[str, object] = {
            "status": "ok" if healthy else ("starting" if age is None else "stale"),
            "head": int(self.metrics.head._value.get()),
            "seconds_since_block": None if age is None else round(age, 3),
        }
        return (200 if healthy else 503), payload

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
