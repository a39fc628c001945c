"""Account health: ``getUserAccountData`` reproduced bit for bit."""

from __future__ import annotations

from dataclasses import dataclass

from bot.frozen import quick_init
from bot.model.fixed_point import UINT256_MAX, WAD, ceil_div, percent_mul, ray_mul, wad_div
from bot.model.interest import normalized_debt, normalized_income
from bot.model.types import Account, MarketState

HEALTH_FACTOR_LIQUIDATION_THRESHOLD = WAD
CLOSE_FACTOR_HF_THRESHOLD = 95 * WAD // 100
"""Below this health factor the whole debt may be closed (close factor 100%)."""
DEFAULT_CLOSE_FACTOR = 5_000
MAX_CLOSE_FACTOR = 10_000


@quick_init
@dataclass(frozen=True, slots=True)
class AccountData:
    """The six values ``getUserAccountData`` returns, in the same order and units."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int

    @property
    def liquidatable(self) -> bool:
        return self.health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.total_collateral_base,
            self.total_debt_base,
            self.available_borrows_base,
            self.current_liquidation_threshold,
            self.ltv,
            self.health_factor,
        )


def account_data(market: MarketState, account: Account, timestamp: int) -> AccountData:
    """What the pool reports for ``account`` in a block with ``timestamp``.

    Reserves are visited in the pool's list order (the sums are order-independent, but the
    prices read are only those of reserves the user touches, as on chain).
    """
    held = {p.asset: p for p in account.positions}
    total_collateral = total_debt = ltv_sum = lt_sum = 0
    for reserve in market.reserves:
        position = held.get(reserve.config.asset)
        if position is None:
            continue
        config = reserve.config
        is_collateral = (
            position.using_as_collateral
            and config.liquidation_threshold != 0
            and position.scaled_supply > 0
        )
        has_debt = position.scaled_debt > 0
        if not (is_collateral or has_debt):
            continue
        price = market.price(config.asset)
        unit = 10**config.decimals
        if is_collateral:
            income = normalized_income(reserve.state, timestamp)
            c = ray_mul(position.scaled_supply, income) * price // unit
            total_collateral += c
            ltv_sum += c * config.ltv
            lt_sum += c * config.liquidation_threshold
        if has_debt:
            debt_index = normalized_debt(reserve.state, timestamp)
            total_debt += ceil_div(ray_mul(position.scaled_debt, debt_index) * price, unit)
    return summarize(total_collateral, total_debt, ltv_sum, lt_sum)


@quick_init
@dataclass(frozen=True, slots=True)
class ReserveLevel:
    """One reserve's part in every account's health at one timestamp. Computed once per
    block for a recompute of many accounts: the indexes' compounding is most of the cost of
    :func:`account_data`, and it is the same for every account."""

    asset: str
    price: int | None
    """None: no oracle price (an account that uses the reserve cannot be valued)."""
    unit: int
    ltv: int
    liquidation_threshold: int
    income: int
    debt_index: int


def reserve_levels(market: MarketState, timestamp: int) -> tuple[ReserveLevel, ...]:
    """Every reserve's level, in the pool's list order."""
    return tuple(
        ReserveLevel(
            r.config.asset,
            market.prices.get(r.config.asset),
            10**r.config.decimals,
            r.config.ltv,
            r.config.liquidation_threshold,
            normalized_income(r.state, timestamp),
            normalized_debt(r.state, timestamp),
        )
        for r in market.reserves
    )


def account_data_at(levels: tuple[ReserveLevel, ...], account: Account) -> AccountData:
    """:func:`account_data` from :func:`reserve_levels` (the same result, to the wei).

    The loop is :func:`account_data`'s, on precomputed levels; it is not shared because
    ``account_data`` compounds only the indexes an account uses (the planner calls it
    thousands of times a block, on few reserves each), and a hypothesis test holds the two
    equal."""
    held = {p.asset: p for p in account.positions}
    total_collateral = total_debt = ltv_sum = lt_sum = 0
    for level in levels:
        position = held.get(level.asset)
        if position is None:
            continue
        is_collateral = (
            position.using_as_collateral
            and level.liquidation_threshold != 0
            and position.scaled_supply > 0
        )
        has_debt = position.scaled_debt > 0
        if not (is_collateral or has_debt):
            continue
        price = level.price
        if price is None:
            raise KeyError(f"no oracle price for {level.asset}")
        if is_collateral:
            c = ray_mul(position.scaled_supply, level.income) * price // level.unit
            total_collateral += c
            ltv_sum += c * level.ltv
            lt_sum += c * level.liquidation_threshold
        if has_debt:
            debt = ray_mul(position.scaled_debt, level.debt_index)
            total_debt += ceil_div(debt * price, level.unit)
    return summarize(total_collateral, total_debt, ltv_sum, lt_sum)


def summarize(total_collateral: int, total_debt: int, ltv_sum: int, lt_sum: int) -> AccountData:
    """The averaging and health-factor step, shared by sizing code that sums its own terms."""
    ltv = ltv_sum // total_collateral if total_collateral else 0
    threshold = lt_sum // total_collateral if total_collateral else 0
    if total_debt == 0:
        health = UINT256_MAX
    else:
        health = wad_div(percent_mul(total_collateral, threshold), total_debt)
    borrowable = percent_mul(total_collateral, ltv)
    available = borrowable - total_debt if borrowable > total_debt else 0
    return AccountData(total_collateral, total_debt, available, threshold, ltv, health)


def close_factor(health_factor: int) -> int:
    """Share of a debt (bps) one liquidation may repay."""
    return DEFAULT_CLOSE_FACTOR if health_factor > CLOSE_FACTOR_HF_THRESHOLD else MAX_CLOSE_FACTOR
