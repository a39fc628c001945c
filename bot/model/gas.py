"""Gas: the next block's base fee (EIP-1559), gas per execution path, and the fee paid."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.model.types import ExecutionPath, GasParams

ELASTICITY_MULTIPLIER = 2
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8


def next_base_fee(
    parent_base_fee: int,
    parent_gas_used: int,
    parent_gas_limit: int,
    *,
    elasticity: int = ELASTICITY_MULTIPLIER,
    denominator: int = BASE_FEE_MAX_CHANGE_DENOMINATOR,
) -> int:
    """Base fee of the child of a header with these values (EIP-1559, exact)."""
    target = parent_gas_limit // elasticity
    if parent_gas_used == target:
        return parent_base_fee
    if parent_gas_used > target:
        delta = parent_base_fee * (parent_gas_used - target) // target // denominator
        return parent_base_fee + max(delta, 1)
    delta = parent_base_fee * (target - parent_gas_used) // target // denominator
    return parent_base_fee - delta


def base_fee_after(parent_base_fee: int, blocks: Iterable[tuple[int, int]]) -> int:
    """Base fee after a run of blocks given as (gas_used, gas_limit), oldest first."""
    fee = parent_base_fee
    for gas_used, gas_limit in blocks:
        fee = next_base_fee(fee, gas_used, gas_limit)
    return fee


class FeeTooLow(ValueError):
    """``max_fee_per_gas`` is below the block's base fee: the transaction cannot be included."""


def effective_gas_price(base_fee: int, max_fee_per_gas: int, max_priority_fee_per_gas: int) -> int:
    """What each unit of gas costs in a block with ``base_fee`` (type-2 transaction)."""
    if max_fee_per_gas < base_fee:
        raise FeeTooLow(f"max fee {max_fee_per_gas} < base fee {base_fee}")
    return base_fee + min(max_priority_fee_per_gas, max_fee_per_gas - base_fee)


def transaction_fee(
    gas_used: int, base_fee: int, max_fee_per_gas: int, max_priority_fee_per_gas: int
) -> int:
    """Wei the sender pays (burnt base fee plus the tip to the block's producer)."""
    return gas_used * effective_gas_price(base_fee, max_fee_per_gas, max_priority_fee_per_gas)


def next_block_fee(params: GasParams, gas_used: int) -> tuple[int, int]:
    """(base fee of the next block, wei a transaction using ``gas_used`` pays in it)."""
    base_fee = next_base_fee(
        params.parent_base_fee, params.parent_gas_used, params.parent_gas_limit
    )
    fee = transaction_fee(
        gas_used, base_fee, params.max_fee_per_gas, params.max_priority_fee_per_gas
    )
    return base_fee, fee


@dataclass(frozen=True, slots=True)
class GasSample:
    """One measured receipt: which path ran and how much gas it used."""

    path: ExecutionPath
    gas_used: int


DEFAULT_GAS: Mapping[ExecutionPath, int] = {
    ExecutionPath.FLASH: 400_000,
    ExecutionPath.INVENTORY: 300_000,
    ExecutionPath.INVENTORY_SWAP: 380_000,
}
"""Placeholders only until a table is calibrated from receipts (``GasTable.from_samples``)."""


@dataclass(frozen=True, slots=True)
class GasTable:
    """Gas the bot expects each execution path to use.

    Built from measured receipts, it keeps the largest observed value per path plus a margin
    (basis points): a liquidation's gas varies with cold storage and bad-debt write-offs, and
    underestimating it makes a loss look like a profit.
    """

    gas: Mapping[ExecutionPath, int] = field(default_factory=lambda: dict(DEFAULT_GAS))
    samples: Mapping[ExecutionPath, int] = field(default_factory=dict)
    """How many receipts each path was calibrated from (0: a placeholder)."""

    def gas_for(self, path: ExecutionPath) -> int:
        return self.gas[path]

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[GasSample],
        *,
        margin_bps: int = 1_000,
        fallback: Mapping[ExecutionPath, int] = DEFAULT_GAS,
    ) -> GasTable:
        worst: dict[ExecutionPath, int] = {}
        counts: dict[ExecutionPath, int] = {}
        for s in samples:
            if s.gas_used <= 0:
                continue
            worst[s.path] = max(worst.get(s.path, 0), s.gas_used)
            counts[s.path] = counts.get(s.path, 0) + 1
        gas = dict(fallback)
        for path, used in worst.items():
            gas[path] = used + (used * margin_bps + 9_999) // 10_000
        return cls(gas=gas, samples=counts)
