from __future__ import annotations

import json
import urllib.error
import urllib.request

from bot.chain.anvil import free_port
from bot.observe.metrics import Metrics, MetricsServer


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_metrics_and_health_endpoints() -> None:
    metrics = Metrics()
    server = MetricsServer(metrics, free_port()).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = fetch(base + "/health")
        assert status == 503 and json.loads(body)["status"] == "starting"

        metrics.block_seen(42)
        metrics.taken.inc()
        metrics.reverts.labels(reason="lost to competitor").inc()
        metrics.broadcast_latency.observe(0.12)
        metrics.confirm_mismatches.inc()

        status, body = fetch(base + "/health")
        assert status == 200
        health = json.loads(body)
        assert health["status"] == "ok" and health["head"] == 42
        assert 0 <= health["seconds_since_block"] < 5
        status, body = fetch(base + "/metrics")
        text = body.decode()
        assert status == 200
        assert "liqbot_blocks_processed_total 1.0" in text
        assert "liqbot_opportunities_taken_total 1.0" in text
        assert 'liqbot_reverts_total{reason="lost to competitor"} 1.0' in text
        assert 'liqbot_block_to_broadcast_seconds_bucket{le="0.15"} 1.0' in text
        assert "liqbot_confirm_mismatches_total 1.0" in text
        assert fetch(base + "/nope")[0] == 404
    finally:
        server.stop()
