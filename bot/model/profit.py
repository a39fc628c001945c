"""Valuing token amounts in the operator's numeraire, exactly, at oracle prices or via a route.

Floats never appear: a value is ``amount * price * numeraire_unit // (unit * numeraire_price)``
(floor, so a loss is never understated by rounding). The chain's native token has no oracle
entry in the pool, so its price (base currency, 8 decimals) is an input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.frozen import quick_init
from bot.model.amm import get_amounts_out
from bot.model.types import MarketState, PairReserves

NATIVE = "native"
NATIVE_DECIMALS = 18
NATIVE_UNIT: int = 10**NATIVE_DECIMALS
VALUE_SCALE: int = 10**36
"""Common denominator for exact comparisons: amount * price * VALUE_SCALE // unit is exact
for tokens of up to 36 decimals, so values of different tokens compare without rounding."""


@dataclass(frozen=True, slots=True)
class Numeraire:
    """What profit is counted in: a token (by address) or the chain's native token."""

    asset: str = NATIVE
    decimals: int = NATIVE_DECIMALS

    @property
    def unit(self) -> int:
        unit: int = 10**self.decimals
        return unit

    @property
    def is_native(self) -> bool:
        return self.asset == NATIVE


@quick_init
@dataclass(frozen=True, slots=True)
class Valuation:
    """Prices for valuing amounts: the oracle's, plus the native token's (8 decimals)."""

    market: MarketState
    native_price: int
    numeraire: Numeraire = Numeraire()
    _factors: dict[str, tuple[int, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Per asset, the (numerator, denominator) of :meth:`value`: the planner values amounts
    a hundred thousand times a block, always of the same few assets at the same prices."""

    def price_of(self, asset: str) -> int:
        return self.native_price if asset == NATIVE else self.market.price(asset)

    def unit_of(self, asset: str) -> int:
        if asset == NATIVE:
            return NATIVE_UNIT
        return self.market.reserve(asset).config.unit

    @property
    def numeraire_price(self) -> int:
        return self.price_of(self.numeraire.asset)

    def value(self, amount: int, asset: str) -> int:
        """``amount`` of ``asset`` in numeraire units (floor)."""
        factor = self._factors.get(asset)
        if factor is None:
            if asset == self.numeraire.asset:
                factor = (1, 1)
            else:
                factor = (
                    self.price_of(asset) * self.numeraire.unit,
                    self.unit_of(asset) * self.numeraire_price,
                )
            self._factors[asset] = factor
        return amount * factor[0] // factor[1]

    def amount_within(self, value: int, asset: str) -> int:
        """The largest amount of ``asset`` whose :meth:`value` is at most ``value`` (>= 0)."""
        if asset == self.numeraire.asset:
            return value
        per = self.price_of(asset) * self.numeraire.unit
        return ((value + 1) * self.unit_of(asset) * self.numeraire_price - 1) // per

    def gas_value(self, wei: int) -> int:
        return self.value(wei, NATIVE)

    def to_native(self, value: int) -> int:
        """A numeraire value in wei (floor), for gas bidding."""
        if self.numeraire.is_native:
            return value
        return (
            value * self.numeraire_price * NATIVE_UNIT // (self.numeraire.unit * self.native_price)
        )

    def value_key(self, amount: int, asset: str) -> int:
        """An exact, comparable value (base currency * VALUE_SCALE); not for display."""
        return amount * self.price_of(asset) * (VALUE_SCALE // self.unit_of(asset))


def value_via_route(amount: int, path: Sequence[str], pairs: Sequence[PairReserves]) -> int:
    """What ``amount`` of ``path[0]`` fetches in ``path[-1]`` if sold along the route now."""
    if amount == 0:
        return 0
    return get_amounts_out(amount, path, pairs)[-1]
