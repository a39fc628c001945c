"""The recording format: plain SQLite, one file per recording, with a schema version.

Every table is keyed by block number so that a person can ask it questions directly
(``SELECT * FROM liquidations``, ``SELECT block_number, price FROM prices``). Token amounts,
indexes, rates and other uint256 values are stored as decimal TEXT, because SQLite integers
stop at 2**63; cast them (``CAST(x AS REAL)``) to plot, parse them as Python ``int`` to
compute. Addresses are EIP-55 checksummed, hashes lowercase ``0x`` hex. docs/recording.md
describes every table and column.

What a recording holds, and why it is enough to rebuild the watcher's book with no chain:

- ``blocks``: every header in ``(base_block, last_block]`` plus the base block;
- ``logs``: every log of the watched contracts in that range, raw (the protocol adapter
  decodes them at backtest time exactly as the live watcher does);
- state *reads*, each at the end of the block it names, taken whenever an event said the
  value may have moved (``reserves``, ``prices``, ``feeds``, ``layouts``) or when a feed went
  stale with time alone, and in full at every checkpoint;
- ``checkpoints``: the full market plus the positions (``positions``) and the pool's own
  ``getUserAccountData`` (``account_data``) of every account touched since the previous
  checkpoint; the base checkpoint holds every account in the book;
- ``liquidations``, ``transactions``, ``bad_debt``: the decoded facts the backtest compares
  the bot against (who liquidated whom, when, for how much, at what gas price).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.chain.artifacts import abi_of
from bot.chain.rpc import BlockHeader, LogEntry
from bot.model.health import AccountData
from bot.model.types import (
    Account,
    InterestRateStrategy,
    PairReserves,
    Reserve,
    ReserveConfig,
    ReserveState,
)
from bot.protocols.base import AbiEvent, FeedInfo, MarketLayout, PairInfo, PriceStatus

SCHEMA_VERSION = 1
"""Bump on any change a reader of an older file would misread; readers refuse other versions."""

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    number      INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    base_fee    INTEGER NOT NULL,
    gas_used    INTEGER NOT NULL,
    gas_limit   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    block_number INTEGER NOT NULL,
    log_index    INTEGER NOT NULL,
    tx_hash      TEXT NOT NULL,
    address      TEXT NOT NULL,
    event        TEXT,
    topic0       TEXT,
    topic1       TEXT,
    topic2       TEXT,
    topic3       TEXT,
    data         TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX IF NOT EXISTS logs_by_event ON logs (event, block_number);
CREATE TABLE IF NOT EXISTS layouts (
    block_number INTEGER PRIMARY KEY,
    layout       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assets (
    asset    TEXT PRIMARY KEY,
    symbol   TEXT NOT NULL,
    decimals INTEGER
);
CREATE TABLE IF NOT EXISTS reserves (
    block_number             INTEGER NOT NULL,
    asset                    TEXT NOT NULL,
    reason                   TEXT NOT NULL,
    decimals                 INTEGER NOT NULL,
    ltv                      INTEGER NOT NULL,
    liquidation_threshold    INTEGER NOT NULL,
    liquidation_bonus        INTEGER NOT NULL,
    liquidation_protocol_fee INTEGER NOT NULL,
    reserve_factor           INTEGER NOT NULL,
    base_rate                TEXT NOT NULL,
    slope1                   TEXT NOT NULL,
    slope2                   TEXT NOT NULL,
    optimal_utilization      TEXT NOT NULL,
    liquidity_index          TEXT NOT NULL,
    variable_borrow_index    TEXT NOT NULL,
    liquidity_rate           TEXT NOT NULL,
    variable_borrow_rate     TEXT NOT NULL,
    last_update_timestamp    INTEGER NOT NULL,
    total_scaled_supply      TEXT NOT NULL,
    total_scaled_debt        TEXT NOT NULL,
    cash                     TEXT NOT NULL,
    PRIMARY KEY (block_number, asset)
);
CREATE TABLE IF NOT EXISTS prices (
    block_number       INTEGER NOT NULL,
    asset              TEXT NOT NULL,
    reason             TEXT NOT NULL,
    price              TEXT NOT NULL,
    primary_valid      INTEGER NOT NULL,
    fallback_valid     INTEGER NOT NULL,
    breaker_tripped    INTEGER NOT NULL,
    primary_updated_at INTEGER NOT NULL,
    PRIMARY KEY (block_number, asset)
);
CREATE TABLE IF NOT EXISTS feeds (
    block_number INTEGER NOT NULL,
    feed         TEXT NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (block_number, feed)
);
CREATE TABLE IF NOT EXISTS pairs (
    block_number INTEGER NOT NULL,
    pair         TEXT NOT NULL,
    token0       TEXT NOT NULL,
    token1       TEXT NOT NULL,
    reserve0     TEXT NOT NULL,
    reserve1     TEXT NOT NULL,
    PRIMARY KEY (block_number, pair)
);
CREATE TABLE IF NOT EXISTS paused (
    block_number INTEGER PRIMARY KEY,
    paused       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    block_number INTEGER PRIMARY KEY,
    timestamp    INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    accounts     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    block_number        INTEGER NOT NULL,
    user                TEXT NOT NULL,
    asset               TEXT NOT NULL,
    scaled_supply       TEXT NOT NULL,
    scaled_debt         TEXT NOT NULL,
    using_as_collateral INTEGER NOT NULL,
    PRIMARY KEY (block_number, user, asset)
);
CREATE TABLE IF NOT EXISTS account_data (
    block_number          INTEGER NOT NULL,
    user                  TEXT NOT NULL,
    total_collateral_base TEXT,
    total_debt_base       TEXT,
    available_borrows_base TEXT,
    liquidation_threshold INTEGER,
    ltv                   INTEGER,
    health_factor         TEXT,
    PRIMARY KEY (block_number, user)
);
CREATE TABLE IF NOT EXISTS transactions (
    hash                TEXT PRIMARY KEY,
    block_number        INTEGER NOT NULL,
    tx_index            INTEGER NOT NULL,
    sender              TEXT NOT NULL,
    recipient           TEXT,
    gas_used            INTEGER NOT NULL,
    effective_gas_price INTEGER NOT NULL,
    status              INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS liquidations (
    block_number             INTEGER NOT NULL,
    log_index                INTEGER NOT NULL,
    tx_hash                  TEXT NOT NULL,
    user                     TEXT NOT NULL,
    collateral_asset         TEXT NOT NULL,
    debt_asset               TEXT NOT NULL,
    debt_covered             TEXT NOT NULL,
    collateral_to_liquidator TEXT NOT NULL,
    liquidator               TEXT NOT NULL,
    receive_a_token          INTEGER NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE TABLE IF NOT EXISTS bad_debt (
    block_number        INTEGER NOT NULL,
    log_index           INTEGER NOT NULL,
    tx_hash             TEXT NOT NULL,
    user                TEXT NOT NULL,
    reserve             TEXT NOT NULL,
    amount              TEXT NOT NULL,
    new_liquidity_index TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
"""

