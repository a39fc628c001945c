"""Constant-product swaps with the 0.3% fee, exactly as the pair and the router compute them.

Besides the integer formulas, a route is summarised by its continuous relaxation: the
output of a chain of constant-product hops is a Moebius map ``out(x) = A x / (B + C x)``
(each hop is one, and they compose in closed form). Sizing uses it to find the optimum in
closed form before refining on the exact integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import isqrt

from bot.frozen import quick_init, replace
from bot.model.types import PairReserves

FEE_NUMERATOR = 997
FEE_DENOMINATOR = 1000


class InsufficientLiquidity(ValueError):
    """The pair cannot pay this much out (the contract reverts)."""


class InsufficientInputAmount(ValueError):
    """A zero amount in (the router reverts)."""


class InsufficientOutputAmount(ValueError):
    """A zero amount out (the router reverts)."""


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    if amount_in <= 0:
        raise InsufficientInputAmount("amount in must be positive")
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientLiquidity("empty pair")
    with_fee = amount_in * FEE_NUMERATOR
    return with_fee * reserve_out // (reserve_in * FEE_DENOMINATOR + with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    if amount_out <= 0:
        raise InsufficientOutputAmount("amount out must be positive")
    if reserve_in <= 0 or amount_out >= reserve_out:
        raise InsufficientLiquidity(f"cannot take {amount_out} out of {reserve_out}")
    return (
        reserve_in * amount_out * FEE_DENOMINATOR // ((reserve_out - amount_out) * FEE_NUMERATOR)
        + 1
    )


def get_amounts_out(
    amount_in: int, path: Sequence[str], pairs: Sequence[PairReserves]
) -> list[int]:
    """Amounts along ``path`` (tokens) through ``pairs`` (one per hop), router style."""
    _check_route(path, pairs)
    amounts = [amount_in]
    for token_in, pair in zip(path, pairs, strict=False):
        r_in, r_out = pair.reserves_for(token_in)
        amounts.append(get_amount_out(amounts[-1], r_in, r_out))
    return amounts


def get_amounts_in(
    amount_out: int, path: Sequence[str], pairs: Sequence[PairReserves]
) -> list[int]:
    """Inputs needed along ``path`` to receive ``amount_out`` of its last token."""
    _check_route(path, pairs)
    amounts = [amount_out]
    for i in range(len(pairs) - 1, -1, -1):
        r_in, r_out = pairs[i].reserves_for(path[i])
        amounts.append(get_amount_in(amounts[-1], r_in, r_out))
    amounts.reverse()
    return amounts


def _check_route(path: Sequence[str], pairs: Sequence[PairReserves]) -> None:
    if len(path) < 2 or len(pairs) != len(path) - 1:
        raise ValueError("a route needs n+1 tokens for n pairs")
    for i, pair in enumerate(pairs):
        if not pair.has(path[i], path[i + 1]):
            raise ValueError(f"pair {pair.pair} does not trade {path[i]}/{path[i + 1]}")


def after_swap(pair: PairReserves, token_in: str, amount_in: int, amount_out: int) -> PairReserves:
    """The pair's reserves once a swap of ``amount_in`` for ``amount_out`` has settled."""
    if token_in == pair.token0:
        return replace(
            pair, reserve0=pair.reserve0 + amount_in, reserve1=pair.reserve1 - amount_out
        )
    if token_in == pair.token1:
        return replace(
            pair, reserve0=pair.reserve0 - amount_out, reserve1=pair.reserve1 + amount_in
        )
    raise KeyError(f"{token_in} is not a token of pair {pair.pair}")


def swap_exact_in(
    amount_in: int, path: Sequence[str], pairs: Sequence[PairReserves]
) -> tuple[int, tuple[PairReserves, ...]]:
    """Output of an exact-in swap along a route and the pairs after it."""
    amounts = get_amounts_out(amount_in, path, pairs)
    after = tuple(
        after_swap(pair, path[i], amounts[i], amounts[i + 1]) for i, pair in enumerate(pairs)
    )
    return amounts[-1], after


def swap_exact_out(
    amount_out: int, path: Sequence[str], pairs: Sequence[PairReserves]
) -> tuple[int, tuple[PairReserves, ...]]:
    """Input of an exact-out swap along a route and the pairs after it."""
    amounts = get_amounts_in(amount_out, path, pairs)
    after = tuple(
        after_swap(pair, path[i], amounts[i], amounts[i + 1]) for i, pair in enumerate(pairs)
    )
    return amounts[0], after


def flash_repayment_ok(
    reserve0: int, reserve1: int, balance0: int, balance1: int, amount0_out: int, amount1_out: int
) -> bool:
    """The pair's K check after a (flash) swap, with the 0.3% fee taken on what came in."""
    in0 = balance0 - (reserve0 - amount0_out) if balance0 > reserve0 - amount0_out else 0
    in1 = balance1 - (reserve1 - amount1_out) if balance1 > reserve1 - amount1_out else 0
    adjusted0 = balance0 * 1000 - in0 * 3
    adjusted1 = balance1 * 1000 - in1 * 3
    return adjusted0 * adjusted1 >= reserve0 * reserve1 * 1000**2


