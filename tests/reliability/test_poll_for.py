"""``Executor.poll_for``: settle only the accounts about to be planned again; the full poll
after it settles the rest from what the partial one read of the new block (issue 8)."""

from __future__ import annotations

from pathlib import Path

from bot.chain.anvil import Anvil
from bot.execute import Status
from bot.execute.journal import FINAL_STATES, IntentState
from bot.execute.request import opportunity_key
from tests.execute.scenario import request_for
from tests.reliability.harness import make_env


def test_poll_for_settles_the_matching_intent_and_poll_the_others_in_one_batch(
    anvil: Anvil, tmp_path: Path
) -> None:
    env = make_env(anvil, tmp_path, borrowers=3)
    try:
        requests = [request_for(env.sc.market, b.address) for b in env.sc.borrowers]
        ex = env.open(confirmations=1, estimate_gas=False)
        env.automine(False)
        assert ex.begin_block() is not None
        results = ex.execute_batch(requests)
        ex.end_block()
        assert [r.status for r in results] == [Status.SENT] * 3
        env.mine()  # all three mined in the same block
        assert ex.journal is not None
        ids = [r.intent_id for r in results]
        assert None not in ids

        env.proxy.reset_counts()
        user = env.sc.borrowers[0].address
        updates = ex.poll_for([opportunity_key(user, "", "").removesuffix("::") + ":"])
        # (Settled: confirmed, or failed when a liquidation before it in the block took
        # what it needed; either way its receipt was read and judged.)
        assert [u.key for u in updates] == [requests[0].key]
        assert updates[0].after in FINAL_STATES
        states = ex.journal.states([i for i in ids if i is not None])
        assert [states[i] for i in ids if i is not None][1:] == [IntentState.SENT] * 2
        assert env.proxy.counts["eth_getTransactionReceipt"] == 1  # only its own receipt

        # The full poll sees no new block, yet knows the other two were mined in the block
        # the partial poll read: their receipts in one batch, no per-intent lookups.
        env.proxy.reset_counts()
        updates = ex.poll()
        assert sorted(u.key for u in updates) == sorted(r.key for r in requests[1:])
        assert all(u.after in FINAL_STATES for u in updates)
        assert env.proxy.counts["eth_getTransactionReceipt"] == 2
        assert env.proxy.http_requests == env.proxy.total - 1  # the two receipts: one post
        assert env.proxy.counts["eth_getBlockByNumber"] <= 2  # the head, the mined block
        assert ex.in_flight() == []
        ex.close()
    finally:
        env.proxy.stop()
