from __future__ import annotations

from fractions import Fraction
from math import floor

from hypothesis import given
from hypothesis import strategies as st

from bot.model.fixed_point import (
    HALF_WAD,
    RAY,
    WAD,
    ceil_div,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    wad_div,
    wad_mul,
)

amounts = st.integers(min_value=0, max_value=2**128)
positive = st.integers(min_value=1, max_value=2**128)


def half_up(x: Fraction) -> int:
    return floor(x + Fraction(1, 2))


def test_half_up_boundaries() -> None:
    assert wad_mul(1, HALF_WAD) == 1
    assert wad_mul(1, HALF_WAD - 1) == 0
    assert ray_mul(1, RAY // 2) == 1
    assert ray_mul(1, RAY // 2 - 1) == 0
    assert percent_mul(1, 5000) == 1
    assert percent_mul(1, 4999) == 0
    assert percent_mul(10_001, 10_500) == 10_501
    assert percent_div(105, 10_500) == 100
    assert percent_div(1, 20_001) == 0
    assert percent_div(1, 20_000) == 1  # exactly one half rounds up
    assert wad_div(1, 2 * WAD) == 1
    assert ray_div(3 * RAY, 2 * RAY) == 3 * RAY // 2


def test_ceil_div() -> None:
    assert ceil_div(0, 7) == 0
    assert ceil_div(1, 7) == 1
    assert ceil_div(7, 7) == 1
    assert ceil_div(8, 7) == 2


@given(amounts, amounts)
def test_mul_is_half_up(a: int, b: int) -> None:
    assert ray_mul(a, b) == half_up(Fraction(a * b, RAY))
    assert wad_mul(a, b) == half_up(Fraction(a * b, WAD))
    assert percent_mul(a, b % 20_000) == half_up(Fraction(a * (b % 20_000), 10_000))


@given(amounts, positive)
def test_div_is_half_up_for_even_divisors(a: int, b: int) -> None:
    # With an odd divisor the contract's b/2 truncates, so "half up" is exact only for even b.
    b *= 2
    assert ray_div(a, b) == half_up(Fraction(a * RAY, b))
    assert wad_div(a, b) == half_up(Fraction(a * WAD, b))
    assert percent_div(a, b) == half_up(Fraction(a * 10_000, b))
    assert ceil_div(a, b) == -(-a // b)
