"""The book's undo journal: rolling back restores exactly the state after the ancestor."""

from __future__ import annotations

import copy
import random

import pytest

from bot.model.types import PairReserves, Reserve, ReserveConfig, ReserveState, UserReserve
from bot.protocols.base import MarketLayout, PriceStatus
from bot.watch.book import BlockRef, Book, ReorgTooDeep

ASSETS = ("0xA", "0xB", "0xC")
USERS = tuple(f"0xU{i}" for i in range(8))


def _state(book: Book) -> tuple[object, ...]:
    return (
        copy.deepcopy(book.positions),
        copy.deepcopy(book.holders),
        set(book.borrowers),
        dict(book.reserves),
        dict(book.prices),
        dict(book.last_good_price),
        dict(book.feed_updated_at),
        dict(book.pairs),
        book.paused,
        book.layout,
    )


def _random_writes(book: Book, rng: random.Random, block: int) -> None:
    book.at(block)
    for _ in range(rng.randrange(1, 6)):
        kind = rng.randrange(6)
        asset = rng.choice(ASSETS)
        if kind <= 1:
            book.set_position(
                rng.choice(USERS),
                UserReserve(
                    asset,
                    rng.choice((0, 0, 5, 10**18)),
                    rng.choice((0, 7, 10**6)),
                    rng.random() < 0.5,
                ),
            )
        elif kind == 2:
            book.set_reserve(
                Reserve(
                    ReserveConfig(asset, 18, 8000, 8500, 10500),
                    ReserveState(liquidity_index=10**27 + rng.randrange(10**6)),
                )
            )
        elif kind == 3:
            book.set_price(PriceStatus(asset, rng.choice((0, 10**8, 2 * 10**8))))
        elif kind == 4:
            book.set_pair(PairReserves("0xP", "0xA", "0xB", rng.randrange(100), rng.randrange(100)))
        else:
            book.set_paused(rng.random() < 0.5)
            book.set_feed_updated_at("0xF", rng.randrange(10**6))
            book.set_layout(MarketLayout(ASSETS[: rng.randrange(1, 4)], {}, {}))


def test_rollback_restores_each_earlier_state() -> None:
    rng = random.Random(4)
    book = Book(depth=100)
    book.reset(BlockRef(10, "0x10"))
    states = {10: _state(book)}
    for block in range(11, 60):
        _random_writes(book, rng, block)
        book.record_block(BlockRef(block, f"0x{block}"))
        states[block] = _state(book)
    for target in (55, 40, 23, 10):
        book.rollback(target)
        assert _state(book) == states[target]
        assert book.head == BlockRef(target, f"0x{target}")


def test_indexes_follow_positions() -> None:
    book = Book()
    book.reset(BlockRef(1, "0x1"))
    book.at(2).set_position("u", UserReserve("a", 100, 0, True))
    book.set_position("u", UserReserve("b", 0, 50, False))
    assert book.holders == {"a": {"u"}, "b": {"u"}}
    assert book.borrowers == {"u"}
    book.at(3).set_position("u", UserReserve("b"))  # repaid in full: empty position dropped
    assert book.borrowers == set()
    assert book.holders_of(["a", "b"]) == {"u"}
    assert [p.asset for p in book.account("u").positions] == ["a"]
    book.set_position("u", UserReserve("a"))
    assert "u" not in book.positions and len(book) == 0
    book.rollback(2)
    assert book.borrowers == {"u"} and len(book.account("u").positions) == 2
    book.rollback(1)
    assert book.positions == {} and book.holders_of(["a", "b"]) == set()


def test_the_journal_is_bounded() -> None:
    book = Book(depth=5)
    book.reset(BlockRef(0, "0x0"))
    for block in range(1, 20):
        book.at(block).set_position("u", UserReserve("a", block, 0, True))
        book.record_block(BlockRef(block, f"0x{block}"))
        book.prune()
    assert [r.number for r in book.block_refs()] == list(range(19, 13, -1))
    assert book.can_rollback_to(14) and not book.can_rollback_to(13)
    with pytest.raises(ReorgTooDeep):
        book.rollback(13)
    book.rollback(15)
    assert book.account("u").position("a").scaled_supply == 15


def test_unchanged_writes_are_not_journaled() -> None:
    book = Book()
    book.reset(BlockRef(1, "0x1"))
    assert book.at(2).set_position("u", UserReserve("a", 1, 0, True))
    assert not book.set_position("u", UserReserve("a", 1, 0, True))
    assert not book.set_position("v", UserReserve("a"))
    assert not book.set_paused(False)
    book.rollback(1)
    assert book.positions == {}


def _expected_account(book: Book, user: str) -> tuple[UserReserve, ...]:
    order = {a: i for i, a in enumerate(book.layout.assets)}
    held = book.positions.get(user, {}).values()
    return tuple(sorted(held, key=lambda p: order.get(p.asset, len(order))))


def test_account_views_stay_exact_through_writes_rollbacks_and_layout_changes() -> None:
    """``account()`` answers are kept between calls: every write, undo and layout change
    must show in the next answer (positions in the layout's reserve order)."""
    rng = random.Random(9)
    book = Book(depth=100)
    book.reset(BlockRef(10, "0x10"))
    for block in range(11, 50):
        _random_writes(book, rng, block)
        book.record_block(BlockRef(block, f"0x{block}"))
        for user in USERS:
            assert book.account(user).positions == _expected_account(book, user), (block, user)
    for target in (45, 30, 12):
        book.rollback(target)
        for user in USERS:
            assert book.account(user).positions == _expected_account(book, user), (target, user)
    book.at(13).set_layout(MarketLayout(ASSETS, {}, {}))
    book.set_position(USERS[0], UserReserve(ASSETS[2], 1, 0, True))
    book.set_position(USERS[0], UserReserve(ASSETS[0], 0, 1, False))
    assert [p.asset for p in book.account(USERS[0]).positions] == [ASSETS[0], ASSETS[2]]
    book.set_layout(MarketLayout(tuple(reversed(ASSETS)), {}, {}))
    assert [p.asset for p in book.account(USERS[0]).positions] == [ASSETS[2], ASSETS[0]]
    for user in USERS:
        assert book.account(user).positions == _expected_account(book, user)
