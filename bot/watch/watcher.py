"""The block loop: chain in, one :class:`MarketSnapshot` per block out.

Cost is what matters as the book grows, so a block is handled with as few requests as its
content allows, and none of them scale with the number of accounts in the book:

1. the head (one ``eth_getBlockByNumber`` when polling, free from a websocket);
2. its logs (one ``eth_getLogs``; skipped when the header's bloom rules out every watched
   address or every watched topic), which update positions exactly (``UserReserveUpdated``
   carries absolute values) and the pause flag, and say which prices (and, rarely, reserves)
   moved. Logs that only say "read this again" and come in thousands in a crash block
   (``ReserveDataUpdated``, the pairs' ``Sync``: :class:`~bot.protocols.base.PolledState`)
   are not fetched: the few reserves and pairs the bloom says may have moved are read in
   step 3 instead (all of them for a range of blocks);
3. one batched read (Multicall3) of just the reserves, pairs and prices that moved or whose
   feed may have gone stale, plus block hashes that tie the reads and logs to the same chain;
4. health recomputed with the exact model for the accounts touched, the holders of assets
   whose price or index jumped, and the few accounts near the threshold (interest accrues
   every second: an account far from it cannot cross before a bounded time, after which
   everything is recomputed; no request involved);
5. one batched read confirming every candidate's health with the pool's own view; with
   ``defer_confirm`` the snapshot comes straight from the model and :meth:`Watcher.confirm`
   does this afterwards, off the path from head to liquidation (the executor simulates every
   transaction at the head before it signs, so confirmation guards the book, not the sends).

A reorg (a new block whose parent is not the block we hold) rolls the book back to the common
ancestor with its undo journal and replays the new branch. A periodic reconciliation reads
everything back in batches and corrects (and logs) whatever the events missed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eth_utils.crypto import keccak

from bot.chain.logs import LogReader
from bot.chain.multicall import ZERO_HASH, Multicall, Read, ReadFailed
from bot.chain.rpc import BlockHeader, LogEntry, RpcClient, RpcFailure
from bot.model.fixed_point import PERCENTAGE_FACTOR, RAY, WAD
from bot.model.health import AccountData
from bot.model.interest import compounded_interest, normalized_debt, normalized_income
from bot.model.types import Account, MarketState, PairReserves, Reserve
from bot.protocols.base import (
    LayoutChanged,
    LendingProtocol,
    LiquidationsPausedChanged,
    MarketLayout,
    PairSynced,
    PolledState,
    PositionChanged,
    PriceChanged,
    PriceStatus,
    ProtocolEvent,
    ReserveChanged,
)
from bot.watch.book import BlockRef, Book
from bot.watch.heads import HeadSource
from bot.watch.index import HealthIndex
from bot.watch.snapshot import AccountAtRisk, MarketSnapshot

log = logging.getLogger("liqbot.watch")

BLOCKHASH_WINDOW = 256
"""``blockhash`` reaches this many blocks back."""


@dataclass(frozen=True)
class WatcherConfig:
    margin: int = WAD // 20
    """Accounts with a health factor below ``WAD + margin`` are candidates (default 1.05)."""
    watch_buffer_bps: int = 200
    """Accounts within this much above the candidate line are recomputed every block; the
    book is recomputed in full before interest could carry any other account across it."""
    reorg_depth: int = 64
    """Blocks of undo journal and hashes kept (at most 255, the reach of ``blockhash``)."""
    reconcile_every: int = 1_000
    """Blocks between full reconciliations (about ``accounts / multicall_batch`` requests
    each); 0 leaves them to explicit :meth:`Watcher.reconcile` calls."""
    confirm: bool = True
    confirm_all: bool = False
    """Confirm every candidate with the pool, not only those the exact model says are
    liquidatable (and those it cannot price): about three times the reads in a crash, for a
    near-threshold account whose model health is wrong (each confirmation checks the model
    to the wei; a mismatch re-reads the account)."""
    defer_confirm: bool = False
    """Return each snapshot from the model alone (``chain_health_factor`` None) and leave
    the pool's confirmation, and the book repair it triggers, to :meth:`Watcher.confirm`,
    which the caller runs after acting on the snapshot: detection then costs no read that
    grows with the number of liquidatable accounts."""
    use_bloom: bool = True
    max_step_blocks: int = 200
    """Blocks handled in one catch-up step (one snapshot is emitted per step)."""
    multicall_batch: int = 250
    log_chunk: int = 2_000

    def __post_init__(self) -> None:
        if not 1 <= self.reorg_depth < BLOCKHASH_WINDOW:
            raise ValueError("reorg_depth must be between 1 and 255")
        if self.max_step_blocks < 1:
            raise ValueError("max_step_blocks must be positive")


@dataclass
class WatcherStats:
    steps: int = 0
    blocks: int = 0
    reorgs: int = 0
    rolled_back_blocks: int = 0
    resyncs: int = 0
    bloom_skips: int = 0
    recomputed: int = 0
    full_recomputes: int = 0
    confirmed: int = 0
    confirm_mismatches: int = 0
    confirm_skips: int = 0
    """Deferred confirmations given up (block reorged away or no longer served, RPC down)."""
    reconciliations: int = 0
    reconcile_mismatches: int = 0


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A difference between the book and the chain, found and corrected."""

    kind: str
    key: str
    book: Any
    chain: Any


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    block: int
    accounts: int
    mismatches: tuple[Mismatch, ...]


