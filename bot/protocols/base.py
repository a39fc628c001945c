"""What the bot needs from a lending protocol, whatever its ABI: the adapter interface.

The watcher, the model and the executor talk to a :class:`LendingProtocol` and to the plain
values below, never to a pool's ABI, so that supporting another protocol means writing one
more adapter. An adapter says

- which logs build the book of borrowers (``discovery_*``) and which logs to follow block by
  block (``follow_*``), and turns a raw log into a protocol-neutral :data:`ProtocolEvent`;
- how to read the market's layout, a reserve, a price, an account, and the protocol's own
  view of an account's health, each as a :class:`~bot.chain.multicall.Read` so that the
  watcher can put many of them in one batched call;
- how to compute an account's health exactly (delegating to ``bot.model``);
- how to encode a liquidation as calldata.

ABI helpers (:class:`AbiFunction`, :class:`AbiEvent`) live here too, for adapters to share.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_signature_to_log_topic, function_signature_to_4byte_selector

from bot.chain.multicall import Call, Multicall, Read
from bot.chain.rpc import LogEntry, checksum_address
from bot.frozen import quick_init
from bot.model.health import AccountData
from bot.model.types import Account, ExecutionPath, MarketState, PairReserves, Reserve, UserReserve

# ----------------------------------------------------------------------------- plain values


def checksum(address: str) -> str:
    """One spelling for every address (the model compares addresses as strings)."""
    return checksum_address(address)


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """A price feed behind an asset and how old its answer may get before it is stale."""

    address: str
    heartbeat: int


@dataclass(frozen=True, slots=True)
class PairInfo:
    """An AMM pair the executor may swap or flash-swap through."""

    address: str
    token0: str
    token1: str


@dataclass(frozen=True, slots=True)
class PriceStatus:
    """What the protocol's oracle says about one asset, without reverting.

    ``price`` is 0 when the protocol would revert on a price read: then no account holding
    the asset can be liquidated (nor its health read) until the cause goes away.
    """

    asset: str
    price: int
    primary_valid: bool = True
    fallback_valid: bool = False
    breaker_tripped: bool = False
    primary_updated_at: int = 0

    @property
    def usable(self) -> bool:
        return self.price > 0

    @property
    def reason(self) -> str:
        if self.breaker_tripped:
            return "circuit breaker tripped"
        if self.usable:
            return "ok" if self.primary_valid else "primary feed invalid, fallback in use"
        return "no valid price (stale, out of bounds or unavailable)"


@dataclass(frozen=True, slots=True)
class MarketLayout:
    """The slow-changing shape of a market: reserves, their price sources, AMM pairs."""

    assets: tuple[str, ...]
    """Reserves in the protocol's list order."""
    symbols: Mapping[str, str]
    feeds: Mapping[str, tuple[FeedInfo, ...]]
    """Per asset, the feeds whose updates can move its price."""
    pairs: tuple[PairInfo, ...] = ()
    treasury: str = ""

    def assets_of_feed(self, feed: str) -> tuple[str, ...]:
        return tuple(a for a, fs in self.feeds.items() if any(f.address == feed for f in fs))

    def feed_addresses(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for infos in self.feeds.values():
            for info in infos:
                seen[info.address] = None
        return tuple(seen)


@quick_init
@dataclass(frozen=True, slots=True)
class TxCall:
    """A transaction's destination and calldata, ready for the executor to sign."""

    to: str
    data: bytes
    value: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class LiquidationRequest:
    """One liquidation as the executor wants it sent.

    ``path`` None sends ``liquidationCall`` straight to the pool from the bot's account;
    otherwise through the bot's liquidator contract (``bot.model.types.ExecutionPath``).
    ``min_out`` is the contract's guard: minimum profit (FLASH, INVENTORY_SWAP) or minimum
    collateral seized (INVENTORY).
    """

    collateral: str
    debt: str
    user: str
    debt_to_cover: int
    path: ExecutionPath | None = None
    pair: str | None = None
    min_out: int = 0
    receive_a_token: bool = False


# ----------------------------------------------------------------------------- events


@quick_init
@dataclass(frozen=True, slots=True)
class PositionChanged:
    """A user's balances in one reserve, as new absolute values."""

    user: str
    position: UserReserve


@dataclass(frozen=True, slots=True)
class ReserveChanged:
    """A reserve's state or configuration moved: read it again."""

    asset: str


@dataclass(frozen=True, slots=True)
class PriceChanged:
    """A feed published an answer: the oracle's price of ``assets`` may have moved."""

    feed: str
    assets: tuple[str, ...]
    updated_at: int


@dataclass(frozen=True, slots=True)
class LiquidationsPausedChanged:
    paused: bool


@dataclass(frozen=True, slots=True)
class PairSynced:
    pair: str
    reserve0: int
    reserve1: int


@dataclass(frozen=True, slots=True)
class LayoutChanged:
    """Reserves, price sources or the oracle changed: reload the layout."""

    reason: str


@dataclass(frozen=True, slots=True)
class PolledState:
    """State read instead of followed: logs of ``topics`` from ``addresses`` say only "read
    this again", and there are few such addresses, so the watcher leaves these logs out of
    what it fetches and, when a block's bloom may hold one (or no bloom can say), reads the
    state itself in the block's one batched call: fewer and smaller ``eth_getLogs``
    answers, no extra request. ``kind`` names the reads: ``"reserves"`` (every reserve, one
    call) or ``"pairs"`` (each pair of ``addresses`` the bloom may hold)."""

    kind: Literal["reserves", "pairs"]
    addresses: tuple[str, ...]
    topics: tuple[bytes, ...]


ProtocolEvent = (
    PositionChanged
    | ReserveChanged
    | PriceChanged
    | LiquidationsPausedChanged
    | PairSynced
    | LayoutChanged
)


# ----------------------------------------------------------------------------- interface


class LendingProtocol(ABC):
    """One protocol kind. Addresses are checksummed strings; amounts are protocol units."""

    name: str = "lending protocol"
    deployment_block: int = 0

    @property
    @abstractmethod
    def multicall_address(self) -> str:
        """A Multicall3-compatible contract on the same chain."""

    # -- logs
    @abstractmethod
    def discovery_filter(self) -> tuple[list[str], list[bytes]]:
        """(addresses, topic0 alternatives) whose logs, from ``deployment_block``, rebuild
        every account's positions."""

    @abstractmethod
    def follow_filter(self, layout: MarketLayout) -> tuple[list[str], list[bytes]]:
        """(addresses, topic0 alternatives) to read for each new block."""

    @abstractmethod
    def decode_log(self, entry: LogEntry, layout: MarketLayout) -> ProtocolEvent | None:
        """The event a log means, or None for logs the bot does not need."""

    def polled_state(self, layout: MarketLayout) -> tuple[PolledState, ...]:
        """Events whose state is read rather than their logs fetched (none by default)."""
        return ()

    def lean_follow_filter(self, layout: MarketLayout) -> tuple[list[str], list[bytes]]:
        """:meth:`follow_filter` less the logs of :meth:`polled_state` (and the addresses
        left with nothing to emit); the same filter by default."""
        return self.follow_filter(layout)

    # -- reads
    @abstractmethod
    def load_layout(self, multicall: Multicall, block: int | str) -> MarketLayout:
        """Read the market's layout at ``block`` (a few batched calls)."""

    @abstractmethod
    def reserves_read(self) -> Read[tuple[Reserve, ...]]:
        """Every reserve's configuration and state, in list order."""

    @abstractmethod
    def reserve_read(self, asset: str) -> Read[Reserve]: ...

    @abstractmethod
    def price_read(self, asset: str) -> Read[PriceStatus]: ...

    @abstractmethod
    def feed_updated_at_read(self, feed: str) -> Read[int]:
        """When ``feed`` last published (staleness changes with time, without an event)."""

    @abstractmethod
    def paused_read(self) -> Read[bool]:
        """Whether liquidations are paused right now."""

    @abstractmethod
    def pair_read(self, pair: PairInfo) -> Read[PairReserves]: ...

    @abstractmethod
    def account_read(self, user: str) -> Read[Account]:
        """An account's positions as the chain holds them (for reconciliation)."""

    @abstractmethod
    def health_read(self, user: str) -> Read[AccountData]:
        """The protocol's own computation of an account's health (to confirm candidates)."""

    # -- the exact model
    @abstractmethod
    def account_health(self, market: MarketState, account: Account, timestamp: int) -> AccountData:
        """What ``health_read`` would return, computed locally and exactly."""

    def health_at(self, market: MarketState, timestamp: int) -> Callable[[Account], AccountData]:
        """:meth:`account_health` for the many accounts of one recompute (one market state,
        one timestamp): a protocol may work out once what they all share."""
        return lambda account: self.account_health(market, account, timestamp)

    # -- writes
    @abstractmethod
    def encode_liquidation(self, request: LiquidationRequest) -> TxCall: ...


# ----------------------------------------------------------------------------- ABI helpers


def _is_word(kind: str) -> bool:
    """A type that ABI-encodes as exactly one 32-byte word (decoded here by slicing)."""
    if kind in ("bool", "address", "bytes32"):
        return True
    return (kind.startswith(("uint", "int"))) and "[" not in kind and "(" not in kind


def _word(kind: str, word: bytes) -> Any:
    if kind == "address":
        return checksum_address("0x" + word[12:].hex())
    if kind == "bool":
        if word[:31].strip(b"\0") or word[31] > 1:
            raise ValueError("invalid bool")
        return word[31] == 1
    if kind == "bytes32":
        return word
    if kind.startswith("int"):
        return int.from_bytes(word, "big", signed=True)
    return int.from_bytes(word, "big")


def _decode_words(kinds: Sequence[str], data: bytes) -> tuple[Any, ...]:
    if len(data) < 32 * len(kinds):
        raise ValueError(f"need {32 * len(kinds)} bytes, got {len(data)}")
    return tuple(_word(k, data[32 * i : 32 * i + 32]) for i, k in enumerate(kinds))


_ADDRESS_TEXT = re.compile(r"0x[0-9a-fA-F]{40}")


def _valid_case(address: str) -> bool:
    """All one case, or a valid EIP-55 checksum (what eth_abi accepts). The checksum is
    looked up by the lower-case spelling, the one the book's decoding filled the cache
    with: a crash block sends to a thousand users the cache already holds."""
    body = address[2:]
    lower = body.lower()
    return body == lower or body == body.upper() or checksum_address("0x" + lower) == address


def _encode_word(kind: str, value: Any) -> bytes | None:
    """One argument as its 32-byte ABI word; None where eth_abi should decide (an unusual
    value or type: it then encodes it, or refuses it with its own message)."""
    if kind == "address":
        if isinstance(value, str) and _ADDRESS_TEXT.fullmatch(value) and _valid_case(value):
            return bytes(12) + bytes.fromhex(value[2:])
        return None
    if kind == "bool":
        return (1 if value else 0).to_bytes(32, "big") if isinstance(value, bool) else None
    if type(value) is not int:
        return None
    if kind.startswith("uint") and kind[4:].isdigit():
        bits = int(kind[4:])
        return value.to_bytes(32, "big") if 0 <= value < 1 << bits else None
    if kind.startswith("int") and kind[3:].isdigit():
        bits = int(kind[3:])
        if -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            return value.to_bytes(32, "big", signed=True)
    return None


def _abi_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@dataclass(frozen=True)
class AbiFunction:
    """Encode a call and decode its return data, from one ABI entry."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    selector: bytes = field(repr=False)

    @classmethod
    def from_abi(cls, abi: Sequence[Mapping[str, Any]], name: str) -> AbiFunction:
        entries = [e for e in abi if e.get("type") == "function" and e.get("name") == name]
        if len(entries) != 1:
            raise KeyError(f"need exactly one ABI function named {name}, found {len(entries)}")
        entry = entries[0]
        inputs = tuple(_abi_type(p) for p in entry["inputs"])
        outputs = tuple(_abi_type(p) for p in entry.get("outputs", ()))
        selector = function_signature_to_4byte_selector(f"{name}({','.join(inputs)})")
        return cls(name, inputs, outputs, selector)

    def encode(self, *args: Any) -> bytes:
        """Calldata. Calls whose arguments are all one-word values are laid out here, word
        by word (eth_abi's generic encoder costs ~0.1 ms a call, paid once per liquidation
        sent); anything else, or any value the fast path is unsure of, goes to eth_abi."""
        if len(args) == len(self.inputs):
            words = [_encode_word(k, v) for k, v in zip(self.inputs, args, strict=True)]
            if all(w is not None for w in words):
                return self.selector + b"".join(w for w in words if w is not None)
        return self.selector + abi_encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        """Return values; one-word types are sliced (fast), others go through eth_abi.
        Addresses come back checksummed either way."""
        if all(_is_word(k) for k in self.outputs):
            return _decode_words(self.outputs, data)
        return tuple(abi_decode(list(self.outputs), data))


_ERC20_BALANCE_OF = AbiFunction.from_abi(
    [
        {
            "type": "function",
            "name": "balanceOf",
            "inputs": [{"name": "account", "type": "address"}],
            "outputs": [{"name": "", "type": "uint256"}],
        }
    ],
    "balanceOf",
)


def balance_read(token: str, holder: str) -> Read[int]:
    """An ERC-20 balance, as one item of a Multicall3 batch."""
    return Read(
        Call(token, _ERC20_BALANCE_OF.encode(holder)),
        lambda raw: int(_ERC20_BALANCE_OF.decode(raw)[0]),
        f"balance {holder}",
    )


@dataclass(frozen=True)
class AbiEvent:
    """Match a log by its first topic and decode it into named values."""

    name: str
    topic0: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]

    @classmethod
    def from_abi(cls, abi: Sequence[Mapping[str, Any]], name: str) -> AbiEvent:
        entries = [e for e in abi if e.get("type") == "event" and e.get("name") == name]
        if not entries:
            raise KeyError(f"no ABI event named {name}")
        entry = entries[0]
        types = [_abi_type(p) for p in entry["inputs"]]
        topic0 = bytes(event_signature_to_log_topic(f"{name}({','.join(types)})"))
        indexed = tuple(
            (p["name"], t) for p, t in zip(entry["inputs"], types, strict=True) if p["indexed"]
        )
        data = tuple(
            (p["name"], t) for p, t in zip(entry["inputs"], types, strict=True) if not p["indexed"]
        )
        return cls(name, topic0, indexed, data)

    def decode(self, entry: LogEntry) -> dict[str, Any]:
        """Named values; one-word types are sliced (fast), others go through eth_abi."""
        values: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, entry.topics[1:], strict=True):
            values[name] = _word(kind, topic) if _is_word(kind) else topic
        kinds = [kind for _, kind in self.data]
        if kinds:
            if all(_is_word(k) for k in kinds):
                decoded = _decode_words(kinds, entry.data)
            else:
                decoded = tuple(abi_decode(kinds, entry.data))
            for (name, _), value in zip(self.data, decoded, strict=True):
                values[name] = value
        return values
