"""Kill the executor process at each failpoint (and with SIGKILL between send and receipt),
restart it, and check from the chain that reconciliation lost nothing and sent nothing twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.execute import ExecutionRequest, Executor, IntentState, Status, failpoints
from bot.execute.journal import AttemptKind, Journal
from bot.execute.keys import KEY_ENV, Signer
from bot.execute.simulate import LIQUIDATION_CALL_TOPIC
from tests.execute.conftest import SECRETS
from tests.execute.invariants import assert_nothing_lost, figures
from tests.execute.scenario import (
    BOT_ADDRESS,
    BOT_KEY,
    GWEI,
    Scenario,
    automine,
    deploy_on,
    executor_config,
    mine,
    request_for,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


class Harness:
    def __init__(self, anvil: Anvil, sc: Scenario, tmp_path: Path, request: ExecutionRequest):
        self.anvil = anvil
        self.sc = sc
        self.tmp = tmp_path
        self.request = request
        self.journal = tmp_path / "journal.sqlite"
        d = sc.market.deployment
        self.config_file = tmp_path / "config.json"
        self.config_file.write_text(
            json.dumps(
                {
                    "chain_id": d.chain_id,
                    "pool": d.pool,
                    "oracle": d.oracle,
                    "liquidator": d.flash_liquidator,
                    "max_fee": 500 * GWEI,
                    "max_tip": 20 * GWEI,
                    "journal": str(self.journal),
                    "lock_dir": str(tmp_path / "locks"),
                    "confirmations": 2,
                    "stuck_blocks": 2,
                }
            )
        )
        self.request_file = tmp_path / "request.json"
        self.request_file.write_text(request.dumps())
        self.output = ""

    def _argv(self, mode: str, polls: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.execute.crash_script",
            "--url",
            self.anvil.url,
            "--config",
            str(self.config_file),
            "--request",
            str(self.request_file),
            "--mode",
            mode,
            "--polls",
            str(polls),
        ]

    def _env(self, failpoint: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != failpoints.ENV_VAR}
        env[KEY_ENV] = BOT_KEY
        if failpoint:
            env[failpoints.ENV_VAR] = failpoint
        return env

    def run(self, mode: str, *, failpoint: str | None = None, polls: int = 1) -> int:
        done = subprocess.run(
            self._argv(mode, polls),
            cwd=REPO,
            env=self._env(failpoint),
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.output += done.stdout + done.stderr
        return done.returncode

    def run_and_kill(self) -> None:
        """Send, then SIGKILL the process while it waits for the receipt."""
        log_path = self.tmp / "killed.stderr"
        with log_path.open("w") as stderr:
            proc = subprocess.Popen(
                self._argv("wait", 1),
                cwd=REPO,
                env=self._env(None),
                stdout=subprocess.PIPE,
                stderr=stderr,  # a file: a full pipe would block the child
                text=True,
            )
            assert proc.stdout is not None
            seen = ""
            for line in proc.stdout:  # the child prints SENT within seconds, or exits
                seen += line
                if line.startswith("SENT"):
                    break
            os.kill(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
        self.output += seen + out + log_path.read_text()
        assert proc.returncode == -signal.SIGKILL
        assert "RESULT sent" in seen, seen + self.output[-2000:]


def _our_liquidations(w3: Web3, sc: Scenario, start: int) -> int:
    user_topic = "0x" + "00" * 12 + sc.borrowers[0].address[2:].lower()
    logs = w3.eth.get_logs(
        {
            "address": sc.market.deployment.pool,
            "fromBlock": start,
            "toBlock": "latest",
            "topics": ["0x" + LIQUIDATION_CALL_TOPIC.hex(), None, None, user_topic],
        }
    )
    return len(logs)


CASES = [
    failpoints.BEFORE_SIGN,
    failpoints.AFTER_JOURNAL_BEFORE_BROADCAST,
    failpoints.AFTER_BROADCAST_BEFORE_RECORD,
    failpoints.AFTER_MINED_BEFORE_JOURNAL,
    failpoints.MID_REPLACEMENT,
    failpoints.AFTER_REPLACEMENT_BROADCAST,
    "sigkill",
]


@pytest.mark.parametrize("case", CASES)
def test_restart_after_a_crash_reconciles_and_sends_nothing_twice(
    case: str, anvil: Anvil, anvil_w3: Web3, tmp_path: Path, signer: Signer
) -> None:
    w3 = anvil_w3
    sc = deploy_on(w3)
    request = replace(request_for(sc.market, sc.borrowers[0].address), priority_fee_per_gas=GWEI)
    h = Harness(anvil, sc, tmp_path, request)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)

    if case in (failpoints.MID_REPLACEMENT, failpoints.AFTER_REPLACEMENT_BROADCAST):
        automine(w3, False)
        assert h.run("execute", polls=0) == 0  # sent, then a clean exit
        view = Journal.open(h.journal, account=BOT_ADDRESS, chain_id=w3.eth.chain_id, lock=False)
        (sent,) = view.attempts()
        view.close()
        mine(w3, 2, base_fee=2 * sent.fees.max_fee_per_gas)  # stuck under the base fee
        assert h.run("poll", failpoint=case) == failpoints.FAILPOINT_EXIT_CODE
    elif case == "sigkill":
        automine(w3, False)
        h.run_and_kill()
    elif case == failpoints.AFTER_MINED_BEFORE_JOURNAL:
        assert h.run("execute", failpoint=case) == failpoints.FAILPOINT_EXIT_CODE
        assert w3.eth.get_transaction_count(BOT_ADDRESS) == 1  # it did mine
    else:
        assert h.run("execute", failpoint=case) == failpoints.FAILPOINT_EXIT_CODE
    assert f"failpoint {case} reached" in h.output or case == "sigkill"

    # Restart: the lock died with the process; reconciliation runs before anything new.
    config = executor_config(
        sc.market, h.journal, max_fee=500 * GWEI, max_tip=20 * GWEI, confirmations=2, stuck_blocks=2
    )
    ex = Executor.open(w3, config, signer, out=lambda _: None)
    assert ex.journal is not None and ex.last_reconcile is not None
    again = ex.execute(request)  # the same decision, replayed: never a second transaction
    if case == failpoints.BEFORE_SIGN:
        # Nothing was signed: the intent is closed and the opportunity may be taken again.
        (first,) = [i for i in ex.journal.intents() if i.id == 1]
        assert first.state is IntentState.CANCELLED and first.outcome == "not_signed"
        assert again.sent
    else:
        assert again.status in (Status.IN_FLIGHT, Status.ALREADY_DONE), again
    automine(w3, False)
    for _ in range(8):
        mine(w3, base_fee=GWEI)
        ex.poll()
        if not ex.in_flight():
            break
    assert not ex.in_flight()
    assert ex.execute(request).status in (Status.ALREADY_DONE, Status.SIMULATION_REVERTED)

    liquidations = [i for i in ex.journal.intents() if i.state is IntentState.CONFIRMED]
    assert len(liquidations) == 1
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert len(f.bot_txs) == 1  # one transaction mined, at nonce 0
    assert f.mined_nonces == [0]
    assert _our_liquidations(w3, sc, start) == 1
    assert f.balance_change == -f.gas_in_ledger
    if case in (failpoints.MID_REPLACEMENT, failpoints.AFTER_REPLACEMENT_BROADCAST):
        kinds = [a.kind for a in ex.journal.attempts(liquidations[0].id)]
        assert kinds[:2] == [AttemptKind.ORIGINAL, AttemptKind.REPLACEMENT]
    ex.close()
    for secret in SECRETS:
        assert secret not in h.output