class ChainMoved(Exception):
    """The chain changed between two reads of one step; the step is retried."""


@dataclass
class _Changes:
    users: set[str] = field(default_factory=set)
    assets: set[str] = field(default_factory=set)
    """Assets whose price, configuration or index jumped: all their holders are dirty."""
    everything: bool = False


class _Batch:
    """Reads collected from several places, sent in one multicall, results handed back."""

    def __init__(self) -> None:
        self.reads: list[Read[Any]] = []
        self.handlers: list[Callable[[Any], None]] = []

    def add(self, read: Read[Any], handler: Callable[[Any], None]) -> None:
        self.reads.append(read)
        self.handlers.append(handler)

    def __len__(self) -> int:
        return len(self.reads)

    def run(self, multicall: Multicall, block: int) -> list[Any]:
        return multicall.read_all(self.reads, block) if self.reads else []

    def dispatch(self, values: Sequence[Any]) -> None:
        for handler, value in zip(self.handlers, values, strict=True):
            handler(value)


@dataclass(frozen=True, slots=True)
class _Polled:
    """Polled state (:class:`~bot.protocols.base.PolledState`) a step reads."""

    reserves: bool = False
    pairs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Follow:
    """What a step asks for: the full and the lean log filters, and the polled sources with
    their bloom items (decoded once per layout, not per block)."""

    addresses: list[str]
    topics: list[bytes]
    lean_addresses: list[str]
    lean_topics: list[bytes]
    polled: tuple[PolledState, ...]
    lean_address_items: tuple[bytes, ...]
    polled_address_items: tuple[tuple[tuple[str, bytes], ...], ...]

    @classmethod
    def empty(cls) -> _Follow:
        return cls([], [], [], [], (), (), ())

    @classmethod
    def of(cls, protocol: LendingProtocol, layout: MarketLayout) -> _Follow:
        addresses, topics = protocol.follow_filter(layout)
        lean_addresses, lean_topics = protocol.lean_follow_filter(layout)
        polled = protocol.polled_state(layout)
        return cls(
            addresses,
            topics,
            lean_addresses,
            lean_topics,
            polled,
            tuple(_address_item(a) for a in lean_addresses),
            tuple(tuple((a, _address_item(a)) for a in p.addresses) for p in polled),
        )

    def lean_in_bloom(self, bloom: int) -> bool:
        """Whether the block may hold a log the lean filter matches."""
        return any(bloom_may_contain(bloom, a) for a in self.lean_address_items) and any(
            bloom_may_contain(bloom, t) for t in self.lean_topics
        )

    def in_bloom(self, bloom: int) -> _Polled:
        """The polled sources the block may have emitted one of their topics from."""
        reserves = False
        pairs: set[str] = set()
        for state, items in zip(self.polled, self.polled_address_items, strict=True):
            if not any(bloom_may_contain(bloom, t) for t in state.topics):
                continue
            hit = [a for a, item in items if bloom_may_contain(bloom, item)]
            if hit and state.kind == "reserves":
                reserves = True
            elif state.kind == "pairs":
                pairs.update(hit)
        return _Polled(reserves, frozenset(pairs))

    def read_all(self) -> _Polled:
        pairs = frozenset(a for p in self.polled if p.kind == "pairs" for a in p.addresses)
        return _Polled(any(p.kind == "reserves" for p in self.polled), pairs)


def _address_item(address: str) -> bytes:
    return bytes.fromhex(address[2:])


def bloom_may_contain(bloom: int, item: bytes) -> bool:
    """Whether a header's 2048-bit logs bloom may hold ``item`` (an address or a topic)."""
    mask = _bloom_mask(item)
    return bloom & mask == mask


@lru_cache(maxsize=4_096)
def _bloom_mask(item: bytes) -> int:
    """The (up to) three bloom bits of ``item``; cached: the same addresses come every block."""
    digest = keccak(item)
    mask = 0
    for i in (0, 2, 4):
        mask |= 1 << (((digest[i] << 8) | digest[i + 1]) & 2047)
    return mask