TABLES = (
    "meta",
    "blocks",
    "logs",
    "layouts",
    "assets",
    "reserves",
    "prices",
    "feeds",
    "pairs",
    "paused",
    "checkpoints",
    "positions",
    "account_data",
    "transactions",
    "liquidations",
    "bad_debt",
)


class RecordingError(RuntimeError):
    """The file is not a recording this code can read or extend; the message says why."""


# ----------------------------------------------------------------------------- connections


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open a recording. With ``create`` (the writers) a missing file gets the schema and the
    file is put in WAL mode; an existing file must carry :data:`SCHEMA_VERSION` either way."""
    exists = path.exists() and path.stat().st_size > 0
    if not exists and not create:
        raise RecordingError(f"{path}: no such recording")
    conn = sqlite3.connect(path, isolation_level=None)
    if exists:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise RecordingError(f"{path} is not a liqbot recording ({exc})") from None
        if row is None:
            conn.close()
            raise RecordingError(f"{path} is not a liqbot recording (no schema_version)")
        if int(row[0]) != SCHEMA_VERSION:
            conn.close()
            raise RecordingError(
                f"{path} has schema version {row[0]}; this liqbot reads version {SCHEMA_VERSION}"
            )
    if create:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    if not exists:
        conn.executescript(DDL)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
    return conn


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {k: v for k, v in conn.execute("SELECT key, value FROM meta")}


def write_meta(conn: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
    )


# ----------------------------------------------------------------------------- event names


@lru_cache(maxsize=1)
def event_names() -> dict[str, str]:
    """topic0 (hex) -> event name, over every bundled contract: makes ``logs`` readable."""
    names: dict[str, str] = {}
    for artifact in (
        "LendingPool",
        "PriceOracle",
        "PriceFeed",
        "AmmPair",
        "FlashLiquidator",
        "Liquidator",
        "VaultEngine",
        "DutchAuction",
        "EnglishAuction",
        "Stablecoin",
        "TestToken",
    ):
        try:
            abi = abi_of(artifact)
        except Exception:  # an artifact another build may not ship
            continue
        for entry in abi:
            if entry.get("type") == "event":
                event = AbiEvent.from_abi(abi, str(entry["name"]))
                names.setdefault("0x" + event.topic0.hex(), event.name)
    return names


# ----------------------------------------------------------------------------- plain records


@dataclass(frozen=True, slots=True)
class RecordedBlock:
    """A header as recorded (the fields the backtest needs)."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    base_fee: int
    gas_used: int
    gas_limit: int

    @classmethod
    def of(cls, header: BlockHeader) -> RecordedBlock:
        return cls(
            header.number,
            header.hash,
            header.parent_hash,
            header.timestamp,
            header.base_fee,
            header.gas_used,
            header.gas_limit,
        )


