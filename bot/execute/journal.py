"""The executor's write-ahead journal in SQLite: intents, signed attempts, the nonce counter,
every state transition, and the profit and loss ledger.

The rules that make "nothing lost" possible:

- an intent is written before anything signed for it can leave the process: before it
  is signed (one send at a time), or with its first signed transaction in one transaction
  (a batch, :meth:`Journal.add_originals`), committed before the broadcast;
- an attempt (the signed raw transaction and its hash) is written before it is broadcast,
  and in the *same* SQLite transaction the nonce counter moves past its nonce, so the counter
  can never run ahead of the records (a counter that does jams the sender for good);
- nonces only go forward; a state change and its transition row are one transaction;
- the database runs in WAL mode with ``synchronous=FULL``: a commit is on disk before the
  executor goes on to broadcast.

Amounts that may exceed 64 bits (wei, token units) are stored as decimal TEXT.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.execute.fees import Fees
from bot.execute.lock import ProcessLock, account_lock, journal_lock

SCHEMA_VERSION = 1

_LEDGER_FIELDS = """\
    opportunity_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    outcome TEXT NOT NULL,
    profit_asset TEXT NOT NULL DEFAULT '',
    predicted_profit TEXT NOT NULL DEFAULT '0',
    realised_profit TEXT NOT NULL DEFAULT '0',
    predicted_net_value TEXT NOT NULL DEFAULT '0',
    gas_used INTEGER NOT NULL DEFAULT 0,
    gas_paid_wei TEXT NOT NULL DEFAULT '0',
    gas_burnt_wei TEXT NOT NULL DEFAULT '0',
    block_number INTEGER,
    tx_hash TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    recorded_at REAL NOT NULL"""
"""A ledger row's columns after its intent: one list for the ledger of whole transactions
and the item ledger of bundled liquidations, which ``_ledger_row`` writes alike."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    opportunity_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    target TEXT NOT NULL,
    calldata BLOB NOT NULL,
    value TEXT NOT NULL,
    gas_limit INTEGER NOT NULL,
    observed_block INTEGER NOT NULL,
    request_json TEXT NOT NULL,
    nonce INTEGER,
    state TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_by_key ON intents(opportunity_key);
CREATE INDEX IF NOT EXISTS intents_by_state ON intents(state);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_id INTEGER NOT NULL REFERENCES intents(id),
    nonce INTEGER NOT NULL,
    kind TEXT NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE,
    raw_tx BLOB NOT NULL,
    to_address TEXT NOT NULL,
    value TEXT NOT NULL,
    gas_limit INTEGER NOT NULL,
    max_fee_per_gas TEXT NOT NULL,
    max_priority_fee_per_gas TEXT NOT NULL,
    route TEXT NOT NULL,
    state TEXT NOT NULL,
    broadcasts INTEGER NOT NULL DEFAULT 0,
    first_sent_block INTEGER,
    last_sent_block INTEGER,
    mined_block INTEGER,
    mined_block_hash TEXT,
    status INTEGER,
    gas_used INTEGER,
    effective_gas_price TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_intent ON attempts(intent_id);
CREATE INDEX IF NOT EXISTS attempts_by_nonce ON attempts(nonce);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    intent_id INTEGER,
    attempt_id INTEGER,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS nonces (
    account TEXT PRIMARY KEY,
    next_nonce INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    intent_id INTEGER PRIMARY KEY REFERENCES intents(id),
{_LEDGER_FIELDS}
);
CREATE TABLE IF NOT EXISTS bundle_items (
    intent_id INTEGER NOT NULL REFERENCES intents(id),
    position INTEGER NOT NULL,
    opportunity_key TEXT NOT NULL,
    observed_block INTEGER NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (intent_id, position)
);
CREATE INDEX IF NOT EXISTS bundle_items_by_key ON bundle_items(opportunity_key);
CREATE TABLE IF NOT EXISTS item_ledger (
    intent_id INTEGER NOT NULL REFERENCES intents(id),
    position INTEGER NOT NULL,
{_LEDGER_FIELDS},
    PRIMARY KEY (intent_id, position)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


class IntentState(StrEnum):
    INTENT = "intent"
    """Written; nothing signed (no nonce)."""
    SIGNED = "signed"
    """An attempt is signed and journaled; maybe not broadcast."""
    SENT = "sent"
    MINED = "mined"
    """An attempt has a receipt, short of the confirmation depth."""
    DROPPED = "dropped"
    """No attempt is mined or known to the node, and the nonce is still free."""
    CONFIRMED = "confirmed"
    """The liquidation (or approval) mined with status 1 and its expected event, at depth."""
    FAILED = "failed"
    """Mined at depth but reverted (status 0) or without the expected event."""
    CANCELLED = "cancelled"
    """Never signed, or our zero-value self-send took the nonce."""
    REPLACED = "replaced"
    """The nonce was taken by a transaction this journal never signed."""


OPEN_STATES = frozenset(
    {
        IntentState.INTENT,
        IntentState.SIGNED,
        IntentState.SENT,
        IntentState.MINED,
        IntentState.DROPPED,
    }
)
FINAL_STATES = frozenset(
    {IntentState.CONFIRMED, IntentState.FAILED, IntentState.CANCELLED, IntentState.REPLACED}
)


class AttemptState(StrEnum):
    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    CONFIRMED = "confirmed"
    REPLACED = "replaced"
    """Another transaction (ours or not) took this nonce."""
    DROPPED = "dropped"


LIVE_ATTEMPT_STATES = frozenset(
    {AttemptState.SIGNED, AttemptState.SENT, AttemptState.MINED, AttemptState.DROPPED}
)


class AttemptKind(StrEnum):
    ORIGINAL = "original"
    REPLACEMENT = "replacement"
    CANCEL = "cancel"


class IntentKind(StrEnum):
    LIQUIDATION = "liquidation"
    APPROVE = "approve"
    HEAL = "heal"
    """A zero-value self-send that fills a nonce gap."""
    BUNDLE = "bundle"
    """Several liquidations in one transaction (the liquidator's ``tryEach``): one nonce,
    one attempt chain; each liquidation keeps its own key (``bundle_items``), its own
    outcome and its own ledger row (``item_ledger``)."""


class JournalError(Exception):
    """The journal refuses an operation that would break its invariants."""


class JournalMismatch(JournalError):
    """The journal belongs to another account, chain or schema version."""


class DuplicateIntent(JournalError):
    """The opportunity already has an intent in flight (or already succeeded)."""


@dataclass(frozen=True, slots=True)
class Intent:
    id: int
    opportunity_key: str
    kind: IntentKind
    path: str
    target: str
    calldata: bytes
    value: int
    gas_limit: int
    observed_block: int
    request: dict[str, Any]
    nonce: int | None
    state: IntentState
    outcome: str
    detail: str
    created_at: float
    updated_at: float

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def keys(self) -> tuple[str, ...]:
        """The opportunity keys this intent acts on: a bundle's items', else its own."""
        if self.kind is IntentKind.BUNDLE:
            return tuple(str(item["key"]) for item in self.request.get("items", ()))
        return (self.opportunity_key,)


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    intent_id: int
    nonce: int
    kind: AttemptKind
    tx_hash: str
    raw_tx: bytes
    to: str
    value: int
    gas_limit: int
    fees: Fees
    route: str
    state: AttemptState
    broadcasts: int
    first_sent_block: int | None
    last_sent_block: int | None
    mined_block: int | None
    mined_block_hash: str | None
    status: int | None
    gas_used: int | None
    effective_gas_price: int | None

    @property
    def gas_paid(self) -> int:
        if self.gas_used is None or self.effective_gas_price is None:
            return 0
        return self.gas_used * self.effective_gas_price


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the duplicate checks need of one intent of an opportunity key."""

    id: int
    state: IntentState
    mined_block: int
    """The highest block an attempt of it was mined in (0: none)."""


@dataclass(frozen=True, slots=True)
class BundleItem:
    """One liquidation of a bundle: the key the duplicate checks know it by, and the block
    its decision saw."""

    key: str
    observed_block: int


@dataclass(frozen=True, slots=True)
class SignedOriginal:
    """A new intent together with its first signed transaction, for
    :meth:`Journal.add_originals` (the batch path writes both at once)."""

    key: str
    kind: IntentKind
    path: str
    target: str
    calldata: bytes
    value: int
    gas_limit: int
    """The intent's (and the signed transaction's) gas limit."""
    observed_block: int
    request: dict[str, Any]
    nonce: int
    tx_hash: str
    raw_tx: bytes
    fees: Fees
    route: str
    items: tuple[BundleItem, ...] = ()
    """A bundle's liquidations, in the order its transaction runs them (else empty)."""