class Watcher:
    """Follows one market on one chain; see the module docstring for what a block costs."""

    def __init__(
        self,
        rpc: RpcClient,
        protocol: LendingProtocol,
        config: WatcherConfig | None = None,
        *,
        multicall: Multicall | None = None,
        logs: LogReader | None = None,
    ) -> None:
        self.rpc = rpc
        self.protocol = protocol
        self.config = config or WatcherConfig()
        self.multicall = multicall or Multicall(
            rpc, protocol.multicall_address, max_calls=self.config.multicall_batch
        )
        self.logs = logs or LogReader(rpc, chunk=self.config.log_chunk)
        self.book = Book(depth=self.config.reorg_depth)
        self.stats = WatcherStats()
        self.snapshot: MarketSnapshot | None = None
        self._health: dict[str, AccountData] = {}
        self._watch: set[str] = set()
        self._unpriced: set[str] = set()
        """Accounts whose health the model could not compute: the pool is asked instead."""
        self._candidates: set[str] = set()
        """Watched accounts whose last computed health is below the candidate line."""
        self._index = HealthIndex()
        """Lower bounds on the health of every computed account outside ``_watch``."""
        self._full_timestamp = 0
        self._max_rate = 0
        self._refresh_all = False
        self._bloom_ok: bool | None = None
        self._follow = _Follow.empty()
        self._since_reconcile = 0
        self.along: tuple[Read[Any], ...] = ()
        """Reads a caller wants at each block whose state the watcher reads anyway: they
        join that multicall (no round trip of their own) and their values come with the
        snapshot (``MarketSnapshot.along``). The run loop's inventory rides so, off the
        path to a crash block's first liquidation."""
        self._along_values: tuple[int, tuple[Any, ...]] | None = None
        """The ``along`` values of the last step's reads, with its block."""

    # ================================================================== public API

    def sync(self, block: int | str = "latest") -> MarketSnapshot:
        """Build the book from the deployment block to ``block`` and return its snapshot."""
        return self._full_sync(self.rpc.get_block(block))

    def poll(self) -> list[MarketSnapshot]:
        """Catch up with the latest block; one snapshot per step (none if nothing new)."""
        return self.on_head(self.rpc.get_block("latest"))

    def on_head(self, header: BlockHeader) -> list[MarketSnapshot]:
        """Handle a new head (from polling or a subscription)."""
        if self.book.head is None:
            return [self._full_sync(header)]
        for _ in range(4):
            try:
                return self._advance(header)
            except ChainMoved as exc:
                log.info("watch: chain moved during a step (%s); starting again", exc)
                header = self.rpc.get_block("latest")
        return self._advance(header)

    def run(
        self,
        heads: HeadSource,
        *,
        stop: threading.Event,
        on_snapshot: Callable[[MarketSnapshot], None] = lambda snapshot: None,
        wait: float = 0.5,
    ) -> None:
        """Follow ``heads`` until ``stop`` is set; RPC failures are logged and waited out."""
        failures = 0
        while not stop.is_set():
            try:
                if self.book.head is None:
                    on_snapshot(self.sync())
                self.rpc.maybe_check_heads()
                header = heads.next_head(wait)
                if header is None:
                    continue
                for snapshot in self.on_head(header):
                    on_snapshot(snapshot)
                failures = 0
            except (RpcFailure, ChainMoved) as exc:
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("watch: %s; retrying in %.1fs", exc, delay)
                stop.wait(delay)

    def health(self, user: str) -> AccountData | None:
        """The model's account data for ``user`` as last computed (None without debt). Only
        accounts near the threshold are recomputed every block; see :meth:`account_data`."""
        return self._health.get(user)

    def account_data(self, user: str) -> AccountData:
        """The model's account data for ``user`` at the head's timestamp, computed now."""
        head = self.book.head
        if head is None:
            raise RuntimeError("sync first")
        market = self.book.market_state(last_good_prices=True)
        return self.protocol.account_health(market, self.book.account(user), head.timestamp)

    def reconcile(self) -> ReconcileReport:
        """Read every account, reserve, price and pair back from the chain, in batches, and
        correct the book where it differs. Mismatches are logged and returned."""
        head = self.book.head
        if head is None:
            raise RuntimeError("sync first")
        block = head.number
        mismatches: list[Mismatch] = []
        changes = _Changes()
        batch = _Batch()
        book = self.book.at(block)
        self._add_market_reads(batch, changes, head.timestamp, everything=True, track=mismatches)
        users = list(self.book.users())

        def on_account(user: str) -> Callable[[Any], None]:
            def apply(value: Any) -> None:
                if isinstance(value, ReadFailed):
                    log.warning("reconcile: could not read %s", user)
                    return
                account: Account = value
                held = self.book.account(user)
                if _positions_key(held) != _positions_key(account):
                    mismatches.append(Mismatch("account", user, held, account))
                    book.set_account(account)
                    changes.users.add(user)

            return apply

        for user in users:
            batch.add(self.protocol.account_read(user), on_account(user))
        batch.dispatch(batch.run(self.multicall, block))
        self._recompute_dirty(changes, head.timestamp)
        self.stats.reconciliations += 1
        self.stats.reconcile_mismatches += len(mismatches)
        for m in mismatches:
            log.warning(
                "reconcile: %s %s differed: book %s, chain %s", m.kind, m.key, m.book, m.chain
            )
        self._since_reconcile = 0
        return ReconcileReport(block, len(users), tuple(mismatches))

    # ================================================================== full sync

    def _full_sync(self, header: BlockHeader) -> MarketSnapshot:
        protocol = self.protocol
        book = Book(depth=self.config.reorg_depth)
        self.book = book
        self._health = {}
        self._watch = set()
        self._unpriced = set()
        self._candidates = set()
        layout = protocol.load_layout(self.multicall, header.number)
        book.set_layout(layout)
        addresses, topics = protocol.discovery_filter()
        start = min(protocol.deployment_block, header.number)
        for _, _, entries in self.logs.chunks(start, header.number, addresses, [topics]):
            for entry in entries:
                event = protocol.decode_log(entry, layout)
                if isinstance(event, PositionChanged):
                    book.set_position(event.user, event.position)
        changes = _Changes(everything=True)
        batch = _Batch()
        self._add_market_reads(batch, changes, header.timestamp, everything=True)
        batch.dispatch(batch.run(self.multicall, header.number))
        book.reset(_ref(header))
        self._follow = _Follow.of(protocol, layout)
        self._refresh_all = False
        self._since_reconcile = 0
        self._recompute_dirty(changes, header.timestamp)
        log.info(
            "watch: synced %d accounts (%d borrowers) at block %d",
            len(book),
            len(book.borrowers),
            header.number,
        )
        return self._finish(header, reorg_depth=0)

    # ================================================================== stepping

    def _advance(self, target: BlockHeader) -> list[MarketSnapshot]:
        head = self.book.head
        assert head is not None
        if target.number <= head.number:
            known = self.book.hash_at(target.number)
            if known == target.hash:
                return []  # an old head (a node behind the one we followed): nothing new
            if known is None:
                log.warning(
                    "watch: head %d is older than the blocks kept (%d); ignoring it",
                    target.number,
                    head.number,
                )
                return []
            return [self._reorg(target)]
        if target.number == head.number + 1 and target.parent_hash != head.hash:
            return [self._reorg(target)]
        snapshots: list[MarketSnapshot] = []
        while target.number - head.number > self.config.max_step_blocks:
            middle = self.rpc.get_block(head.number + self.config.max_step_blocks)
            snapshots.append(self._step(middle))
            head = self.book.head
            assert head is not None
        snapshots.append(self._step(target))
        return snapshots

    def _step(self, target: BlockHeader, reorg_depth: int = 0) -> MarketSnapshot:
        """Move the book from its head to ``target``, which descends from it."""
        head = self.book.head
        assert head is not None
        first, last = head.number + 1, target.number
        layout = self.book.layout
        # -- logs, and the polled state (see PolledState) to read instead of some of them
        entries, polled = self._fetch_logs(first, last, target)
        for entry in entries:
            if entry.block_number == last and entry.block_hash != target.hash:
                raise ChainMoved(f"logs of block {last} are from another branch")
        events = [(entry, self.protocol.decode_log(entry, layout)) for entry in entries]
        changes = _Changes(everything=self._refresh_all)
        new_layout: MarketLayout | None = None
        if any(isinstance(e, LayoutChanged) for _, e in events):
            new_layout = self.protocol.load_layout(self.multicall, last)
            changes.everything = True
        # -- one batched call at the target block: block hashes, then market reads
        numbers = self._hash_numbers(first, last)
        reserves = {e.asset for _, e in events if isinstance(e, ReserveChanged)}
        prices = {a for _, e in events if isinstance(e, PriceChanged) for a in e.assets}
        prices |= self._expiring_prices(head.timestamp, target.timestamp)
        batch = _Batch()
        self._add_market_reads(
            batch,
            changes,
            target.timestamp,
            everything=changes.everything,
            reserves=reserves,
            prices=prices,
            all_reserves=polled.reserves,
            pairs=polled.pairs,
        )
        along: list[Any] = []
        if len(batch):
            for read in self.along:
                batch.add(read, along.append)
        if len(batch) and last >= 1 and last - 1 not in numbers:
            numbers.append(last - 1)  # ties the reads to the branch the header is on
        hash_reads = [self.multicall.block_hash_read(n) for n in numbers]
        values = (
            self.multicall.read_all([*hash_reads, *batch.reads], last)
            if hash_reads or len(batch)
            else []
        )
        hashes = {
            n: v
            for n, v in zip(numbers, values[: len(numbers)], strict=True)
            if isinstance(v, str) and v != ZERO_HASH
        }
        if head.number in hashes and hashes[head.number] != head.hash:
            return self._reorg(target)
        if last - 1 in hashes and hashes[last - 1] != target.parent_hash:
            raise ChainMoved(f"block {last - 1} is not the parent of {last}")
        for entry in entries:
            known = hashes.get(entry.block_number)
            if known is not None and known != entry.block_hash:
                raise ChainMoved(f"logs of block {entry.block_number} are from another branch")
        if (
            first < last
            and head.number not in hashes
            and self.rpc.get_block(head.number).hash != head.hash
        ):
            # Out of blockhash's reach, the header of the block we hold says it.
            return self._reorg(target)
        # -- apply, attributing each write to its block
        for entry, event in _last_writes(events):
            self._apply_event(entry.block_number, event, changes)
        if new_layout is not None:
            self.book.at(last).set_layout(new_layout)
            self._follow = _Follow.of(self.protocol, new_layout)
        self.book.at(last)
        batch.dispatch(values[len(numbers) :])
        self._along_values = (last, tuple(along)) if along else None
        for number, value in hashes.items():
            if first <= number < last:
                self.book.record_block(BlockRef(number, value))
        self.book.record_block(_ref(target))
        self.book.prune()
        self._refresh_all = False
        self.stats.steps += 1
        self.stats.blocks += max(0, last - first + 1)
        self._recompute_dirty(changes, target.timestamp)
        if self.config.reconcile_every:
            self._since_reconcile += max(1, last - first + 1)
            if self._since_reconcile >= self.config.reconcile_every:
                self.reconcile()
        return self._finish(target, reorg_depth)

    def _fetch_logs(
        self, first: int, last: int, target: BlockHeader
    ) -> tuple[list[LogEntry], _Polled]:
        """The logs of ``first..last`` and the polled state to read at ``last``.

        A single block whose header bloom is trusted: the lean filter, fetched only when the
        bloom may hold one of its addresses and one of its topics, and each polled source
        read when the bloom may hold it with its topic. A range (no bloom covers it): the
        lean filter and every polled source read (the range's batch is sent anyway, for its
        block hashes). A single block without a trusted bloom: the full filter, as an idle
        block would otherwise add a batched read to its one ``eth_getLogs``.
        """
        follow = self._follow
        if first > last:
            return [], _Polled()
        single = first == last
        if single and not (self.config.use_bloom and self._bloom_ok):
            entries = self.logs.fetch(first, last, follow.addresses, [follow.topics])
            if entries:
                self._check_bloom(target, entries)
            return entries, _Polled()
        if not single:
            entries = self.logs.fetch(first, last, follow.lean_addresses, [follow.lean_topics])
            return entries, follow.read_all()
        bloom = target.logs_bloom
        polled = follow.in_bloom(bloom)
        if follow.lean_in_bloom(bloom):
            entries = self.logs.fetch(first, last, follow.lean_addresses, [follow.lean_topics])
            if entries:
                self._check_bloom(target, entries)
                if not self._bloom_ok:  # the bloom that ruled sources out was wrong
                    polled = follow.read_all()
            return entries, polled
        self.stats.bloom_skips += 1
        return [], polled

    def _hash_numbers(self, first: int, last: int) -> list[int]:
        """Blocks whose hashes a step reads: the parent of the range and, for a multi-block
        range, the blocks within the reorg window (to find an ancestor later)."""
        if first >= last:
            return []
        low = max(0, last - BLOCKHASH_WINDOW + 1)
        numbers = {n for n in (first - 1,) if n >= low}
        numbers |= set(range(max(first, last - self.config.reorg_depth, low), last))
        return sorted(numbers)

    def _apply_event(self, block: int, event: ProtocolEvent, changes: _Changes) -> None:
        book = self.book.at(block)
        if isinstance(event, PositionChanged):
            if book.set_position(event.user, event.position):
                changes.users.add(event.user)
        elif isinstance(event, PairSynced):
            old = book.pairs.get(event.pair)
            if old is not None:
                book.set_pair(
                    PairReserves(old.pair, old.token0, old.token1, event.reserve0, event.reserve1)
                )
        elif isinstance(event, LiquidationsPausedChanged):
            book.set_paused(event.paused)
        elif isinstance(event, PriceChanged):
            book.set_feed_updated_at(event.feed, event.updated_at)

    # ================================================================== reorgs

    def _reorg(self, target: BlockHeader) -> MarketSnapshot:
        head = self.book.head
        assert head is not None
        self.stats.reorgs += 1
        ancestor = self._find_ancestor(target)
        if ancestor is None or not self.book.can_rollback_to(ancestor.number):
            log.warning(
                "watch: reorg at %d deeper than the %d blocks kept; rebuilding the book",
                target.number,
                self.config.reorg_depth,
            )
            self.stats.resyncs += 1
            return self._full_sync(target)
        depth = head.number - ancestor.number
        log.warning(
            "watch: reorg: rolling back %d blocks to %d (%s) for new head %d",
            depth,
            ancestor.number,
            ancestor.hash[:10],
            target.number,
        )
        self.book.rollback(ancestor.number)
        self.stats.rolled_back_blocks += depth
        self._refresh_all = True
        return self._step(target, reorg_depth=depth)

    def _find_ancestor(self, target: BlockHeader) -> BlockRef | None:
        """The newest block we hold that is also on the chain ``target`` belongs to."""
        refs = self.book.block_refs()
        for ref in refs:
            if ref.number == target.number and ref.hash == target.hash:
                return ref
        reachable = [
            r for r in refs if r.number < target.number and target.number - r.number <= 255
        ]
        if not reachable:
            return None
        reads = [self.multicall.block_hash_read(r.number) for r in reachable]
        chain = self.multicall.read_all(reads, target.number)
        for ref, value in zip(reachable, chain, strict=True):
            if isinstance(value, str) and value != ZERO_HASH:
                if value == ref.hash:
                    return ref
                continue
            # No blockhash from the multicall: ask for the header.
            if self.rpc.get_block(ref.number).hash == ref.hash:
                return ref
        return None

    # ================================================================== reads

    def _add_market_reads(
        self,
        batch: _Batch,
        changes: _Changes,
        timestamp: int,
        *,
        everything: bool,
        reserves: Iterable[str] = (),
        prices: Iterable[str] = (),
        all_reserves: bool = False,
        pairs: Iterable[str] = (),
        track: list[Mismatch] | None = None,
    ) -> None:
        """Queue reads of reserves and prices (all of them with ``everything``, plus feeds,
        pause flag and pairs; every reserve with ``all_reserves``; the ``pairs`` listed) with
        handlers that update the book and note what moved."""
        protocol = self.protocol
        layout = self.book.layout
        if everything:
            batch.add(protocol.reserves_read(), self._on_reserves(changes, timestamp, track))
            reserves, prices = (), layout.assets
            for feed in layout.feed_addresses():
                batch.add(protocol.feed_updated_at_read(feed), self._on_feed_time(feed, track))
            batch.add(protocol.paused_read(), self._on_paused(track))
            for pair in layout.pairs:
                batch.add(protocol.pair_read(pair), self._on_pair(track))
        else:
            if all_reserves:
                batch.add(protocol.reserves_read(), self._on_reserves(changes, timestamp, track))
                reserves = ()
            wanted = set(pairs)
            for pair in layout.pairs:
                if pair.address in wanted:
                    batch.add(protocol.pair_read(pair), self._on_pair(track))
        for asset in sorted(set(reserves)):
            if asset in layout.assets:
                batch.add(
                    protocol.reserve_read(asset), self._on_reserves(changes, timestamp, track)
                )
        for asset in sorted(set(prices)):
            batch.add(protocol.price_read(asset), self._on_price(asset, changes, track))

    def _on_reserves(
        self, changes: _Changes, timestamp: int, track: list[Mismatch] | None
    ) -> Callable[[Any], None]:
        def apply(value: Any) -> None:
            if isinstance(value, ReadFailed):
                log.warning("watch: %s failed", value.label)
                return
            for reserve in value if isinstance(value, tuple) else (value,):
                self._apply_reserve(reserve, changes, timestamp, track)

        return apply

    def _apply_reserve(
        self,
        new: Reserve,
        changes: _Changes,
        timestamp: int,
        track: list[Mismatch] | None,
    ) -> None:
        old = self.book.reserves.get(new.asset)
        if old == new:
            return
        if track is not None and old is not None:
            track.append(Mismatch("reserve", new.asset, old, new))
        self.book.set_reserve(new)
        self._max_rate = max(self._max_rate, new.state.variable_borrow_rate)
        if old is None or old.config != new.config:
            changes.assets.add(new.asset)
        # An index that jumps reaches health through the index's bounds, as prices do.

    def _on_price(
        self, asset: str, changes: _Changes, track: list[Mismatch] | None
    ) -> Callable[[Any], None]:
        def apply(value: Any) -> None:
            status = value if isinstance(value, PriceStatus) else PriceStatus(asset, 0, False)
            old = self.book.prices.get(asset)
            if old == status:
                return
            if track is not None and old is not None:
                track.append(Mismatch("price", asset, old, status))
            self.book.set_price(status)
            # A price move reaches health through the index (see _recompute_dirty).

        return apply

    def _on_feed_time(self, feed: str, track: list[Mismatch] | None) -> Callable[[Any], None]:
        def apply(value: Any) -> None:
            if isinstance(value, int):
                old = self.book.feed_updated_at.get(feed)
                if track is not None and old is not None and old != value:
                    track.append(Mismatch("feed", feed, old, value))
                self.book.set_feed_updated_at(feed, value)

        return apply

    def _on_paused(self, track: list[Mismatch] | None) -> Callable[[Any], None]:
        def apply(value: Any) -> None:
            if isinstance(value, bool):
                if track is not None and value != self.book.paused:
                    track.append(Mismatch("paused", "pool", self.book.paused, value))
                self.book.set_paused(value)

        return apply

    def _on_pair(self, track: list[Mismatch] | None) -> Callable[[Any], None]:
        def apply(value: Any) -> None:
            if isinstance(value, PairReserves):
                old = self.book.pairs.get(value.pair)
                if track is not None and old is not None and old != value:
                    track.append(Mismatch("pair", value.pair, old, value))
                self.book.set_pair(value)

        return apply

    def _expiring_prices(self, before: int, now: int) -> set[str]:
        """Assets one of whose feeds turned stale after ``before``, at or before ``now``
        (staleness changes with time alone, without an event)."""
        out: set[str] = set()
        for asset, feeds in self.book.layout.feeds.items():
            for feed in feeds:
                updated = self.book.feed_updated_at.get(feed.address)
                if updated is None:
                    continue
                stale_from = updated + feed.heartbeat + 1
                if before < stale_from <= now:
                    out.add(asset)
        return out

    def _check_bloom(self, header: BlockHeader, entries: Sequence[LogEntry]) -> None:
        """Trust header blooms only once one has been seen to hold the logs of its block."""
        if self._bloom_ok is False:
            return
        addresses = {e.address for e in entries}
        ok = all(bloom_may_contain(header.logs_bloom, bytes.fromhex(a[2:])) for a in addresses)
        if not ok:
            log.info("watch: this node's header blooms do not cover its logs; not using them")
        self._bloom_ok = ok

    # ================================================================== health

    @property
    def _candidate_line(self) -> int:
        return WAD + self.config.margin

    @property
    def _watch_line(self) -> int:
        return (
            self._candidate_line
            * (PERCENTAGE_FACTOR + self.config.watch_buffer_bps)
            // (PERCENTAGE_FACTOR)
        )

    def _recompute_dirty(self, changes: _Changes, timestamp: int) -> None:
        if changes.everything or self._accrual_exceeded(timestamp):
            self._recompute_all(timestamp)
            return
        dirty = changes.users | self.book.holders_of(changes.assets) | self._watch
        self._recompute(dirty, timestamp)

    def _accrual_exceeded(self, timestamp: int) -> bool:
        """Could interest alone have moved an unwatched account across the candidate line?"""
        growth = compounded_interest(self._max_rate, max(0, timestamp - self._full_timestamp))
        slack = PERCENTAGE_FACTOR + self.config.watch_buffer_bps // 2
        return growth * PERCENTAGE_FACTOR > RAY * slack

    def _recompute_all(self, timestamp: int) -> None:
        self._health = {}
        self._watch = set()
        self._unpriced = set()
        self._candidates = set()
        self._index.reset(_levels(self.book.market_state(last_good_prices=True), timestamp))
        self._full_timestamp = timestamp
        self._max_rate = max(
            (r.state.variable_borrow_rate for r in self.book.reserves.values()), default=0
        )
        self.stats.full_recomputes += 1
        self._recompute(set(self.book.borrowers), timestamp)

    def _recompute(self, users: Iterable[str], timestamp: int) -> None:
        """Recompute ``users``, and every account a price move since the last recompute may
        have carried near the line (popped from the index, whose bounds then hold again
        at the prices used here)."""
        market = self.book.market_state(last_good_prices=True)
        health = self.protocol.health_at(market, timestamp)
        line = self._watch_line
        candidate_line = self._candidate_line
        moved = self._index.reprice(_levels(market, timestamp), line)
        for user in {*users, *moved} if moved else users:
            if user not in self.book.borrowers:
                self._health.pop(user, None)
                self._watch.discard(user)
                self._candidates.discard(user)
                self._index.discard(user)
                continue
            try:
                data = health(self.book.account(user))
            except (KeyError, ZeroDivisionError) as exc:
                log.warning("watch: cannot compute health of %s: %s", user, exc)
                self._unpriced.add(user)
                self._watch.add(user)
                self._index.discard(user)
                continue
            self.stats.recomputed += 1
            self._unpriced.discard(user)
            self._health[user] = data
            if data.health_factor < line:
                self._watch.add(user)
                self._index.discard(user)
                if data.health_factor < candidate_line:
                    self._candidates.add(user)
                else:
                    self._candidates.discard(user)
            else:
                self._watch.discard(user)
                self._candidates.discard(user)
                self._index.add(user, data)

    # ================================================================== output

    def _finish(self, header: BlockHeader, reorg_depth: int) -> MarketSnapshot:
        read, self._along_values = self._along_values, None
        along = read[1] if read is not None and read[0] == header.number else None
        health = self._health
        candidates = list(self._candidates)
        chain_health: dict[str, int | None] = {}
        if self.config.confirm and not self.config.defer_confirm:
            confirm = self._to_confirm(candidates)
            if confirm:
                chain_health = self._confirm(confirm, header)
        unusable = self._unusable_prices()
        account = self.book.account
        ranked = sorted((health[u].health_factor, u) for u in candidates if u in health)
        at_risk = tuple(
            AccountAtRisk(
                account(user),
                health[user],
                chain_health.get(user),
                self._blocked_by(user, unusable),
            )
            for _, user in ranked
        )
        snapshot = MarketSnapshot(
            block_number=header.number,
            block_hash=header.hash,
            parent_hash=header.parent_hash,
            timestamp=header.timestamp,
            base_fee=header.base_fee,
            gas_used=header.gas_used,
            gas_limit=header.gas_limit,
            market=self.book.market_state(),
            oracle=dict(self.book.prices),
            pairs=tuple(self.book.pairs.values()),
            at_risk=at_risk,
            accounts=len(self.book),
            borrowers=len(self.book.borrowers),
            symbols=dict(self.book.layout.symbols),
            reorg_depth=reorg_depth,
            along=along,
        )
        self.snapshot = snapshot
        return snapshot

    def _to_confirm(self, candidates: Iterable[str]) -> list[str]:
        """The candidates the pool is asked about: those the model says are liquidatable and
        those it cannot price (every candidate with ``confirm_all``)."""
        if self.config.confirm_all:
            return list(candidates)
        health = self._health
        return [u for u in candidates if health[u].liquidatable or u in self._unpriced]

    def confirm(self, snapshot: MarketSnapshot) -> MarketSnapshot:
        """``snapshot`` with the pool's own health factor of each candidate (chosen as
        :meth:`_finish` does), read at the snapshot's block; where the model differs, the
        account is re-read and the book corrected (at the head the watcher holds now).

        Meant for :attr:`WatcherConfig.defer_confirm`, after the caller has acted on the
        snapshot, from the thread that calls :meth:`on_head` (the book is not locked). A
        block the watcher has seen reorged away, or that the node no longer serves, is
        skipped: logged and counted in ``stats.confirm_skips``, never raised.
        """
        if not self.config.confirm:
            return snapshot
        users = [
            a.user
            for a in snapshot.at_risk
            if self.config.confirm_all or a.data.liquidatable or a.user in self._unpriced
        ]
        if not users:
            return snapshot
        number = snapshot.block_number
        known = self.book.hash_at(number)
        if known is not None and known != snapshot.block_hash:
            return self._skip_confirm(snapshot, "the block was reorged away")
        model = {a.user: a.data.health_factor for a in snapshot.at_risk}
        try:
            chain, wrong = self._read_health(users, number, snapshot.parent_hash, model)
        except (ChainMoved, RpcFailure) as exc:
            return self._skip_confirm(snapshot, str(exc))
        head = self.book.head
        current = head is not None and head.number == number and head.hash == snapshot.block_hash
        if wrong and head is not None:
            try:
                if current:
                    self._repair(wrong, number, snapshot.timestamp, chain)
                else:
                    self._repair(wrong, head.number, head.timestamp, chain, compare=False)
            except RpcFailure as exc:
                log.warning(
                    "watch: could not re-read %d accounts (%s); reconciliation will",
                    len(wrong),
                    exc,
                )
                current = False
        fixed = set(wrong) if current else set()
        unusable = self._unusable_prices()
        at_risk: list[AccountAtRisk] = []
        for risky in snapshot.at_risk:
            if risky.user in fixed and risky.user in self._health:
                risky = dataclasses.replace(
                    risky,
                    account=self.book.account(risky.user),
                    data=self._health[risky.user],
                    blocked_by=self._blocked_by(risky.user, unusable),
                )
            if risky.user in chain:
                risky = dataclasses.replace(risky, chain_health_factor=chain[risky.user])
            at_risk.append(risky)
        changes: dict[str, Any] = {"at_risk": tuple(at_risk)}
        if fixed:
            at_risk.sort(key=lambda a: (a.health_factor, a.user))
            changes = {
                "at_risk": tuple(at_risk),
                "market": self.book.market_state(),
                "oracle": dict(self.book.prices),
            }
        result = dataclasses.replace(snapshot, **changes)
        if self.snapshot is snapshot:
            self.snapshot = result
        return result

    def _skip_confirm(self, snapshot: MarketSnapshot, why: str) -> MarketSnapshot:
        self.stats.confirm_skips += 1
        log.warning("watch: not confirming block %d: %s", snapshot.block_number, why)
        return snapshot

    def _confirm(self, users: list[str], header: BlockHeader) -> dict[str, int | None]:
        """The pool's own health factor for every candidate, in one batched call; where it
        differs from the model, the account is read back and the book corrected."""
        model = {u: self._health[u].health_factor for u in users}
        out, wrong = self._read_health(users, header.number, header.parent_hash, model)
        if wrong:
            self._repair(wrong, header.number, header.timestamp, out)
        return out

    def _read_health(
        self, users: list[str], number: int, parent_hash: str, model: Mapping[str, int]
    ) -> tuple[dict[str, int | None], list[str]]:
        """The pool's health factors at block ``number`` (tied to ``parent_hash``) and the
        users whose figure differs from ``model``."""
        reads: list[Read[Any]] = [self.protocol.health_read(u) for u in users]
        tie = number >= 1
        if tie:
            reads.append(self.multicall.block_hash_read(number - 1))
        values = self.multicall.read_all(reads, number)
        if tie and isinstance(values[-1], str) and values[-1] not in (parent_hash, ZERO_HASH):
            raise ChainMoved(f"block {number} changed during confirmation")
        out: dict[str, int | None] = {}
        wrong: list[str] = []
        for user, value in zip(users, values, strict=False):
            if isinstance(value, AccountData):
                out[user] = value.health_factor
                if value.health_factor != model[user]:
                    wrong.append(user)
            else:
                out[user] = None
        self.stats.confirmed += len(users)
        self.stats.confirm_mismatches += len(wrong)
        for user in wrong:
            log.warning(
                "watch: model health of %s is %s, the pool says %s at block %d; re-reading",
                user,
                model[user],
                out[user],
                number,
            )
        return out, wrong

    def _repair(
        self,
        users: list[str],
        number: int,
        timestamp: int,
        chain: Mapping[str, int | None],
        *,
        compare: bool = True,
    ) -> None:
        """Re-read ``users`` and the reserves and prices they hold at block ``number`` and
        recompute them; with ``compare`` (``chain`` is from that same block), say if the
        model still disagrees."""
        changes = _Changes()
        batch = _Batch()
        book = self.book.at(number)
        held = {p.asset for u in users for p in self.book.account(u).positions}
        self._add_market_reads(
            batch, changes, timestamp, everything=False, reserves=held, prices=held
        )

        def on_account(value: Any) -> None:
            if isinstance(value, Account):
                book.set_account(value)

        for user in users:
            batch.add(self.protocol.account_read(user), on_account)
        batch.dispatch(batch.run(self.multicall, number))
        self._recompute(users, timestamp)
        if not compare:
            return
        for user in users:
            data = self._health.get(user)
            if data is not None and data.health_factor != chain[user]:
                log.error("watch: %s still differs from the pool after re-reading", user)

    def _unusable_prices(self) -> dict[str, PriceStatus]:
        return {a: s for a, s in self.book.prices.items() if not s.usable}

    def _blocked_by(self, user: str, unusable: Mapping[str, PriceStatus]) -> tuple[str, ...]:
        """Why liquidating ``user`` would revert now (``unusable``: assets without a usable
        price); nothing to look at in the common case of a live pool and good prices."""
        paused = self.book.paused
        if not paused and not unusable:
            return ()
        reasons: list[str] = ["liquidations paused"] if paused else []
        if unusable:
            for position in self.book.account(user).positions:
                status = unusable.get(position.asset)
                if status is not None:
                    symbol = self.book.layout.symbols.get(position.asset, position.asset)
                    reasons.append(f"{symbol}: {status.reason}")
        return tuple(reasons)


