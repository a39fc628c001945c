"""Record a block range of a deployed market into SQLite (see :mod:`bot.record.schema`).

The recorder reads what the live watcher reads, at the blocks it would read it, and keeps it:
headers, every log of the pool, the oracle, its feeds and the AMM pairs (and an auction
module's contracts when given), and, block by block, the state reads that an event or the
passing of time made necessary (a reserve that emitted ``ReserveDataUpdated``, a price whose
feed published or went stale, the whole layout after ``ReserveInitialized``). Every
``checkpoint_every`` blocks it reads the whole market and every account touched since the
previous checkpoint, with the pool's own ``getUserAccountData``, so that a backtest can check
its rebuilt book against the chain.

Work is done in chunks of blocks; each chunk is written in one SQLite transaction together
with the block it reached, so an interrupted recording resumes at the first block it lacks
and ends up equal, row for row, to one that was never interrupted. Log ranges a provider
refuses are split (:class:`bot.chain.logs.LogReader`); every request goes through
:class:`bot.chain.rpc.RpcClient` (retries, failover).
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bot.chain.logs import LogReader
from bot.chain.multicall import Multicall, Read, ReadFailed
from bot.chain.rpc import LogEntry, RpcClient, checksum_address, to_hash, to_int
from bot.deploy.market import Deployment
from bot.model.health import AccountData
from bot.model.types import Account, PairReserves, Reserve
from bot.protocols.aave_pool import AavePoolAdapter
from bot.protocols.base import (
    LayoutChanged,
    MarketLayout,
    PositionChanged,
    PriceChanged,
    PriceStatus,
    ProtocolEvent,
    ReserveChanged,
)
from bot.record import schema
from bot.record.schema import (
    BAD_DEBT_WRITTEN_OFF,
    LIQUIDATION_CALL,
    RecordedBlock,
    RecordedTransaction,
    RecordingError,
)

log = logging.getLogger("liqbot.record")

PROTOCOL_KIND = "aave-pool"


@dataclass(frozen=True)
class RecordSummary:
    """What a call to :func:`record` left in the file."""

    path: Path
    chain_id: int
    base_block: int
    first: int
    last: int
    blocks: int
    logs: int
    liquidations: int
    checkpoints: int
    resumed_from: int | None
    """The first block this call recorded when it resumed an earlier recording."""
    requests: int
    elapsed: float
    log_refusals: int = 0
    tables: dict[str, int] = field(default_factory=dict)


@dataclass
class _Buffer:
    """Rows of one chunk, written together."""

    blocks: list[RecordedBlock] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    layouts: list[tuple[int, MarketLayout, str]] = field(default_factory=list)
    reserves: list[tuple[int, Reserve, str]] = field(default_factory=list)
    prices: list[tuple[int, PriceStatus, str]] = field(default_factory=list)
    feeds: list[tuple[int, str, int]] = field(default_factory=list)
    pairs: list[tuple[int, PairReserves]] = field(default_factory=list)
    paused: list[tuple[int, bool]] = field(default_factory=list)
    checkpoints: list[
        tuple[int, int, str, dict[str, tuple[Account | None, AccountData | None]]]
    ] = field(default_factory=list)
    liquidations: list[schema.RecordedLiquidation] = field(default_factory=list)
    bad_debt: list[schema.RecordedBadDebt] = field(default_factory=list)
    transactions: list[RecordedTransaction] = field(default_factory=list)


class _ChainMoved(Exception):
    """Headers and logs of one chunk disagree: the chain reorganised while we read it."""


def _adapter_json(adapter: AavePoolAdapter) -> str:
    return json.dumps(
        {
            "kind": PROTOCOL_KIND,
            "pool": adapter.pool,
            "multicall": adapter.multicall_address,
            "oracle": adapter.oracle,
            "pairs": [[p.address, p.token0, p.token1] for p in adapter.pairs],
            "flash_liquidator": adapter.flash_liquidator,
            "deployment_block": adapter.deployment_block,
        },
        sort_keys=True,
    )


def _liqbot_version() -> str:
    try:
        return f"liqbot {version('liqbot')}"
    except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
        return "liqbot"


def _extra_addresses(auctions: Any) -> list[str]:
    """Every contract of an auction deployment (``bot.deploy.auctions.AuctionDeployment``)."""
    if auctions is None:
        return []
    if isinstance(auctions, Path):
        from bot.deploy.auctions import AuctionDeployment

        auctions = AuctionDeployment.load(auctions)
    out = [auctions.engine, auctions.liquidator, auctions.stablecoin]
    for ilk in auctions.ilks.values():
        out += [ilk.dutch_auction, ilk.english_auction, ilk.pair]
    return [checksum_address(a) for a in dict.fromkeys(out)]


class Recorder:
    """One recording in progress. :func:`record` is the entry point; this class is the state
    a resumed run rebuilds from the file (layout, feed times, accounts touched)."""

    def __init__(
        self,
        rpc: RpcClient,
        adapter: AavePoolAdapter,
        conn: sqlite3.Connection,
        *,
        base: int,
        last: int,
        checkpoint_every: int,
        extra_addresses: Sequence[str] = (),
        multicall_batch: int = 250,
        log_chunk: int = 2_000,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be positive")
        self.rpc = rpc
        self.adapter = adapter
        self.conn = conn
        self.base = base
        self.last = last
        self.checkpoint_every = checkpoint_every
        self.extra = list(extra_addresses)
        self.multicall = Multicall(rpc, adapter.multicall_address, max_calls=multicall_batch)
        self.logs = LogReader(rpc, chunk=log_chunk)
        self.layout = MarketLayout((), {}, {})
        self.feed_updated_at: dict[str, int] = {}
        self.touched: set[str] = set()
        self.prev: RecordedBlock | None = None

    # ------------------------------------------------------------------ state on disk

    def recorded_through(self) -> int | None:
        value = schema.read_meta(self.conn).get("recorded_through")
        return None if value is None else int(value)

    def load_state(self) -> None:
        """Rebuild the in-memory state of a recording that stopped after a whole chunk."""
        through = self.recorded_through()
        if through is None:
            raise RecordingError("the recording has no base checkpoint yet")
        row = self.conn.execute(
            "SELECT layout FROM layouts WHERE block_number <= ? ORDER BY block_number DESC",
            (through,),
        ).fetchone()
        if row is None:
            raise RecordingError("the recording has no layout")
        self.layout = schema.layout_from_json(row[0])
        self.feed_updated_at = {
            feed: t
            for feed, t in self.conn.execute(
                "SELECT feed, updated_at FROM feeds f WHERE block_number = "
                "(SELECT MAX(block_number) FROM feeds g WHERE g.feed = f.feed)"
            )
        }
        state = json.loads(schema.read_meta(self.conn).get("recorder_state", "{}"))
        self.touched = set(state.get("touched", []))
        oracle = state.get("oracle")
        if oracle:
            self.adapter.oracle = oracle
        block = self.conn.execute("SELECT * FROM blocks WHERE number = ?", (through,)).fetchone()
        self.prev = RecordedBlock(*block)

    # ------------------------------------------------------------------ base checkpoint

    def start(self) -> None:
        """Read the state at the base block: layout, the whole market and every account."""
        base = self.base
        header = RecordedBlock.of(self.rpc.get_block(base))
        try:
            self.layout = self.adapter.load_layout(self.multicall, base)
        except Exception as exc:
            raise RecordingError(
                f"cannot read the pool's layout at block {base} (the block before the first "
                f"one recorded): {exc}. Start the recording after the pool was deployed."
            ) from None
        users: set[str] = set()
        addresses, topics = self.adapter.discovery_filter()
        start = min(self.adapter.deployment_block, base)
        for _, _, entries in self.logs.chunks(start, base, addresses, [topics]):
            for entry in entries:
                event = self.adapter.decode_log(entry, self.layout)
                if isinstance(event, PositionChanged):
                    users.add(event.user)
        buf = _Buffer(blocks=[header], layouts=[(base, self.layout, self.adapter.oracle)])
        self._read_block(buf, header, reason="checkpoint", accounts=users, kind="base")
        self.prev = header
        self._write(buf, base)

    # ------------------------------------------------------------------ chunks

    def run(self, chunk: int, on_progress: Callable[[int], None] = lambda n: None) -> None:
        through = self.recorded_through()
        assert through is not None
        start = through + 1
        while start <= self.last:
            end = min(self.last, start + chunk - 1)
            for attempt in range(3):
                try:
                    buf = self._chunk(start, end)
                    break
                except _ChainMoved as exc:
                    if attempt == 2:
                        raise RecordingError(
                            f"the chain keeps reorganising under blocks {start}-{end} ({exc}); "
                            "record blocks further from the head"
                        ) from None
                    log.warning("record: %s; reading blocks %d-%d again", exc, start, end)
            self._write(buf, end)
            on_progress(end - start + 1)
            start = end + 1

    def _addresses(self, layout: MarketLayout) -> list[str]:
        out = [self.adapter.pool]
        if self.adapter.oracle:
            out.append(self.adapter.oracle)
        out += list(layout.feed_addresses())
        out += [p.address for p in layout.pairs]
        out += self.extra
        return list(dict.fromkeys(out))

    def _fetch_logs(
        self, first: int, last: int, addresses: Sequence[str]
    ) -> dict[int, list[LogEntry]]:
        by_block: dict[int, list[LogEntry]] = defaultdict(list)
        for _, _, entries in self.logs.chunks(first, last, addresses):
            for entry in entries:
                if not entry.removed:
                    by_block[entry.block_number].append(entry)
        return by_block

    def _chunk(self, first: int, last: int) -> _Buffer:
        assert self.prev is not None
        headers = [RecordedBlock.of(self.rpc.get_block(n)) for n in range(first, last + 1)]
        if headers[0].parent_hash != self.prev.hash:
            raise RecordingError(
                f"block {first}'s parent is not the block {self.prev.number} already recorded "
                "(a reorg below the recording): record finalized blocks, or start a new file"
            )
        for parent, child in itertools.pairwise(headers):
            if child.parent_hash != parent.hash:
                raise _ChainMoved(f"block {child.number} does not extend block {parent.number}")
        hashes = {h.number: h.hash for h in headers}
        addresses = self._addresses(self.layout)
        by_block = self._fetch_logs(first, last, addresses)
        for number, entries in by_block.items():
            if any(e.block_hash != hashes.get(number) for e in entries):
                raise _ChainMoved(f"logs of block {number} are from another branch")
        buf = _Buffer(blocks=headers)
        for header in headers:
            self._block(buf, header, addresses, by_block, last)
        return buf

    def _block(
        self,
        buf: _Buffer,
        header: RecordedBlock,
        addresses: list[str],
        by_block: dict[int, list[LogEntry]],
        chunk_last: int,
    ) -> None:
        """One block: keep its logs, decode them, and read what they say may have moved."""
        n = header.number
        entries = sorted(by_block.get(n, []), key=lambda e: e.log_index)
        events: list[tuple[LogEntry, ProtocolEvent | None]] = [
            (e, self.adapter.decode_log(e, self.layout)) for e in entries
        ]
        layout_changed = any(isinstance(ev, LayoutChanged) for _, ev in events)
        if layout_changed:
            self.layout = self.adapter.load_layout(self.multicall, n)
            buf.layouts.append((n, self.layout, self.adapter.oracle))
            new = [a for a in self._addresses(self.layout) if a not in addresses]
            if new:
                # Contracts the new layout watches: their logs from this block on.
                extra = self._fetch_logs(n, chunk_last, new)
                for number, more in extra.items():
                    by_block[number] = by_block.get(number, []) + more
                addresses += new
                entries = sorted(by_block.get(n, []), key=lambda e: e.log_index)
                events = [(e, self.adapter.decode_log(e, self.layout)) for e in entries]
        buf.logs += entries
        reserves: set[str] = set()
        price_assets: set[str] = set()
        tx_hashes: set[str] = set()
        for entry, event in events:
            if isinstance(event, PositionChanged):
                self.touched.add(event.user)
            elif isinstance(event, ReserveChanged):
                reserves.add(event.asset)
            elif isinstance(event, PriceChanged):
                price_assets.update(event.assets)
                self.feed_updated_at[event.feed] = event.updated_at
                buf.feeds.append((n, event.feed, event.updated_at))
            if entry.address == self.adapter.pool and entry.topics:
                if entry.topics[0] == LIQUIDATION_CALL.topic0:
                    buf.liquidations.append(schema.decode_liquidation(entry))
                    tx_hashes.add(entry.transaction_hash)
                elif entry.topics[0] == BAD_DEBT_WRITTEN_OFF.topic0:
                    buf.bad_debt.append(schema.decode_bad_debt(entry))
                    tx_hashes.add(entry.transaction_hash)
        assert self.prev is not None
        expiring = self._expiring(self.prev.timestamp, header.timestamp)
        checkpoint = (n - self.base) % self.checkpoint_every == 0 or n == self.last
        if checkpoint or layout_changed:
            self._read_block(
                buf,
                header,
                reason="checkpoint" if checkpoint else "layout",
                accounts=self.touched if checkpoint else None,
                kind="periodic" if n < self.last else "final",
            )
            if checkpoint:
                self.touched = set()
        elif reserves or price_assets or expiring:
            reads: list[Read[Any]] = [self.adapter.reserve_read(a) for a in sorted(reserves)]
            priced = sorted(price_assets | expiring)
            reads += [self.adapter.price_read(a) for a in priced]
            values = self.multicall.read_all(reads, n)
            for asset, value in zip(sorted(reserves), values, strict=False):
                if isinstance(value, ReadFailed):
                    raise RecordingError(f"reading reserve {asset} at block {n} failed")
                buf.reserves.append((n, value, "event"))
            for asset, value in zip(priced, values[len(reserves) :], strict=True):
                status = value if isinstance(value, PriceStatus) else PriceStatus(asset, 0, False)
                buf.prices.append((n, status, "event" if asset in price_assets else "expiry"))
        for tx_hash in sorted(tx_hashes):
            buf.transactions.append(self._receipt(tx_hash))
        self.prev = header

    def _expiring(self, before: int, now: int) -> set[str]:
        """Assets one of whose feeds turns stale in ``(before, now]`` (as the watcher asks)."""
        out: set[str] = set()
        for asset, feeds in self.layout.feeds.items():
            for feed in feeds:
                updated = self.feed_updated_at.get(feed.address)
                if updated is None:
                    continue
                stale_from = updated + feed.heartbeat + 1
                if before < stale_from <= now:
                    out.add(asset)
        return out

    def _read_block(
        self,
        buf: _Buffer,
        header: RecordedBlock,
        *,
        reason: str,
        accounts: Iterable[str] | None,
        kind: str,
    ) -> None:
        """The whole market (and, for a checkpoint, the given accounts) at ``header``."""
        n = header.number
        adapter = self.adapter
        layout = self.layout
        feeds = list(layout.feed_addresses())
        reads: list[Read[Any]] = [adapter.reserves_read()]
        reads += [adapter.price_read(a) for a in layout.assets]
        reads += [adapter.feed_updated_at_read(f) for f in feeds]
        reads.append(adapter.paused_read())
        reads += [adapter.pair_read(p) for p in layout.pairs]
        users = sorted(accounts) if accounts is not None else []
        for user in users:
            reads.append(adapter.account_read(user))
            reads.append(adapter.health_read(user))
        values = self.multicall.read_all(reads, n)
        reserves = values[0]
        if isinstance(reserves, ReadFailed):
            raise RecordingError(f"reading the reserves at block {n} failed")
        buf.reserves += [(n, r, reason) for r in reserves]
        i = 1
        for asset in layout.assets:
            value = values[i]
            status = value if isinstance(value, PriceStatus) else PriceStatus(asset, 0, False)
            buf.prices.append((n, status, reason))
            i += 1
        for feed in feeds:
            value = values[i]
            if isinstance(value, int) and not isinstance(value, bool):
                self.feed_updated_at[feed] = value
                buf.feeds.append((n, feed, value))
            i += 1
        paused = values[i]
        if isinstance(paused, bool):
            buf.paused.append((n, paused))
        i += 1
        for _ in layout.pairs:
            value = values[i]
            if isinstance(value, PairReserves):
                buf.pairs.append((n, value))
            i += 1
        if accounts is not None:
            rows: dict[str, tuple[Account | None, AccountData | None]] = {}
            for user in users:
                account, data = values[i], values[i + 1]
                i += 2
                rows[user] = (
                    account if isinstance(account, Account) else None,
                    data if isinstance(data, AccountData) else None,
                )
            buf.checkpoints.append((n, header.timestamp, kind, rows))

    def _receipt(self, tx_hash: str) -> RecordedTransaction:
        raw = self.rpc.request("eth_getTransactionReceipt", [tx_hash])
        if raw is None:
            raise RecordingError(f"no receipt for {tx_hash}")
        price = raw.get("effectiveGasPrice")
        if price is None:  # pre-London nodes: the legacy gas price is what was paid
            tx = self.rpc.request("eth_getTransactionByHash", [tx_hash]) or {}
            price = tx.get("gasPrice", 0)
        to = raw.get("to")
        return RecordedTransaction(
            hash=to_hash(raw["transactionHash"]),
            block_number=to_int(raw["blockNumber"]),
            tx_index=to_int(raw["transactionIndex"]),
            sender=checksum_address(str(raw["from"])),
            recipient=checksum_address(str(to)) if to else None,
            gas_used=to_int(raw["gasUsed"]),
            effective_gas_price=to_int(price),
            status=to_int(raw.get("status", 1)),
        )

    # ------------------------------------------------------------------ writing

    def _write(self, buf: _Buffer, through: int) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            schema.insert_blocks(conn, buf.blocks)
            schema.insert_logs(conn, buf.logs)
            for n, layout, oracle in buf.layouts:
                schema.insert_layout(conn, n, layout, oracle=oracle)
            for (n, reason), rows in _grouped(buf.reserves).items():
                schema.insert_reserves(conn, n, rows, reason)
            for (n, reason), statuses in _grouped(buf.prices).items():
                schema.insert_prices(conn, n, statuses, reason)
            for n, feed, t in buf.feeds:
                schema.insert_feeds(conn, n, {feed: t})
            for n, pair in buf.pairs:
                schema.insert_pairs(conn, n, [pair])
            for n, paused in buf.paused:
                schema.insert_paused(conn, n, paused)
            for n, ts, kind, accounts in buf.checkpoints:
                schema.insert_checkpoint(conn, n, ts, kind, accounts)
            schema.insert_liquidations(conn, buf.liquidations)
            schema.insert_bad_debt(conn, buf.bad_debt)
            schema.insert_transactions(conn, buf.transactions)
            schema.write_meta(
                conn,
                {
                    "recorded_through": str(through),
                    "complete": "1" if through >= self.last else "0",
                    "recorder_state": json.dumps(
                        {"touched": sorted(self.touched), "oracle": self.adapter.oracle},
                        sort_keys=True,
                    ),
                },
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _grouped(rows: Iterable[tuple[int, Any, str]]) -> dict[tuple[int, str], list[Any]]:
    out: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for n, value, reason in rows:
        out[(n, reason)].append(value)
    return out


def _check_resume(meta: dict[str, str], expected: dict[str, str], path: Path) -> None:
    for key, value in expected.items():
        if key in meta and meta[key] != value:
            raise RecordingError(
                f"{path} records {key}={meta[key]}, not {value}: resume it with the same "
                "settings, or write a new file"
            )


def record(
    rpc_urls: Sequence[str] | RpcClient,
    deployment: Deployment | Path,
    first: int,
    last: int,
    out: Path,
    *,
    checkpoint_every: int = 1_000,
    progress: bool = True,
    chunk: int = 500,
    auctions: Any = None,
    multicall_batch: int = 250,
    log_chunk: int = 2_000,
    console: Console | None = None,
) -> RecordSummary:
    """Record blocks ``first..last`` of ``deployment``'s market into ``out`` (SQLite).

    The state at ``first - 1`` (the base block) is read in full first. Running again on the
    same file resumes after the last chunk written; the settings must match. ``auctions``
    (an ``AuctionDeployment`` or its JSON path) adds the auction module's logs.
    """
    started = time.perf_counter()
    if first < 1 or last < first:
        raise ValueError("need 1 <= first <= last")
    if chunk < 1:
        raise ValueError("chunk must be positive")
    if isinstance(deployment, Path):
        deployment = Deployment.load(deployment)
    rpc = rpc_urls if isinstance(rpc_urls, RpcClient) else RpcClient(list(rpc_urls))
    requests_before = rpc.stats.requests
    chain_id = rpc.chain_id()
    if chain_id != deployment.chain_id:
        raise RecordingError(
            f"the RPC serves chain {chain_id}, the deployment is on chain {deployment.chain_id}"
        )
    head = rpc.block_number()
    if last > head:
        raise RecordingError(f"block {last} is not mined yet (the head is {head})")
    adapter = AavePoolAdapter.from_deployment(deployment)
    extra = _extra_addresses(auctions)
    base = first - 1
    expected = {
        "chain_id": str(chain_id),
        "pool": adapter.pool,
        "first_block": str(first),
        "base_block": str(base),
        "checkpoint_every": str(checkpoint_every),
        "extra_addresses": json.dumps(extra),
    }
    conn = schema.connect(out, create=True)
    try:
        meta = schema.read_meta(conn)
        _check_resume(meta, expected, out)
        recorder = Recorder(
            rpc,
            adapter,
            conn,
            base=base,
            last=last,
            checkpoint_every=checkpoint_every,
            extra_addresses=extra,
            multicall_batch=multicall_batch,
            log_chunk=log_chunk,
        )
        through = recorder.recorded_through()
        resumed_from: int | None = None
        if through is None:
            schema.write_meta(
                conn,
                {
                    **expected,
                    "protocol": PROTOCOL_KIND,
                    "source": "rpc",
                    "last_block": str(last),
                    "adapter": _adapter_json(adapter),
                    "deployment": deployment.to_json(),
                    "recorder": _liqbot_version(),
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
        else:
            if last < through:
                raise RecordingError(f"{out} already reaches block {through}, past {last}")
            schema.write_meta(conn, {"last_block": str(last)})
            recorder.load_state()
            if through < last:
                resumed_from = through + 1
        total = last - base
        with Progress(
            TextColumn("[bold]recording[/] blocks"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not progress,
        ) as bar:
            done = 0 if through is None else through - base
            task = bar.add_task("record", total=total, completed=done, rate="")
            if through is None:
                recorder.start()
            t0 = time.perf_counter()
            recorded = 0

            def advance(n: int) -> None:
                nonlocal recorded
                recorded += n
                rate = recorded / max(time.perf_counter() - t0, 1e-9)
                bar.update(task, advance=n, rate=f"{rate:,.0f} blocks/s")

            recorder.run(chunk, advance)
        tables = schema.table_counts(conn)
        return RecordSummary(
            path=out,
            chain_id=chain_id,
            base_block=base,
            first=first,
            last=last,
            blocks=tables["blocks"] - 1,
            logs=tables["logs"],
            liquidations=tables["liquidations"],
            checkpoints=tables["checkpoints"],
            resumed_from=resumed_from,
            requests=rpc.stats.requests - requests_before,
            elapsed=time.perf_counter() - started,
            log_refusals=recorder.logs.stats.refusals,
            tables=tables,
        )
    finally:
        conn.close()