@dataclass(frozen=True, slots=True)
class RecordedTransaction:
    """What a receipt says about a transaction that liquidated someone."""

    hash: str
    block_number: int
    tx_index: int
    sender: str
    recipient: str | None
    gas_used: int
    effective_gas_price: int
    status: int


@dataclass(frozen=True, slots=True)
class RecordedLiquidation:
    """One ``LiquidationCall`` event, decoded."""

    block_number: int
    log_index: int
    tx_hash: str
    user: str
    collateral_asset: str
    debt_asset: str
    debt_covered: int
    collateral_to_liquidator: int
    liquidator: str
    receive_a_token: bool


@dataclass(frozen=True, slots=True)
class RecordedBadDebt:
    """One ``BadDebtWrittenOff`` event, decoded."""

    block_number: int
    log_index: int
    tx_hash: str
    user: str
    reserve: str
    amount: int
    new_liquidity_index: int


# ----------------------------------------------------------------------------- layouts


def layout_to_json(layout: MarketLayout, oracle: str = "") -> str:
    """The layout as JSON, with the oracle it was read from (the adapter needs it to decode
    the oracle's own events)."""
    return json.dumps(
        {
            "oracle": oracle,
            "assets": list(layout.assets),
            "symbols": dict(layout.symbols),
            "feeds": {a: [[f.address, f.heartbeat] for f in fs] for a, fs in layout.feeds.items()},
            "pairs": [[p.address, p.token0, p.token1] for p in layout.pairs],
            "treasury": layout.treasury,
        },
        sort_keys=True,
    )


def layout_from_json(text: str) -> MarketLayout:
    d = json.loads(text)
    return MarketLayout(
        assets=tuple(d["assets"]),
        symbols=dict(d["symbols"]),
        feeds={a: tuple(FeedInfo(f[0], int(f[1])) for f in fs) for a, fs in d["feeds"].items()},
        pairs=tuple(PairInfo(p[0], p[1], p[2]) for p in d["pairs"]),
        treasury=str(d.get("treasury", "")),
    )


# ----------------------------------------------------------------------------- writers


def insert_blocks(conn: sqlite3.Connection, blocks: Iterable[RecordedBlock]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (b.number, b.hash, b.parent_hash, b.timestamp, b.base_fee, b.gas_used, b.gas_limit)
            for b in blocks
        ],
    )


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def log_row(entry: LogEntry) -> tuple[Any, ...]:
    topics = [_hex(t) for t in entry.topics[:4]]
    topics += [None] * (4 - len(topics))  # type: ignore[list-item]
    name = event_names().get(topics[0]) if topics[0] else None
    return (
        entry.block_number,
        entry.log_index,
        entry.transaction_hash,
        entry.address,
        name,
        *topics,
        _hex(entry.data),
    )


def insert_logs(conn: sqlite3.Connection, entries: Iterable[LogEntry]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [log_row(e) for e in entries],
    )


def log_from_row(row: Sequence[Any], block_hash: str) -> LogEntry:
    """A stored log as the ``LogEntry`` the adapter decodes (columns as in ``logs``)."""
    block_number, log_index, tx_hash, address, _event, t0, t1, t2, t3, data = row
    topics = tuple(bytes.fromhex(t[2:]) for t in (t0, t1, t2, t3) if t is not None)
    return LogEntry(
        address=address,
        topics=topics,
        data=bytes.fromhex(data[2:]),
        block_number=block_number,
        block_hash=block_hash,
        log_index=log_index,
        transaction_hash=tx_hash,
    )


