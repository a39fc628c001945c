"""Fixed-point arithmetic exactly as the bundled Solidity rounds it (see contracts/PROTOCOL.md).

Every helper is half-up like Aave's WadRayMath/PercentageMath, except ``ceil_div``. Python
integers do not overflow, so callers that need the contract's revert on overflow must check
bounds themselves; for realistic balances (< 2**128) nothing here comes near 2**256.
"""

from __future__ import annotations

WAD: int = 10**18
HALF_WAD = WAD // 2
RAY: int = 10**27
HALF_RAY = RAY // 2
PERCENTAGE_FACTOR = 10_000
HALF_PERCENTAGE_FACTOR = PERCENTAGE_FACTOR // 2
BASE_UNIT: int = 10**8
"""The oracle's base currency (USD) has 8 decimals."""
SECONDS_PER_YEAR = 365 * 24 * 3600
UINT256_MAX: int = 2**256 - 1
UINT112_MAX: int = 2**112 - 1


def ray_mul(a: int, b: int) -> int:
    return (a * b + HALF_RAY) // RAY


def ray_div(a: int, b: int) -> int:
    """Raises ``ZeroDivisionError`` where the contract would revert."""
    return (a * RAY + b // 2) // b


def wad_mul(a: int, b: int) -> int:
    return (a * b + HALF_WAD) // WAD


def wad_div(a: int, b: int) -> int:
    return (a * WAD + b // 2) // b


def percent_mul(value: int, percentage: int) -> int:
    return (value * percentage + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def percent_div(value: int, percentage: int) -> int:
    return (value * PERCENTAGE_FACTOR + percentage // 2) // percentage


def ceil_div(a: int, b: int) -> int:
    """Rounds up; 0 when ``a`` is 0 (Solidity's ``(a + b - 1) / b``)."""
    return (a + b - 1) // b if a else 0


def mul_div(a: int, b: int, denominator: int) -> int:
    """``a * b / denominator`` truncated, the contract's plain integer division."""
    return a * b // denominator
