"""`liqbot run` as its own process against anvil while `liqbot scenario` crashes the market."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3

from bot.chain.anvil import Anvil, free_port
from bot.chain.contracts import bind, transact
from bot.cli import cli
from bot.deploy.market import Deployment

BOT_KEY = "0x" + keccak(b"liqbot-live-test-bot").hex()


@pytest.fixture
def node() -> Iterator[Anvil]:
    with Anvil() as anvil:
        yield anvil


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def test_run_liquidates_a_crash_reports_metrics_and_stops_on_sigterm(
    node: Anvil, tmp_path: Path
) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    deployment_file = tmp_path / "deployment.json"
    deployed = CliRunner().invoke(cli, ["deploy", "--rpc", node.url, "--out", str(deployment_file)])
    assert deployed.exit_code == 0, deployed.output
    dep = Deployment.load(deployment_file)
    bot = Account.from_key(BOT_KEY)
    w3.provider.make_request("anvil_setBalance", [bot.address, hex(10**20)])  # type: ignore[arg-type]
    liquidator = bind(w3, "FlashLiquidator", dep.flash_liquidator)
    transact(w3, liquidator.functions.transferOwnership(bot.address), dep.deployer)

    port = free_port()
    config = tmp_path / "liqbot.toml"
    config.write_text(
        f"""
journal = "{tmp_path / "journal.sqlite"}"
[chain]
chain_id = 31337
rpc_urls = ["{node.url}"]
deployment = "{deployment_file}"
[execution]
min_profit = "0"
confirmations = 1
[watch]
poll_interval = 0.3
[observe]
metrics_port = {port}
log_format = "json"
"""
    )
    env = {**os.environ, "LIQBOT_PRIVATE_KEY": BOT_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the bot's metrics endpoint
            try:
                metric(port, "liqbot_blocks_processed_total")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "the bot did not start"
                time.sleep(0.3)

        played = CliRunner().invoke(
            cli,
            [
                "scenario",
                "--rpc",
                node.url,
                "--deployment",
                str(deployment_file),
                "--borrowers",
                "10",
                "--interval",
                "1.5",
            ],
        )
        assert played.exit_code == 0, played.output

        deadline = time.monotonic() + 30
        while metric(port, "liqbot_opportunities_taken_total") < 1:
            assert time.monotonic() < deadline, "the bot sent nothing"
            time.sleep(0.5)
        assert metric(port, "liqbot_blocks_processed_total") > 5
        # The market goes quiet: a few more blocks for the bot to finish what still pays.
        for _ in range(8):
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            time.sleep(1.0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
            assert json.loads(reply.read())["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            pytest.fail(f"the bot did not stop on SIGTERM:\n{output[-3000:]}")
    assert proc.returncode == 0, output[-3000:]
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "started" in names and names[-1] == "stopped"
    calls = (
        bind(w3, "LendingPool", dep.pool)
        .events.LiquidationCall()
        .get_logs(from_block=dep.deployment_block)
    )
    ours = [c for c in calls if c["args"]["liquidator"] == dep.flash_liquidator]
    assert ours, "the bot liquidated nothing"
    # Every liquidation on chain was sent by this bot, once: no nonce spent twice on one.
    sent = [e for e in events if e["event"] == "sent"]
    assert len(sent) >= len(ours)
    assert len({e["tx_hash"] for e in sent}) == len(sent)
    assert BOT_KEY not in output and BOT_KEY[2:] not in output

    # `liqbot status` reads the same chain and the journal the bot left, beside it.
    shown = CliRunner().invoke(cli, ["status", "--config", str(config), "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.output)
    # Confirmed liquidations (the last may still wait for its confirmation at SIGTERM).
    assert 1 <= status["pnl"]["liquidations"] <= len(ours)
    assert status["balances"]["owner"] == bot.address
    for row in status["at_risk"]:
        assert Decimal(row["health_factor"]) < Decimal("1.06")
        # Nothing profitable is left: every position still below 1 pays nothing, or waits.
        if Decimal(row["health_factor"]) < 1 and row["best"] is not None:
            assert any(row["user"].lower() in p["key"] for p in status["pending"]), row
    table = CliRunner().invoke(cli, ["status", "--config", str(config)])
    assert table.exit_code == 0 and "Positions at risk" in table.output
