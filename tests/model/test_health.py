from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.model.fixed_point import BASE_UNIT, RAY, UINT256_MAX, WAD
from bot.model.health import account_data, account_data_at, close_factor, reserve_levels
from bot.model.types import Account, MarketState, ReserveState, UserReserve
from tests.model.factories import USDC, USER, WBTC, WETH, borrower, reserve, two_asset_market
from tests.model.test_plan_lazy import crowded

T = 0


def test_hand_computed_account() -> None:
    market = two_asset_market()
    data = account_data(market, borrower(10 * 10**18, 20_000 * 10**6), T)
    assert data.total_collateral_base == 30_000 * BASE_UNIT
    assert data.total_debt_base == 20_000 * BASE_UNIT
    assert data.current_liquidation_threshold == 8250
    assert data.ltv == 8000
    assert data.available_borrows_base == 4_000 * BASE_UNIT
    assert data.health_factor == 12375 * WAD // 10_000
    assert not data.liquidatable


def test_zero_debt_is_infinitely_healthy() -> None:
    data = account_data(two_asset_market(), borrower(10**18, 0), T)
    assert data.health_factor == UINT256_MAX
    assert data.total_debt_base == 0
    assert data.available_borrows_base == 3000 * BASE_UNIT * 8000 // 10_000


def test_no_collateral_means_zero_health() -> None:
    data = account_data(two_asset_market(), borrower(0, 10**6), T)
    assert data.health_factor == 0
    assert data.ltv == 0 and data.current_liquidation_threshold == 0
    assert data.available_borrows_base == 0


def test_dust_debt_rounds_up_to_one_base_unit() -> None:
    # 1 wei of an 18-decimal $1 token is 1e-10 base units: ceilDiv makes it 1.
    market = two_asset_market(debt_decimals=18)
    data = account_data(market, borrower(10**18, 1), T)
    assert data.total_debt_base == 1


def test_collateral_flags_and_zero_threshold() -> None:
    market = two_asset_market()
    off = Account(USER, (UserReserve(WETH, scaled_supply=10**18, using_as_collateral=False),))
    assert account_data(market, off, T).total_collateral_base == 0
    no_threshold = replace(
        market, reserves=(reserve(WETH, 18, ltv=0, threshold=0), market.reserves[1])
    )
    on = Account(USER, (UserReserve(WETH, scaled_supply=10**18, using_as_collateral=True),))
    assert account_data(no_threshold, on, T).total_collateral_base == 0


def test_weighted_threshold_truncates() -> None:
    market = MarketState(
        reserves=(
            reserve(WETH, 18, ltv=8000, threshold=8250),
            reserve(WBTC, 8, ltv=7300, threshold=7800),
            reserve(USDC, 6),
        ),
        prices={WETH: 3000 * BASE_UNIT, WBTC: 60_000 * BASE_UNIT, USDC: BASE_UNIT},
    )
    account = Account(
        USER,
        (
            UserReserve(WETH, scaled_supply=10**18, using_as_collateral=True),
            UserReserve(WBTC, scaled_supply=3 * 10**6, using_as_collateral=True),  # 0.03 BTC
            UserReserve(USDC, scaled_debt=3000 * 10**6),
        ),
    )
    data = account_data(market, account, T)
    c_eth, c_btc = 3000 * BASE_UNIT, 1800 * BASE_UNIT
    assert data.total_collateral_base == c_eth + c_btc
    assert data.current_liquidation_threshold == (c_eth * 8250 + c_btc * 7800) // (c_eth + c_btc)
    assert data.ltv == (c_eth * 8000 + c_btc * 7300) // (c_eth + c_btc)


def test_interest_accrues_into_health() -> None:
    grown = ReserveState(
        variable_borrow_index=RAY,
        variable_borrow_rate=RAY // 10,
        total_scaled_supply=10**30,
        cash=10**30,
    )
    market = two_asset_market()
    market = market.with_reserve(replace(market.reserve(USDC), state=grown))
    account = borrower(10**18, 2000 * 10**6)
    now, later = account_data(market, account, 0), account_data(market, account, 365 * 86_400)
    assert later.total_debt_base > now.total_debt_base * 11 // 10
    assert later.health_factor < now.health_factor


def test_close_factor_threshold() -> None:
    assert close_factor(95 * WAD // 100 + 1) == 5000
    assert close_factor(95 * WAD // 100) == 10_000
    assert close_factor(0) == 10_000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded(), st.integers(0, 3 * 365 * 24 * 3600), st.booleans())
def test_reserve_levels_give_account_data_to_the_wei(
    case: dict[str, object], elapsed: int, unpriced: bool
) -> None:
    """The watcher's bulk recompute (levels once per block) is ``account_data``, exactly,
    including refusing an account whose reserve has no price."""
    market = case["market"]
    accounts = case["accounts"]
    assert isinstance(market, MarketState) and isinstance(accounts, list)
    if unpriced:
        market = replace(market, prices={a: p for a, p in market.prices.items() if a != WBTC})
    t = max(r.state.last_update_timestamp for r in market.reserves) + elapsed
    levels = reserve_levels(market, t)
    for account in accounts:
        try:
            expected = account_data(market, account, t)
        except KeyError as exc:
            with pytest.raises(KeyError, match=str(exc.args[0])):
                account_data_at(levels, account)
            continue
        assert account_data_at(levels, account) == expected
