"""What the keeper needs from a vault-and-auction protocol (Maker-style), whatever its ABI.

The lending interface (:class:`~bot.protocols.base.LendingProtocol`) is about accounts with
positions and one liquidation call; auction protocols have vaults, a call that *starts* an
auction (bark), and auctions that run over time (take/redo, or tend/dent/deal). Rather than
force one into the other, this module defines a small :class:`AuctionProtocol` beside it:
the logs that build the vault book and mark auctions as changed, the reads (each a
Multicall3 :class:`~bot.chain.multicall.Read`) of an ilk's parameters, a running auction and
a pair, and the calldata of every keeper action. The values are plain, so the model and the
keeper never see an ABI.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from bot.chain.multicall import Multicall, Read
from bot.chain.rpc import LogEntry
from bot.model.auction import DutchParams, EnglishAuctionState, EnglishParams, Sale
from bot.protocols.base import TxCall

DUTCH = "dutch"
ENGLISH = "english"


@dataclass(frozen=True, slots=True)
class IlkInfo:
    """One collateral type and the contracts around it (static: from the deployment)."""

    name: str
    ilk: bytes
    collateral: str
    decimals: int
    dutch: str
    english: str
    pair: str
    stable_is_token0: bool


@dataclass(frozen=True, slots=True)
class IlkState:
    """An ilk's engine and liquidator parameters, its auction module, price and pair, as read
    in one block. ``collateral_price`` is 0 when the oracle would revert (stale, breaker)."""

    name: str
    rate: int
    stability_fee: int
    last_drip: int
    liquidation_ratio: int
    dust: int
    collateral_price: int
    module: str
    module_kind: str
    """``"dutch"`` or ``"english"``: where ``bark`` starts auctions."""
    penalty: int
    tip: int
    chip: int
    room: int
    dutch: DutchParams
    english: EnglishParams
    reserve_collateral: int
    reserve_stable: int


@dataclass(frozen=True, slots=True)
class VaultState:
    ilk: str
    owner: str
    collateral: int
    normalized_debt: int


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class VaultChanged:
    """A vault's new absolute values (``VaultUpdated``)."""

    vault: VaultState


@dataclass(frozen=True, slots=True)
class AuctionChanged:
    """Something happened to auction ``id`` of ``module``: read it again."""

    ilk: str
    module_kind: str
    id: int


@dataclass(frozen=True, slots=True)
class ParametersChanged:
    """Engine, liquidator, auction or curve parameters moved (read every block anyway)."""

    source: str


AuctionEvent = VaultChanged | AuctionChanged | ParametersChanged


# ----------------------------------------------------------------------------- interface


class AuctionProtocol(ABC):
    """One vault-and-auction protocol kind. Addresses are checksummed strings."""

    name: str = "auction protocol"
    deployment_block: int = 0

    @property
    @abstractmethod
    def multicall_address(self) -> str: ...

    @property
    @abstractmethod
    def stablecoin(self) -> str: ...

    @abstractmethod
    def ilks(self) -> tuple[IlkInfo, ...]: ...

    # -- logs
    @abstractmethod
    def discovery_filter(self) -> tuple[list[str], list[bytes]]:
        """Logs from ``deployment_block`` that rebuild every vault."""

    @abstractmethod
    def follow_filter(self) -> tuple[list[str], list[bytes]]:
        """Logs to read for each new block."""

    @abstractmethod
    def decode_log(self, entry: LogEntry) -> AuctionEvent | None: ...

    # -- reads
    @abstractmethod
    def ilk_state(self, multicall: Multicall, block: int | str) -> dict[str, IlkState]:
        """Every ilk's parameters, price, room and pair, in a few batched calls."""

    @abstractmethod
    def active_ids_read(self, ilk: str, module_kind: str) -> Read[tuple[int, ...]]: ...

    @abstractmethod
    def sale_read(self, ilk: str, auction_id: int) -> Read[Sale | None]:
        """A Dutch auction, None when it no longer exists."""

    @abstractmethod
    def english_read(self, ilk: str, auction_id: int) -> Read[EnglishAuctionState | None]: ...

    @abstractmethod
    def vault_read(self, ilk: str, owner: str) -> Read[VaultState]: ...

    @abstractmethod
    def stable_balance_read(self, holder: str) -> Read[int]:
        """The stablecoin balance of ``holder`` (the bot's inventory for English bids)."""

    @abstractmethod
    def native_price_read(self) -> Read[int]:
        """The native token's USD price (8 decimals), to price gas in stablecoin."""

    # -- writes
    @abstractmethod
    def encode_bark(self, ilk: str, owner: str, keeper: str) -> TxCall: ...

    @abstractmethod
    def encode_flash_take(
        self, ilk: str, auction_id: int, amount: int, max_price: int, min_profit: int
    ) -> TxCall:
        """A take through the bot's flash taker (sells on the ilk's pair, no inventory)."""

    @abstractmethod
    def encode_redo(self, ilk: str, auction_id: int, keeper: str) -> TxCall: ...

    @abstractmethod
    def encode_tend(self, ilk: str, auction_id: int, lot: int, bid: int) -> TxCall: ...

    @abstractmethod
    def encode_dent(self, ilk: str, auction_id: int, lot: int, bid: int) -> TxCall: ...

    @abstractmethod
    def encode_deal(self, ilk: str, auction_id: int) -> TxCall: ...
