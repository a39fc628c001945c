"""Recorded blocks -> the watcher's book and the model's inputs, with no chain.

A :class:`RecordedSource` replays a recording (:mod:`bot.record.schema`) block by block into
the same :class:`bot.watch.Book` the live watcher keeps, through the same protocol adapter:
each stored log is decoded by ``adapter.decode_log`` and applied as the watcher applies it
(absolute positions from ``UserReserveUpdated``, pair reserves from ``Sync``, the pause flag,
feed times), then the state reads the recorder took at the end of that block (reserves,
prices, feeds, pairs, layout) are written to the book. Health is the model's, through
``adapter.account_health``, exactly as the watcher computes it.

What differs from the live watcher is *when* an account's health is recomputed. The watcher
recomputes every account near the liquidation line in every block (cheap for one block, too
dear for 100,000). Here each borrower carries the exact health factor of its last
computation and bounds on how far it can have moved since:

- time: debt grows at most like ``exp(r_borrow * dt)`` and collateral at most like
  ``exp(r_supply * dt)`` (the pool's compounded and linear interest are below those), with
  ``r`` capped above the highest rate in the market (a higher rate re-plans every bound);
- prices: the health factor is a ratio of sums of (amount x price) terms, so a price vector
  that moved by factors ``p_a`` moves it by at most ``sum |log p_a|`` in log terms; and
  ``|log p_a|`` since any moment is at most the growth since then of the asset's *total
  variation* ``V_a`` (the running sum of ``|log|`` of each of its price changes);
- rounding: the integer steps of ``getUserAccountData`` (token units, the averaged threshold
  in whole basis points) add a relative error bounded per account.

An account's log-distance to the nearest line (the liquidation line at 1, or the "at risk"
line above it) is split between time (``TIME_SHARE``) and prices. It is recomputed exactly
when its positions change, when an index jumps or a configuration changes, at a checkpoint, when
interest could have used up its time share (a heap of due times), or when the total
variation of the assets it holds has grown by its price share (one heap per set of assets
held, so a price update costs a few heap pops, not a pass over every holder). Between those
moments its band (liquidatable / at risk / safe) provably cannot change, so the set of
liquidatable accounts is exact in every block; the account data of any account is computed
exactly on demand (:meth:`RecordedSource.account_data`). Floats appear only in these
bounds, never in a value.
"""

from __future__ import annotations

import heapq
import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.model.fixed_point import RAY, SECONDS_PER_YEAR, WAD
from bot.model.health import AccountData
from bot.model.interest import normalized_debt, normalized_income
from bot.model.types import Account, MarketState, PairReserves, UserReserve
from bot.protocols.aave_pool import AavePoolAdapter
from bot.protocols.base import (
    LiquidationsPausedChanged,
    PairInfo,
    PairSynced,
    PositionChanged,
    PriceChanged,
)
from bot.record import schema
from bot.record.schema import (
    RecordedBadDebt,
    RecordedBlock,
    RecordedLiquidation,
    RecordedTransaction,
    RecordingError,
)
from bot.watch.book import Book

LIQUIDATABLE, AT_RISK, SAFE = 0, 1, 2
_MIN_RATE = 0.10 / SECONDS_PER_YEAR
"""Per-second rate cap floor (10% a year): bounds are planned with at least this rate."""
TIME_SHARE = 0.1
"""Share of an account's distance to the nearest line that interest may use up before it is
recomputed (at 20% a year, a tenth of a 1% distance lasts about a day); prices get the rest."""


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What a recording says about itself (its ``meta`` table)."""

    path: Path
    chain_id: int
    base_block: int
    first_block: int
    last_block: int
    recorded_through: int
    checkpoint_every: int
    complete: bool
    kind: str
    """``rpc`` (recorded from a node), ``synthetic`` or ``price-path``."""
    meta: dict[str, str]


@dataclass(frozen=True, slots=True)
class BlockState:
    """The book at the end of one block, as the engine needs it."""

    block: RecordedBlock
    liquidatable: tuple[str, ...]
    """Borrowers whose health factor is below 1 at this block (exact), lowest first as of
    their last exact computation."""
    at_risk: int
    """Borrowers below the at-risk line (1 + margin), liquidatable ones included."""
    borrowers: int
    accounts: int
    changed_users: frozenset[str]
    """Accounts whose positions the chain changed in this block."""
    liquidations: tuple[RecordedLiquidation, ...]
    bad_debt: tuple[RecordedBadDebt, ...]
    checkpoint: bool


@dataclass
class SourceStats:
    blocks: int = 0
    logs: int = 0
    reads: int = 0
    recomputes: int = 0
    full_recomputes: int = 0
    price_moves: int = 0
    checkpoints: int = 0
    accounts_verified: int = 0
    position_mismatches: int = 0
    health_mismatches: int = 0
    health_unverified: int = 0
    """Checkpointed accounts the pool could not value (e.g. a stale price): not compared."""
    examples: list[str] = field(default_factory=list)


class _Tracked:
    """A borrower's last exact health and when it must be looked at again."""

    __slots__ = ("band", "coll", "debt", "due", "eps", "group", "hf", "t0", "vthreshold")

    def __init__(self) -> None:
        self.hf = 0
        self.t0 = 0
        self.eps = 0.0
        self.band = SAFE
        self.coll = 0
        self.debt = 0
        self.due = math.inf
        """Time from which interest alone could have moved it to a line."""
        self.group: frozenset[str] = frozenset()
        """The assets it holds (whose prices move its health)."""
        self.vthreshold = math.inf
        """Total price variation of its group at which prices could have moved it to a line."""


