"""bot.model.auction against the contracts on eth-tester: curve prices, auction status, bark,
take (direct and through the flash taker) and redo outcomes agree to the wei, and the English
auction's next legal bids are exactly the boundary the contract enforces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chain.contracts import deploy_contract
from bot.model.auction import (
    RAY,
    WAD,
    AuctionRevert,
    DutchParams,
    LinearCurve,
    Sale,
    StairstepCurve,
    auction_status,
    bark_quote,
    best_flash_take,
    current_rate,
    next_max_lot,
    next_min_bid,
    plan_flash_take,
    redo_reward,
    take_quote,
)
from tests.contracts.auction_fixtures import (
    WBTC,
    WETH,
    Env,
    bark_inputs,
    embedded_env,
    fresh_env,
    open_and_bark,
)
from tests.helpers import reverts

CHAIN = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


@pytest.fixture(scope="module")
def curves() -> dict[str, Any]:
    env = embedded_env()
    sender = env.deployer
    return {
        "linear": [
            (d, deploy_contract(env.w3, "LinearDecrease", d, sender=sender))
            for d in (1, 7, 9_000, 86_400)
        ],
        "stairstep": [
            (s, c, deploy_contract(env.w3, "StairstepExponentialDecrease", s, c, sender=sender))
            for s, c in ((90, RAY * 99 // 100), (1, RAY - 10**18), (60, RAY // 2), (7, RAY))
        ],
    }


tops = st.one_of(st.integers(1, 10**50), st.sampled_from([3_600 * RAY, 6 * 10**14 * RAY, RAY - 1]))


@CHAIN
@given(data=st.data(), top=tops, elapsed=st.integers(0, 10**7))
def test_linear_curve_matches_contract(
    curves: dict[str, Any], data: Any, top: int, elapsed: int
) -> None:
    duration, contract = data.draw(st.sampled_from(curves["linear"]))
    assert contract.functions.price(top, elapsed).call() == LinearCurve(duration).price(
        top, elapsed
    )


@CHAIN
@given(data=st.data(), top=tops, elapsed=st.integers(0, 10**6))
def test_stairstep_curve_matches_contract(
    curves: dict[str, Any], data: Any, top: int, elapsed: int
) -> None:
    step, cut, contract = data.draw(st.sampled_from(curves["stairstep"]))
    assert contract.functions.price(top, elapsed).call() == StairstepCurve(step, cut).price(
        top, elapsed
    )


def dutch_params(env: Env, ilk: str) -> DutchParams:
    dutch = env.dutch(ilk)
    deployed = env.am.deployment.ilks[ilk]
    curve_address = dutch.functions.curve().call()
    curve: LinearCurve | StairstepCurve
    if curve_address == deployed.linear_curve:
        curve = LinearCurve(env.am.linear_curve(ilk).functions.duration().call())
    else:
        s = env.am.stairstep_curve(ilk)
        curve = StairstepCurve(s.functions.step().call(), s.functions.cut().call())
    f = dutch.functions
    return DutchParams(
        curve=curve,
        starting_price_factor=f.startingPriceFactor().call(),
        max_duration=f.maxDuration().call(),
        min_price_ratio=f.minPriceRatio().call(),
        redo_tip=f.redoTip().call(),
        redo_chip=f.redoChip().call(),
        dust_tab=f.dustTab().call(),
        stopped=f.stopped().call(),
    )


def sale_of(env: Env, ilk: str, auction_id: int) -> Sale:
    s = env.sale(ilk, auction_id)
    return Sale(auction_id, s["tab"], s["lot"], s["owner"], s["start_time"], s["start_price"])


def mine(env: Env) -> None:
    env.send(env.stable.functions.approve(env.deployer, 0), env.deployer)


@pytest.mark.parametrize("ilk", [WETH, WBTC])
def test_status_matches_get_status_at_chosen_times(env: Env, ilk: str) -> None:
    """Price and needsRedo at chosen times (incl. the step edges, the max duration and the
    min-price-ratio crossing) equal getStatus exactly."""
    owner, keeper = env.users[:2]
    collateral = env.am.units(ilk, "2" if ilk == WBTC else "40")
    barked = open_and_bark(env, ilk, owner, keeper, collateral=collateral)
    params = dutch_params(env, ilk)
    sale = sale_of(env, ilk, barked.auction_id)
    dutch = env.dutch(ilk)
    seen_redo = False
    for elapsed in (1, 89, 90, 91, 180, 3_599, 5_000, 7_199, 7_200, 7_201, 9_000):
        env.set_next_timestamp(barked.timestamp + elapsed + 1)  # views see the block before
        now = env.now()
        assert now == barked.timestamp + elapsed
        needs_redo, price, lot, tab = dutch.functions.getStatus(barked.auction_id).call()
        status = auction_status(sale, params, now)
        assert (status.needs_redo, status.price) == (needs_redo, price)
        assert (lot, tab) == (sale.lot, sale.tab)
        seen_redo |= needs_redo
    assert seen_redo


@pytest.mark.parametrize("ilk", [WETH, WBTC])
def test_bark_matches_model_including_partial_liquidation(env: Env, ilk: str) -> None:
    owner, keeper = env.users[:2]
    collateral = env.am.units(ilk, "3" if ilk == WBTC else "60")
    env.open_at_ratio(owner, ilk, collateral, "1.7")
    env.scale_price(ilk, "0.8")
    # a limit that fits only part of the vault's tab (and more than the dust)
    debt = env.engine.functions.debtOf(_ilk(ilk), owner).call()
    env.send(env.liquidator.functions.setLimit(_ilk(ilk), debt // 2), env.deployer)
    at = env.now() + 13
    state = env.ilk_state(ilk)
    rate = current_rate(state["rate"], state["stability_fee"], state["last_drip"], at)
    quote = bark_quote(**_model_inputs(bark_inputs(env, ilk, owner, rate)))
    env.set_next_timestamp(at)
    receipt = env.bark(ilk, owner, keeper)
    (event,) = env.events(receipt, env.liquidator, "Bark")
    assert (event["collateralAmount"], event["normalizedDebt"], event["due"], event["tab"]) == (
        quote.lot,
        quote.normalized_debt,
        quote.due,
        quote.tab,
    )
    assert event["reward"] == quote.reward
    assert env.vault(ilk, owner)[1] > 0  # partial: the rest of the vault stays


def _ilk(name: str) -> bytes:
    return name.encode().ljust(32, b"\0")


def _model_inputs(raw: dict[str, int]) -> dict[str, int]:
    raw = dict(raw)
    raw["normalized_debt"] = raw.pop("normalized")
    return raw


@settings(CHAIN, max_examples=8)
@given(
    fraction=st.sampled_from([1, 10, 250, 5_000, 9_000, 9_990, 9_999, 10_000, 20_000]),
    elapsed=st.integers(2, 7_000),
)
def test_take_outcome_matches_contract(fraction: int, elapsed: int) -> None:
    """A direct take of ``fraction`` bps of the lot at a random time: the Take event's price,
    owe, slice, tab and lot equal the model, including the dust rule (or both revert)."""
    env = embedded_env()
    snapshot = env.control.snapshot()
    try:
        owner, keeper, buyer = env.users[:3]
        dutch = env.dutch(WETH)
        env.fund_stable(buyer, 50_000 * WAD)
        env.approve_stable(buyer, dutch.address)
        barked = open_and_bark(env, WETH, owner, keeper, collateral=8 * WAD, ratio="1.6")
        params = dutch_params(env, WETH)
        sale = sale_of(env, WETH, barked.auction_id)
        at = barked.timestamp + elapsed
        env.set_next_timestamp(at)
        status = auction_status(sale, params, at)
        amount = sale.lot * fraction // 10_000
        take = dutch.functions.take(barked.auction_id, amount, 2**255, buyer, b"")
        try:
            quote = take_quote(
                tab=sale.tab,
                lot=sale.lot,
                price=status.price,
                amount=amount,
                dust_tab=params.dust_tab,
            )
        except AuctionRevert as exc:
            with reverts(str(exc).split(":")[0]):
                env.send(take, buyer)
            return
        if status.needs_redo:
            with reverts("NeedsRedo"):
                env.send(take, buyer)
            return
        receipt = env.send(take, buyer)
        (event,) = env.events(receipt, dutch, "Take")
        assert event["price"] == status.price
        assert (event["owe"], event["slice"], event["tab"], event["lot"]) == (
            quote.owe,
            quote.slice,
            quote.tab,
            quote.lot,
        )
    finally:
        env.control.revert(snapshot)


def test_dust_rule_cuts_a_partial_take(env: Env) -> None:
    """A take that would leave less than dustTab is cut to leave exactly dustTab."""
    owner, keeper, buyer = env.users[:3]
    barked = open_and_bark(env, WETH, owner, keeper, collateral=8 * WAD, ratio="1.6")
    params = dutch_params(env, WETH)
    sale = sale_of(env, WETH, barked.auction_id)
    at = barked.timestamp + 100
    price = auction_status(sale, params, at).price
    # ask for all but a sliver: the remaining tab would be under dustTab
    amount = (sale.tab - params.dust_tab // 2) * RAY // price
    quote = take_quote(
        tab=sale.tab, lot=sale.lot, price=price, amount=amount, dust_tab=params.dust_tab
    )
    assert quote.tab == params.dust_tab
    dutch = env.dutch(WETH)
    env.fund_stable(buyer, sale.tab)
    env.approve_stable(buyer, dutch.address)
    env.set_next_timestamp(at)
    receipt = env.send(dutch.functions.take(barked.auction_id, amount, price, buyer, b""), buyer)
    (event,) = env.events(receipt, dutch, "Take")
    assert (event["owe"], event["slice"], event["tab"]) == (quote.owe, quote.slice, params.dust_tab)


@pytest.mark.parametrize("ilk", [WETH, WBTC])
def test_flash_take_profit_and_best_size_match_the_taker(env: Env, ilk: str) -> None:
    """The model's best take size through the AuctionTaker returns exactly the predicted
    profit, with no inventory; a size one step either way does no better."""
    owner, keeper = env.users[:2]
    collateral = env.am.units(ilk, "5" if ilk == WBTC else "150")
    barked = open_and_bark(env, ilk, owner, keeper, collateral=collateral, ratio="1.7")
    params = dutch_params(env, ilk)
    sale = sale_of(env, ilk, barked.auction_id)
    pair = env.am.pair(ilk)
    r0, r1, _ = pair.functions.getReserves().call()
    stable_first = pair.functions.token0().call() == env.stable.address
    r_stable, r_coll = (r0, r1) if stable_first else (r1, r0)
    at = barked.timestamp + (900 if ilk == WETH else 1_500)
    price = auction_status(sale, params, at).price
    best = best_flash_take(
        tab=sale.tab,
        lot=sale.lot,
        price=price,
        dust_tab=params.dust_tab,
        reserve_in=r_coll,
        reserve_out=r_stable,
        gas_stable=0,
    )
    assert best is not None and best.profit > 0
    for other in (best.amount - best.amount // 50, best.amount + best.amount // 50):
        try:
            alt = plan_flash_take(
                tab=sale.tab,
                lot=sale.lot,
                price=price,
                amount=other,
                dust_tab=params.dust_tab,
                reserve_in=r_coll,
                reserve_out=r_stable,
                gas_stable=0,
            )
        except AuctionRevert:
            continue
        assert alt.profit <= best.profit
    env.set_next_timestamp(at)
    bot = env.bot
    assert env.collateral_balance(ilk, env.taker.address) == 0
    receipt = env.send(
        env.taker.functions.takeWithFlashSale(
            env.dutch(ilk).address, barked.auction_id, best.amount, price, pair.address, best.profit
        ),
        bot,
    )
    (taken,) = env.events(receipt, env.taker, "Taken")
    assert (taken["collateralBought"], taken["paid"], taken["proceeds"], taken["profit"]) == (
        best.quote.slice,
        best.quote.owe,
        best.proceeds,
        best.profit,
    )


def test_redo_reward_matches_contract(env: Env) -> None:
    owner, keeper = env.users[:2]
    barked = open_and_bark(env, WBTC, owner, keeper, collateral=env.am.units(WBTC, "2"))
    params = dutch_params(env, WBTC)
    sale = sale_of(env, WBTC, barked.auction_id)
    at = barked.timestamp + params.max_duration + 1
    assert auction_status(sale, params, at).needs_redo
    env.advance(params.max_duration + 1)
    at = env.now() + 1
    env.set_next_timestamp(at)
    feed = env.engine.functions.collateralPrice(_ilk(WBTC)).call()
    expected = redo_reward(
        tab=sale.tab,
        lot=sale.lot,
        feed_price=feed,
        dust_tab=params.dust_tab,
        redo_tip=params.redo_tip,
        redo_chip=params.redo_chip,
    )
    assert expected > 0
    receipt = env.send(env.dutch(WBTC).functions.redo(barked.auction_id, keeper), keeper)
    (event,) = env.events(receipt, env.dutch(WBTC), "Redo")
    assert event["reward"] == expected


def test_english_next_bids_are_the_contract_boundary(env: Env) -> None:
    """next_min_bid is accepted and one wei less is refused; next_max_lot likewise in dent."""
    owner, keeper, a, b = env.users[:4]
    ilk = WETH
    env.send(env.liquidator.functions.setAuction(_ilk(ilk), env.english(ilk).address), env.deployer)
    barked = open_and_bark(env, ilk, owner, keeper, collateral=10 * WAD, ratio="1.6")
    english = env.english(ilk)
    beg = english.functions.minBidIncrease().call()
    auction_id = barked.auction_id
    for who in (a, b):
        env.fund_stable(who, 100_000 * WAD)
        env.approve_stable(who, english.address)
    state = env.english_auction(ilk, auction_id)
    lot, tab = state["lot"], state["tab"]
    bid = 1_000 * WAD + 7
    env.send(english.functions.tend(auction_id, lot, bid), a)
    nxt = next_min_bid(bid, tab, beg)
    assert nxt is not None and nxt < tab
    with reverts("InsufficientIncrease"):
        english.functions.tend(auction_id, lot, nxt - 1).call({"from": b})
    env.send(english.functions.tend(auction_id, lot, nxt), b)
    env.send(english.functions.tend(auction_id, lot, tab), a)
    assert next_min_bid(tab, tab, beg) is None
    new_lot = next_max_lot(lot, beg)
    with reverts("InsufficientDecrease"):
        english.functions.dent(auction_id, new_lot + 1, tab).call({"from": b})
    env.send(english.functions.dent(auction_id, new_lot, tab), b)
    assert env.english_auction(ilk, auction_id)["lot"] == new_lot
