"""A bundle in the journal: one intent, one nonce, one attempt chain, and per item the key
the duplicate checks know, its own outcome and its own ledger row (issue 8)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.execute.journal import (
    BundleItem,
    DuplicateIntent,
    IntentKind,
    IntentState,
    Journal,
    LedgerEntry,
    Mined,
    SignedOriginal,
)
from tests.execute.test_journal import _journal
from tests.execute.test_journal_originals import _item

KEYS = ("liquidation:0xa:c:d", "liquidation:0xb:c:d", "liquidation:0xc:c:d")


def _bundle(nonce: int, keys: tuple[str, ...] = KEYS, observed: int = 10) -> SignedOriginal:
    return replace(
        _item(f"bundle:{nonce}", nonce, observed),
        kind=IntentKind.BUNDLE,
        path="bundle",
        request={"key": "bundle", "items": [{"key": k, "route": "flash"} for k in keys]},
        items=tuple(BundleItem(k, observed) for k in keys),
    )


def _started(tmp_path: Path) -> Journal:
    j = _journal(tmp_path)
    j.advance_nonce(0, "start")
    return j


def _entries(intent_id: int, outcomes: tuple[str, ...]) -> tuple[LedgerEntry, ...]:
    return tuple(
        LedgerEntry(
            intent_id=intent_id,
            opportunity_key=key,
            kind="liquidation",
            path="flash",
            outcome=outcome,
            profit_asset="USDC",
            realised_profit=100 * (k + 1) if outcome == "liquidated" else 0,
            gas_paid_wei=7,
            gas_burnt_wei=0 if outcome == "liquidated" else 7,
        )
        for k, (key, outcome) in enumerate(zip(KEYS, outcomes, strict=True))
    )


def test_an_open_bundle_holds_each_of_its_keys_in_flight(tmp_path: Path) -> None:
    j = _started(tmp_path)
    ((intent, attempt),) = j.add_originals([_bundle(0)])
    assert intent.keys == KEYS and attempt.nonce == 0 and j.next_nonce() == 1
    assert set(j.open_keys()) == set(KEYS)
    assert j.count_open(IntentKind.LIQUIDATION) == 3
    history = j.key_history(list(KEYS))
    assert {k: [(r.id, r.state) for r in v] for k, v in history.items()} == {
        k: [(intent.id, IntentState.SIGNED)] for k in KEYS
    }
    # No second intent for a bundled key, alone or in another bundle; nothing written then.
    with pytest.raises(DuplicateIntent, match=KEYS[1]):
        j.add_originals([_item(KEYS[1], 1)])
    with pytest.raises(DuplicateIntent, match=KEYS[2]):
        j.add_originals([_bundle(1, ("liquidation:0xz:c:d", KEYS[2]))])
    with pytest.raises(DuplicateIntent, match=KEYS[0]):
        j.add_intent(
            key=KEYS[0],
            kind=IntentKind.LIQUIDATION,
            path="flash",
            target=intent.target,
            calldata=b"",
            value=0,
            gas_limit=1,
            observed_block=10,
            request={},
        )
    with pytest.raises(DuplicateIntent, match="twice"):
        j.add_originals([_bundle(1, (KEYS[0] + "x", KEYS[0] + "x"))])
    assert len(j.intents()) == 1 and j.next_nonce() == 1
    j.close()


def test_a_finished_bundle_keeps_each_items_outcome_and_ledger_row(tmp_path: Path) -> None:
    j = _started(tmp_path)
    ((intent, attempt),) = j.add_originals([_bundle(0)])
    j.mark_mined(attempt.id, Mined(12, "0x" + "ab" * 32, 1, 50_000, 10))
    entries = _entries(intent.id, ("liquidated", "reverted:lost_to_competitor", "liquidated"))
    j.finish(
        intent.id,
        IntentState.CONFIRMED,
        outcome="liquidated",
        detail="2 of 3",
        confirmed_attempt=attempt.id,
        ledger=entries,
    )
    assert j.open_keys() == [] and j.count_open(IntentKind.LIQUIDATION) == 0
    assert [(e.opportunity_key, e.outcome, e.realised_profit) for e in j.ledger()] == [
        (e.opportunity_key, e.outcome, e.realised_profit) for e in entries
    ]
    pnl = j.pnl()
    assert pnl.realised_profit == {"USDC": 400}
    assert pnl.gas_paid_wei == 21 and pnl.gas_burnt_wei == 7
    assert pnl.outcomes == {"liquidated": 2, "reverted:lost_to_competitor": 1}
    # The item the bundle did not liquidate failed: not done, and free to be tried again
    # on a decision older than the bundle's block; the liquidated ones are done.
    history = j.key_history(list(KEYS))
    assert [history[k][0].state for k in KEYS] == [
        IntentState.CONFIRMED,
        IntentState.FAILED,
        IntentState.CONFIRMED,
    ]
    assert all(history[k][0].mined_block == 12 for k in KEYS)
    j.add_originals([_item(KEYS[1], 1, observed=11)])
    with pytest.raises(DuplicateIntent, match="already done"):
        j.add_originals([_item(KEYS[0], 2, observed=11)])
    j.close()


def test_a_reopened_journal_reads_the_bundle_back(tmp_path: Path) -> None:
    j = _started(tmp_path)
    ((intent, _),) = j.add_originals([_bundle(0)])
    j.close()
    again = _journal(tmp_path)
    (read,) = again.open_intents()
    assert read == intent
    assert set(again.open_keys()) == set(KEYS)
    again.close()
