from __future__ import annotations

from dataclasses import replace

from bot.model.fixed_point import RAY, SECONDS_PER_YEAR, percent_mul, ray_mul
from bot.model.interest import (
    calculate_rates,
    compounded_interest,
    linear_interest,
    normalized_debt,
    normalized_income,
    update_state,
)
from bot.model.types import ReserveConfig, ReserveState
from tests.model.factories import STRATEGY, USDC

TEN_PERCENT = RAY // 10


def test_compounded_small_dt_terms() -> None:
    r = TEN_PERCENT
    p2 = ray_mul(r, r) // SECONDS_PER_YEAR**2
    p3 = ray_mul(p2, r) // SECONDS_PER_YEAR
    assert compounded_interest(r, 0) == RAY
    assert compounded_interest(r, 1) == RAY + r // SECONDS_PER_YEAR
    assert compounded_interest(r, 2) == RAY + 2 * r // SECONDS_PER_YEAR + 2 * 1 * p2 // 2
    assert (
        compounded_interest(r, 3)
        == RAY + 3 * r // SECONDS_PER_YEAR + 3 * 2 * p2 // 2 + 3 * 2 * 1 * p3 // 6
    )


def test_one_year_at_ten_percent_is_close_to_exp() -> None:
    # third-order binomial: 1 + 0.1 + 0.005 + 0.0001667 (e^0.1 = 1.1051709); the cubic term
    # loses a few percent to the contract's truncations (p3 = 31 instead of 31.9 per second^3)
    growth = compounded_interest(TEN_PERCENT, SECONDS_PER_YEAR)
    assert growth == 1_105_162_042_821_782_412_575_504_000
    assert abs(growth - 1_105_170_918 * 10**18) < 10**22
    assert linear_interest(TEN_PERCENT, SECONDS_PER_YEAR) == RAY + TEN_PERCENT


def test_indexes_at_a_later_timestamp() -> None:
    state = ReserveState(
        liquidity_index=RAY + RAY // 100,
        variable_borrow_index=RAY + RAY // 50,
        liquidity_rate=TEN_PERCENT // 2,
        variable_borrow_rate=TEN_PERCENT,
        last_update_timestamp=1_000,
    )
    assert normalized_income(state, 1_000) == state.liquidity_index
    assert normalized_debt(state, 1_000) == state.variable_borrow_index
    dt = 86_400
    assert normalized_income(state, 1_000 + dt) == ray_mul(
        RAY + (TEN_PERCENT // 2) * dt // SECONDS_PER_YEAR, state.liquidity_index
    )
    assert normalized_debt(state, 1_000 + dt) == ray_mul(
        compounded_interest(TEN_PERCENT, dt), state.variable_borrow_index
    )
    updated = update_state(state, 1_000 + dt)
    assert updated.last_update_timestamp == 1_000 + dt
    assert updated.liquidity_index == normalized_income(state, 1_000 + dt)
    assert update_state(state, 1_000) is state


def test_rates_follow_the_two_slopes() -> None:
    config = ReserveConfig(USDC, 6, 8000, 8500, 10500, 1000, 1000, STRATEGY)
    # no debt: zero utilisation
    assert calculate_rates(config, ReserveState(cash=10**12)) == (0, 0)
    # 80% utilised (= optimal): borrow rate = slope1
    at_optimal = ReserveState(total_scaled_debt=800, cash=200)
    liquidity, borrow = calculate_rates(config, at_optimal)
    assert borrow == STRATEGY.slope1
    assert liquidity == percent_mul(ray_mul(borrow, 8 * RAY // 10), 9000)
    # fully utilised: slope1 + slope2
    _, borrow = calculate_rates(config, ReserveState(total_scaled_debt=1000, cash=0))
    assert borrow == STRATEGY.slope1 + STRATEGY.slope2
    # 90%: halfway up the second slope
    _, borrow = calculate_rates(config, ReserveState(total_scaled_debt=900, cash=100))
    assert borrow == STRATEGY.slope1 + STRATEGY.slope2 // 2
    # the debt index scales the debt
    doubled = replace(at_optimal, variable_borrow_index=2 * RAY, total_scaled_debt=400)
    assert calculate_rates(config, doubled)[1] == STRATEGY.slope1
