"""Interest accrual and rate updates, per second, exactly as the pool's reserve logic."""

from __future__ import annotations

from bot.frozen import replace
from bot.model.fixed_point import (
    PERCENTAGE_FACTOR,
    RAY,
    SECONDS_PER_YEAR,
    percent_mul,
    ray_div,
    ray_mul,
)
from bot.model.types import Reserve, ReserveConfig, ReserveState

_SECONDS_PER_YEAR_SQ = SECONDS_PER_YEAR * SECONDS_PER_YEAR


def linear_interest(rate: int, dt: int) -> int:
    """Growth factor (ray) of the supply side: simple interest."""
    return RAY + rate * dt // SECONDS_PER_YEAR


def compounded_interest(rate: int, dt: int) -> int:
    """Growth factor (ray) of the debt side: third-order binomial approximation."""
    if dt == 0:
        return RAY
    a = dt - 1
    b = dt - 2 if dt > 2 else 0
    p2 = ray_mul(rate, rate) // _SECONDS_PER_YEAR_SQ
    p3 = ray_mul(p2, rate) // SECONDS_PER_YEAR
    return RAY + rate * dt // SECONDS_PER_YEAR + dt * a * p2 // 2 + dt * a * b * p3 // 6


def normalized_income(state: ReserveState, timestamp: int) -> int:
    """The liquidity index the pool would use at ``timestamp``."""
    dt = timestamp - state.last_update_timestamp
    if dt == 0:
        return state.liquidity_index
    return ray_mul(linear_interest(state.liquidity_rate, dt), state.liquidity_index)


def normalized_debt(state: ReserveState, timestamp: int) -> int:
    """The variable borrow index the pool would use at ``timestamp``."""
    dt = timestamp - state.last_update_timestamp
    if dt == 0:
        return state.variable_borrow_index
    return ray_mul(compounded_interest(state.variable_borrow_rate, dt), state.variable_borrow_index)


def update_state(state: ReserveState, timestamp: int) -> ReserveState:
    """Indexes brought to ``timestamp`` (the first step of every pool action)."""
    if timestamp == state.last_update_timestamp:
        return state
    return replace(
        state,
        liquidity_index=normalized_income(state, timestamp),
        variable_borrow_index=normalized_debt(state, timestamp),
        last_update_timestamp=timestamp,
    )


def calculate_rates(config: ReserveConfig, state: ReserveState) -> tuple[int, int]:
    """(liquidity rate, variable borrow rate) for the reserve's current cash and debt."""
    s = config.strategy
    debt = ray_mul(state.total_scaled_debt, state.variable_borrow_index)
    utilization = 0 if debt == 0 else ray_div(debt, state.cash + debt)
    if utilization <= s.optimal_utilization:
        borrow_rate = s.base_rate + ray_mul(s.slope1, ray_div(utilization, s.optimal_utilization))
    else:
        excess = ray_div(utilization - s.optimal_utilization, RAY - s.optimal_utilization)
        borrow_rate = s.base_rate + s.slope1 + ray_mul(s.slope2, excess)
    liquidity_rate = percent_mul(
        ray_mul(borrow_rate, utilization), PERCENTAGE_FACTOR - config.reserve_factor
    )
    return liquidity_rate, borrow_rate


def update_rates(reserve: Reserve) -> Reserve:
    """The last step of every pool action."""
    liquidity_rate, borrow_rate = calculate_rates(reserve.config, reserve.state)
    return Reserve(reserve.config, reserve.state.with_rates(liquidity_rate, borrow_rate))


def accrue(reserve: Reserve, timestamp: int) -> Reserve:
    return replace(reserve, state=update_state(reserve.state, timestamp))
