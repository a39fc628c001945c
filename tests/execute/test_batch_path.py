"""The batch path on eth-tester, a node that cannot batch: ``begin_block`` reads one by one,
``execute_batch`` simulates and sends one by one, and the journal's writes for a whole
batch are a few multi-row statements, not a couple of dozen per send (issue 8)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.execute import Executor, Status, failpoints
from bot.execute.journal import AttemptState, IntentState, Journal
from bot.execute.keys import Signer
from tests.execute.scenario import (
    BOT_ADDRESS,
    Scenario,
    open_batch_executor,
    request_for,
)


def _open(sc: Scenario, tmp_path: Path, signer: Signer) -> Executor:
    # Several sends of one borrower per batch: alone on the block's state each passes (what
    # these journal tests need); in order, the later ones would revert.
    return open_batch_executor(
        sc.w3, sc.market, tmp_path / "journal.sqlite", signer, simulate_in_order=False
    )


def _statements(ex: Executor, run: object) -> list[str]:
    """The SQL statements the journal ran while ``run()`` ran."""
    assert ex.journal is not None
    seen: list[str] = []
    conn = ex.journal._conn
    conn.set_trace_callback(seen.append)
    try:
        run()  # type: ignore[operator]
    finally:
        conn.set_trace_callback(None)
    return seen


def test_a_batch_on_a_node_that_cannot_batch_and_its_statements_do_not_grow_with_it(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = bot_scenario
    base = [request_for(sc.market, b.address) for b in sc.borrowers]
    ex = _open(sc, tmp_path, signer)
    assert ex.node.block_reads(BOT_ADDRESS, nonces=True, balance=True) is None
    head = ex.begin_block()
    assert head is not None and head.number == sc.w3.eth.block_number
    small = [replace(base[i % 2], key=f"{base[i % 2].key}#a{i}") for i in range(2)]
    results = []
    sql_small = _statements(ex, lambda: results.extend(ex.execute_batch(small)))
    ex.end_block()
    assert [(r.status, r.nonce) for r in results] == [(Status.SENT, 0), (Status.SENT, 1)]

    assert ex.begin_block() is not None
    large = [replace(base[i % 2], key=f"{base[i % 2].key}#b{i}") for i in range(8)]
    # The same key twice in one batch: the second is in flight, takes no nonce.
    large.append(large[0])
    results = []
    sql_large = _statements(ex, lambda: results.extend(ex.execute_batch(large)))
    ex.end_block()
    assert [r.status for r in results] == [Status.SENT] * 8 + [Status.IN_FLIGHT]
    assert [r.nonce for r in results[:8]] == list(range(2, 10))
    # Before: 24 statements per send. Now a batch's are (nearly) as many for 8 as for 2.
    assert len(sql_small) <= 25, sql_small
    assert len(sql_large) <= len(sql_small) + 1, sql_large
    assert ex.journal is not None and ex.journal.next_nonce() == 10
    assert {a.state for a in ex.journal.attempts()} == {AttemptState.SENT}
    assert {i.state for i in ex.journal.intents()} == {IntentState.SENT}
    ex.close()


def test_a_crash_before_signing_a_batch_leaves_nothing_of_it(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = bot_scenario
    requests = [request_for(sc.market, b.address) for b in sc.borrowers]
    ex = _open(sc, tmp_path, signer)
    assert ex.begin_block() is not None
    with failpoints.armed(failpoints.BEFORE_SIGN), pytest.raises(failpoints.FailpointHit):
        ex.execute_batch(requests)
    view = Journal.open(
        tmp_path / "journal.sqlite", account=BOT_ADDRESS, chain_id=sc.w3.eth.chain_id, lock=False
    )
    # Intents and attempts are written together, after signing: none half-written.
    assert view.intents() == [] and view.attempts() == []
    assert view.next_nonce() == 0
    view.close()
    ex.close()
    again = _open(sc, tmp_path, signer)
    assert again.begin_block() is not None
    results = again.execute_batch(requests)
    assert [(r.status, r.nonce) for r in results] == [(Status.SENT, 0), (Status.SENT, 1)]
    again.close()
