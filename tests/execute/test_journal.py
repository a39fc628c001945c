"""The SQLite journal: write-ahead records, an atomic nonce counter, one process per key."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.execute.fees import Fees
from bot.execute.journal import (
    SCHEMA_VERSION,
    AttemptKind,
    AttemptState,
    DuplicateIntent,
    IntentKind,
    IntentState,
    Journal,
    JournalError,
    JournalMismatch,
    LedgerEntry,
    Mined,
)
from bot.execute.lock import AlreadyRunning
from tests.execute.scenario import BOT_ADDRESS

CHAIN = 31337
FEES = Fees(2 * 10**9, 10**9)


def _journal(tmp_path: Path, **kw: object) -> Journal:
    return Journal.open(
        tmp_path / "journal.sqlite",
        account=BOT_ADDRESS,
        chain_id=CHAIN,
        lock_dir=tmp_path / "locks",
        **kw,  # type: ignore[arg-type]
    )


def _intent(j: Journal, key: str = "liquidation:a:b:c", observed: int = 10) -> int:
    return j.add_intent(
        key=key,
        kind=IntentKind.LIQUIDATION,
        path="flash",
        target=BOT_ADDRESS,
        calldata=b"\x01\x02",
        value=0,
        gas_limit=400_000,
        observed_block=observed,
        request={"key": key, "expected_profit": "5"},
    ).id


def _sign(j: Journal, intent_id: int, nonce: int, tx_hash: str, **kw: object) -> int:
    attempt = j.record_signed(
        intent_id,
        nonce=nonce,
        kind=kw.pop("kind", AttemptKind.ORIGINAL),  # type: ignore[arg-type]
        tx_hash=tx_hash,
        raw_tx=b"raw" + tx_hash.encode(),
        to=BOT_ADDRESS,
        value=0,
        gas_limit=400_000,
        fees=kw.pop("fees", FEES),  # type: ignore[arg-type]
        route="public",
        **kw,  # type: ignore[arg-type]
    )
    return attempt.id


def test_schema_meta_and_wal(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.close()
    conn = sqlite3.connect(tmp_path / "journal.sqlite")
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["account"] == BOT_ADDRESS and meta["chain_id"] == str(CHAIN)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"intents", "attempts", "transitions", "nonces", "ledger", "events"} <= tables


def test_nonce_counter_moves_with_the_attempt_record(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    assert j.next_nonce() is None
    assert j.advance_nonce(7, "chain") == 7
    assert j.advance_nonce(3, "a lagging node") == 7  # never backwards
    first = _intent(j)
    with pytest.raises(JournalError, match="not the journal's next nonce"):
        _sign(j, first, 8, "0xaa")
    assert j.next_nonce() == 7 and j.attempts() == []  # the failed write left nothing behind
    _sign(j, first, 7, "0xaa")
    assert j.next_nonce() == 8
    intent = j.intent(first)
    assert intent.nonce == 7 and intent.state is IntentState.SIGNED
    with pytest.raises(JournalError, match="already holds nonce"):
        _sign(j, first, 8, "0xab")
    # a replacement must use the intent's nonce and leaves the counter alone
    _sign(j, first, 7, "0xac", kind=AttemptKind.REPLACEMENT)
    with pytest.raises(JournalError, match="must use its nonce"):
        _sign(j, first, 8, "0xad", kind=AttemptKind.CANCEL)
    assert j.next_nonce() == 8
    j.close()


def test_one_open_intent_per_opportunity(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "chain")
    first = _intent(j, observed=10)
    with pytest.raises(DuplicateIntent):
        _intent(j, observed=11)
    attempt = _sign(j, first, 0, "0x01")
    j.mark_sent(attempt, 11)
    j.mark_mined(attempt, Mined(12, "0xblock", 1, 300_000, 10**9))
    j.finish(
        first,
        IntentState.CONFIRMED,
        outcome="liquidated",
        detail="ok",
        confirmed_attempt=attempt,
        ledger=LedgerEntry(first, "liquidation:a:b:c", "liquidation", "flash", "liquidated"),
    )
    with pytest.raises(DuplicateIntent, match="already done"):
        _intent(j, observed=11)  # decided on a state before our liquidation landed
    second = _intent(j, observed=13)  # decided after it: a new liquidation is allowed
    assert second != first
    with pytest.raises(JournalError, match="final"):
        j.finish(first, IntentState.FAILED, outcome="x", detail="x")
    j.close()


def test_transitions_and_sibling_replacement(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(0, "chain")
    intent = _intent(j)
    a1 = _sign(j, intent, 0, "0x01")
    j.mark_sent(a1, 5)
    a2 = _sign(j, intent, 0, "0x02", kind=AttemptKind.REPLACEMENT, fees=Fees(3 * 10**9, 2 * 10**9))
    j.mark_sent(a2, 6)
    j.mark_mined(a2, Mined(7, "0xb7", 1, 21_000, 2 * 10**9))
    states = {a.id: a.state for a in j.attempts(intent)}
    assert states == {a1: AttemptState.REPLACED, a2: AttemptState.MINED}
    j.unmine(intent, "reorg")
    assert {a.state for a in j.attempts(intent)} == {AttemptState.SENT}
    path = [t.to_state for t in j.transitions(intent) if t.attempt_id is None]
    assert path == ["intent", "signed", "sent", "mined", "sent"]
    j.close()


def test_a_second_opener_is_refused(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    with pytest.raises(AlreadyRunning, match="one bot per key"):
        _journal(tmp_path)
    # Same key, another journal file: the account lock still refuses.
    with pytest.raises(AlreadyRunning, match="account"):
        Journal.open(
            tmp_path / "other.sqlite",
            account=BOT_ADDRESS,
            chain_id=CHAIN,
            lock_dir=tmp_path / "locks",
        )
    j.close()
    _journal(tmp_path).close()  # released on close


def test_a_second_process_refuses_to_start(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from bot.execute.journal import Journal
        from bot.execute.lock import AlreadyRunning
        try:
            Journal.open(Path({str(tmp_path / "journal.sqlite")!r}), account={BOT_ADDRESS!r},
                         chain_id={CHAIN}, lock_dir=Path({str(tmp_path / "locks")!r}))
        except AlreadyRunning as exc:
            print(exc)
            sys.exit(3)
        sys.exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    assert "another liqbot process" in done.stdout
    j.close()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_journal_of_another_account_or_chain_is_refused(tmp_path: Path) -> None:
    _journal(tmp_path).close()
    with pytest.raises(JournalMismatch, match="belongs to account"):
        Journal.open(
            tmp_path / "journal.sqlite",
            account="0x" + "11" * 20,
            chain_id=CHAIN,
            lock_dir=tmp_path / "locks",
        )
    with pytest.raises(JournalMismatch, match="chain"):
        Journal.open(
            tmp_path / "journal.sqlite",
            account=BOT_ADDRESS,
            chain_id=1,
            lock_dir=tmp_path / "locks",
        )
    _journal(tmp_path).close()  # the refusals released their locks


def test_a_hole_may_be_filled_below_the_counter(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(3, "foreign pending transaction, later dropped")
    heal = j.add_intent(
        key="heal:2",
        kind=IntentKind.HEAL,
        path="heal",
        target=BOT_ADDRESS,
        calldata=b"",
        value=0,
        gas_limit=21_000,
        observed_block=1,
        request={},
    )
    _sign(j, heal.id, 2, "0x02", fill_gap=True)
    assert j.next_nonce() == 3 and j.intent(heal.id).nonce == 2
    other = _intent(j)
    with pytest.raises(JournalError, match="not a hole"):
        _sign(j, other, 2, "0x03", fill_gap=True)  # held by the heal
    j.close()
