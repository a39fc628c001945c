"""Small hand-built markets for the pure model tests (no chain)."""

from __future__ import annotations

from bot.model.fixed_point import BASE_UNIT, RAY
from bot.model.types import (
    Account,
    InterestRateStrategy,
    MarketState,
    PairReserves,
    Reserve,
    ReserveConfig,
    ReserveState,
    UserReserve,
)

WETH = "0x00000000000000000000000000000000000000E1"
USDC = "0x00000000000000000000000000000000000000C6"
WBTC = "0x00000000000000000000000000000000000000B8"
USER = "0x000000000000000000000000000000000000BEEF"

STRATEGY = InterestRateStrategy(
    base_rate=0, slope1=4 * RAY // 100, slope2=75 * RAY // 100, optimal_utilization=8 * RAY // 10
)


def reserve(
    asset: str,
    decimals: int,
    *,
    ltv: int = 8000,
    threshold: int = 8250,
    bonus: int = 10500,
    fee: int = 1000,
    state: ReserveState | None = None,
) -> Reserve:
    return Reserve(
        ReserveConfig(asset, decimals, ltv, threshold, bonus, fee, 1000, STRATEGY),
        state or ReserveState(total_scaled_supply=10**30, total_scaled_debt=10**20, cash=10**30),
    )


def two_asset_market(
    *,
    coll_price: int = 3000 * BASE_UNIT,
    debt_price: int = BASE_UNIT,
    coll_decimals: int = 18,
    debt_decimals: int = 6,
    bonus: int = 10500,
    fee: int = 1000,
    threshold: int = 8250,
) -> MarketState:
    return MarketState(
        reserves=(
            reserve(WETH, coll_decimals, threshold=threshold, bonus=bonus, fee=fee),
            reserve(USDC, debt_decimals),
        ),
        prices={WETH: coll_price, USDC: debt_price},
    )


def borrower(scaled_collateral: int, scaled_debt: int) -> Account:
    return Account(
        USER,
        (
            UserReserve(WETH, scaled_supply=scaled_collateral, using_as_collateral=True),
            UserReserve(USDC, scaled_debt=scaled_debt),
        ),
    )


def pair(r_weth: int, r_usdc: int) -> PairReserves:
    return PairReserves("0x00000000000000000000000000000000000000AA", USDC, WETH, r_usdc, r_weth)
