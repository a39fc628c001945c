"""`liqbot keeper` as an operator runs it: a subprocess against anvil, from a TOML file and
the auction deployment file, the key in the environment. The test crashes 10 vaults and moves
time; the keeper barks and takes; SIGTERM stops it with exit 0; its output holds no key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from tests.contracts.auction_fixtures import WETH, AnvilControl
from tests.run.keeper_harness import (
    arbitrage,
    auctions_running,
    build_keeper_env,
    crash_weth,
    keeper_account,
    unsafe,
)

pytestmark = pytest.mark.anvil

CONFIG = """
journal = "{journal}"

[chain]
chain_id = 31337
rpc_urls = ["{url}"]
deployment = "{deployment}"

[execution]
max_priority_fee_gwei = "20"
max_fee_gwei = "300"
confirmations = 1

[watch]
poll_interval = 0.2

[observe]
log_format = "json"

[auctions]
min_profit = "1"
rival_take_probability_bps = 10000   # rivals certain: take as soon as it pays
block_time = 2
"""


def test_keeper_command_barks_takes_and_stops_on_sigterm(tmp_path: Path) -> None:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        env = build_keeper_env(w3, AnvilControl(w3))
        deployment = tmp_path / "auctions.json"
        env.am.deployment.save(deployment)
        config = tmp_path / "keeper.toml"
        config.write_text(
            CONFIG.format(journal=tmp_path / "journal.sqlite", url=node.url, deployment=deployment)
        )
        key = keeper_account().key.hex()
        opened = crash_weth(env, 10, seed=5)
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("liqbot")), "keeper", "--config", str(config)],
            env={**os.environ, "LIQBOT_PRIVATE_KEY": key},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 25
            barked = False
            while time.monotonic() < deadline:
                time.sleep(0.5)
                assert proc.poll() is None, proc.communicate()[0]
                barked = barked or not any(unsafe(env, v) for v in opened)
                if barked and auctions_running(env) == 0:
                    break
                if barked:
                    env.advance(300)  # the Dutch price falls below the pair's
                    arbitrage(env)
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, output
        assert key not in output and key.removeprefix("0x") not in output
        assert '"stopped"' in output or "stopped" in output
        assert barked, output
        assert auctions_running(env) == 0, output
        # the chain says the keeper did it: its Bark and Take transactions
        liquidator, dutch = env.am.liquidator, env.dutch(WETH)
        barks = liquidator.events.Bark().get_logs(from_block=0)
        takes = dutch.events.Take().get_logs(from_block=0)
        assert len(barks) >= 10 and all(b["args"]["keeper"] == env.bot for b in barks)
        assert takes and all(t["args"]["taker"] == env.am.deployment.taker for t in takes)