@quick_init
@dataclass(frozen=True, slots=True)
class Curve:
    """Continuous relaxation of a route: ``out(x) = a*x / (b + c*x)``, all integers.

    For one hop ``a = 997 * r_out``, ``b = 1000 * r_in``, ``c = 997``. Two maps compose to
    ``a = a1*a2``, ``b = b1*b2``, ``c = b2*c1 + a1*c2``. The inverse (input needed for an
    output ``y < a/c``) is ``b*y / (a - c*y)``. Both are what the integer formulas round.
    """

    a: int
    b: int
    c: int

    @classmethod
    def hop(cls, reserve_in: int, reserve_out: int) -> Curve:
        return cls(FEE_NUMERATOR * reserve_out, FEE_DENOMINATOR * reserve_in, FEE_NUMERATOR)

    def then(self, nxt: Curve) -> Curve:
        return Curve(self.a * nxt.a, self.b * nxt.b, nxt.b * self.c + self.a * nxt.c)

    @classmethod
    def route(cls, path: Sequence[str], pairs: Sequence[PairReserves]) -> Curve:
        _check_route(path, pairs)
        curve: Curve | None = None
        for token_in, pair in zip(path, pairs, strict=False):
            hop = cls.hop(*pair.reserves_for(token_in))
            curve = hop if curve is None else curve.then(hop)
        assert curve is not None
        return curve


@dataclass(frozen=True, slots=True)
class ArbitrageSwap:
    """The one swap through the router that brings a pair to a target price."""

    token_in: str
    amount_in: int
    amount_out: int
    after: PairReserves
    """The pair once the swap has settled (what its ``Sync`` says)."""


def arbitrage_amount_in(reserve_in: int, reserve_out: int, weight_in: int, weight_out: int) -> int:
    """The largest ``amount_in`` of the pair's scarce token (``reserve_in * weight_in <
    reserve_out * weight_out``: it trades dear) whose swap, fee paid, leaves
    ``(reserve_in + x) * weight_in <= (reserve_out - get_amount_out(x)) * weight_out``.

    ``weight_*`` is the target value of one unit of each token (any common scale), so this
    is the arbitrageur's trade to the target price, as near as whole units get; 0 when the
    pair is there already. Solved in closed form on the continuous curve, then settled on the
    integers (the condition is monotone in ``x``).
    """
    if reserve_in <= 0 or reserve_out <= 0 or weight_in <= 0 or weight_out <= 0:
        raise InsufficientLiquidity("an arbitrage needs a non-empty pair and positive prices")

    def short(x: int) -> bool:
        out = get_amount_out(x, reserve_in, reserve_out) if x else 0
        return (reserve_in + x) * weight_in <= (reserve_out - out) * weight_out

    if not short(0):
        return 0
    # (r_in + x)(1000 r_in + 997 x) = 1000 r_in r_out w_out / w_in, a quadratic in x.
    disc = 9 * reserve_in**2 + 3_988_000 * reserve_in * reserve_out * weight_out // weight_in
    guess = max(0, (isqrt(disc) - 1997 * reserve_in) // 1994)
    step = max(1, guess >> 40)  # the guess is off by rounding only: start with a small bracket
    if short(guess):
        lo, hi = guess, guess + step
        while short(hi):
            lo, step = hi, step * 2
            hi = guess + step
    else:
        lo, hi = max(0, guess - step), guess
        while not short(lo):  # short(0) holds, so this ends
            hi, step = lo, step * 2
            lo = max(0, guess - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if short(mid) else (lo, mid)
    return lo


def arbitrage_swap(
    pair: PairReserves, weight0: int, weight1: int, *, tolerance_bps: int = 0
) -> ArbitrageSwap | None:
    """The swap an arbitrageur sends to bring ``pair`` to the price ``weight0 / weight1``
    (target values of one unit of token0 and of token1, any common scale: e.g. the oracle
    prices times the other token's unit), paying the pair's fee; None when nothing pays out
    or the pair is within ``tolerance_bps`` of the target already (not worth the gas).

    The single definition of "arbitrage" for the backtest's synthetic market, the
    re-enactment's arbitrageur and the demo's market driver, so the pairs agree to the wei.
    """
    if tolerance_bps < 0:
        raise ValueError("tolerance_bps must be 0 or more")
    v0, v1 = pair.reserve0 * weight0, pair.reserve1 * weight1
    if v0 == v1 or abs(v0 - v1) * 10_000 <= tolerance_bps * min(v0, v1):
        return None
    # token0 scarce in the pair (v0 < v1) trades dear there: the arbitrageur sells it
    token_in = pair.token0 if v0 < v1 else pair.token1
    r_in, r_out = pair.reserves_for(token_in)
    w_in, w_out = (weight0, weight1) if v0 < v1 else (weight1, weight0)
    amount_in = arbitrage_amount_in(r_in, r_out, w_in, w_out)
    if amount_in == 0:
        return None
    amount_out = get_amount_out(amount_in, r_in, r_out)
    if amount_out == 0:
        return None  # the pair would refuse it (INSUFFICIENT_OUTPUT_AMOUNT)
    return ArbitrageSwap(
        token_in, amount_in, amount_out, after_swap(pair, token_in, amount_in, amount_out)
    )
