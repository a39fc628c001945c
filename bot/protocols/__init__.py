"""Protocol adapters: everything that knows a lending protocol's ABI lives here.

The rest of the bot uses :class:`~bot.protocols.base.LendingProtocol` and the plain values of
:mod:`bot.protocols.base`; supporting another protocol means adding an adapter module and a
line to :data:`ADAPTERS`.
"""

from __future__ import annotations

from bot.protocols.aave_pool import AavePoolAdapter
from bot.protocols.auction_base import AuctionProtocol
from bot.protocols.auction_engine import VaultEngineAdapter
from bot.protocols.base import (
    LendingProtocol,
    LiquidationRequest,
    MarketLayout,
    PriceStatus,
    ProtocolEvent,
    TxCall,
)

ADAPTERS: dict[str, type[AavePoolAdapter]] = {"aave-pool": AavePoolAdapter}
"""Adapter classes by the protocol kind a deployment names."""

AUCTION_ADAPTERS: dict[str, type[VaultEngineAdapter]] = {"vault-engine": VaultEngineAdapter}
"""Vault-and-auction adapters (bot.run.keeper), by protocol kind."""

__all__ = [
    "ADAPTERS",
    "AUCTION_ADAPTERS",
    "AavePoolAdapter",
    "AuctionProtocol",
    "LendingProtocol",
    "LiquidationRequest",
    "MarketLayout",
    "PriceStatus",
    "ProtocolEvent",
    "TxCall",
    "VaultEngineAdapter",
]