@dataclass(frozen=True, slots=True)
class Mined:
    """What a receipt says about one attempt."""

    block_number: int
    block_hash: str
    status: int
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    intent_id: int
    opportunity_key: str
    kind: str
    path: str
    outcome: str
    profit_asset: str = ""
    predicted_profit: int = 0
    realised_profit: int = 0
    predicted_net_value: int = 0
    gas_used: int = 0
    gas_paid_wei: int = 0
    gas_burnt_wei: int = 0
    block_number: int | None = None
    tx_hash: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PnL:
    outcomes: dict[str, int]
    """Intents per final outcome (liquidated, reverted:..., cancelled, replaced_by_other...)."""
    predicted_profit: dict[str, int]
    """Per profit asset, over successful liquidations (token units)."""
    realised_profit: dict[str, int]
    gas_paid_wei: int
    gas_burnt_wei: int
    """Gas paid for transactions that liquidated nothing (reverts, cancellations)."""


@dataclass(frozen=True, slots=True)
class Transition:
    at: float
    intent_id: int | None
    attempt_id: int | None
    from_state: str
    to_state: str
    detail: str


_LEDGER_COLUMNS = (
    "intent_id, opportunity_key, kind, path, outcome, profit_asset, predicted_profit, "
    "realised_profit, predicted_net_value, gas_used, gas_paid_wei, gas_burnt_wei, "
    "block_number, tx_hash, detail, recorded_at"
)


def _ledger_row(entry: LedgerEntry) -> tuple[Any, ...]:
    """``entry`` in ``_LEDGER_COLUMNS``' order (amounts as decimal text)."""
    return (
        entry.intent_id,
        entry.opportunity_key,
        entry.kind,
        entry.path,
        entry.outcome,
        entry.profit_asset,
        str(entry.predicted_profit),
        str(entry.realised_profit),
        str(entry.predicted_net_value),
        entry.gas_used,
        str(entry.gas_paid_wei),
        str(entry.gas_burnt_wei),
        entry.block_number,
        entry.tx_hash,
        entry.detail,
        _now(),
    )


def _refuse_duplicate(key: str, observed_block: int, records: Sequence[KeyRecord]) -> None:
    """DuplicateIntent when ``key`` (its ``key_history``, bundles' items included) has an
    intent in flight, or one that succeeded after the state the decision saw (mined in
    ``observed_block`` itself, the decision saw its effect: not stale)."""
    for record in records:
        if record.state in OPEN_STATES:
            raise DuplicateIntent(f"{key} already has intent {record.id} in state {record.state}")
        if record.state is IntentState.CONFIRMED and record.mined_block > observed_block:
            raise DuplicateIntent(
                f"{key} was already done by intent {record.id} in block "
                f"{record.mined_block}, after the state this decision saw "
                f"(block {observed_block})"
            )


def _now() -> float:
    return time.time()


_ROWS_PARAMS = 900
"""Bound parameters per multi-row statement (under SQLite's oldest default limit, 999)."""