def layout_oracle(text: str) -> str:
    return str(json.loads(text).get("oracle", ""))


def insert_layout(
    conn: sqlite3.Connection, block: int, layout: MarketLayout, *, oracle: str = ""
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO layouts VALUES (?, ?)", (block, layout_to_json(layout, oracle))
    )
    conn.executemany(
        "INSERT INTO assets (asset, symbol) VALUES (?, ?) "
        "ON CONFLICT (asset) DO UPDATE SET symbol = excluded.symbol",
        [(a, layout.symbols.get(a, a)) for a in layout.assets],
    )


def reserve_row(block: int, reserve: Reserve, reason: str) -> tuple[Any, ...]:
    c, s = reserve.config, reserve.state
    return (
        block,
        c.asset,
        reason,
        c.decimals,
        c.ltv,
        c.liquidation_threshold,
        c.liquidation_bonus,
        c.liquidation_protocol_fee,
        c.reserve_factor,
        str(c.strategy.base_rate),
        str(c.strategy.slope1),
        str(c.strategy.slope2),
        str(c.strategy.optimal_utilization),
        str(s.liquidity_index),
        str(s.variable_borrow_index),
        str(s.liquidity_rate),
        str(s.variable_borrow_rate),
        s.last_update_timestamp,
        str(s.total_scaled_supply),
        str(s.total_scaled_debt),
        str(s.cash),
    )


def reserve_from_row(row: Sequence[Any]) -> Reserve:
    """A ``reserves`` row (all columns, in order) as the model's Reserve."""
    (
        _block, asset, _reason, decimals, ltv, threshold, bonus, fee, factor,
        base, slope1, slope2, optimal,
        li, bi, lr, br, updated, supply, debt, cash,
    ) = row  # fmt: skip
    return Reserve(
        ReserveConfig(
            asset, decimals, ltv, threshold, bonus, fee, factor,
            InterestRateStrategy(int(base), int(slope1), int(slope2), int(optimal)),
        ),
        ReserveState(
            int(li), int(bi), int(lr), int(br), updated, int(supply), int(debt), int(cash)
        ),
    )  # fmt: skip


def insert_reserves(
    conn: sqlite3.Connection, block: int, reserves: Iterable[Reserve], reason: str
) -> None:
    reserves = list(reserves)
    conn.executemany(
        "INSERT OR REPLACE INTO reserves VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [reserve_row(block, r, reason) for r in reserves],
    )
    conn.executemany(
        "UPDATE assets SET decimals = ? WHERE asset = ?",
        [(r.config.decimals, r.asset) for r in reserves],
    )


def price_row(block: int, status: PriceStatus, reason: str) -> tuple[Any, ...]:
    return (
        block,
        status.asset,
        reason,
        str(status.price),
        int(status.primary_valid),
        int(status.fallback_valid),
        int(status.breaker_tripped),
        status.primary_updated_at,
    )


def price_from_row(row: Sequence[Any]) -> PriceStatus:
    _block, asset, _reason, price, primary, fallback, tripped, updated = row
    return PriceStatus(asset, int(price), bool(primary), bool(fallback), bool(tripped), updated)


def insert_prices(
    conn: sqlite3.Connection, block: int, statuses: Iterable[PriceStatus], reason: str
) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO prices VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [price_row(block, s, reason) for s in statuses],
    )


def insert_feeds(conn: sqlite3.Connection, block: int, updated_at: Mapping[str, int]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO feeds VALUES (?, ?, ?)",
        [(block, feed, t) for feed, t in updated_at.items()],
    )


def insert_pairs(conn: sqlite3.Connection, block: int, pairs: Iterable[PairReserves]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO pairs VALUES (?, ?, ?, ?, ?, ?)",
        [(block, p.pair, p.token0, p.token1, str(p.reserve0), str(p.reserve1)) for p in pairs],
    )


def pair_from_row(row: Sequence[Any]) -> PairReserves:
    _block, pair, token0, token1, r0, r1 = row
    return PairReserves(pair, token0, token1, int(r0), int(r1))


