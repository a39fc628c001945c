"""What the watcher hands the model for each block: plain Python values, no web3 objects.

A :class:`MarketSnapshot` says where the chain is (number, hash, timestamp, base fee), what
the market looks like (reserves, oracle prices and their health, AMM pairs, whether
liquidations are paused) and which accounts are at risk, each with its exact positions, the
model's account data and what the chain said when asked in the same block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.frozen import quick_init
from bot.model.health import AccountData
from bot.model.types import Account, MarketState, PairReserves
from bot.protocols.base import PriceStatus


@quick_init
@dataclass(frozen=True, slots=True)
class AccountAtRisk:
    """An account whose health factor is below 1 or within the watcher's margin of it."""

    account: Account
    data: AccountData
    """The model's exact ``getUserAccountData`` at the snapshot's block timestamp."""
    chain_health_factor: int | None = None
    """The pool's own answer in the same block; None when it could not be read (e.g. an
    oracle would revert), confirmation is off, or it is deferred and not yet done
    (``WatcherConfig.defer_confirm``, then ``Watcher.confirm``)."""
    blocked_by: tuple[str, ...] = ()
    """Why a liquidation would revert right now (paused pool, unusable price)."""

    @property
    def user(self) -> str:
        return self.account.user

    @property
    def health_factor(self) -> int:
        return self.data.health_factor

    @property
    def confirmed(self) -> bool:
        """The chain agrees with the model, to the wei."""
        return self.chain_health_factor == self.data.health_factor

    @property
    def liquidatable(self) -> bool:
        return self.data.liquidatable and not self.blocked_by


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    block_number: int
    block_hash: str
    parent_hash: str
    timestamp: int
    base_fee: int
    market: MarketState
    """Reserves in list order and the oracle's *usable* prices (8-decimal USD)."""
    oracle: Mapping[str, PriceStatus]
    """Every asset's oracle status, usable or not (stale feeds, tripped breaker)."""
    pairs: tuple[PairReserves, ...]
    at_risk: tuple[AccountAtRisk, ...]
    """Sorted by health factor, lowest first."""
    accounts: int
    """Accounts in the book."""
    borrowers: int
    symbols: Mapping[str, str] = field(default_factory=dict)
    reorg_depth: int = 0
    """Blocks rolled back to reach this one (0 when the chain simply grew)."""
    gas_used: int = 0
    gas_limit: int = 0
    """This block's gas, from which EIP-1559 fixes the next block's base fee exactly."""
    along: tuple[Any, ...] | None = None
    """The values of the watcher's ``along`` reads at this block, in their order (a
    :class:`~bot.chain.multicall.ReadFailed` for one that failed); None where the step read
    no state, and so made none of them."""

    @property
    def prices(self) -> Mapping[str, int]:
        return self.market.prices

    @property
    def liquidations_paused(self) -> bool:
        return self.market.liquidations_paused

    @property
    def unpriced_assets(self) -> tuple[str, ...]:
        return tuple(a for a, s in self.oracle.items() if not s.usable)

    @property
    def liquidatable(self) -> tuple[AccountAtRisk, ...]:
        """At-risk accounts below 1 with nothing that would make a liquidation revert."""
        return tuple(a for a in self.at_risk if a.liquidatable)
