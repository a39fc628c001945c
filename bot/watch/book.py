"""The position book: every account's balances and the market's state, built from events,
with an undo journal so that a reorg can be rolled back to the common ancestor.

Every write names the block it belongs to (:meth:`Book.at`); the journal keeps, per block,
what each write replaced, for the last ``depth`` blocks. :meth:`Book.rollback` undoes whole
blocks, newest first, which restores exactly the state the book had after the ancestor.
Recent block hashes live here too: they are how a reorg is noticed and where it ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.model.types import Account, MarketState, PairReserves, Reserve, UserReserve
from bot.protocols.base import MarketLayout, PriceStatus


class ReorgTooDeep(Exception):
    """The common ancestor is older than the journal reaches: rebuild from scratch."""


@dataclass(frozen=True, slots=True)
class BlockRef:
    number: int
    hash: str
    parent_hash: str = ""
    timestamp: int = 0


_MISSING: Any = object()


def _is_empty(position: UserReserve) -> bool:
    return not (position.scaled_supply or position.scaled_debt or position.using_as_collateral)


class Book:
    """Accounts and market state with per-block undo. Not thread-safe (one watcher owns it)."""

    def __init__(self, depth: int = 128) -> None:
        if depth < 1:
            raise ValueError("depth must be positive")
        self.depth = depth
        self.layout = MarketLayout((), {}, {})
        self.positions: dict[str, dict[str, UserReserve]] = {}
        self.holders: dict[str, set[str]] = {}
        """asset -> users with a non-empty position in it."""
        self.borrowers: set[str] = set()
        """Users who owe something in at least one reserve."""
        self.reserves: dict[str, Reserve] = {}
        self.prices: dict[str, PriceStatus] = {}
        self.last_good_price: dict[str, int] = {}
        self.feed_updated_at: dict[str, int] = {}
        self.pairs: dict[str, PairReserves] = {}
        self.paused = False
        self._blocks: dict[int, BlockRef] = {}
        self._journal: dict[int, list[tuple[str, Any, Any]]] = {}
        self._current: int | None = None
        self._floor = -1
        """Rollback is possible to any block >= this one."""
        self._order: tuple[MarketLayout, dict[str, int]] = (self.layout, {})
        self._accounts: dict[str, Account] = {}
        """``account()`` answers, kept until the user's positions or the layout change: a
        block reads the same accounts several times (health, snapshot, blocked reasons)."""

    # ------------------------------------------------------------------ blocks

    @property
    def head(self) -> BlockRef | None:
        return self._blocks[max(self._blocks)] if self._blocks else None

    def hash_at(self, number: int) -> str | None:
        ref = self._blocks.get(number)
        return ref.hash if ref else None

    def block_refs(self) -> list[BlockRef]:
        """Known recent blocks, newest first."""
        return [self._blocks[n] for n in sorted(self._blocks, reverse=True)]

    def record_block(self, ref: BlockRef) -> None:
        self._blocks[ref.number] = ref

    def at(self, number: int) -> Book:
        """Attribute the following writes to block ``number`` (chainable)."""
        self._current = number
        return self

    def reset(self, head: BlockRef) -> None:
        """Forget history: the book as it stands is the state at ``head`` (after a full sync)."""
        self._blocks = {head.number: head}
        self._journal = {}
        self._floor = head.number
        self._current = head.number

    def prune(self) -> None:
        """Drop journal entries and block hashes older than ``depth`` blocks below the head."""
        head = self.head
        if head is None:
            return
        limit = head.number - self.depth
        for number in [n for n in self._journal if n <= limit]:
            del self._journal[number]
        for number in [n for n in self._blocks if n < limit]:
            del self._blocks[number]
        self._floor = max(self._floor, limit)

    def can_rollback_to(self, number: int) -> bool:
        return number >= self._floor

    def rollback(self, number: int) -> None:
        """Undo every write of blocks after ``number`` and forget their hashes."""
        if not self.can_rollback_to(number):
            raise ReorgTooDeep(f"cannot roll back to {number}: journal starts at {self._floor}")
        for block in sorted((n for n in self._journal if n > number), reverse=True):
            for kind, key, old in reversed(self._journal.pop(block)):
                self._undo(kind, key, old)
        for block in [n for n in self._blocks if n > number]:
            del self._blocks[block]
        self._current = number

    def _log(self, kind: str, key: Any, old: Any) -> None:
        if self._current is None:
            return
        journal = self._journal.get(self._current)
        if journal is None:
            journal = self._journal[self._current] = []
        journal.append((kind, key, old))

    def _undo(self, kind: str, key: Any, old: Any) -> None:
        if kind == "position":
            user, asset = key
            self._put_position(user, asset, None if old is _MISSING else old)
            return
        if kind == "paused":
            self.paused = old
            return
        if kind == "layout":
            self.layout = old
            return
        table: dict[Any, Any] = getattr(self, kind)
        if old is _MISSING:
            table.pop(key, None)
        else:
            table[key] = old

    # ------------------------------------------------------------------ writes

    def set_position(self, user: str, position: UserReserve) -> bool:
        """Store a user's new absolute balances in one reserve; True when they changed."""
        asset = position.asset
        held = self.positions.get(user)
        old = held.get(asset) if held is not None else None
        new = None if _is_empty(position) else position
        if old == new:
            return False
        self._log("position", (user, asset), _MISSING if old is None else old)
        self._put_position(user, asset, new)
        return True

    def _put_position(self, user: str, asset: str, position: UserReserve | None) -> None:
        self._accounts.pop(user, None)
        held = self.positions.get(user)
        if position is None:
            if held is not None:
                held.pop(asset, None)
                if not held:
                    del self.positions[user]
            users = self.holders.get(asset)
            if users is not None:
                users.discard(user)
                if not users:
                    del self.holders[asset]
        else:
            if held is None:
                held = self.positions[user] = {}
            held[asset] = position
            users = self.holders.get(asset)
            if users is None:
                users = self.holders[asset] = set()
            users.add(user)
            if position.scaled_debt:
                self.borrowers.add(user)
                return
        held = self.positions.get(user)
        if held and any(p.scaled_debt for p in held.values()):
            self.borrowers.add(user)
        else:
            self.borrowers.discard(user)

    def set_account(self, account: Account) -> bool:
        """Make the book hold exactly ``account``'s positions (reconciliation)."""
        changed = False
        wanted = {p.asset: p for p in account.positions}
        for asset in list(self.positions.get(account.user, {})):
            if asset not in wanted:
                changed |= self.set_position(account.user, UserReserve(asset))
        for position in wanted.values():
            changed |= self.set_position(account.user, position)
        return changed

    def _set(self, kind: str, key: Any, value: Any) -> bool:
        table: dict[Any, Any] = getattr(self, kind)
        old = table.get(key, _MISSING)
        if old is not _MISSING and old == value:
            return False
        self._log(kind, key, old)
        table[key] = value
        return True

    def set_reserve(self, reserve: Reserve) -> bool:
        return self._set("reserves", reserve.asset, reserve)

    def set_price(self, status: PriceStatus) -> bool:
        changed = self._set("prices", status.asset, status)
        if status.usable:
            self._set("last_good_price", status.asset, status.price)
        return changed

    def set_feed_updated_at(self, feed: str, updated_at: int) -> bool:
        return self._set("feed_updated_at", feed, updated_at)

    def set_pair(self, pair: PairReserves) -> bool:
        return self._set("pairs", pair.pair, pair)

    def set_paused(self, paused: bool) -> bool:
        if paused == self.paused:
            return False
        self._log("paused", None, self.paused)
        self.paused = paused
        return True

    def set_layout(self, layout: MarketLayout) -> bool:
        if layout == self.layout:
            return False
        self._log("layout", None, self.layout)
        self.layout = layout
        return True

    # ------------------------------------------------------------------ reads

    def users(self) -> Iterator[str]:
        return iter(self.positions)

    def __len__(self) -> int:
        return len(self.positions)

    def account(self, user: str) -> Account:
        """The user's positions in reserve-list order (the order the pool reports them)."""
        if self._order[0] is not self.layout:
            self._order = (self.layout, {a: i for i, a in enumerate(self.layout.assets)})
            self._accounts = {}
        cached = self._accounts.get(user)
        if cached is not None:
            return cached
        held = self.positions.get(user, {})
        order = self._order[1]
        if len(held) < 2:
            account = Account(user, tuple(held.values()))
        else:
            ordered = sorted(held.values(), key=lambda p: order.get(p.asset, len(order)))
            account = Account(user, tuple(ordered))
        if held:
            self._accounts[user] = account
        return account

    def holders_of(self, assets: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for asset in assets:
            out |= self.holders.get(asset, set())
        return out

    def market_state(self, *, last_good_prices: bool = False) -> MarketState:
        """The model's view of the market. With ``last_good_prices`` an asset whose oracle
        cannot price it right now keeps its last usable price (to rank, never to send)."""
        reserves = tuple(self.reserves[a] for a in self.layout.assets if a in self.reserves)
        prices = {a: s.price for a, s in self.prices.items() if s.usable}
        if last_good_prices:
            prices = {**self.last_good_price, **prices}
        return MarketState(
            reserves, prices, liquidations_paused=self.paused, treasury=self.layout.treasury
        )