def insert_paused(conn: sqlite3.Connection, block: int, paused: bool) -> None:
    conn.execute("INSERT OR REPLACE INTO paused VALUES (?, ?)", (block, int(paused)))


def insert_checkpoint(
    conn: sqlite3.Connection,
    block: int,
    timestamp: int,
    kind: str,
    accounts: Mapping[str, tuple[Account | None, AccountData | None]],
) -> None:
    """A checkpoint's accounts: positions (absent rows mean an empty account) and the pool's
    own account data (NULL when the pool could not compute it, e.g. a stale oracle)."""
    conn.execute(
        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
        (block, timestamp, kind, len(accounts)),
    )
    positions: list[tuple[Any, ...]] = []
    data_rows: list[tuple[Any, ...]] = []
    for user, (account, data) in sorted(accounts.items()):
        if account is not None:
            positions += [
                (
                    block,
                    user,
                    p.asset,
                    str(p.scaled_supply),
                    str(p.scaled_debt),
                    int(p.using_as_collateral),
                )
                for p in account.positions
            ]
        if data is None:
            data_rows.append((block, user, None, None, None, None, None, None))
        else:
            data_rows.append(
                (
                    block,
                    user,
                    str(data.total_collateral_base),
                    str(data.total_debt_base),
                    str(data.available_borrows_base),
                    data.current_liquidation_threshold,
                    data.ltv,
                    str(data.health_factor),
                )
            )
    conn.executemany("INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?)", positions)
    conn.executemany(
        "INSERT OR REPLACE INTO account_data VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data_rows
    )


def account_data_from_row(row: Sequence[Any]) -> AccountData | None:
    """``account_data`` columns after (block_number, user); None when not read."""
    coll, debt, avail, threshold, ltv, hf = row
    if coll is None:
        return None
    return AccountData(int(coll), int(debt), int(avail), int(threshold), int(ltv), int(hf))


def insert_transactions(conn: sqlite3.Connection, txs: Iterable[RecordedTransaction]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                t.hash,
                t.block_number,
                t.tx_index,
                t.sender,
                t.recipient,
                t.gas_used,
                t.effective_gas_price,
                t.status,
            )
            for t in txs
        ],
    )


def insert_liquidations(conn: sqlite3.Connection, rows: Iterable[RecordedLiquidation]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO liquidations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.block_number,
                r.log_index,
                r.tx_hash,
                r.user,
                r.collateral_asset,
                r.debt_asset,
                str(r.debt_covered),
                str(r.collateral_to_liquidator),
                r.liquidator,
                int(r.receive_a_token),
            )
            for r in rows
        ],
    )


def insert_bad_debt(conn: sqlite3.Connection, rows: Iterable[RecordedBadDebt]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO bad_debt VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.block_number,
                r.log_index,
                r.tx_hash,
                r.user,
                r.reserve,
                str(r.amount),
                str(r.new_liquidity_index),
            )
            for r in rows
        ],
    )


# ----------------------------------------------------------------------------- decoding facts

_POOL_ABI = abi_of("LendingPool")
LIQUIDATION_CALL = AbiEvent.from_abi(_POOL_ABI, "LiquidationCall")
BAD_DEBT_WRITTEN_OFF = AbiEvent.from_abi(_POOL_ABI, "BadDebtWrittenOff")


def decode_liquidation(entry: LogEntry) -> RecordedLiquidation:
    v = LIQUIDATION_CALL.decode(entry)
    return RecordedLiquidation(
        block_number=entry.block_number,
        log_index=entry.log_index,
        tx_hash=entry.transaction_hash,
        user=str(v["user"]),
        collateral_asset=str(v["collateralAsset"]),
        debt_asset=str(v["debtAsset"]),
        debt_covered=int(v["debtToCover"]),
        collateral_to_liquidator=int(v["liquidatedCollateralAmount"]),
        liquidator=str(v["liquidator"]),
        receive_a_token=bool(v["receiveAToken"]),
    )


def decode_bad_debt(entry: LogEntry) -> RecordedBadDebt:
    v = BAD_DEBT_WRITTEN_OFF.decode(entry)
    return RecordedBadDebt(
        block_number=entry.block_number,
        log_index=entry.log_index,
        tx_hash=entry.transaction_hash,
        user=str(v["user"]),
        reserve=str(v["reserve"]),
        amount=int(v["amount"]),
        new_liquidity_index=int(v["newLiquidityIndex"]),
    )


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table (for summaries and tests)."""
    return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}
