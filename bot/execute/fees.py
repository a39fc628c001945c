"""EIP-1559 fees: the first bid, replacements that clients accept, and the operator's caps.

Pure functions. The max fee is the predicted base fee plus headroom plus the tip, so that the
transaction survives a few blocks of rising base fee without a replacement; the tip comes
from the model's bid. A replacement raises *both* fields by at least ``bump_bps`` (12.5%):
geth asks 10% on both, anvil only checks the max fee, and web3.py checks nothing, so the rule
is enforced here. Nothing ever exceeds the caps: a bid that needs more is refused instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.frozen import quick_init
from bot.model.gas import next_base_fee

BPS = 10_000
MIN_BUMP_BPS = 1_250


@quick_init
@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def __post_init__(self) -> None:
        if self.max_fee_per_gas < 0 or self.max_priority_fee_per_gas < 0:
            raise ValueError("fees must not be negative")
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValueError("priority fee above max fee")

    def worst_case_cost(self, gas_limit: int) -> int:
        """Wei the sender may pay at most for ``gas_limit`` gas."""
        return gas_limit * self.max_fee_per_gas

    def expected_cost(self, gas: int, base_fee: int) -> int:
        """Wei paid for ``gas`` in a block with ``base_fee`` (the tip is capped by the max fee)."""
        return gas * (
            base_fee + min(self.max_priority_fee_per_gas, self.max_fee_per_gas - base_fee)
        )


@dataclass(frozen=True, slots=True)
class FeeCaps:
    """Hard limits per gas; no attempt, replacement or cancellation goes above them."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def allows(self, fees: Fees) -> bool:
        return (
            fees.max_fee_per_gas <= self.max_fee_per_gas
            and fees.max_priority_fee_per_gas <= self.max_priority_fee_per_gas
        )


@dataclass(frozen=True, slots=True)
class FeePolicy:
    caps: FeeCaps
    headroom_bps: int = 2_500
    """Max fee = predicted base fee * (1 + headroom) + tip: about two full blocks of rise."""
    bump_bps: int = MIN_BUMP_BPS
    """Each replacement raises both fields by at least this much (never below 12.5%)."""
    min_priority_fee_per_gas: int = 0
    cancel_priority_fee_per_gas: int = 10**9
    """Tip for a cancellation when the attempt it replaces had less."""

    def __post_init__(self) -> None:
        if self.bump_bps < MIN_BUMP_BPS:
            raise ValueError(f"bump_bps must be at least {MIN_BUMP_BPS} (12.5%)")
        if self.headroom_bps < 0:
            raise ValueError("headroom_bps must not be negative")


def predict_base_fee(
    parent_base_fee: int, parent_gas_used: int, parent_gas_limit: int, blocks_ahead: int = 1
) -> int:
    """Base fee ``blocks_ahead`` blocks after the parent, assuming the blocks after the next are
    full (the worst case: +12.5% each)."""
    fee = next_base_fee(parent_base_fee, parent_gas_used, parent_gas_limit)
    for _ in range(max(0, blocks_ahead - 1)):
        fee = fee + max(fee // 8, 1)
    return fee


def _ceil_bps(value: int, bps: int) -> int:
    return -(-value * (BPS + bps) // BPS)


@dataclass(frozen=True, slots=True)
class FeeRefusal:
    """Why no fee could be chosen (nothing is sent)."""

    reason: str


def initial_fees(
    predicted_base_fee: int, priority_fee: int, policy: FeePolicy
) -> Fees | FeeRefusal:
    """The first bid, or a refusal when the caps cannot cover the predicted base fee.

    The first bid stays one bump below the caps, so that a replacement, and above all a
    cancellation, always fits under them.
    """
    caps = _first_bid_caps(policy)
    tip = min(max(priority_fee, policy.min_priority_fee_per_gas), caps.max_priority_fee_per_gas)
    if predicted_base_fee > caps.max_fee_per_gas:
        return FeeRefusal(
            f"predicted base fee {predicted_base_fee} is above the max fee cap "
            f"{policy.caps.max_fee_per_gas} (less the room kept for one replacement)"
        )
    tip = min(tip, caps.max_fee_per_gas - predicted_base_fee)
    max_fee = min(_ceil_bps(predicted_base_fee, policy.headroom_bps) + tip, caps.max_fee_per_gas)
    return Fees(max_fee, min(tip, max_fee))


def _first_bid_caps(policy: FeePolicy) -> FeeCaps:
    room = BPS + policy.bump_bps
    return FeeCaps(
        policy.caps.max_fee_per_gas * BPS // room,
        policy.caps.max_priority_fee_per_gas * BPS // room,
    )


def min_replacement(old: Fees, bump_bps: int = MIN_BUMP_BPS) -> Fees:
    """The lowest fees a replacement of ``old`` may carry: both fields up by ``bump_bps``."""
    bump_bps = max(bump_bps, MIN_BUMP_BPS)
    max_fee = _ceil_bps(old.max_fee_per_gas, bump_bps)
    tip = _ceil_bps(old.max_priority_fee_per_gas, bump_bps)
    return Fees(max(max_fee, tip), tip)


def is_valid_replacement(old: Fees, new: Fees, bump_bps: int = MIN_BUMP_BPS) -> bool:
    """Both fields at least ``bump_bps`` above the old ones (what we require of ourselves)."""
    floor = min_replacement(old, bump_bps)
    return (
        new.max_fee_per_gas >= floor.max_fee_per_gas
        and new.max_priority_fee_per_gas >= floor.max_priority_fee_per_gas
    )


def replacement_fees(
    old: Fees, predicted_base_fee: int, priority_fee: int, policy: FeePolicy
) -> Fees | FeeRefusal:
    """Fees for a replacement at the same nonce: at least the bump over ``old``, and at least
    what a fresh bid at the predicted base fee would carry; refused above the caps."""
    floor = min_replacement(old, policy.bump_bps)
    caps = policy.caps
    wanted_tip = min(
        max(priority_fee, policy.min_priority_fee_per_gas), caps.max_priority_fee_per_gas
    )
    tip = max(floor.max_priority_fee_per_gas, wanted_tip)
    target = min(_ceil_bps(predicted_base_fee, policy.headroom_bps) + tip, caps.max_fee_per_gas)
    new = Fees(max(floor.max_fee_per_gas, target, tip), tip)
    if not policy.caps.allows(new):
        return FeeRefusal(
            f"a replacement needs max fee {new.max_fee_per_gas} and tip "
            f"{new.max_priority_fee_per_gas}, above the caps ({policy.caps.max_fee_per_gas}, "
            f"{policy.caps.max_priority_fee_per_gas})"
        )
    return new


def cancel_fees(old: Fees, predicted_base_fee: int, policy: FeePolicy) -> Fees | FeeRefusal:
    """Fees for a zero-value self-send replacing ``old`` (the same rule as any replacement)."""
    return replacement_fees(old, predicted_base_fee, policy.cancel_priority_fee_per_gas, policy)
