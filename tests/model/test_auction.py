"""The keeper's pure decisions: best take size by brute force, wait-vs-take, competitor fit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model.auction import (
    RAY,
    WAD,
    AuctionRevert,
    CompetitorModel,
    FutureBlock,
    best_flash_take,
    decide_dutch_take,
    fit_competitor_model,
    marginal_price,
    plan_flash_take,
    wait_or_take,
)


@settings(max_examples=60, deadline=None)
@given(
    lot=st.integers(10**15, 10**21),
    discount_bps=st.integers(1, 3_000),
    reserve=st.integers(10**20, 10**23),
    dust_tab=st.sampled_from([0, 565 * WAD]),
)
def test_best_take_beats_a_grid_of_sizes(
    lot: int, discount_bps: int, reserve: int, dust_tab: int
) -> None:
    """No size on a 200-point grid does better than the closed-form optimum (exact ints)."""
    market = 3_000 * RAY  # stablecoin wei per collateral wei
    price = market * (10_000 - discount_bps) // 10_000
    reserve_stable = reserve * 3_000
    tab = lot * 3_000 * 2  # the tab is never the binding cap here
    best = best_flash_take(
        tab=tab,
        lot=lot,
        price=price,
        dust_tab=dust_tab,
        reserve_in=reserve,
        reserve_out=reserve_stable,
        gas_stable=0,
    )
    grid = [lot * i // 200 for i in range(1, 201)]
    profits = []
    for amount in grid:
        try:
            plan = plan_flash_take(
                tab=tab,
                lot=lot,
                price=price,
                amount=amount,
                dust_tab=dust_tab,
                reserve_in=reserve,
                reserve_out=reserve_stable,
                gas_stable=0,
            )
        except AuctionRevert:
            continue
        profits.append(plan.profit)
    top = max(profits, default=0)
    if best is None:
        assert top <= 0
    else:
        assert best.profit >= top


def test_wait_or_take() -> None:
    rivals = CompetitorModel(threshold_bps=10_000, take_probability_bps=5_000)
    market = 100 * RAY
    # at the market price a rival may take during this step: 100 now beats 0.5 * 150
    now = wait_or_take(
        now_net=100,
        now_price=100 * RAY,
        next_net=150,
        next_price=99 * RAY,
        next_needs_redo=False,
        market_price=market,
        competitors=rivals,
    )
    assert now.take_now and now.wait_value == 75
    # no rival above the market price: waiting for 150 beats 100
    later = wait_or_take(
        now_net=100,
        now_price=101 * RAY,
        next_net=150,
        next_price=100 * RAY,
        next_needs_redo=False,
        market_price=market,
        competitors=rivals,
    )
    assert not later.take_now and later.reason.startswith("waiting")
    # an auction that needs a redo by the next step is worth nothing to wait for
    stale = wait_or_take(
        now_net=1,
        now_price=RAY,
        next_net=10**9,
        next_price=RAY,
        next_needs_redo=True,
        market_price=market,
        competitors=rivals,
    )
    assert stale.take_now
    none = wait_or_take(
        now_net=0,
        now_price=RAY,
        next_net=5,
        next_price=RAY,
        next_needs_redo=False,
        market_price=market,
        competitors=rivals,
    )
    assert not none.take_now and none.reason == "no take pays now"


def test_fit_competitor_model() -> None:
    fitted = fit_competitor_model([(97 * RAY, 100 * RAY), (99 * RAY, 100 * RAY)], steps_seen=8)
    assert fitted == CompetitorModel(threshold_bps=9_900, take_probability_bps=2_500)
    assert fit_competitor_model([]).take_probability_bps == 0


# a deep pair at 2,991 stablecoin per unit after its fee; no gas, so values are the profits
R_IN, R_OUT = 1_000 * WAD, 3_000_000 * WAD
MARKET = marginal_price(R_IN, R_OUT)


def _best(lot: int, discount_bps: int) -> tuple[int, int, int]:
    """(net, tab left, lot left) of the best take of ``lot`` at a discount to the market."""
    plan = best_flash_take(
        tab=10**30,
        lot=lot,
        price=MARKET * (10_000 - discount_bps) // 10_000,
        dust_tab=0,
        reserve_in=R_IN,
        reserve_out=R_OUT,
        gas_stable=0,
    )
    assert plan is not None
    return plan.net, plan.quote.tab, plan.quote.lot


def _block(discount_bps: int, rival_bps: int) -> FutureBlock:
    return FutureBlock(MARKET * (10_000 - discount_bps) // 10_000, False, rival_bps)


def test_decide_dutch_take_small_lot_by_hand() -> None:
    """A 2-unit lot, taken whole at 0.5% or at 2% off: 18.0 now against 107.7 a block later."""
    now_net, _, left = _best(2 * WAD, 50)
    later_net, _, _ = _best(2 * WAD, 200)
    assert left == 0 and 18 * WAD < now_net < 19 * WAD and 107 * WAD < later_net < 108 * WAD
    # a rival takes with 20% after this block: waiting is worth 0.8 * 107.7 = 86.2 > 18.0
    d = decide_dutch_take(
        tab=10**30,
        lot=2 * WAD,
        blocks=[_block(50, 2_000), _block(200, 0)],
        dust_tab=0,
        reserve_in=R_IN,
        reserve_out=R_OUT,
        gas_stable=0,
    )
    assert not d.take_now
    assert d.take_value == now_net and d.wait_value == later_net * 8_000 // 10_000
    assert d.next_take is not None and d.next_take[0] == 1 and d.next_take[1].net == later_net
    # with 90%: 0.1 * 107.7 = 10.8 < 18.0, so taking now must win
    d = decide_dutch_take(
        tab=10**30,
        lot=2 * WAD,
        blocks=[_block(50, 9_000), _block(200, 0)],
        dust_tab=0,
        reserve_in=R_IN,
        reserve_out=R_OUT,
        gas_stable=0,
    )
    assert d.take_now and d.plan is not None and d.plan.net == now_net
    assert d.wait_value == later_net * 1_000 // 10_000 < d.take_value == now_net


def test_decide_dutch_take_values_the_rest_of_a_big_lot() -> None:
    """A 100-unit lot: the pair takes only ~2.5 units at 0.5% off (18.8) and ~5 at 1% (75.4).
    The one-step rule waits (0.5 * 75.4 > 18.8); but a take now leaves the other 97.5 units,
    which can still be taken a block later: 18.8 + 0.5 * 75.4 beats 0.5 * 75.4."""
    lot = 100 * WAD
    now_net, tab_left, lot_left = _best(lot, 50)
    later_full, _, _ = _best(lot, 100)
    rest = best_flash_take(
        tab=tab_left,
        lot=lot_left,
        price=MARKET * 9_900 // 10_000,
        dust_tab=0,
        reserve_in=R_IN,
        reserve_out=R_OUT,
        gas_stable=0,
    )
    assert rest is not None and 18 * WAD < now_net < 19 * WAD and 75 * WAD < later_full < 76 * WAD
    blocks = [_block(50, 5_000), _block(100, 0)]
    old = wait_or_take(
        now_net=now_net,
        now_price=blocks[0].price,
        next_net=later_full,
        next_price=blocks[1].price,
        next_needs_redo=False,
        market_price=MARKET,
        competitors=CompetitorModel(10_000, 5_000),
    )
    assert not old.take_now  # the one-step rule's mistake
    d = decide_dutch_take(
        tab=10**30,
        lot=lot,
        blocks=blocks,
        dust_tab=0,
        reserve_in=R_IN,
        reserve_out=R_OUT,
        gas_stable=0,
    )
    assert d.take_now
    assert d.take_value == now_net + rest.net * 5_000 // 10_000
    assert d.wait_value == later_full * 5_000 // 10_000
    # an auction that needs a redo next block is worth nothing to wait for
    stale = decide_dutch_take(
        tab=10**30,
        lot=lot,
        blocks=[_block(50, 0), FutureBlock(1, True, 0)],
        dust_tab=0,
        reserve_in=R_IN,
        reserve_out=R_OUT,
        gas_stable=0,
    )
    assert stale.take_now and stale.wait_value == 0 and stale.take_value == now_net
