"""A batch of sends is journaled in one transaction that commits before the first broadcast,
and ``max_in_flight`` holds exactly across a batch (issue 8)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from bot.execute import Executor, Status, failpoints
from bot.execute.journal import FINAL_STATES, AttemptState, Journal
from bot.execute.request import ExecutionRequest
from tests.execute.scenario import BOT_ADDRESS, GWEI, request_for
from tests.reliability.harness import Env


def _send_in_steps(ex: Executor, requests: list[ExecutionRequest]) -> None:
    """The loop's way (``BatchSend``); the crash is raised again when the batch is collected."""
    with (
        ThreadPoolExecutor(max_workers=1) as simulations,
        ThreadPoolExecutor(max_workers=1) as broadcasts,
    ):
        steps = ex.start_batch(requests, simulations, broadcasts)
        assert steps is not None
        steps.start()
        try:
            steps.sign()
        finally:
            with pytest.raises(failpoints.FailpointHit):
                steps.finish()


@pytest.mark.parametrize("way", ["whole", "in steps", "bundled"])
def test_a_batch_is_on_disk_before_its_broadcast_and_a_restart_sends_it(
    env2: Env, way: str
) -> None:
    """Bundled: both liquidations in one transaction (one nonce), settled per item."""
    requests = [
        replace(request_for(env2.sc.market, b.address), priority_fee_per_gas=GWEI)
        for b in env2.sc.borrowers
    ]
    bundle_size = 8 if way == "bundled" else 1
    ex = env2.open(confirmations=1, estimate_gas=False, bundle_size=bundle_size)
    env2.automine(False)
    assert ex.begin_block() is not None
    env2.proxy.reset_counts()
    with (
        failpoints.armed(failpoints.AFTER_JOURNAL_BEFORE_BROADCAST),
        pytest.raises(failpoints.FailpointHit),
    ):
        if way != "in steps":
            ex.execute_batch(requests)
        else:
            _send_in_steps(ex, requests)
    assert "eth_sendRawTransaction" not in env2.proxy.counts  # nothing left the process
    # Another reader (what a restart finds): both intents and signed attempts, committed.
    view = Journal.open(
        env2.journal_path, account=BOT_ADDRESS, chain_id=env2.w3.eth.chain_id, lock=False
    )
    attempts = view.attempts()
    transactions = 1 if way == "bundled" else 2
    assert [(a.nonce, a.state) for a in attempts] == [
        (n, AttemptState.SIGNED) for n in range(transactions)
    ]
    assert view.next_nonce() == transactions
    assert set(view.open_keys()) == {r.key for r in requests}
    view.close()
    ex.close()
    # The restart broadcasts the journaled bytes (same hashes), and both settle.
    again = env2.open(confirmations=1, estimate_gas=False, bundle_size=bundle_size)
    assert again.journal is not None
    sent = {s.tx_hash for s in env2.proxy.sends_from(BOT_ADDRESS)}
    assert {a.tx_hash for a in attempts} <= sent
    env2.settle(again)
    assert all(i.state in FINAL_STATES for i in again.journal.intents())
    # Each liquidation has its ledger row (the model's gas may run out here: any outcome).
    assert sorted(e.opportunity_key for e in again.ledger()) == sorted(r.key for r in requests)
    env2.invariants(again)
    again.close()


def test_max_in_flight_holds_exactly_across_a_batch(env2: Env) -> None:
    requests = [request_for(env2.sc.market, b.address) for b in env2.sc.borrowers]
    ex = env2.open(confirmations=1, estimate_gas=False, max_in_flight=1)
    env2.automine(False)
    assert ex.begin_block() is not None
    results = ex.execute_batch(requests)
    ex.end_block()
    # Both passed the check before the simulations; the second is refused when staged.
    assert [r.status for r in results] == [Status.SENT, Status.BUSY]
    assert ex.journal is not None and len(ex.journal.intents()) == 1
    assert len(env2.proxy.sends_from(BOT_ADDRESS)) == 1
    ex.close()
