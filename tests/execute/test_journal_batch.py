"""``Journal.batch``: many writes, one commit; nested writes undo only themselves; an
exception out of the outermost batch forgets all of it; ``flush`` commits before a
broadcast."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.execute.journal import (
    AttemptKind,
    DuplicateIntent,
    IntentKind,
    IntentState,
    Journal,
    JournalError,
)
from tests.execute.test_journal import FEES, _intent, _journal


def _sign(j: Journal, intent_id: int, nonce: int) -> int:
    return j.record_signed(
        intent_id,
        nonce=nonce,
        kind=AttemptKind.ORIGINAL,
        tx_hash="0x" + f"{intent_id:064x}",
        raw_tx=b"\x02raw",
        to="0x" + "11" * 20,
        value=0,
        gas_limit=400_000,
        fees=FEES,
        route="public",
    ).id


def _seen_by_another_reader(path: Path) -> tuple[int, int, int | None]:
    """(intents, attempts, next nonce) as a second connection sees them: what is on disk."""
    conn = sqlite3.connect(str(path))
    try:
        intents = conn.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
        attempts = conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        row = conn.execute("SELECT next_nonce FROM nonces").fetchone()
        return int(intents), int(attempts), None if row is None else int(row[0])
    finally:
        conn.close()


def test_a_batch_commits_once_at_the_outermost_exit(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    path = tmp_path / "journal.sqlite"
    with j.batch():
        with j.batch():  # nested: still nothing on disk when it ends
            a = _intent(j, "k:a")
            _sign(j, a, 0)
        b = _intent(j, "k:b")
        _sign(j, b, 1)
        # The writer sees its own writes; another reader sees nothing yet.
        assert j.next_nonce() == 2 and len(j.attempts()) == 2
        assert _seen_by_another_reader(path) == (0, 0, 0)
    assert _seen_by_another_reader(path) == (2, 2, 2)
    assert [i.state for i in j.intents()] == [IntentState.SIGNED, IntentState.SIGNED]
    j.close()


def test_a_failed_write_inside_a_batch_undoes_only_itself(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(5, "start")
    with j.batch():
        a = _intent(j, "k:a")
        _sign(j, a, 5)
        with pytest.raises(DuplicateIntent):
            _intent(j, "k:a")
        b = _intent(j, "k:b")
        with pytest.raises(JournalError):  # not the counter's nonce: refused, nothing kept
            _sign(j, b, 9)
        _sign(j, b, 6)
    assert _seen_by_another_reader(tmp_path / "journal.sqlite") == (2, 2, 7)
    assert [a.nonce for a in j.attempts()] == [5, 6]
    j.close()


def test_an_exception_out_of_the_batch_forgets_every_signed_attempt(tmp_path: Path) -> None:
    """Nothing of a batch is broadcast before it commits: rolled back, its intents, attempts
    and nonces are gone, and the counter hands the same nonces out again."""
    j = _journal(tmp_path)
    j.advance_nonce(3, "start")
    with pytest.raises(RuntimeError, match="boom"), j.batch():
        for key in ("k:a", "k:b"):
            _sign(j, _intent(j, key), j.next_nonce() or 0)
        raise RuntimeError("boom")
    assert j.intents() == [] and j.attempts() == [] and j.next_nonce() == 3
    again = _intent(j, "k:a")  # the same opportunity is free again, with the same nonce
    _sign(j, again, 3)
    assert _seen_by_another_reader(tmp_path / "journal.sqlite") == (1, 1, 4)
    j.close()


def test_flush_commits_mid_batch_and_refuses_inside_a_nested_write(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    path = tmp_path / "journal.sqlite"
    j.flush()  # outside a batch: nothing to do
    with j.batch():
        _sign(j, _intent(j, "k:a"), 0)
        j.flush()  # what a broadcast does first
        assert _seen_by_another_reader(path) == (1, 1, 1)
        _sign(j, _intent(j, "k:b"), 1)
        with pytest.raises(JournalError, match="nested"), j.batch():
            j.flush()
        assert _seen_by_another_reader(path) == (1, 1, 1)
    assert _seen_by_another_reader(path) == (2, 2, 2)
    j.close()


def test_open_attempts_and_states_read_all_at_once(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    ids = [_intent(j, f"k:{n}") for n in range(3)]
    for nonce, intent_id in enumerate(ids):
        _sign(j, intent_id, nonce)
    j.finish(ids[1], IntentState.CANCELLED, outcome="cancelled", detail="test")
    by_intent = j.open_attempts()
    assert sorted(by_intent) == [ids[0], ids[2]]  # the finished one is not open
    assert by_intent[ids[0]] == j.attempts(ids[0])
    assert j.open_keys() == ["k:0", "k:2"] == [i.opportunity_key for i in j.open_intents()]
    with j.batch():
        many = [_intent(j, f"many:{n}", observed=n) for n in range(600)]  # over one chunk
    states = j.states([*ids, *many])
    assert states[ids[1]] is IntentState.CANCELLED and states[ids[0]] is IntentState.SIGNED
    assert len(states) == 603 and states[many[-1]] is IntentState.INTENT
    assert j.count_open(IntentKind.LIQUIDATION) == 602
    j.close()
