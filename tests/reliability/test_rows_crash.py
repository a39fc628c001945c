"""RELIABILITY.md row 20: the bot, a subprocess, dies hard at each failpoint (and by SIGKILL
between send and receipt); the harness restarts it, also as a subprocess, on the same journal.
Reconciliation must restore every invariant and send nothing twice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.execute import IntentState, Status, failpoints
from bot.execute.journal import AttemptKind, Journal
from tests.execute.scenario import BOT_ADDRESS, GWEI, request_for
from tests.reliability.harness import Env, no_secret_in
from tests.reliability.runner import BotProcess

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

CASES = [
    failpoints.BEFORE_SIGN,
    failpoints.AFTER_JOURNAL_BEFORE_BROADCAST,
    failpoints.AFTER_BROADCAST_BEFORE_RECORD,
    failpoints.AFTER_MINED_BEFORE_JOURNAL,
    failpoints.MID_REPLACEMENT,
    failpoints.AFTER_REPLACEMENT_BROADCAST,
    "sigkill",
]
SUBPROCESS_RESTART = {
    failpoints.AFTER_BROADCAST_BEFORE_RECORD,
    failpoints.AFTER_MINED_BEFORE_JOURNAL,
    failpoints.AFTER_REPLACEMENT_BROADCAST,
    "sigkill",
}
"""Restarted as a process too (the others reopen in process: the same reconciliation)."""


@pytest.mark.parametrize("case", CASES)
def test_row_20_crash_at_each_failpoint_and_restart(env: Env, case: str) -> None:
    w3 = env.w3
    request = replace(
        request_for(env.sc.market, env.sc.borrowers[0].address), priority_fee_per_gas=GWEI
    )
    bot = BotProcess(env, request)
    if case in (failpoints.MID_REPLACEMENT, failpoints.AFTER_REPLACEMENT_BROADCAST):
        env.automine(False)
        first = env.open()  # sent, then a clean stop (in process: it is not the crash)
        assert first.execute(request).sent
        first.close()
        view = Journal.open(
            env.journal_path, account=BOT_ADDRESS, chain_id=w3.eth.chain_id, lock=False
        )
        (sent,) = view.attempts()
        view.close()
        env.mine(2, base_fee=2 * sent.fees.max_fee_per_gas)  # stuck under the base fee
        assert bot.run("poll", failpoint=case) == failpoints.FAILPOINT_EXIT_CODE
    elif case == "sigkill":
        env.automine(False)
        bot.run_and_kill()
    elif case == failpoints.AFTER_MINED_BEFORE_JOURNAL:
        assert bot.run("execute", failpoint=case) == failpoints.FAILPOINT_EXIT_CODE
        assert w3.eth.get_transaction_count(BOT_ADDRESS) == 1  # it did mine
    else:
        assert bot.run("execute", failpoint=case) == failpoints.FAILPOINT_EXIT_CODE
    assert f"failpoint {case} reached" in bot.output or case == "sigkill"

    # Restart (as a process for some cases): the lock died with the old one; reconciliation
    # runs first, and the same decision replayed never makes a second transaction.
    env.automine(False)
    env.mine(base_fee=GWEI)
    if case in SUBPROCESS_RESTART:
        assert bot.run("execute", polls=1) == 0
        assert "RESULT" in bot.output
    # Then the harness drives the restarted journal to the end, in process.
    ex = env.open()
    again = ex.execute(request)
    if case == failpoints.BEFORE_SIGN and case not in SUBPROCESS_RESTART:
        assert again.sent  # nothing was signed: the opportunity is taken again, once
    else:
        expected = (Status.IN_FLIGHT, Status.ALREADY_DONE, Status.SIMULATION_REVERTED)
        assert again.status in expected, again
    used = env.settle(ex)
    assert ex.journal is not None
    confirmed = [i for i in ex.journal.intents() if i.state is IntentState.CONFIRMED]
    assert len(confirmed) == 1
    if case == failpoints.BEFORE_SIGN:
        unsigned = ex.journal.intent(1)
        assert unsigned.state is IntentState.CANCELLED and unsigned.outcome == "not_signed"
    if case in (failpoints.MID_REPLACEMENT, failpoints.AFTER_REPLACEMENT_BROADCAST):
        kinds = [a.kind for a in ex.journal.attempts(confirmed[0].id)]
        assert kinds[:2] == [AttemptKind.ORIGINAL, AttemptKind.REPLACEMENT]
    env.invariants(ex, blocks_used=used)
    ledger = env.ledger()
    assert ledger.nonces == [0]  # one transaction mined, at nonce 0
    assert sum(ledger.liquidations_per_user({BOT_ADDRESS, *env.contracts}).values()) == 1
    no_secret_in([bot.output])
    ex.close()
