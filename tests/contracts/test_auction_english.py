"""EnglishAuction: bark on an ilk configured for it, tend/dent with their increments,
bid deadlines and the hard end, deal and tick (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.deploy.auctions import ilk_id
from tests.contracts.auction_fixtures import (
    RAY,
    WAD,
    WETH,
    Env,
    fresh_env,
    open_and_bark,
    reverts_call,
)

ZERO = "0x" + "00" * 20
MAX_APPROVAL = 2**256 - 1


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


def use_english(env: Env) -> None:
    english = env.english(WETH)
    env.send(env.liquidator.functions.setAuction(ilk_id(WETH), english.address), env.deployer)


def scenario_english_auction(env: Env) -> None:
    """Rising bids for the whole lot, then falling lots for the whole tab, each bid refunding
    the last and extending the deadline; the winner gets the lot at the deal."""
    owner, keeper, first, second = env.users[:4]
    english, engine, liquidator = env.english(WETH), env.engine, env.liquidator
    use_english(env)
    barked = open_and_bark(env, WETH, owner, keeper, collateral=10 * WAD)
    assert barked.event["auction"] == english.address
    assert env.stable_balance(keeper) == barked.event["reward"] > 0
    auction_id = barked.auction_id
    (kick,) = env.events(barked.receipt, english, "Kick")
    duration = english.functions.auctionDuration().call()
    ttl = english.functions.bidDuration().call()
    beg = english.functions.minBidIncrease().call()
    a = env.english_auction(WETH, auction_id)
    tab, lot = a["tab"], a["lot"]
    assert (tab, lot) == (barked.event["tab"], barked.event["collateralAmount"])
    assert (a["bid"], a["bidder"], a["bid_expiry"]) == (0, ZERO, 0)
    assert a["end"] == kick["end"] == barked.timestamp + duration
    assert english.functions.list().call() == [auction_id]

    for bidder in (first, second):
        env.fund_stable(bidder, tab)
        env.approve_stable(bidder, english.address)
    tend, dent = english.functions.tend, english.functions.dent
    reverts_call(tend(auction_id, lot - 1, WAD), first, "LotNotMatching")
    reverts_call(tend(auction_id, lot, tab + 1), first, "BidAboveTab")
    reverts_call(tend(auction_id, lot, 0), first, "BidNotHigher")
    reverts_call(dent(auction_id, lot // 2, tab), first, "BidNotMatching")

    surplus = engine.functions.systemSurplus().call()
    receipt = env.send(tend(auction_id, lot, 10_000 * WAD), first)
    (event,) = env.events(receipt, english, "Tend")
    assert event["bidExpiry"] == env.timestamp(receipt) + ttl
    assert env.stable_balance(first) == tab - 10_000 * WAD
    low = 10_000 * WAD * beg // WAD - 1
    reverts_call(tend(auction_id, lot, low), second, "InsufficientIncrease")
    env.send(tend(auction_id, lot, low + 1), second)
    assert env.stable_balance(first) == tab  # refunded in full
    assert env.stable_balance(second) == tab - (low + 1)
    assert engine.functions.systemSurplus().call() == surplus + (low + 1) * RAY
    reverts_call(dent(auction_id, lot // 2, low + 1), first, "TabNotReached")
    # the tab itself is always a valid bid, even under the minimum increase
    env.send(tend(auction_id, lot, tab), first)
    assert env.stable_balance(second) == tab
    assert engine.functions.systemSurplus().call() == surplus + tab * RAY

    reverts_call(dent(auction_id, lot, tab), second, "LotNotLower")
    smallest_step = lot * WAD // beg
    reverts_call(dent(auction_id, smallest_step + 1, tab), second, "InsufficientDecrease")
    owner_weth = env.collateral_balance(WETH, owner)
    receipt = env.send(dent(auction_id, smallest_step, tab), second)
    (event,) = env.events(receipt, english, "Dent")
    assert (event["bidder"], event["lot"], event["bid"]) == (second, smallest_step, tab)
    assert env.collateral_balance(WETH, owner) == owner_weth + lot - smallest_step
    assert env.stable_balance(first) == tab and env.stable_balance(second) == 0
    expiry = event["bidExpiry"]
    reverts_call(english.functions.deal(auction_id), first, "NotFinished")

    # at the deadline itself nobody can bid or deal; one second later the deal goes through
    env.set_next_timestamp(expiry)
    env.send(env.stable.functions.approve(english.address, MAX_APPROVAL), first)
    reverts_call(dent(auction_id, smallest_step * 9 // 10, tab), first, "BidExpired")
    reverts_call(english.functions.deal(auction_id), first, "NotFinished")
    env.set_next_timestamp(expiry + 1)
    receipt = env.send(english.functions.deal(auction_id), keeper)
    (deal,) = env.events(receipt, english, "Deal")
    assert (deal["winner"], deal["lot"], deal["bid"]) == (second, smallest_step, tab)
    assert env.collateral_balance(WETH, second) == smallest_step
    assert env.collateral_balance(WETH, english.address) == 0
    assert liquidator.functions.totalDebtUnderAuction().call() == 0
    assert english.functions.count().call() == 0
    reverts_call(english.functions.deal(auction_id), first, "NotRunning")
    env.check_invariant()


def test_english_auction(env: Env) -> None:
    scenario_english_auction(env)


def test_english_tick_and_hard_end(env: Env) -> None:
    owner, keeper, bidder = env.users[:3]
    english = env.english(WETH)
    use_english(env)
    barked = open_and_bark(env, WETH, owner, keeper, collateral=5 * WAD)
    auction_id = barked.auction_id
    a = env.english_auction(WETH, auction_id)
    duration = english.functions.auctionDuration().call()
    env.fund_stable(bidder, a["tab"])
    env.approve_stable(bidder, english.address)
    tend = english.functions.tend

    reverts_call(english.functions.tick(auction_id), keeper, "NotFinished")
    env.advance(duration + 1)
    reverts_call(tend(auction_id, a["lot"], WAD), bidder, "AuctionEnded")
    reverts_call(english.functions.deal(auction_id), keeper, "NotFinished")  # no bids
    receipt = env.send(english.functions.tick(auction_id), keeper)
    (tick,) = env.events(receipt, english, "Tick")
    end = env.timestamp(receipt) + duration
    assert tick["end"] == end == env.english_auction(WETH, auction_id)["end"]
    reverts_call(english.functions.tick(auction_id), keeper, "NotFinished")

    # a bid just before the hard end: its deadline is later, but the hard end wins
    env.set_next_timestamp(end - 10)
    receipt = env.send(tend(auction_id, a["lot"], WAD), bidder)
    (event,) = env.events(receipt, english, "Tend")
    assert event["bidExpiry"] > end
    env.set_next_timestamp(end + 1)
    env.send(env.stable.functions.approve(english.address, MAX_APPROVAL), bidder)
    reverts_call(english.functions.tick(auction_id), keeper, "HasBids")
    reverts_call(tend(auction_id, a["lot"], 2 * WAD), bidder, "AuctionEnded")
    env.send(english.functions.deal(auction_id), keeper)
    assert env.collateral_balance(WETH, bidder) == a["lot"]
    # the shortfall (tab - bid) stays system debt; the counters are cleared
    assert env.liquidator_ilk(WETH)["debt_under_auction"] == 0
    env.check_invariant()


def test_english_admin_is_owner_only(env: Env) -> None:
    english, user = env.english(WETH), env.users[0]
    for fn in (
        english.functions.setMinBidIncrease(WAD),
        english.functions.setBidDuration(1),
        english.functions.setAuctionDuration(1),
        english.functions.transferOwnership(user),
    ):
        reverts_call(fn, user, "NotOwner")
    reverts_call(english.functions.setMinBidIncrease(WAD - 1), env.deployer, "InvalidParameter")
    reverts_call(english.functions.setBidDuration(0), env.deployer, "InvalidParameter")