class _Rows:
    """Rows of one table ordered by block number, handed out block by block."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._it: Iterator[Sequence[Any]] = iter(cursor)
        self._next: Sequence[Any] | None = next(self._it, None)

    def take(self, block: int) -> list[Sequence[Any]]:
        out: list[Sequence[Any]] = []
        while self._next is not None and self._next[0] <= block:
            if self._next[0] == block:
                out.append(self._next)
            self._next = next(self._it, None)
        return out


def open_info(conn: sqlite3.Connection, path: Path) -> RecordingInfo:
    meta = schema.read_meta(conn)
    missing = [k for k in ("base_block", "first_block", "adapter") if k not in meta]
    if missing:
        raise RecordingError(f"{path} lacks {', '.join(missing)}: not a finished recording")
    through = int(meta.get("recorded_through", meta["base_block"]))
    return RecordingInfo(
        path=path,
        chain_id=int(meta.get("chain_id", "0")),
        base_block=int(meta["base_block"]),
        first_block=int(meta["first_block"]),
        last_block=int(meta.get("last_block", through)),
        recorded_through=through,
        checkpoint_every=int(meta.get("checkpoint_every", "0")),
        complete=meta.get("complete") == "1",
        kind=meta.get("source", "rpc"),
        meta=meta,
    )


def adapter_from_meta(meta: dict[str, str]) -> AavePoolAdapter:
    d = json.loads(meta["adapter"])
    if d.get("kind") != "aave-pool":
        raise RecordingError(f"unknown protocol kind {d.get('kind')!r} in the recording")
    return AavePoolAdapter(
        d["pool"],
        d["multicall"],
        oracle=d.get("oracle", ""),
        pairs=[PairInfo(*p) for p in d.get("pairs", [])],
        flash_liquidator=d.get("flash_liquidator", ""),
        deployment_block=int(d.get("deployment_block", 0)),
    )


class RecordedSource:
    """Replays a recording into a :class:`Book`; see the module docstring."""

    def __init__(self, path: Path, *, at_risk_margin: int = WAD // 20) -> None:
        self.path = path
        self.conn = schema.connect(path)
        self.info = open_info(self.conn, path)
        self.adapter = adapter_from_meta(self.info.meta)
        self.book = Book(depth=1)
        self.stats = SourceStats()
        self.lines = (WAD, WAD + at_risk_margin)
        base, through = self.info.base_block, self.info.recorded_through
        rows = self.conn.execute(
            "SELECT * FROM blocks WHERE number >= ? AND number <= ? ORDER BY number",
            (base, through),
        ).fetchall()
        if not rows or rows[0][0] != base:
            raise RecordingError(f"{path} has no header for its base block {base}")
        self.base_header = RecordedBlock(*rows[0])
        self.headers: list[RecordedBlock] = [RecordedBlock(*r) for r in rows[1:]]
        self.transactions: dict[str, RecordedTransaction] = {
            r[0]: RecordedTransaction(*r) for r in self.conn.execute("SELECT * FROM transactions")
        }
        self.liquidations: dict[int, list[RecordedLiquidation]] = defaultdict(list)
        for r in self.conn.execute("SELECT * FROM liquidations ORDER BY block_number, log_index"):
            (n, i, tx, user, coll, debt, covered, seized, liquidator, receive) = r
            self.liquidations[n].append(
                RecordedLiquidation(
                    n, i, tx, user, coll, debt, int(covered), int(seized), liquidator, bool(receive)
                )
            )
        self.bad_debt: dict[int, list[RecordedBadDebt]] = defaultdict(list)
        for r in self.conn.execute("SELECT * FROM bad_debt ORDER BY block_number, log_index"):
            n, i, tx, user, reserve, amount, index = r
            self.bad_debt[n].append(
                RecordedBadDebt(n, i, tx, user, reserve, int(amount), int(index))
            )
        self.checkpoint_blocks = {
            r[0] for r in self.conn.execute("SELECT block_number FROM checkpoints")
        }

        def stream(table: str, order: str) -> _Rows:
            cursor = self.conn.cursor()
            cursor.execute(
                f"SELECT * FROM {table} WHERE block_number >= ? AND block_number <= ? "
                f"ORDER BY block_number, {order}",
                (base, through),
            )
            return _Rows(cursor)

        self._logs = stream("logs", "log_index")
        self._layouts = stream("layouts", "block_number")
        self._reserves = stream("reserves", "asset")
        self._prices = stream("prices", "asset")
        self._feeds = stream("feeds", "feed")
        self._pairs = stream("pairs", "pair")
        self._paused = stream("paused", "block_number")
        self.timestamp = self.base_header.timestamp
        self.block = self.base_header
        self._tracked: dict[str, _Tracked] = {}
        self._bands: tuple[set[str], set[str]] = (set(), set())
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._rb = self._rl = _MIN_RATE
        self._market: MarketState | None = None
        self._health_market: MarketState | None = None
        self._price_before: dict[str, int] = {}
        self._variation: dict[str, float] = {}
        """Per asset, the running sum of |log(price change)|: a bound on how far its price can
        have moved since any earlier moment (|log(p_now / p_then)| <= difference of sums)."""
        self._price_heaps: dict[frozenset[str], list[tuple[float, int, str]]] = {}
        self._groups: dict[frozenset[str], frozenset[str]] = {}
        self.price_version = 0
        """Bumped whenever an oracle price (or its last good value) changes."""
        self.jump_version = 0
        """Bumped whenever an index jumps, a configuration or the layout changes."""
        self._started = False

    def close(self) -> None:
        self.conn.close()

    # ================================================================== reading the book

    def market(self) -> MarketState:
        """Reserves and *usable* oracle prices now (what a liquidation would meet)."""
        if self._market is None:
            self._market = self.book.market_state()
        return self._market

    def health_market(self) -> MarketState:
        """As :meth:`market`, an unusable price replaced by its last good one (for health)."""
        if self._health_market is None:
            self._health_market = self.book.market_state(last_good_prices=True)
        return self._health_market

    def pairs(self) -> tuple[PairReserves, ...]:
        return tuple(self.book.pairs.values())

    def account(self, user: str) -> Account:
        return self.book.account(user)

    def account_data(self, user: str, account: Account | None = None) -> AccountData:
        """The model's exact ``getUserAccountData`` at the current block."""
        return self.adapter.account_health(
            self.health_market(), account or self.book.account(user), self.timestamp
        )

    def blocked_by(self, user: str, account: Account | None = None) -> tuple[str, ...]:
        """Why a liquidation of ``user`` would revert now (as the watcher reports it)."""
        reasons: list[str] = []
        if self.book.paused:
            reasons.append("liquidations paused")
        for position in (account or self.book.account(user)).positions:
            status = self.book.prices.get(position.asset)
            if status is not None and not status.usable:
                reasons.append(f"{self.symbol(position.asset)}: {status.reason}")
        return tuple(reasons)

    def symbol(self, asset: str) -> str:
        return self.book.layout.symbols.get(asset, asset)

    def asset_of(self, symbol: str) -> str | None:
        for asset, sym in self.book.layout.symbols.items():
            if sym == symbol:
                return asset
        return None

    def price(self, asset: str) -> int | None:
        """The asset's oracle price now (its last usable one when the oracle cannot price it)."""
        return self.book.last_good_price.get(asset)

    def excess(self, user: str) -> int:
        """Debt minus collateral (base currency, 0 if not under water) as of the account's
        last exact computation here."""
        t = self._tracked.get(user)
        return max(0, t.debt - t.coll) if t is not None else 0

    @property
    def version(self) -> tuple[int, int, float, float]:
        """Changes whenever an account's health can have changed other than by its own
        positions or the passing of time within the rate caps."""
        return (self.price_version, self.jump_version, self._rb, self._rl)

    def rate_caps(self) -> tuple[float, float]:
        """Per-second rates above every borrow and supply rate in the market now (bounds on
        how fast debt and collateral can grow)."""
        return self._rb, self._rl

    def tracked_health(self, user: str) -> int | None:
        t = self._tracked.get(user)
        return None if t is None else t.hf

    # ================================================================== replay

    def start(self) -> BlockState:
        """Load the base checkpoint (the state before the first recorded block)."""
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        base = self.base_header
        self.timestamp = base.timestamp
        book = self.book
        for row in self._layouts.take(base.number):
            self._apply_layout(row[1])
        positions = self.conn.execute(
            "SELECT user, asset, scaled_supply, scaled_debt, using_as_collateral "
            "FROM positions WHERE block_number = ? ORDER BY user, asset",
            (base.number,),
        )
        for user, asset, supply, debt, flag in positions:
            book.set_position(user, UserReserve(asset, int(supply), int(debt), bool(flag)))
        self._apply_reads(base.number, set(), set())
        self._recompute_all()
        return self._state(base, frozenset(), checkpoint=True)

    def advance(self, header: RecordedBlock) -> BlockState:
        """Apply one recorded block (the next one) and return the book's state after it."""
        n = header.number
        self.block = header
        self.timestamp = header.timestamp
        book = self.book
        layout = book.layout
        changed: set[str] = set()
        moved: set[str] = set()
        for row in self._logs.take(n):
            self.stats.logs += 1
            event = self.adapter.decode_log(schema.log_from_row(row, header.hash), layout)
            if isinstance(event, PositionChanged):
                if book.set_position(event.user, event.position):
                    changed.add(event.user)
            elif isinstance(event, PairSynced):
                old = book.pairs.get(event.pair)
                if old is not None:
                    book.set_pair(
                        PairReserves(
                            old.pair, old.token0, old.token1, event.reserve0, event.reserve1
                        )
                    )
            elif isinstance(event, LiquidationsPausedChanged):
                book.set_paused(event.paused)
            elif isinstance(event, PriceChanged):
                book.set_feed_updated_at(event.feed, event.updated_at)
        relayout = False
        for row in self._layouts.take(n):
            self._apply_layout(row[1])
            relayout = True
        jumped: set[str] = set()
        self._apply_reads(n, jumped, moved)
        checkpoint = n in self.checkpoint_blocks
        if checkpoint:
            changed |= self._verify_checkpoint(n)
        self._market = self._health_market = None
        if jumped or relayout:
            self.jump_version += 1
        self._plan_rates()
        if relayout:
            self._recompute_all()
        else:
            self._update_health(changed, jumped, moved)
        self.stats.blocks += 1
        return self._state(header, frozenset(changed), checkpoint=checkpoint)

    def _state(
        self, header: RecordedBlock, changed: frozenset[str], *, checkpoint: bool
    ) -> BlockState:
        band0 = self._bands[LIQUIDATABLE]
        tracked = self._tracked
        return BlockState(
            block=header,
            liquidatable=tuple(sorted(band0, key=lambda u: (tracked[u].hf, u))),
            at_risk=len(band0) + len(self._bands[AT_RISK]),
            borrowers=len(self.book.borrowers),
            accounts=len(self.book),
            changed_users=changed,
            liquidations=tuple(self.liquidations.get(header.number, ())),
            bad_debt=tuple(self.bad_debt.get(header.number, ())),
            checkpoint=checkpoint,
        )

    def _apply_layout(self, text: str) -> None:
        self.book.set_layout(schema.layout_from_json(text))
        oracle = schema.layout_oracle(text)
        if oracle:
            self.adapter.oracle = oracle

    def _apply_reads(self, n: int, jumped: set[str], moved: set[str]) -> None:
        """The reads the recorder took at the end of block ``n``, into the book; notes assets
        whose index or configuration jumped and assets whose (health) price moved."""
        book = self.book
        t = self.timestamp
        before = dict(book.last_good_price)
        for row in self._reserves.take(n):
            self.stats.reads += 1
            new = schema.reserve_from_row(row)
            old = book.reserves.get(new.asset)
            if old == new:
                continue
            book.set_reserve(new)
            if (
                old is None
                or old.config != new.config
                or normalized_income(old.state, t) != normalized_income(new.state, t)
                or normalized_debt(old.state, t) != normalized_debt(new.state, t)
            ):
                jumped.add(new.asset)
        for row in self._prices.take(n):
            self.stats.reads += 1
            book.set_price(schema.price_from_row(row))
        for _, feed, updated in self._feeds.take(n):
            book.set_feed_updated_at(feed, updated)
        for row in self._pairs.take(n):
            book.set_pair(schema.pair_from_row(row))
        for _, paused in self._paused.take(n):
            book.set_paused(bool(paused))
        for asset, price in book.last_good_price.items():
            if before.get(asset) != price:
                moved.add(asset)
        if moved:
            self.price_version += 1
        self._price_before = before

    def _verify_checkpoint(self, n: int) -> set[str]:
        """Compare the book and the model with the chain's own answers at a checkpoint; the
        book takes the chain's positions where they differ (as the watcher reconciles)."""
        self.stats.checkpoints += 1
        recorded: dict[str, list[UserReserve]] = defaultdict(list)
        for user, asset, supply, debt, flag in self.conn.execute(
            "SELECT user, asset, scaled_supply, scaled_debt, using_as_collateral "
            "FROM positions WHERE block_number = ?",
            (n,),
        ):
            recorded[user].append(UserReserve(asset, int(supply), int(debt), bool(flag)))
        corrected: set[str] = set()
        health = self.conn.execute(
            "SELECT user, total_collateral_base, total_debt_base, available_borrows_base, "
            "liquidation_threshold, ltv, health_factor FROM account_data WHERE block_number = ?",
            (n,),
        ).fetchall()
        market: MarketState | None = None
        for user, *values in health:
            self.stats.accounts_verified += 1
            chain = Account(user, tuple(recorded.get(user, ())))
            held = self.book.account(user)
            if _key(held) != _key(chain):
                self.stats.position_mismatches += 1
                self._example(f"block {n}: positions of {user}: book {held}, chain {chain}")
                self.book.set_account(chain)
                corrected.add(user)
            data = schema.account_data_from_row(values)
            if data is None:
                self.stats.health_unverified += 1
                continue
            if market is None:
                market = self.book.market_state(last_good_prices=True)
            model = self.adapter.account_health(market, self.book.account(user), self.timestamp)
            if model != data:
                self.stats.health_mismatches += 1
                self._example(f"block {n}: health of {user}: model {model}, pool {data}")
        return corrected

    def _example(self, text: str) -> None:
        if len(self.stats.examples) < 20:
            self.stats.examples.append(text)

    # ================================================================== health bands

    def _plan_rates(self) -> None:
        """Raise the rate caps the time bounds use when a reserve's rate exceeds them."""
        rb = rl = 0
        for reserve in self.book.reserves.values():
            rb = max(rb, reserve.state.variable_borrow_rate)
            rl = max(rl, reserve.state.liquidity_rate)
        per_second_b = rb / RAY / SECONDS_PER_YEAR
        per_second_l = rl / RAY / SECONDS_PER_YEAR
        if per_second_b > self._rb or per_second_l > self._rl:
            self._rb = max(2 * per_second_b, self._rb, _MIN_RATE)
            self._rl = max(2 * per_second_l, self._rl, _MIN_RATE)
            self._heap = []
            for user, t in self._tracked.items():
                self._schedule_time(user, t)

    def _recompute_all(self) -> None:
        self.stats.full_recomputes += 1
        self._tracked = {}
        self._bands = (set(), set())
        self._heap = []
        self._price_heaps = {}
        self._plan_rates()
        for user in list(self.book.borrowers):
            self._recompute(user)

    def _variation_of(self, assets: frozenset[str]) -> float:
        variation = self._variation
        return sum(variation.get(a, 0.0) for a in assets)

    def _update_health(self, changed: set[str], jumped: set[str], moved: set[str]) -> None:
        now = self.timestamp
        dirty = set(changed)
        dirty |= self.book.holders_of(jumped)
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, user = heapq.heappop(heap)
            t = self._tracked.get(user)
            if t is not None and t.due == due:
                dirty.add(user)
        if moved:
            self.stats.price_moves += len(moved)
            before = self._price_before
            after = self.book.last_good_price
            for asset in moved:
                old, new = before.get(asset), after.get(asset)
                if not old or not new:
                    dirty |= self.book.holders_of((asset,))
                    continue
                self._variation[asset] = self._variation.get(asset, 0.0) + abs(math.log(new / old))
            # Accounts whose price budget the moves used up.
            for group, pheap in self._price_heaps.items():
                if not group & moved:
                    continue
                level = self._variation_of(group)
                while pheap and pheap[0][0] <= level:
                    threshold, _, user = heapq.heappop(pheap)
                    t = self._tracked.get(user)
                    if t is not None and t.vthreshold == threshold and t.group is group:
                        dirty.add(user)
        for user in dirty:
            self._recompute(user)
        if len(heap) > 4 * len(self._tracked) + 1024:
            self._heap = [(t.due, i, u) for i, (u, t) in enumerate(self._tracked.items())]
            heapq.heapify(self._heap)

    def _recompute(self, user: str) -> None:
        """Exact health of ``user`` now; its band and when it could next change."""
        old = self._tracked.get(user)
        if old is not None and old.band != SAFE:
            self._bands[old.band].discard(user)
        if user not in self.book.borrowers:
            self._tracked.pop(user, None)
            return
        held = self.book.positions.get(user, {})
        account = Account(user, tuple(held.values()))  # the sums do not depend on order
        t = old or _Tracked()
        t.t0 = self.timestamp
        try:
            data = self.adapter.account_health(self.health_market(), account, self.timestamp)
        except (KeyError, ZeroDivisionError):
            # No price at all for an asset it holds: it cannot be valued (nor liquidated);
            # look again next block.
            t.band = SAFE
            t.vthreshold = math.inf
            self._tracked[user] = t
            self._push(user, t, self.timestamp)
            return
        self.stats.recomputes += 1
        t.hf = data.health_factor
        t.coll = data.total_collateral_base
        t.debt = data.total_debt_base
        collaterals = sum(1 for p in account.positions if p.using_as_collateral and p.scaled_supply)
        smallest = max(1, min(data.total_collateral_base, data.total_debt_base))
        eps = 1e-9 + (len(account.positions) + 3) / smallest
        if collaterals > 1:
            eps += 2.0 / max(1, data.current_liquidation_threshold)
        t.eps = 2 * eps  # rounding both now and when it is next computed
        key = frozenset(held)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = key
        t.group = group
        t.band = (
            LIQUIDATABLE
            if data.health_factor < self.lines[0]
            else AT_RISK
            if data.health_factor < self.lines[1]
            else SAFE
        )
        if t.band != SAFE:
            self._bands[t.band].add(user)
        self._tracked[user] = t
        down, up = self._budgets(t)
        # Most of the distance to the nearest line goes to prices, which move much faster
        # than interest accrues; the rest to time.
        price_budget = min(down, up) * (1 - TIME_SHARE)
        if price_budget <= 0:
            t.vthreshold = math.inf
            self._push(user, t, self.timestamp)  # on a line: look again next block
            return
        t.vthreshold = self._variation_of(group) + price_budget
        self._seq += 1
        heapq.heappush(self._price_heaps.setdefault(group, []), (t.vthreshold, self._seq, user))
        self._schedule_time(user, t)

    def _budgets(self, t: _Tracked) -> tuple[float, float]:
        """Log-distances from the account's health factor to the lines below and above its
        band, net of its rounding allowance (inf when there is no such line)."""
        if t.hf >= 2**255:
            return math.inf, math.inf
        hf = float(t.hf)
        down = up = math.inf
        if t.band > LIQUIDATABLE:
            low = hf * (1.0 - t.eps)
            line = self.lines[t.band - 1]
            down = math.log(low / line) if low > 0 else -math.inf
        if t.band < SAFE and hf > 0:  # a health factor of 0 (no collateral) cannot grow
            high = hf * (1.0 + t.eps)
            up = math.log(self.lines[t.band] / high)
        return down, up

    def _schedule_time(self, user: str, t: _Tracked) -> None:
        """When interest alone could have used up the other half of the distance."""
        down, up = self._budgets(t)
        if min(down, up) <= 0:
            self._push(user, t, self.timestamp)
            return
        dt = min(down * TIME_SHARE / self._rb, up * TIME_SHARE / self._rl)
        self._push(user, t, t.t0 + dt)

    def _push(self, user: str, t: _Tracked, due: float) -> None:
        t.due = due
        if due != math.inf:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, user))


def _key(account: Account) -> tuple[tuple[str, int, int, bool], ...]:
    return tuple(
        sorted(
            (p.asset, p.scaled_supply, p.scaled_debt, p.using_as_collateral)
            for p in account.positions
            if p.scaled_supply or p.scaled_debt or p.using_as_collateral
        )
    )
