"""Plain values the model works on: what the watcher reads from a chain, in protocol units.

No web3 types: addresses are ``str`` (compared exactly, so give them one spelling, e.g.
checksummed), amounts are ``int`` in token units, indexes and rates in ray, risk parameters in
basis points, prices in the oracle's base currency (8 decimals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.frozen import quick_init, replace
from bot.model.fixed_point import RAY


@dataclass(frozen=True, slots=True)
class InterestRateStrategy:
    """Two-slope variable rate; all values are rays per year (utilisation is a ray)."""

    base_rate: int = 0
    slope1: int = 0
    slope2: int = 0
    optimal_utilization: int = RAY * 8 // 10


@quick_init
@dataclass(frozen=True, slots=True)
class ReserveConfig:
    """A reserve's fixed parameters, as ``initReserve`` set them."""

    asset: str
    decimals: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    liquidation_protocol_fee: int = 0
    reserve_factor: int = 0
    strategy: InterestRateStrategy = field(default_factory=InterestRateStrategy)

    @property
    def unit(self) -> int:
        unit: int = 10**self.decimals
        return unit


@quick_init
@dataclass(frozen=True, slots=True)
class ReserveState:
    """A reserve's mutable state as stored at its ``last_update_timestamp``."""

    liquidity_index: int = RAY
    variable_borrow_index: int = RAY
    liquidity_rate: int = 0
    variable_borrow_rate: int = 0
    last_update_timestamp: int = 0
    total_scaled_supply: int = 0
    total_scaled_debt: int = 0
    cash: int = 0

    # The two copies every modelled liquidation makes of both reserves' states, built
    # directly: dataclasses.replace, which looks the fields up on every call, took ~8% of a
    # crash block's plan.
    def with_balances(
        self,
        *,
        total_scaled_supply: int | None = None,
        total_scaled_debt: int | None = None,
        cash: int,
    ) -> ReserveState:
        """This state with new totals and cash (None: unchanged)."""
        return ReserveState(
            self.liquidity_index,
            self.variable_borrow_index,
            self.liquidity_rate,
            self.variable_borrow_rate,
            self.last_update_timestamp,
            self.total_scaled_supply if total_scaled_supply is None else total_scaled_supply,
            self.total_scaled_debt if total_scaled_debt is None else total_scaled_debt,
            cash,
        )

    def with_rates(self, liquidity_rate: int, variable_borrow_rate: int) -> ReserveState:
        """This state with new rates (``updateInterestRates``)."""
        return ReserveState(
            self.liquidity_index,
            self.variable_borrow_index,
            liquidity_rate,
            variable_borrow_rate,
            self.last_update_timestamp,
            self.total_scaled_supply,
            self.total_scaled_debt,
            self.cash,
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Reserve:
    config: ReserveConfig
    state: ReserveState

    @property
    def asset(self) -> str:
        return self.config.asset


@quick_init
@dataclass(frozen=True, slots=True)
class UserReserve:
    """One user's scaled balances in one reserve."""

    asset: str
    scaled_supply: int = 0
    scaled_debt: int = 0
    using_as_collateral: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class Account:
    """A borrower: only the reserves it touches need to be listed, in any order."""

    user: str
    positions: tuple[UserReserve, ...] = ()

    def position(self, asset: str) -> UserReserve:
        for p in self.positions:
            if p.asset == asset:
                return p
        return UserReserve(asset)

    def with_position(self, position: UserReserve) -> Account:
        kept = tuple(p for p in self.positions if p.asset != position.asset)
        return Account(self.user, (*kept, position))


@quick_init
@dataclass(frozen=True, slots=True)
class MarketState:
    """The pool as of a moment: reserves in ``getReservesList()`` order and oracle prices.

    ``prices`` maps asset to the oracle's answer (base currency, 8 decimals); only assets a
    user holds need one. ``timestamp`` is not stored here: functions take the block
    timestamp at which they are evaluated, because interest accrues per second.
    """

    reserves: tuple[Reserve, ...]
    prices: Mapping[str, int]
    liquidations_paused: bool = False
    treasury: str = ""
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {r.config.asset: i for i, r in enumerate(self.reserves)})

    def reserve(self, asset: str) -> Reserve:
        try:
            return self.reserves[self._index[asset]]
        except KeyError:
            raise KeyError(f"{asset} is not a reserve of this market") from None

    def has_reserve(self, asset: str) -> bool:
        return asset in self._index

    def price(self, asset: str) -> int:
        try:
            return self.prices[asset]
        except KeyError:
            raise KeyError(f"no oracle price for {asset}") from None

    def with_reserve(self, reserve: Reserve) -> MarketState:
        reserves = list(self.reserves)
        reserves[self._index[reserve.asset]] = reserve
        return replace(self, reserves=tuple(reserves))

    def with_prices(self, prices: Mapping[str, int]) -> MarketState:
        return replace(self, prices={**self.prices, **prices})


@quick_init
@dataclass(frozen=True, slots=True)
class PairReserves:
    """A constant-product pair's tokens and reserves (``getReserves``)."""

    pair: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int

    def reserves_for(self, token_in: str) -> tuple[int, int]:
        """(reserve of ``token_in``, reserve of the other token)."""
        if token_in == self.token0:
            return self.reserve0, self.reserve1
        if token_in == self.token1:
            return self.reserve1, self.reserve0
        raise KeyError(f"{token_in} is not a token of pair {self.pair}")

    def other(self, token: str) -> str:
        if token == self.token0:
            return self.token1
        if token == self.token1:
            return self.token0
        raise KeyError(f"{token} is not a token of pair {self.pair}")

    def has(self, a: str, b: str) -> bool:
        return {a, b} == {self.token0, self.token1}


class ExecutionPath(StrEnum):
    """How the bot pays for a liquidation (see FlashLiquidator.sol)."""

    FLASH = "flash"
    """Flash-swap the debt asset from the (collateral, debt) pair, repay it in collateral."""
    INVENTORY = "inventory"
    """Pay from the liquidator's own debt-token balance and keep the collateral."""
    INVENTORY_SWAP = "inventory_swap"
    """Pay from inventory, then sell all seized collateral into the pair for the debt asset."""


@dataclass(frozen=True, slots=True)
class GasParams:
    """What the fee of the next block depends on: the parent header and the bot's bid."""

    parent_base_fee: int
    parent_gas_used: int
    parent_gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
