from __future__ import annotations

from dataclasses import replace

import pytest

from bot.model.fixed_point import BASE_UNIT, RAY, UINT256_MAX, ray_div
from bot.model.health import account_data
from bot.model.liquidation import (
    CollateralCannotBeLiquidated,
    HealthFactorNotBelowThreshold,
    LiquidationsPaused,
    SpecifiedCurrencyNotBorrowedByUser,
    liquidate,
    liquidation_amounts,
)
from bot.model.types import Account, UserReserve
from tests.model.factories import USDC, USER, WETH, borrower, two_asset_market

E18, E6 = 10**18, 10**6


def test_half_close_factor_hand_computed() -> None:
    # 10 WETH at $3000 against 26,000 USDC: HF 0.9519 > 0.95, so half the debt may go.
    market, account = two_asset_market(), borrower(10 * E18, 26_000 * E6)
    out = liquidate(market, account, WETH, USDC, 10_000 * E6, 0)
    a = out.amounts
    assert a.close_factor == 5000
    assert a.debt_covered == 10_000 * E6
    # $10,000 * 1.05 / $3000 = 3.5 WETH; bonus part 3.5 - 3.5/1.05 = 1/6 WETH; fee 10% of it
    assert a.collateral_amount == 3_500_000_000_000_000_000
    assert a.protocol_fee == 16_666_666_666_666_667
    assert a.to_liquidator == 3_483_333_333_333_333_333
    assert not a.capped_by_collateral
    assert out.debt_scaled_burnt == 10_000 * E6
    assert out.fee_scaled == a.protocol_fee
    assert out.liquidator_scaled == a.to_liquidator
    assert out.account.position(WETH).scaled_supply == 10 * E18 - a.collateral_amount
    assert out.account.position(USDC).scaled_debt == 16_000 * E6
    assert out.bad_debt == ()
    # asking for more than half gets half
    more = liquidate(market, account, WETH, USDC, 20_000 * E6, 0).amounts
    assert more.actual_debt_to_liquidate == more.debt_covered == 13_000 * E6


def test_full_close_factor_below_095() -> None:
    market, account = two_asset_market(), borrower(10 * E18, 28_500 * E6)
    a = liquidate(market, account, WETH, USDC, UINT256_MAX, 0).amounts
    assert a.close_factor == 10_000
    assert a.debt_covered == 28_500 * E6
    assert a.collateral_amount == 9_975_000_000_000_000_000


def test_capped_by_collateral_writes_off_bad_debt() -> None:
    # 31,000 USDC of debt against $30,000 of collateral: all collateral goes, the rest is bad.
    market, account = two_asset_market(), borrower(10 * E18, 31_000 * E6)
    out = liquidate(market, account, WETH, USDC, UINT256_MAX, 0)
    a = out.amounts
    assert a.capped_by_collateral
    assert a.collateral_amount == 10 * E18
    assert a.debt_covered == 28_571_428_571  # $30,000 / 1.05
    assert a.protocol_fee == 47_619_047_619_047_619
    assert out.liquidator_scaled == 10 * E18 - out.fee_scaled
    assert out.account.position(WETH).scaled_supply == 0
    assert not out.account.position(WETH).using_as_collateral  # nothing left: flag cleared
    (write_off,) = out.bad_debt
    loss = 31_000 * E6 - 28_571_428_571
    assert write_off.loss == write_off.scaled_debt == loss
    supply = market.reserve(USDC).state.total_scaled_supply
    assert write_off.new_liquidity_index == ray_div(supply - loss, supply)
    assert out.market.reserve(USDC).state.liquidity_index == write_off.new_liquidity_index
    assert out.account.position(USDC).scaled_debt == 0
    usdc_before, usdc_after = market.reserve(USDC).state, out.market.reserve(USDC).state
    assert usdc_after.total_scaled_debt == usdc_before.total_scaled_debt - 31_000 * E6
    assert usdc_after.cash == usdc_before.cash + a.debt_covered


