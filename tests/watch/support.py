"""Independent checks of the watcher's book against the chain, through plain web3 calls
(not the watcher's own client, multicall or adapter)."""

from __future__ import annotations

from collections.abc import Iterable

from web3 import Web3

from bot.deploy.market import Market
from bot.watch.watcher import Watcher

Positions = tuple[tuple[str, int, int, bool], ...]


def chain_positions(market: Market, user: str, block: int) -> Positions:
    assets, supply, debt, flags = market.pool.functions.getUserPositions(user).call(
        block_identifier=block
    )
    return tuple(
        (Web3.to_checksum_address(a), s, d, f)
        for a, s, d, f in zip(assets, supply, debt, flags, strict=True)
        if s or d or f
    )


def book_positions(watcher: Watcher, user: str) -> Positions:
    return tuple(
        (p.asset, p.scaled_supply, p.scaled_debt, p.using_as_collateral)
        for p in watcher.book.account(user).positions
    )


def assert_book_matches_chain(watcher: Watcher, market: Market, users: Iterable[str]) -> int:
    """Every listed user's positions, and every user the book holds, equal the chain's at the
    watcher's head. Returns how many accounts were compared."""
    head = watcher.book.head
    assert head is not None
    everyone = set(users) | set(watcher.book.users())
    wrong = {
        u: (book_positions(watcher, u), chain_positions(market, u, head.number))
        for u in everyone
        if book_positions(watcher, u) != chain_positions(market, u, head.number)
    }
    assert not wrong, f"{len(wrong)} accounts differ, e.g. {next(iter(wrong.items()))}"
    return len(everyone)


def assert_health_matches_chain(watcher: Watcher, market: Market) -> int:
    """The model's account data for every borrower equals ``getUserAccountData`` at the head,
    and so does what the watcher last computed for each account it reports at risk."""
    head = watcher.book.head
    assert head is not None
    compared = 0
    for user in watcher.book.borrowers:
        data = watcher.account_data(user)
        chain = market.pool.functions.getUserAccountData(user).call(block_identifier=head.number)
        assert data.as_tuple() == tuple(chain), user
        compared += 1
    snapshot = watcher.snapshot
    assert snapshot is not None and snapshot.block_number == head.number
    for risky in snapshot.at_risk:
        chain = market.pool.functions.getUserAccountData(risky.user).call(
            block_identifier=head.number
        )
        assert risky.data.as_tuple() == tuple(chain), risky.user
    return compared
