from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.model.amm import (
    Curve,
    InsufficientInputAmount,
    InsufficientLiquidity,
    after_swap,
    flash_repayment_ok,
    get_amount_in,
    get_amount_out,
    get_amounts_in,
    get_amounts_out,
    swap_exact_in,
    swap_exact_out,
)
from bot.model.types import PairReserves

A, B, C = "0xA", "0xB", "0xC"
reserves = st.integers(min_value=1_000, max_value=2**100)


def test_hand_computed_amounts() -> None:
    # 1 WETH into 1,000 WETH / 3,000,000 USDC: 997e18 * 3e12 / (1e24 + 997e18)
    assert get_amount_out(10**18, 10**21, 3 * 10**12) == 2_988_020_943
    # 3,000 USDC out of it: 1e21 * 3e9 * 1000 / ((3e12 - 3e9) * 997) + 1
    assert get_amount_in(3 * 10**9, 10**21, 3 * 10**12) == 1_004_013_040_121_365_097
    assert get_amount_out(1, 10**18, 10**18) == 0  # dust gets nothing


def test_reverting_inputs() -> None:
    with pytest.raises(InsufficientLiquidity):
        get_amount_in(100, 10**6, 100)
    with pytest.raises(InsufficientInputAmount):
        get_amount_out(0, 10, 10)
    with pytest.raises(InsufficientLiquidity):
        get_amount_out(1, 0, 10)


def test_almost_empty_pool() -> None:
    # 10 units each side: a big trade gets at most 9 out, 9 out costs a fortune
    assert get_amount_out(10**30, 10, 10) == 9
    assert get_amount_in(9, 10, 10) == 10 * 9 * 1000 // 997 + 1
    with pytest.raises(InsufficientLiquidity):
        get_amount_in(10, 10, 10)


@given(reserves, reserves, st.integers(min_value=1, max_value=2**100))
def test_exact_out_pays_enough_and_passes_k(r_in: int, r_out: int, want: int) -> None:
    want = want % r_out or 1
    if want >= r_out:
        return
    paid = get_amount_in(want, r_in, r_out)
    assert get_amount_out(paid, r_in, r_out) >= want
    # the flash-swap K check of the pair holds when repaid with getAmountIn
    assert flash_repayment_ok(r_in, r_out, r_in + paid, r_out - want, 0, want)
    assert not flash_repayment_ok(r_in, r_out, r_in + paid * 99 // 100 - 1, r_out - want, 0, want)


@given(reserves, reserves, st.integers(min_value=1, max_value=2**100))
def test_exact_in_matches_k_check(r_in: int, r_out: int, amount: int) -> None:
    out = get_amount_out(amount, r_in, r_out)
    assert flash_repayment_ok(r_in, r_out, r_in + amount, r_out - out, 0, out)
    assert not flash_repayment_ok(r_in, r_out, r_in + amount, r_out - out - 1, 0, out + 1)


def route() -> tuple[list[str], list[PairReserves]]:
    p1 = PairReserves("0x1", A, B, 5 * 10**20, 2 * 10**12)
    p2 = PairReserves("0x2", C, B, 10**10, 3 * 10**12)
    return [A, B, C], [p1, p2]


def test_multi_hop_and_reserves_after() -> None:
    path, pairs = route()
    amounts = get_amounts_out(10**18, path, pairs)
    assert amounts[1] == get_amount_out(10**18, 5 * 10**20, 2 * 10**12)
    assert amounts[2] == get_amount_out(amounts[1], 3 * 10**12, 10**10)
    out, after = swap_exact_in(10**18, path, pairs)
    assert out == amounts[2]
    assert after[0].reserve0 == 5 * 10**20 + 10**18
    assert after[0].reserve1 == 2 * 10**12 - amounts[1]
    assert after[1].reserve0 == 10**10 - out
    assert after[1].reserve1 == 3 * 10**12 + amounts[1]
    needed = get_amounts_in(out, path, pairs)
    assert needed[-1] == out and needed[0] <= 10**18 + 2
    paid, _ = swap_exact_out(out, path, pairs)
    assert paid == needed[0]
    assert after_swap(pairs[0], B, 10, 5) == PairReserves(
        "0x1", A, B, 5 * 10**20 - 5, 2 * 10**12 + 10
    )
    with pytest.raises(ValueError):
        get_amounts_out(1, [A, C], [pairs[0]])


@given(st.integers(min_value=10**9, max_value=10**19))
def test_curve_is_the_relaxation_of_the_route(amount: int) -> None:
    path, pairs = route()
    curve = Curve.route(path, pairs)
    exact = Fraction(curve.a * amount, curve.b + curve.c * amount)
    # compose the unrounded hops by hand
    y: Fraction = Fraction(amount)
    for token, pair in zip(path, pairs, strict=False):
        r_in, r_out = pair.reserves_for(token)
        y = 997 * y * r_out / (1000 * r_in + 997 * y)
    assert exact == y
    rounded = get_amounts_out(amount, path, pairs)[-1]
    assert exact - 2 <= rounded <= exact
    # and the inverse
    if rounded > 0:
        assert Fraction(curve.b * rounded, curve.a - curve.c * rounded) <= amount