def test_already_bad_debt_position() -> None:
    # collateral worth less than the debt before any bonus: still liquidatable, capped
    market = two_asset_market(coll_price=1000 * BASE_UNIT)
    out = liquidate(market, borrower(10 * E18, 20_000 * E6), WETH, USDC, 5_000 * E6, 0)
    assert out.amounts.close_factor == 10_000
    assert not out.amounts.capped_by_collateral  # 5000 USDC buys 5.25 WETH
    out = liquidate(market, borrower(10 * E18, 20_000 * E6), WETH, USDC, UINT256_MAX, 0)
    assert out.amounts.capped_by_collateral
    assert out.bad_debt[0].loss == 20_000 * E6 - out.amounts.debt_covered


def test_reverts_mirror_the_pool() -> None:
    market = two_asset_market()
    healthy = borrower(10 * E18, 1_000 * E6)
    with pytest.raises(HealthFactorNotBelowThreshold):
        liquidate(market, healthy, WETH, USDC, 1, 0)
    sick = borrower(10 * E18, 29_000 * E6)
    with pytest.raises(LiquidationsPaused):
        liquidate(replace(market, liquidations_paused=True), sick, WETH, USDC, 1, 0)
    with pytest.raises(CollateralCannotBeLiquidated):
        liquidate(market, sick, USDC, USDC, 1, 0)
    with pytest.raises(SpecifiedCurrencyNotBorrowedByUser):
        liquidate(market, sick, WETH, WETH, 1, 0)
    disabled = Account(
        USER,
        (
            UserReserve(WETH, scaled_supply=10 * E18, using_as_collateral=False),
            UserReserve(USDC, scaled_supply=E6, using_as_collateral=True, scaled_debt=E6),
        ),
    )
    with pytest.raises(CollateralCannotBeLiquidated):
        liquidate(market, disabled, WETH, USDC, 1, 0)


def test_dust_liquidation() -> None:
    # 1 unit of USDC debt covered: 1e-6 $ buys 3.5e8 wei of WETH (1/3000 * 1.05 * 1e12)
    market, account = two_asset_market(), borrower(10 * E18, 29_000 * E6)
    a = liquidate(market, account, WETH, USDC, 1, 0).amounts
    assert a.debt_covered == 1
    assert a.collateral_amount == 350_000_000
    # zero debtToCover moves nothing
    z = liquidate(market, account, WETH, USDC, 0, 0).amounts
    assert (z.debt_covered, z.collateral_amount, z.to_liquidator) == (0, 0, 0)


def test_amounts_at_price_extremes() -> None:
    common = dict(
        user_collateral=10**30,
        user_debt=10**30,
        close_factor_bps=10_000,
        collateral_unit=10**8,
        debt_unit=10**18,
        liquidation_bonus=11_000,
        protocol_fee_bps=1_000,
    )
    # a collateral worth 1e-8 $ per whole token against a debt at 1e12 $
    a = liquidation_amounts(10**18, collateral_price=1, debt_price=10**20, **common)
    assert a.collateral_amount == 11 * 10**27  # $1e12 buys 1e20 tokens of 8 decimals, +10%
    # the reverse: a 1-wei debt seizes nothing
    b = liquidation_amounts(1, collateral_price=10**20, debt_price=1, **common)
    assert (b.collateral_amount, b.to_liquidator) == (0, 0)


def test_interest_changes_the_outcome() -> None:
    market = two_asset_market()
    usdc = market.reserve(USDC)
    market = market.with_reserve(
        replace(usdc, state=replace(usdc.state, variable_borrow_rate=RAY // 5))
    )
    account = borrower(10 * E18, 28_000 * E6)
    later = liquidate(market, account, WETH, USDC, UINT256_MAX, 30 * 86_400)
    assert later.user_debt > 28_000 * E6
    assert later.amounts.debt_covered == later.user_debt


def test_account_data_the_caller_holds_is_used_as_the_pool_would_compute_it() -> None:
    # The planner passes the data it sized the liquidation from: the outcome is the one the
    # pool's own reading gives, and the data given decides (a healthy reading refuses).
    market, account = two_asset_market(), borrower(10 * E18, 26_000 * E6)
    data = account_data(market, account, 0)
    assert liquidate(market, account, WETH, USDC, 10_000 * E6, 0, data=data) == liquidate(
        market, account, WETH, USDC, 10_000 * E6, 0
    )
    healthy = account_data(market, borrower(10 * E18, 1_000 * E6), 0)
    assert not healthy.liquidatable
    with pytest.raises(HealthFactorNotBelowThreshold):
        liquidate(market, account, WETH, USDC, 10_000 * E6, 0, data=healthy)
