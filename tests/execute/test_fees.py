"""EIP-1559 bids, caps and the 12.5% replacement rule (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.execute.fees import (
    FeeCaps,
    FeePolicy,
    FeeRefusal,
    Fees,
    cancel_fees,
    initial_fees,
    is_valid_replacement,
    min_replacement,
    predict_base_fee,
    replacement_fees,
)
from bot.model.gas import next_base_fee

GWEI = 10**9
POLICY = FeePolicy(FeeCaps(200 * GWEI, 10 * GWEI))


def test_first_bid_has_headroom_and_respects_caps() -> None:
    fees = initial_fees(20 * GWEI, 2 * GWEI, POLICY)
    assert fees == Fees(25 * GWEI + 2 * GWEI, 2 * GWEI)
    # The first bid keeps one bump of room under the caps (so a cancellation always fits).
    capped = initial_fees(20 * GWEI, 50 * GWEI, POLICY)
    assert isinstance(capped, Fees) and capped.max_priority_fee_per_gas == 8_888_888_888
    assert isinstance(cancel_fees(capped, 20 * GWEI, POLICY), Fees)
    tight = initial_fees(170 * GWEI, 10 * GWEI, POLICY)
    assert tight == Fees(177_777_777_777, 7_777_777_777)  # the tip shrinks to fit
    refused = initial_fees(178 * GWEI, GWEI, POLICY)
    assert isinstance(refused, FeeRefusal) and "above the max fee cap" in refused.reason


def test_predicted_base_fee_follows_eip1559() -> None:
    assert predict_base_fee(10 * GWEI, 30_000_000, 30_000_000) == next_base_fee(
        10 * GWEI, 30_000_000, 30_000_000
    )
    assert predict_base_fee(8 * GWEI, 15_000_000, 30_000_000, blocks_ahead=3) == 10_125_000_000


def test_replacement_raises_both_fields_by_an_eighth() -> None:
    old = Fees(100 * GWEI, 2 * GWEI)
    assert min_replacement(old) == Fees(112_500_000_000, 2_250_000_000)
    assert is_valid_replacement(old, Fees(112_500_000_000, 2_250_000_000))
    assert not is_valid_replacement(old, Fees(112_499_999_999, 3 * GWEI))
    assert not is_valid_replacement(old, Fees(150 * GWEI, 2_249_999_999))  # anvil would take it
    new = replacement_fees(old, 10 * GWEI, GWEI, POLICY)
    assert isinstance(new, Fees) and is_valid_replacement(old, new)
    over = replacement_fees(Fees(190 * GWEI, 2 * GWEI), 10 * GWEI, GWEI, POLICY)
    assert isinstance(over, FeeRefusal)


def test_a_replacement_bid_tracks_a_rising_base_fee() -> None:
    old = Fees(30 * GWEI, 2 * GWEI)
    new = replacement_fees(old, 100 * GWEI, 2 * GWEI, POLICY)
    assert isinstance(new, Fees) and new.max_fee_per_gas == 125 * GWEI + 2_250_000_000


def test_policy_refuses_a_bump_below_the_rule() -> None:
    with pytest.raises(ValueError):
        FeePolicy(FeeCaps(GWEI, GWEI), bump_bps=1_000)


fee = st.integers(min_value=0, max_value=10**13)


@given(fee, fee, fee, st.integers(min_value=1, max_value=10**12), st.booleans())
def test_every_replacement_clears_the_rule_and_the_caps(
    max_fee: int, tip: int, base: int, priority: int, cancel: bool
) -> None:
    old = Fees(max(max_fee, tip), tip)
    caps = FeeCaps(5 * 10**12, 10**12)
    policy = FeePolicy(caps)
    new = (
        cancel_fees(old, base, policy) if cancel else replacement_fees(old, base, priority, policy)
    )
    if isinstance(new, Fees):
        assert is_valid_replacement(old, new)
        assert new.max_fee_per_gas * 8 >= old.max_fee_per_gas * 9
        assert new.max_priority_fee_per_gas * 8 >= old.max_priority_fee_per_gas * 9
        assert caps.allows(new)
        assert new.max_priority_fee_per_gas <= new.max_fee_per_gas
    else:
        # Refused only when the smallest valid replacement is already over the caps.
        assert not caps.allows(min_replacement(old))


@given(fee, fee)
def test_first_bids_stay_under_the_caps(base: int, priority: int) -> None:
    result = initial_fees(base, priority, POLICY)
    if isinstance(result, Fees):
        assert POLICY.caps.allows(result)
        assert result.max_fee_per_gas >= base
        cancel = cancel_fees(result, base, POLICY)
        assert isinstance(cancel, Fees)  # a first bid can always be cancelled under the caps
    else:
        assert base * 9 > POLICY.caps.max_fee_per_gas * 8
