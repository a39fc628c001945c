"""``Journal.add_originals`` and ``mark_sent_many``: the batch path's few multi-row
statements write what ``add_intent`` + ``record_signed`` + ``mark_sent`` write row by row,
and refuse what they refuse, writing nothing then."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from bot.execute.journal import (
    Attempt,
    AttemptKind,
    AttemptState,
    DuplicateIntent,
    IntentKind,
    IntentState,
    Journal,
    JournalError,
    Mined,
    SignedOriginal,
)
from tests.execute.scenario import BOT_ADDRESS
from tests.execute.test_journal import FEES, _journal

TARGET = "0x" + "11" * 20


def _item(key: str, nonce: int, observed: int = 10) -> SignedOriginal:
    return SignedOriginal(
        key=key,
        kind=IntentKind.LIQUIDATION,
        path="flash",
        target=TARGET,
        calldata=b"\x01\x02",
        value=7,
        gas_limit=400_000,
        observed_block=observed,
        request={"key": key, "expected_profit": "5"},
        nonce=nonce,
        tx_hash="0x" + f"{nonce + 1:064X}",  # upper case: stored lower, as record_signed does
        raw_tx=b"\x02raw" + bytes([nonce]),
        fees=FEES,
        route="public",
    )


def _one_by_one(j: Journal, item: SignedOriginal) -> Attempt:
    intent = j.add_intent(
        key=item.key,
        kind=item.kind,
        path=item.path,
        target=item.target,
        calldata=item.calldata,
        value=item.value,
        gas_limit=item.gas_limit,
        observed_block=item.observed_block,
        request=item.request,
    )
    return j.record_signed(
        intent.id,
        nonce=item.nonce,
        kind=AttemptKind.ORIGINAL,
        tx_hash=item.tx_hash,
        raw_tx=item.raw_tx,
        to=item.target,
        value=item.value,
        gas_limit=item.gas_limit,
        fees=item.fees,
        route=item.route,
    )


def _rows(j: Journal) -> tuple[list[Any], ...]:
    """Everything but the clock, as a reader (a restart) sees it."""
    clock = ("created_at", "updated_at")
    intents = [{k: v for k, v in asdict(i).items() if k not in clock} for i in j.intents()]
    attempts = [asdict(a) for a in j.attempts()]
    transitions = [
        (t.intent_id, t.attempt_id, t.from_state, t.to_state, t.detail) for t in j.transitions()
    ]
    return intents, attempts, transitions, [(j.next_nonce(),)]


def test_add_originals_writes_what_the_one_by_one_path_writes(tmp_path: Path) -> None:
    items = [_item("k:a", 3), _item("k:b", 4), _item("k:c", 5)]
    one = _journal(tmp_path / "one")
    one.advance_nonce(3, "start")
    for item in items:
        _one_by_one(one, item)
    many = _journal(tmp_path / "many")
    many.advance_nonce(3, "start")
    with many.batch():
        written = many.add_originals(items)
    assert _rows(many) == _rows(one)
    # What it returns is what a read gives back.
    assert [i for i, _ in written] == many.intents()
    assert [a for _, a in written] == many.attempts()
    assert many.next_nonce() == 6
    one.close()
    many.close()


def test_add_originals_continues_the_ids_after_rows_written_one_by_one(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    _one_by_one(j, _item("k:a", 0))
    written = j.add_originals([_item("k:b", 1), _item("k:c", 2)])
    _one_by_one(j, _item("k:d", 3))
    assert [i.id for i in j.intents()] == [1, 2, 3, 4]
    assert [a.id for a in j.attempts()] == [1, 2, 3, 4]
    assert [(i.id, a.id, a.intent_id) for i, a in written] == [(2, 2, 2), (3, 3, 3)]
    j.close()


@pytest.mark.parametrize(
    ("nonces", "why"),
    [((1, 2), "not the journal's next"), ((0, 2), "not the journal's next")],
)
def test_add_originals_refuses_nonces_off_the_counter_and_writes_nothing(
    tmp_path: Path, nonces: tuple[int, int], why: str
) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    with pytest.raises(JournalError, match=why):
        j.add_originals([_item("k:a", nonces[0]), _item("k:b", nonces[1])])
    assert j.intents() == [] and j.attempts() == [] and j.next_nonce() == 0
    j.close()


def test_add_originals_refuses_a_key_in_flight_or_done_since_and_writes_nothing(
    tmp_path: Path,
) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    attempt = _one_by_one(j, _item("k:busy", 0))
    with j.batch(), pytest.raises(DuplicateIntent, match="k:busy already has intent 1"):
        j.add_originals([_item("k:new", 1), _item("k:busy", 2)])
    assert len(j.intents()) == 1 and j.next_nonce() == 1
    with pytest.raises(DuplicateIntent, match="twice in one batch"):
        j.add_originals([_item("k:x", 1), _item("k:x", 2)])
    # Done in block 12: a decision on block 11's state is stale, one on block 12's is not.
    j.mark_sent(attempt.id, 11)
    j.mark_mined(attempt.id, Mined(12, "0x" + "ab" * 32, 1, 21_000, 10**9))
    j.finish(1, IntentState.CONFIRMED, outcome="liquidated", detail="", confirmed_attempt=1)
    with pytest.raises(DuplicateIntent, match="already done by intent 1 in block 12"):
        j.add_originals([_item("k:busy", 1, observed=11)])
    assert len(j.intents()) == 1 and j.next_nonce() == 1
    ((intent, _),) = j.add_originals([_item("k:busy", 1, observed=12)])
    assert intent.id == 2 and j.next_nonce() == 2
    j.close()


def test_key_history_gives_each_keys_intents_with_their_highest_mined_block(
    tmp_path: Path,
) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    first = _one_by_one(j, _item("k:a", 0))
    j.mark_sent(first.id, 5)
    j.mark_mined(first.id, Mined(9, "0x" + "cd" * 32, 1, 21_000, 10**9))
    _one_by_one(j, _item("k:b", 1))
    history = j.key_history(["k:a", "k:b", "k:none", "k:a"])
    assert {k: [(r.id, r.state, r.mined_block) for r in v] for k, v in history.items()} == {
        "k:a": [(1, IntentState.MINED, 9)],
        "k:b": [(2, IntentState.SIGNED, 0)],
    }
    j.close()


def test_mark_sent_many_matches_mark_sent_and_falls_back_on_rows_in_another_state(
    tmp_path: Path,
) -> None:
    items = [_item("k:a", 0), _item("k:b", 1), _item("k:c", 2)]
    one = _journal(tmp_path / "one")
    one.advance_nonce(0, "start")
    many = _journal(tmp_path / "many")
    many.advance_nonce(0, "start")
    attempts = [a for _, a in many.add_originals(items)]
    for item in items:
        _one_by_one(one, item)
    details = ["sent", "maybe sent: timeout", "sent"]
    for attempt, detail in zip(one.attempts(), details, strict=True):
        one.mark_sent(attempt.id, 40, detail)
    many.mark_sent_many(list(zip(attempts, details, strict=True)), 40)
    assert _rows(many) == _rows(one)
    assert {a.state for a in many.attempts()} == {AttemptState.SENT}

    # Rows no longer as written (sent already, here): each is marked on its own, as
    # mark_sent would (one more broadcast counted), nothing half-done by the bulk path.
    one.mark_sent(1, 41, "again")
    many.mark_sent_many([(attempts[0], "again")], 41)
    assert _rows(many) == _rows(one)
    assert many.attempts()[0].broadcasts == 2
    one.close()
    many.close()


def test_a_batch_written_by_add_originals_is_what_a_restart_finds(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    with j.batch():
        j.add_originals([_item("k:a", 0), _item("k:b", 1)])
    j.close()
    again = _journal(tmp_path)
    assert [(i.state, i.nonce) for i in again.intents()] == [
        (IntentState.SIGNED, 0),
        (IntentState.SIGNED, 1),
    ]
    assert [a.raw_tx for a in again.attempts()] == [b"\x02raw\x00", b"\x02raw\x01"]
    assert again.next_nonce() == 2 and again.account == BOT_ADDRESS
    again.close()


def _synchronous(j: Journal) -> int:
    return int(j._conn.execute("PRAGMA synchronous").fetchone()[0])


def test_a_batch_that_is_not_durable_relaxes_its_own_commit_only(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    full, normal = 2, 1
    assert _synchronous(j) == full
    with j.batch(durable=False):
        assert _synchronous(j) == normal
        j.record_event("test", "an answer recorded")
        with pytest.raises(JournalError, match="not durable"):
            j.flush()  # never a broadcast from inside it
    assert _synchronous(j) == full
    with j.batch(), j.batch(durable=False):  # nested: the outer batch's commit rules
        assert _synchronous(j) == full
    with pytest.raises(RuntimeError), j.batch(durable=False):
        raise RuntimeError("boom")
    assert _synchronous(j) == full
    j.close()
    again = _journal(tmp_path)
    assert ("test", "an answer recorded") in again.events()  # committed all the same
    again.close()
