"""Which accounts can a price move have brought near liquidation? A lower bound per account.

Health is collateral value times liquidation threshold over debt value. A collateral term is
``scaled supply * normalized income * price`` and a debt term ``scaled debt * normalized
debt * price``; when prices and indexes move (a price update, an index that jumps, interest
accruing), every collateral term scales by its asset's ``price ratio * income ratio`` and
every debt term by its ``price ratio * debt-index ratio``, so an account's health cannot
fall by more than ``min(1, min collateral ratio) / max(1, max debt ratio)``, whatever it
holds. The index keeps, for every account
the watcher does not already recompute every block, the health last computed exactly; a
price move multiplies one global scale by that factor, and only accounts whose scaled bound
falls under the line are popped (cheapest first, from a heap) to be recomputed exactly. An
account far from the line costs nothing per block, however many prices move.

The model rounds as the pool does (values to whole base units, the average threshold to a
whole basis point), so the bound carries a relative slack (``SLACK``) that covers the
rounding of any account above ``DUST_BASE`` of collateral and of debt and with an average
threshold of at least ``MIN_THRESHOLD``; other accounts are kept aside and recomputed on
every price move.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping

from bot.model.health import AccountData

Levels = Mapping[str, tuple[int, int, int]]
"""asset -> (price, liquidity index, borrow index), the indexes normalized to one moment."""

SLACK = 1e-3
"""Relative margin on every bound: rounding moves a health by at most about 5e-4 here."""
DUST_BASE = 10**6
"""Collateral or debt below this many base units (8-decimal USD: one cent) is kept aside."""
MIN_THRESHOLD = 2_000
"""Average liquidation thresholds below this (basis points) are kept aside."""
_RENORMALIZE_BELOW = 1e-100


class HealthIndex:
    """Lower bounds on the health of the accounts not recomputed every block."""

    def __init__(self) -> None:
        self._levels: dict[str, tuple[int, int, int]] = {}
        self._scale = 1.0
        self._heap: list[tuple[float, str]] = []
        self._stored: dict[str, float] = {}
        self._aside: set[str] = set()

    def __len__(self) -> int:
        return len(self._stored) + len(self._aside)

    def __contains__(self, user: object) -> bool:
        return user in self._stored or user in self._aside

    def __iter__(self) -> Iterator[str]:
        yield from self._stored
        yield from self._aside

    def reset(self, levels: Levels) -> None:
        """Forget every account; later bounds are relative to ``levels``."""
        self._levels = dict(levels)
        self._scale = 1.0
        self._heap = []
        self._stored = {}
        self._aside = set()

    def add(self, user: str, data: AccountData) -> None:
        """Record ``user``'s exact health, computed at the levels the index holds."""
        self.discard(user)
        if (
            data.total_collateral_base < DUST_BASE
            or data.total_debt_base < DUST_BASE
            or data.current_liquidation_threshold < MIN_THRESHOLD
        ):
            self._aside.add(user)
            return
        stored = data.health_factor / self._scale
        self._stored[user] = stored
        heapq.heappush(self._heap, (stored, user))
        if len(self._heap) > 2 * len(self._stored) + 1_024:
            self._heap = [(v, u) for u, v in self._stored.items()]
            heapq.heapify(self._heap)

    def discard(self, user: str) -> None:
        self._stored.pop(user, None)  # its heap entry goes stale and is skipped
        self._aside.discard(user)

    def reprice(self, levels: Levels, line: int) -> set[str]:
        """Move the index to ``levels``; return (and remove) every account whose health may
        now be below ``line``. The caller recomputes them exactly and adds them back."""
        factor = health_factor_bound(self._levels, levels)
        self._levels = dict(levels)
        if factor >= 1.0:
            return set()
        if factor <= 0.0:
            out = set(self._stored) | self._aside
            self.reset(levels)
            return out
        out = set(self._aside)
        self._aside.clear()
        self._scale *= factor
        limit = line / (self._scale * (1.0 - SLACK))
        heap, stored = self._heap, self._stored
        while heap and heap[0][0] < limit:
            value, user = heapq.heappop(heap)
            if stored.get(user) == value:
                del stored[user]
                out.add(user)
        if self._scale < _RENORMALIZE_BELOW:
            scale = self._scale
            self._stored = {u: v * scale for u, v in stored.items()}
            self._heap = [(v, u) for u, v in self._stored.items()]
            heapq.heapify(self._heap)
            self._scale = 1.0
        return out


def health_factor_bound(old: Levels, new: Levels) -> float:
    """The most any account's health can have been multiplied down by going from ``old`` to
    ``new`` levels (0 when an asset appeared, lost its price, or a level is not positive)."""
    low = high = 1.0
    for asset in old.keys() | new.keys():
        a, b = old.get(asset), new.get(asset)
        if a == b:
            continue
        if a is None or b is None or min(*a, *b) <= 0:
            return 0.0
        price = b[0] / a[0]
        low = min(low, price * (b[1] / a[1]))  # a collateral term
        high = max(high, price * (b[2] / a[2]))  # a debt term
    return low / high