def _insert_rows(c: sqlite3.Connection, into: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``INSERT INTO {into} VALUES (...), (...)``: many rows per statement, not one each."""
    if not rows:
        return
    width = len(rows[0])
    one = "(" + ",".join("?" * width) + ")"
    per = max(1, _ROWS_PARAMS // width)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        c.execute(
            f"INSERT INTO {into} VALUES " + ",".join([one] * len(chunk)),
            [value for row in chunk for value in row],
        )


class _NotAsWritten(Exception):
    """A bulk update found rows in another state than the one they were written in."""


class Journal:
    """One account's journal on one chain. Open with :meth:`open`; it takes the locks."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        account: str,
        chain_id: int,
        locks: Sequence[ProcessLock] = (),
    ) -> None:
        self._conn = conn
        self.path = path
        self.account = account
        self.chain_id = chain_id
        self._locks = list(locks)
        self._depth = 0
        """Open transactions: 0 none, 1 the outermost (BEGIN), more: savepoints inside it."""

    # ------------------------------------------------------------------ opening

    @staticmethod
    def lock(
        path: Path, *, account: str, chain_id: int, lock_dir: Path | None = None
    ) -> list[ProcessLock]:
        """Take the journal's and the account's locks (AlreadyRunning if another holds one)."""
        locks: list[ProcessLock] = []
        try:
            locks.append(journal_lock(path).acquire())
            locks.append(account_lock(account, chain_id, lock_dir).acquire())
        except BaseException:
            for held in locks:
                held.release()
            raise
        return locks

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        account: str,
        chain_id: int,
        lock_dir: Path | None = None,
        lock: bool = True,
        locks: Sequence[ProcessLock] | None = None,
    ) -> Journal:
        """Open (or create) the journal; refuse if another process holds it or the account.

        ``locks`` hands over locks already taken with :meth:`lock` (the executor takes them
        before its start-up checks, and opens the database only once the chain is verified);
        ``lock=False`` is for read-only inspection tools that never sign.
        """
        held_locks = list(locks) if locks is not None else []
        if lock and locks is None:
            held_locks = cls.lock(path, account=account, chain_id=chain_id, lock_dir=lock_dir)
        try:
            # The run loop's threads take turns with this connection (its block reads run on
            # a sender thread while the loop's thread plans); never two at once (see
            # bot/run/loop.py).
            conn = sqlite3.connect(
                str(path), isolation_level=None, timeout=5.0, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            journal = cls(conn, path, account, chain_id, held_locks)
            journal._init_schema()
        except BaseException:
            for held in held_locks:
                held.release()
            raise
        return journal

    def _init_schema(self) -> None:
        # CREATE ... IF NOT EXISTS is idempotent; executescript commits on its own.
        self._conn.executescript(SCHEMA)
        with self._tx() as c:
            meta = {row["key"]: row["value"] for row in c.execute("SELECT key, value FROM meta")}
            if not meta:
                c.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("account", self.account),
                        ("chain_id", str(self.chain_id)),
                        ("created_at", repr(_now())),
                    ],
                )
                return
        if int(meta.get("schema_version", "0")) != SCHEMA_VERSION:
            self.close()
            raise JournalMismatch(
                f"journal {self.path} has schema version {meta.get('schema_version')}, "
                f"this liqbot needs {SCHEMA_VERSION}"
            )
        if meta.get("account", "").lower() != self.account.lower():
            self.close()
            raise JournalMismatch(
                f"journal {self.path} belongs to account {meta.get('account')}, not "
                f"{self.account}: use one journal per key"
            )
        if meta.get("chain_id") != str(self.chain_id):
            self.close()
            raise JournalMismatch(
                f"journal {self.path} was written on chain {meta.get('chain_id')}, the node is "
                f"on chain {self.chain_id}"
            )

    def close(self) -> None:
        try:
            self._conn.close()
        finally:
            for held in self._locks:
                held.release()
            self._locks.clear()

    @contextmanager
    def batch(self, *, durable: bool = True) -> Iterator[None]:
        """Group writes into one transaction: one commit (one fsync) for all of them.

        The executor journals a whole batch of intents and signed attempts this way, and
        broadcasts only after the outermost ``batch`` has committed (journal before
        broadcast still holds, per batch). Nestable: a write or ``batch`` inside runs in a
        savepoint, so a write that fails (a duplicate intent) undoes only itself. An
        exception out of the outermost ``batch`` rolls all of it back: what it held was
        signed at most, never broadcast, so forgetting it (and its nonces) is safe.

        ``durable=False`` (the outermost batch only): its commit is not fsynced (WAL with
        ``synchronous=NORMAL``), so it survives the process dying but not the machine
        losing power. Only for what a restart redoes from the chain, and never around a
        broadcast or a :meth:`flush`: the executor records a batch broadcast's answers so
        (lost, the attempts are still ``signed``, looked up by hash and rebroadcast as
        after a crash between broadcast and record)."""
        relaxed = not durable and self._depth == 0
        if relaxed:
            self._conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._tx():
                yield
        finally:
            if relaxed:
                self._conn.execute("PRAGMA synchronous=FULL")

    def flush(self) -> None:
        """Inside a :meth:`batch`, commit what it holds so far and go on in a new transaction
        (outside one, every write has committed already). Called before every broadcast, so
        that a batch never holds a signed attempt the node may already have."""
        if self._depth == 0:
            return
        if self._depth > 1:
            raise JournalError("cannot commit from inside a nested batch or write")
        if self._conn.execute("PRAGMA synchronous").fetchone()[0] != 2:  # 2: FULL
            raise JournalError("cannot commit before a broadcast from a batch that is not durable")
        self._conn.execute("COMMIT")
        self._conn.execute("BEGIN IMMEDIATE")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One immediate (write-locked) transaction: all or nothing. Inside a :meth:`batch`,
        a savepoint: all or nothing for this write, committed with the batch."""
        if self._depth:
            name = f"nested{self._depth}"
            self._conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                raise
            self._depth -= 1
            self._conn.execute(f"RELEASE {name}")
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._conn
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    def _transition(
        self,
        c: sqlite3.Connection,
        intent_id: int | None,
        attempt_id: int | None,
        before: str,
        after: str,
        detail: str = "",
    ) -> None:
        c.execute(
            "INSERT INTO transitions(at, intent_id, attempt_id, from_state, to_state, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (_now(), intent_id, attempt_id, before, after, detail),
        )

    def _set_intent_state(
        self,
        c: sqlite3.Connection,
        intent_id: int,
        state: IntentState,
        detail: str = "",
        *,
        outcome: str | None = None,
        before: str | None = None,
    ) -> None:
        """``before``: the state the caller read in this transaction (saves reading it)."""
        if before is None:
            row = c.execute("SELECT state FROM intents WHERE id = ?", (intent_id,)).fetchone()
            if row is None:
                raise JournalError(f"no intent {intent_id}")
            before = str(row["state"])
        if before in FINAL_STATES and before != state:
            raise JournalError(f"intent {intent_id} is final ({before}); cannot become {state}")
        if outcome is None:
            c.execute(
                "UPDATE intents SET state = ?, detail = ?, updated_at = ? WHERE id = ?",
                (str(state), detail, _now(), intent_id),
            )
        else:
            c.execute(
                "UPDATE intents SET state = ?, detail = ?, outcome = ?, updated_at = ? "
                "WHERE id = ?",
                (str(state), detail, outcome, _now(), intent_id),
            )
        if before != state:
            self._transition(c, intent_id, None, before, str(state), detail)

    def _set_attempt_state(
        self, c: sqlite3.Connection, attempt_id: int, state: AttemptState, detail: str = ""
    ) -> None:
        row = c.execute(
            "SELECT state, intent_id FROM attempts WHERE id = ?", (attempt_id,)
        ).fetchone()
        if row is None:
            raise JournalError(f"no attempt {attempt_id}")
        c.execute(
            "UPDATE attempts SET state = ?, updated_at = ? WHERE id = ?",
            (str(state), _now(), attempt_id),
        )
        if row["state"] != state:
            self._transition(c, row["intent_id"], attempt_id, row["state"], str(state), detail)

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _intent(row: sqlite3.Row) -> Intent:
        return Intent(
            id=row["id"],
            opportunity_key=row["opportunity_key"],
            kind=IntentKind(row["kind"]),
            path=row["path"],
            target=row["target"],
            calldata=bytes(row["calldata"]),
            value=int(row["value"]),
            gas_limit=row["gas_limit"],
            observed_block=row["observed_block"],
            request=json.loads(row["request_json"]),
            nonce=row["nonce"],
            state=IntentState(row["state"]),
            outcome=row["outcome"],
            detail=row["detail"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @staticmethod
    def _attempt(row: sqlite3.Row) -> Attempt:
        egp = row["effective_gas_price"]
        return Attempt(
            id=row["id"],
            intent_id=row["intent_id"],
            nonce=row["nonce"],
            kind=AttemptKind(row["kind"]),
            tx_hash=row["tx_hash"],
            raw_tx=bytes(row["raw_tx"]),
            to=row["to_address"],
            value=int(row["value"]),
            gas_limit=row["gas_limit"],
            fees=Fees(int(row["max_fee_per_gas"]), int(row["max_priority_fee_per_gas"])),
            route=row["route"],
            state=AttemptState(row["state"]),
            broadcasts=row["broadcasts"],
            first_sent_block=row["first_sent_block"],
            last_sent_block=row["last_sent_block"],
            mined_block=row["mined_block"],
            mined_block_hash=row["mined_block_hash"],
            status=row["status"],
            gas_used=row["gas_used"],
            effective_gas_price=int(egp) if egp is not None else None,
        )

    def intent(self, intent_id: int) -> Intent:
        row = self._conn.execute("SELECT * FROM intents WHERE id = ?", (intent_id,)).fetchone()
        if row is None:
            raise JournalError(f"no intent {intent_id}")
        return self._intent(row)

    def intents(self, *, open_only: bool = False) -> list[Intent]:
        if open_only:
            marks = ",".join("?" * len(OPEN_STATES))
            rows = self._conn.execute(
                f"SELECT * FROM intents WHERE state IN ({marks}) ORDER BY id",
                [str(s) for s in OPEN_STATES],
            )
        else:
            rows = self._conn.execute("SELECT * FROM intents ORDER BY id")
        return [self._intent(r) for r in rows]

    def open_intents(self) -> list[Intent]:
        """Intents not in a final state, oldest (lowest nonce) first."""
        return sorted(
            self.intents(open_only=True),
            key=lambda i: (i.nonce is None, i.nonce if i.nonce is not None else 0, i.id),
        )

    def open_keys(self) -> list[str]:
        """The opportunity keys of the open intents (without loading the intents: the loop
        asks every block whether an account it is about to plan has one in flight)."""
        marks = ",".join("?" * len(OPEN_STATES))
        rows = self._conn.execute(
            f"SELECT opportunity_key, id, 0 FROM intents WHERE kind != ? AND state IN ({marks}) "
            "UNION ALL SELECT b.opportunity_key, b.intent_id, b.position FROM bundle_items b "
            f"JOIN intents i ON i.id = b.intent_id WHERE i.state IN ({marks}) ORDER BY 2, 3",
            [
                str(IntentKind.BUNDLE),
                *(str(s) for s in OPEN_STATES),
                *(str(s) for s in OPEN_STATES),
            ],
        )
        return [str(r[0]) for r in rows]

    def count_open(self, kind: IntentKind) -> int:
        """How many intents of ``kind`` are open (without loading them: the executor asks
        before every send, with up to thousands in flight). Liquidations count those in
        open bundles too, one each."""
        marks = ",".join("?" * len(OPEN_STATES))
        states = [str(s) for s in OPEN_STATES]
        row = self._conn.execute(
            f"SELECT COUNT(*) FROM intents WHERE kind = ? AND state IN ({marks})",
            [str(kind), *states],
        ).fetchone()
        count = int(row[0])
        if kind is IntentKind.LIQUIDATION:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM bundle_items b JOIN intents i ON i.id = b.intent_id "
                f"WHERE i.state IN ({marks})",
                states,
            ).fetchone()
            count += int(row[0])
        return count

    def open_nonces(self) -> set[int]:
        """The nonces of the open intents (what ``open_intents`` would give, read cheaply)."""
        marks = ",".join("?" * len(OPEN_STATES))
        rows = self._conn.execute(
            f"SELECT nonce FROM intents WHERE nonce IS NOT NULL AND state IN ({marks})",
            [str(s) for s in OPEN_STATES],
        )
        return {int(r[0]) for r in rows}

    def highest_confirmed_nonce(self) -> int | None:
        """The highest nonce with a confirmed attempt: the chain can only be below it by
        lagging or lying (confirmation is at the configured depth)."""
        row = self._conn.execute(
            "SELECT MAX(nonce) FROM attempts WHERE state = ?", (str(AttemptState.CONFIRMED),)
        ).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else None

    def intents_for_key(self, key: str) -> list[Intent]:
        """The intents that act on ``key``: its own, and the bundles that hold it."""
        rows = self._conn.execute(
            "SELECT * FROM intents WHERE opportunity_key = ? OR id IN "
            "(SELECT intent_id FROM bundle_items WHERE opportunity_key = ?) ORDER BY id",
            (key, key),
        )
        return [self._intent(r) for r in rows]

    def key_history(self, keys: Sequence[str]) -> dict[str, list[KeyRecord]]:
        """Per opportunity key, its intents (oldest first) with what the duplicate checks
        need: one query for a batch of keys, and no intent loaded in full."""
        out: dict[str, list[KeyRecord]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT i.opportunity_key, i.id, i.state, "
                "(SELECT MAX(a.mined_block) FROM attempts a WHERE a.intent_id = i.id) "
                f"FROM intents i WHERE i.opportunity_key IN ({marks}) ORDER BY i.id",
                chunk,
            )
            for key, intent_id, state, mined in rows:
                out.setdefault(key, []).append(
                    KeyRecord(int(intent_id), IntentState(state), int(mined or 0))
                )
            # A bundle's item: the bundle's state, except that a confirmed bundle whose
            # transaction did not liquidate this item failed it.
            rows = self._conn.execute(
                "SELECT b.opportunity_key, i.id, i.state, b.outcome, "
                "(SELECT MAX(a.mined_block) FROM attempts a WHERE a.intent_id = i.id) "
                "FROM bundle_items b JOIN intents i ON i.id = b.intent_id "
                f"WHERE b.opportunity_key IN ({marks}) ORDER BY i.id",
                chunk,
            )
            for key, intent_id, state, outcome, mined in rows:
                item_state = IntentState(state)
                if item_state is IntentState.CONFIRMED and outcome != "liquidated":
                    item_state = IntentState.FAILED
                out.setdefault(key, []).append(
                    KeyRecord(int(intent_id), item_state, int(mined or 0))
                )
        for records in out.values():
            records.sort(key=lambda r: r.id)
        return out

    def attempts(self, intent_id: int | None = None) -> list[Attempt]:
        if intent_id is None:
            rows = self._conn.execute("SELECT * FROM attempts ORDER BY id")
        else:
            rows = self._conn.execute(
                "SELECT * FROM attempts WHERE intent_id = ? ORDER BY id", (intent_id,)
            )
        return [self._attempt(r) for r in rows]

    def open_attempts(self) -> dict[int, list[Attempt]]:
        """Every attempt of every open intent, by intent id, oldest first: one query for
        what :meth:`attempts` would read intent by intent."""
        marks = ",".join("?" * len(OPEN_STATES))
        rows = self._conn.execute(
            f"SELECT a.* FROM attempts a JOIN intents i ON i.id = a.intent_id "
            f"WHERE i.state IN ({marks}) ORDER BY a.id",
            [str(s) for s in OPEN_STATES],
        )
        out: dict[int, list[Attempt]] = {}
        for r in rows:
            attempt = self._attempt(r)
            out.setdefault(attempt.intent_id, []).append(attempt)
        return out

    def states(self, intent_ids: Sequence[int]) -> dict[int, IntentState]:
        """The current state of each of ``intent_ids`` (read in chunks, not one by one)."""
        out: dict[int, IntentState] = {}
        ids = list(intent_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT id, state FROM intents WHERE id IN ({marks})", chunk
            ):
                out[int(r[0])] = IntentState(r[1])
        return out

    def attempt_by_hash(self, tx_hash: str) -> Attempt | None:
        row = self._conn.execute(
            "SELECT * FROM attempts WHERE tx_hash = ?", (tx_hash.lower(),)
        ).fetchone()
        return self._attempt(row) if row is not None else None

    def next_nonce(self) -> int | None:
        row = self._conn.execute(
            "SELECT next_nonce FROM nonces WHERE account = ?", (self.account,)
        ).fetchone()
        return int(row["next_nonce"]) if row is not None else None

    def ledger(self) -> list[LedgerEntry]:
        """Every final intent's row, a bundle's one per item (in order)."""
        rows = self._conn.execute(
            f"SELECT {_LEDGER_COLUMNS}, 0 AS position FROM ledger UNION ALL "
            f"SELECT {_LEDGER_COLUMNS}, position FROM item_ledger ORDER BY intent_id, position"
        )
        return [
            LedgerEntry(
                intent_id=r["intent_id"],
                opportunity_key=r["opportunity_key"],
                kind=r["kind"],
                path=r["path"],
                outcome=r["outcome"],
                profit_asset=r["profit_asset"],
                predicted_profit=int(r["predicted_profit"]),
                realised_profit=int(r["realised_profit"]),
                predicted_net_value=int(r["predicted_net_value"]),
                gas_used=r["gas_used"],
                gas_paid_wei=int(r["gas_paid_wei"]),
                gas_burnt_wei=int(r["gas_burnt_wei"]),
                block_number=r["block_number"],
                tx_hash=r["tx_hash"],
                detail=r["detail"],
            )
            for r in rows
        ]

    def pnl(self) -> PnL:
        """Totals over the ledger: what the bot earned per asset and what gas cost it."""
        realised: dict[str, int] = {}
        predicted: dict[str, int] = {}
        counts: dict[str, int] = {}
        paid = burnt = 0
        for e in self.ledger():
            counts[e.outcome] = counts.get(e.outcome, 0) + 1
            paid += e.gas_paid_wei
            burnt += e.gas_burnt_wei
            if e.outcome == "liquidated" and e.profit_asset:
                realised[e.profit_asset] = realised.get(e.profit_asset, 0) + e.realised_profit
                predicted[e.profit_asset] = predicted.get(e.profit_asset, 0) + e.predicted_profit
        return PnL(counts, predicted, realised, paid, burnt)

    def transitions(self, intent_id: int | None = None) -> list[Transition]:
        if intent_id is None:
            rows = self._conn.execute("SELECT * FROM transitions ORDER BY id")
        else:
            rows = self._conn.execute(
                "SELECT * FROM transitions WHERE intent_id = ? ORDER BY id", (intent_id,)
            )
        return [
            Transition(
                r["at"],
                r["intent_id"],
                r["attempt_id"],
                r["from_state"],
                r["to_state"],
                r["detail"],
            )
            for r in rows
        ]

    def events(self, kind: str | None = None) -> list[tuple[str, str]]:
        if kind is None:
            rows = self._conn.execute("SELECT kind, detail FROM events ORDER BY id")
        else:
            rows = self._conn.execute(
                "SELECT kind, detail FROM events WHERE kind = ? ORDER BY id", (kind,)
            )
        return [(r["kind"], r["detail"]) for r in rows]

    # ------------------------------------------------------------------ writing

    def record_event(self, kind: str, detail: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO events(at, kind, detail) VALUES (?, ?, ?)", (_now(), kind, detail)
            )

    def advance_nonce(self, nonce: int, reason: str) -> int:
        """Move the counter forward to ``nonce`` (never back); returns the counter after."""
        with self._tx() as c:
            row = c.execute(
                "SELECT next_nonce FROM nonces WHERE account = ?", (self.account,)
            ).fetchone()
            current = int(row["next_nonce"]) if row is not None else None
            if current is not None and nonce <= current:
                return current
            c.execute(
                "INSERT INTO nonces(account, next_nonce) VALUES (?, ?) "
                "ON CONFLICT(account) DO UPDATE SET next_nonce = excluded.next_nonce",
                (self.account, nonce),
            )
            c.execute(
                "INSERT INTO events(at, kind, detail) VALUES (?, ?, ?)",
                (_now(), "nonce", f"next nonce {current} -> {nonce}: {reason}"),
            )
            return nonce

    def add_intent(
        self,
        *,
        key: str,
        kind: IntentKind,
        path: str,
        target: str,
        calldata: bytes,
        value: int,
        gas_limit: int,
        observed_block: int,
        request: dict[str, Any],
    ) -> Intent:
        """Write an intent, unless the key has one in flight or one that succeeded after
        ``observed_block`` was seen (then the decision is stale)."""
        with self._tx() as c:
            _refuse_duplicate(key, observed_block, self.key_history([key]).get(key, ()))
            now = _now()
            request_json = json.dumps(request, sort_keys=True)
            cur = c.execute(
                "INSERT INTO intents(opportunity_key, kind, path, target, calldata, value, "
                "gas_limit, observed_block, request_json, nonce, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (
                    key,
                    str(kind),
                    path,
                    target,
                    calldata,
                    str(value),
                    gas_limit,
                    observed_block,
                    request_json,
                    str(IntentState.INTENT),
                    now,
                    now,
                ),
            )
            intent_id = int(cur.lastrowid or 0)
            self._transition(c, intent_id, None, "", str(IntentState.INTENT), "written")
        # What :meth:`intent` would read back, without reading it (one send: one write path).
        return Intent(
            id=intent_id,
            opportunity_key=key,
            kind=IntentKind(kind),
            path=path,
            target=target,
            calldata=bytes(calldata),
            value=int(value),
            gas_limit=gas_limit,
            observed_block=observed_block,
            request=json.loads(request_json),
            nonce=None,
            state=IntentState.INTENT,
            outcome="",
            detail="",
            created_at=now,
            updated_at=now,
        )

    def record_signed(
        self,
        intent_id: int,
        *,
        nonce: int,
        kind: AttemptKind,
        tx_hash: str,
        raw_tx: bytes,
        to: str,
        value: int,
        gas_limit: int,
        fees: Fees,
        route: str,
        fill_gap: bool = False,
    ) -> Attempt:
        """Journal a signed attempt before it is broadcast.

        An original attempt takes the counter's nonce and moves the counter past it in the same
        transaction; a replacement or cancellation must use its intent's nonce. ``fill_gap``
        lets an original take a nonce below the counter that no open intent holds (a hole
        to heal with a self-send).
        """
        with self._tx() as c:
            row = c.execute(
                "SELECT state, nonce FROM intents WHERE id = ?", (intent_id,)
            ).fetchone()
            if row is None:
                raise JournalError(f"no intent {intent_id}")
            if IntentState(row["state"]) in FINAL_STATES:
                raise JournalError(f"intent {intent_id} is final ({row['state']})")
            if kind is AttemptKind.ORIGINAL:
                if row["nonce"] is not None:
                    raise JournalError(f"intent {intent_id} already holds nonce {row['nonce']}")
                counter = c.execute(
                    "SELECT next_nonce FROM nonces WHERE account = ?", (self.account,)
                ).fetchone()
                if fill_gap:
                    marks = ",".join("?" * len(OPEN_STATES))
                    holder = c.execute(
                        f"SELECT id FROM intents WHERE nonce = ? AND state IN ({marks})",
                        [nonce, *(str(s) for s in OPEN_STATES)],
                    ).fetchone()
                    if counter is None or nonce >= int(counter["next_nonce"]) or holder:
                        raise JournalError(f"nonce {nonce} is not a hole below the counter")
                elif counter is None or int(counter["next_nonce"]) != nonce:
                    raise JournalError(
                        f"nonce {nonce} is not the journal's next nonce "
                        f"({None if counter is None else counter['next_nonce']})"
                    )
                if not fill_gap:
                    c.execute(
                        "UPDATE nonces SET next_nonce = ? WHERE account = ?",
                        (nonce + 1, self.account),
                    )
                if IntentState(row["state"]) is not IntentState.INTENT:
                    c.execute(
                        "UPDATE intents SET nonce = ?, updated_at = ? WHERE id = ?",
                        (nonce, _now(), intent_id),
                    )
                # else: set with the state below, in one UPDATE
            elif row["nonce"] != nonce:
                raise JournalError(
                    f"a {kind} of intent {intent_id} must use its nonce {row['nonce']}, not {nonce}"
                )
            now = _now()
            cur = c.execute(
                "INSERT INTO attempts(intent_id, nonce, kind, tx_hash, raw_tx, to_address, value, "
                "gas_limit, max_fee_per_gas, max_priority_fee_per_gas, route, state, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    intent_id,
                    nonce,
                    str(kind),
                    tx_hash.lower(),
                    raw_tx,
                    to,
                    str(value),
                    gas_limit,
                    str(fees.max_fee_per_gas),
                    str(fees.max_priority_fee_per_gas),
                    route,
                    str(AttemptState.SIGNED),
                    now,
                    now,
                ),
            )
            attempt_id = int(cur.lastrowid or 0)
            self._transition(
                c,
                intent_id,
                attempt_id,
                "",
                str(AttemptState.SIGNED),
                f"{kind} nonce {nonce} max fee {fees.max_fee_per_gas} "
                f"tip {fees.max_priority_fee_per_gas} {tx_hash}",
            )
            if IntentState(row["state"]) is IntentState.INTENT:
                detail = f"attempt {attempt_id}"
                c.execute(
                    "UPDATE intents SET nonce = COALESCE(nonce, ?), state = ?, detail = ?, "
                    "updated_at = ? WHERE id = ?",
                    (nonce, str(IntentState.SIGNED), detail, _now(), intent_id),
                )
                self._transition(
                    c, intent_id, None, str(IntentState.INTENT), str(IntentState.SIGNED), detail
                )
        # What :meth:`attempts_by_id` would read back, without reading it.
        return Attempt(
            id=attempt_id,
            intent_id=intent_id,
            nonce=nonce,
            kind=AttemptKind(kind),
            tx_hash=tx_hash.lower(),
            raw_tx=bytes(raw_tx),
            to=to,
            value=int(value),
            gas_limit=gas_limit,
            fees=Fees(int(fees.max_fee_per_gas), int(fees.max_priority_fee_per_gas)),
            route=route,
            state=AttemptState.SIGNED,
            broadcasts=0,
            first_sent_block=None,
            last_sent_block=None,
            mined_block=None,
            mined_block_hash=None,
            status=None,
            gas_used=None,
            effective_gas_price=None,
        )

    def add_originals(self, items: Sequence[SignedOriginal]) -> list[tuple[Intent, Attempt]]:
        """Journal new intents, each with its first signed transaction, in one transaction
        of a few multi-row statements (what :meth:`add_intent` then :meth:`record_signed`
        write, row for row, with the same transitions).

        The same rules hold: no key with an intent in flight or done after its decision
        (:class:`DuplicateIntent`, and then nothing of ``items`` is written), and the
        nonces are the counter's next ones, in order, the counter moved past them in the
        same transaction. Signing before the intent is written is safe: nothing is
        broadcast before the caller's batch commits."""
        if not items:
            return []
        with self._tx() as c:
            row = c.execute(
                "SELECT (SELECT next_nonce FROM nonces WHERE account = ?), "
                "(SELECT seq FROM sqlite_sequence WHERE name = 'intents'), "
                "(SELECT seq FROM sqlite_sequence WHERE name = 'attempts')",
                (self.account,),
            ).fetchone()
            counter, last_intent, last_attempt = row[0], int(row[1] or 0), int(row[2] or 0)
            nonces = [item.nonce for item in items]
            if counter is None or nonces != list(range(counter, counter + len(items))):
                raise JournalError(
                    f"nonces {nonces[0]}..{nonces[-1]} are not the journal's next ones "
                    f"(counter {counter})"
                )
            keys = [item.key for item in items] + [b.key for item in items for b in item.items]
            if len(set(keys)) != len(keys):
                raise DuplicateIntent("an opportunity key appears twice in one batch")
            history = self.key_history(keys)
            checks = [(item.key, item.observed_block) for item in items] + [
                (b.key, b.observed_block) for item in items for b in item.items
            ]
            for key, observed_block in checks:
                _refuse_duplicate(key, observed_block, history.get(key, ()))
            now = _now()
            intents: list[tuple[Any, ...]] = []
            attempts: list[tuple[Any, ...]] = []
            transitions: list[tuple[Any, ...]] = []
            bundled: list[tuple[Any, ...]] = []
            out: list[tuple[Intent, Attempt]] = []
            signed = str(IntentState.SIGNED)
            for k, item in enumerate(items):
                intent_id, attempt_id = last_intent + 1 + k, last_attempt + 1 + k
                tx_hash = item.tx_hash.lower()
                request_json = json.dumps(item.request, sort_keys=True)
                detail = f"attempt {attempt_id}"
                max_fee, tip = item.fees.max_fee_per_gas, item.fees.max_priority_fee_per_gas
                intents.append(
                    (
                        intent_id,
                        item.key,
                        str(item.kind),
                        item.path,
                        item.target,
                        item.calldata,
                        str(item.value),
                        item.gas_limit,
                        item.observed_block,
                        request_json,
                        item.nonce,
                        signed,
                        detail,
                        now,
                        now,
                    )
                )
                attempts.append(
                    (
                        attempt_id,
                        intent_id,
                        item.nonce,
                        str(AttemptKind.ORIGINAL),
                        tx_hash,
                        item.raw_tx,
                        item.target,
                        str(item.value),
                        item.gas_limit,
                        str(max_fee),
                        str(tip),
                        item.route,
                        str(AttemptState.SIGNED),
                        now,
                        now,
                    )
                )
                bundled += [
                    (intent_id, position, b.key, b.observed_block)
                    for position, b in enumerate(item.items)
                ]
                transitions += [
                    (now, intent_id, None, "", str(IntentState.INTENT), "written"),
                    (
                        now,
                        intent_id,
                        attempt_id,
                        "",
                        str(AttemptState.SIGNED),
                        f"{AttemptKind.ORIGINAL} nonce {item.nonce} max fee {max_fee} "
                        f"tip {tip} {item.tx_hash}",
                    ),
                    (now, intent_id, None, str(IntentState.INTENT), signed, detail),
                ]
                out.append(
                    (
                        Intent(
                            id=intent_id,
                            opportunity_key=item.key,
                            kind=item.kind,
                            path=item.path,
                            target=item.target,
                            calldata=bytes(item.calldata),
                            value=item.value,
                            gas_limit=item.gas_limit,
                            observed_block=item.observed_block,
                            request=item.request,  # the caller's fresh dict, as written
                            nonce=item.nonce,
                            state=IntentState.SIGNED,
                            outcome="",
                            detail=detail,
                            created_at=now,
                            updated_at=now,
                        ),
                        Attempt(
                            id=attempt_id,
                            intent_id=intent_id,
                            nonce=item.nonce,
                            kind=AttemptKind.ORIGINAL,
                            tx_hash=tx_hash,
                            raw_tx=bytes(item.raw_tx),
                            to=item.target,
                            value=item.value,
                            gas_limit=item.gas_limit,
                            fees=Fees(max_fee, tip),
                            route=item.route,
                            state=AttemptState.SIGNED,
                            broadcasts=0,
                            first_sent_block=None,
                            last_sent_block=None,
                            mined_block=None,
                            mined_block_hash=None,
                            status=None,
                            gas_used=None,
                            effective_gas_price=None,
                        ),
                    )
                )
            _insert_rows(
                c,
                "intents(id, opportunity_key, kind, path, target, calldata, value, gas_limit, "
                "observed_block, request_json, nonce, state, detail, created_at, updated_at)",
                intents,
            )
            _insert_rows(
                c,
                "attempts(id, intent_id, nonce, kind, tx_hash, raw_tx, to_address, value, "
                "gas_limit, max_fee_per_gas, max_priority_fee_per_gas, route, state, "
                "created_at, updated_at)",
                attempts,
            )
            _insert_rows(
                c,
                "transitions(at, intent_id, attempt_id, from_state, to_state, detail)",
                transitions,
            )
            if bundled:
                _insert_rows(
                    c, "bundle_items(intent_id, position, opportunity_key, observed_block)", bundled
                )
            c.execute(
                "UPDATE nonces SET next_nonce = ? WHERE account = ?",
                (counter + len(items), self.account),
            )
        return out

    def mark_sent_many(self, sent: Sequence[tuple[Attempt, str]], block: int) -> None:
        """:meth:`mark_sent` for many original attempts just journaled by
        :meth:`add_originals` (attempt and intent still ``signed``): a few statements for
        all of them. Any row found in another state: each is marked on its own instead."""
        if not sent:
            return
        try:
            self._mark_sent_as_written(sent, block)
        except _NotAsWritten:
            for attempt, detail in sent:
                self.mark_sent(attempt.id, block, detail)

    def _mark_sent_as_written(self, sent: Sequence[tuple[Attempt, str]], block: int) -> None:
        intent_ids = {attempt.intent_id for attempt, _ in sent}
        if len(intent_ids) != len(sent):
            raise _NotAsWritten("two attempts of one intent")
        by_detail: dict[str, list[Attempt]] = {}
        for attempt, detail in sent:
            by_detail.setdefault(detail, []).append(attempt)
        signed, was_sent = str(AttemptState.SIGNED), str(AttemptState.SENT)
        with self._tx() as c:
            now = _now()
            transitions: list[tuple[Any, ...]] = []
            for detail, group in by_detail.items():
                for start in range(0, len(group), 500):
                    chunk = group[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    changed = c.execute(
                        "UPDATE attempts SET broadcasts = broadcasts + 1, "
                        "first_sent_block = COALESCE(first_sent_block, ?), "
                        "last_sent_block = ?, state = ?, updated_at = ? "
                        f"WHERE state = ? AND id IN ({marks})",
                        [block, block, was_sent, now, signed, *(a.id for a in chunk)],
                    ).rowcount
                    if changed != len(chunk):
                        raise _NotAsWritten(f"{len(chunk) - changed} attempts not signed")
                    changed = c.execute(
                        "UPDATE intents SET state = ?, detail = ?, updated_at = ? "
                        f"WHERE state = ? AND id IN ({marks})",
                        [
                            str(IntentState.SENT),
                            detail,
                            now,
                            str(IntentState.SIGNED),
                            *(a.intent_id for a in chunk),
                        ],
                    ).rowcount
                    if changed != len(chunk):
                        raise _NotAsWritten(f"{len(chunk) - changed} intents not signed")
            for a, detail in sent:  # in the order mark_sent would write them
                transitions.append((now, a.intent_id, a.id, signed, was_sent, detail))
                transitions.append(
                    (now, a.intent_id, None, str(IntentState.SIGNED), was_sent, detail)
                )
            _insert_rows(
                c,
                "transitions(at, intent_id, attempt_id, from_state, to_state, detail)",
                transitions,
            )

    def attempts_by_id(self, ids: Sequence[int]) -> list[Attempt]:
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(f"SELECT * FROM attempts WHERE id IN ({marks}) ORDER BY id", ids)
        return [self._attempt(r) for r in rows]

    def mark_sent(self, attempt_id: int, block: int, detail: str = "") -> None:
        """The attempt was broadcast (or maybe was: the lookups will tell)."""
        with self._tx() as c:
            row = c.execute(
                "SELECT a.intent_id, a.state, i.state AS intent_state FROM attempts a "
                "JOIN intents i ON i.id = a.intent_id WHERE a.id = ?",
                (attempt_id,),
            ).fetchone()
            if row is None:
                raise JournalError(f"no attempt {attempt_id}")
            was = AttemptState(row["state"])
            if was in (AttemptState.SIGNED, AttemptState.DROPPED):
                c.execute(
                    "UPDATE attempts SET broadcasts = broadcasts + 1, "
                    "first_sent_block = COALESCE(first_sent_block, ?), last_sent_block = ?, "
                    "state = ?, updated_at = ? WHERE id = ?",
                    (block, block, str(AttemptState.SENT), _now(), attempt_id),
                )
                self._transition(
                    c, row["intent_id"], attempt_id, str(was), str(AttemptState.SENT), detail
                )
            else:
                c.execute(
                    "UPDATE attempts SET broadcasts = broadcasts + 1, "
                    "first_sent_block = COALESCE(first_sent_block, ?), last_sent_block = ? "
                    "WHERE id = ?",
                    (block, block, attempt_id),
                )
            intent_state = str(row["intent_state"])
            if IntentState(intent_state) in (IntentState.SIGNED, IntentState.DROPPED):
                self._set_intent_state(
                    c, row["intent_id"], IntentState.SENT, detail, before=intent_state
                )

    def mark_dropped(
        self,
        intent_id: int,
        attempt_ids: Sequence[int],
        detail: str,
        *,
        refused_at: int | None = None,
    ) -> None:
        """These attempts are not known to the node (or were refused); the intent is dropped
        when none of its attempts is left pending or mined. ``refused_at``: a submission was
        refused in this block (it still counts against a relay's submission limit)."""
        with self._tx() as c:
            for attempt_id in attempt_ids:
                if refused_at is not None:
                    c.execute(
                        "UPDATE attempts SET broadcasts = broadcasts + 1, "
                        "first_sent_block = COALESCE(first_sent_block, ?), last_sent_block = ? "
                        "WHERE id = ?",
                        (refused_at, refused_at, attempt_id),
                    )
                self._set_attempt_state(c, attempt_id, AttemptState.DROPPED, detail)
            alive = c.execute(
                "SELECT COUNT(*) AS n FROM attempts WHERE intent_id = ? AND state IN (?, ?)",
                (intent_id, str(AttemptState.SENT), str(AttemptState.MINED)),
            ).fetchone()
            if alive["n"] == 0:
                self._set_intent_state(c, intent_id, IntentState.DROPPED, detail)

    def mark_mined(self, attempt_id: int, mined: Mined) -> None:
        """A receipt for this attempt: it is mined, its siblings at the nonce are replaced."""
        with self._tx() as c:
            row = c.execute(
                "SELECT intent_id, nonce FROM attempts WHERE id = ?", (attempt_id,)
            ).fetchone()
            if row is None:
                raise JournalError(f"no attempt {attempt_id}")
            c.execute(
                "UPDATE attempts SET mined_block = ?, mined_block_hash = ?, status = ?, "
                "gas_used = ?, effective_gas_price = ? WHERE id = ?",
                (
                    mined.block_number,
                    mined.block_hash,
                    mined.status,
                    mined.gas_used,
                    str(mined.effective_gas_price),
                    attempt_id,
                ),
            )
            detail = f"block {mined.block_number} status {mined.status}"
            self._set_attempt_state(c, attempt_id, AttemptState.MINED, detail)
            for sibling in c.execute(
                "SELECT id FROM attempts WHERE intent_id = ? AND id != ? AND state IN (?, ?, ?)",
                (
                    row["intent_id"],
                    attempt_id,
                    str(AttemptState.SIGNED),
                    str(AttemptState.SENT),
                    str(AttemptState.DROPPED),
                ),
            ).fetchall():
                self._set_attempt_state(
                    c, sibling["id"], AttemptState.REPLACED, f"attempt {attempt_id} mined"
                )
            self._set_intent_state(c, row["intent_id"], IntentState.MINED, detail)

    def unmine(self, intent_id: int, detail: str) -> None:
        """A reorg took the mined attempt out of the chain: every attempt is pending again."""
        with self._tx() as c:
            for a in c.execute(
                "SELECT id FROM attempts WHERE intent_id = ? AND state IN (?, ?)",
                (intent_id, str(AttemptState.MINED), str(AttemptState.REPLACED)),
            ).fetchall():
                c.execute(
                    "UPDATE attempts SET mined_block = NULL, mined_block_hash = NULL, "
                    "status = NULL, gas_used = NULL, effective_gas_price = NULL WHERE id = ?",
                    (a["id"],),
                )
                self._set_attempt_state(c, a["id"], AttemptState.SENT, detail)
            self._set_intent_state(c, intent_id, IntentState.SENT, detail)

    def finish(
        self,
        intent_id: int,
        state: IntentState,
        *,
        outcome: str,
        detail: str,
        confirmed_attempt: int | None = None,
        ledger: LedgerEntry | Sequence[LedgerEntry] | None = None,
    ) -> None:
        """Move an intent to a final state, with its ledger row, in one transaction. A
        bundle's ledger is one row per item, in its items' order: each item's outcome is
        kept with it (the duplicate checks read it)."""
        if state not in FINAL_STATES:
            raise JournalError(f"{state} is not a final state")
        with self._tx() as c:
            if confirmed_attempt is not None:
                self._set_attempt_state(c, confirmed_attempt, AttemptState.CONFIRMED, detail)
            for a in c.execute(
                "SELECT id FROM attempts WHERE intent_id = ? AND state IN (?, ?, ?, ?)",
                (
                    intent_id,
                    str(AttemptState.SIGNED),
                    str(AttemptState.SENT),
                    str(AttemptState.DROPPED),
                    str(AttemptState.MINED),
                ),
            ).fetchall():
                if a["id"] != confirmed_attempt:
                    self._set_attempt_state(c, a["id"], AttemptState.REPLACED, detail)
            self._set_intent_state(c, intent_id, state, detail, outcome=outcome)
            if isinstance(ledger, LedgerEntry):
                c.execute(
                    f"INSERT OR REPLACE INTO ledger({_LEDGER_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _ledger_row(ledger),
                )
            elif ledger is not None:
                c.executemany(
                    f"INSERT OR REPLACE INTO item_ledger(position, {_LEDGER_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(k, *_ledger_row(entry)) for k, entry in enumerate(ledger)],
                )
                c.executemany(
                    "UPDATE bundle_items SET outcome = ? WHERE intent_id = ? AND position = ?",
                    [(entry.outcome, intent_id, k) for k, entry in enumerate(ledger)],
                )