def _levels(market: MarketState, timestamp: int) -> dict[str, tuple[int, int, int]]:
    """What health is made of, per asset, at ``timestamp`` (see :mod:`bot.watch.index`)."""
    return {
        r.asset: (
            market.prices.get(r.asset, 0),
            normalized_income(r.state, timestamp),
            normalized_debt(r.state, timestamp),
        )
        for r in market.reserves
    }


def _last_writes(
    events: Sequence[tuple[LogEntry, ProtocolEvent | None]],
) -> list[tuple[LogEntry, ProtocolEvent]]:
    """The events that change the book, in order, less every position write a later one of
    the same block overwrites (a crash block pays the treasury a fee per liquidation: a
    thousand writes of one position). Rollback is unaffected: undoing the last write of a
    block restores what the block found."""
    seen: set[tuple[int, str, str]] = set()
    out: list[tuple[LogEntry, ProtocolEvent]] = []
    for entry, event in reversed(events):
        if event is None:
            continue
        if type(event) is PositionChanged:
            key = (entry.block_number, event.user, event.position.asset)
            if key in seen:
                continue
            seen.add(key)
        out.append((entry, event))
    out.reverse()
    return out


def _ref(header: BlockHeader) -> BlockRef:
    return BlockRef(header.number, header.hash, header.parent_hash, header.timestamp)


def _store_hash(hashes: dict[int, str], number: int) -> Callable[[Any], None]:
    def apply(value: Any) -> None:
        if isinstance(value, str):
            hashes[number] = value

    return apply


def _positions_key(account: Account) -> tuple[tuple[str, int, int, bool], ...]:
    return tuple(
        sorted(
            (p.asset, p.scaled_supply, p.scaled_debt, p.using_as_collateral)
            for p in account.positions
        )
    )
