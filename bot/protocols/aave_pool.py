"""The adapter for the bundled Aave-V3-shaped pool (contracts/src/LendingPool.sol).

The book is exact from events because the pool emits ``UserReserveUpdated`` with a user's new
*absolute* scaled balances after every change (contracts/PROTOCOL.md); reserve state, prices
and the pause flag are read through Multicall3 when an event says they moved. Prices come from
the oracle's ``priceStatus``, which answers without reverting even when a feed is stale or the
circuit breaker is tripped, so that the watcher can show why an asset cannot be liquidated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.chain.artifacts import abi_of
from bot.chain.multicall import Call, Multicall, Read, ReadFailed
from bot.chain.rpc import LogEntry
from bot.model.health import AccountData, account_data, account_data_at, reserve_levels
from bot.model.types import (
    Account,
    ExecutionPath,
    InterestRateStrategy,
    MarketState,
    PairReserves,
    Reserve,
    ReserveConfig,
    ReserveState,
    UserReserve,
)
from bot.protocols.base import (
    AbiEvent,
    AbiFunction,
    FeedInfo,
    LayoutChanged,
    LendingProtocol,
    LiquidationRequest,
    LiquidationsPausedChanged,
    MarketLayout,
    PairInfo,
    PairSynced,
    PolledState,
    PositionChanged,
    PriceChanged,
    PriceStatus,
    ProtocolEvent,
    ReserveChanged,
    TxCall,
    checksum,
)

if TYPE_CHECKING:
    from bot.deploy.market import Deployment

_POOL = abi_of("LendingPool")
_ORACLE = abi_of("PriceOracle")
_FEED = abi_of("PriceFeed")
_PAIR = abi_of("AmmPair")
_TOKEN = abi_of("TestToken")
_LIQUIDATOR = abi_of("FlashLiquidator")

# pool reads
_GET_RESERVES_LIST = AbiFunction.from_abi(_POOL, "getReservesList")
_GET_RESERVES_DATA = AbiFunction.from_abi(_POOL, "getReservesData")
_GET_RESERVE_DATA = AbiFunction.from_abi(_POOL, "getReserveData")
_GET_USER_POSITIONS = AbiFunction.from_abi(_POOL, "getUserPositions")
_GET_USER_ACCOUNT_DATA = AbiFunction.from_abi(_POOL, "getUserAccountData")
_LIQUIDATIONS_PAUSED = AbiFunction.from_abi(_POOL, "liquidationsPaused")
_POOL_ORACLE = AbiFunction.from_abi(_POOL, "oracle")
_POOL_TREASURY = AbiFunction.from_abi(_POOL, "treasury")
_LIQUIDATION_CALL = AbiFunction.from_abi(_POOL, "liquidationCall")
# oracle, feeds, tokens, pairs
_PRICE_STATUS = AbiFunction.from_abi(_ORACLE, "priceStatus")
_SOURCE_CONFIG = AbiFunction.from_abi(_ORACLE, "getAssetSourceConfig")
_LATEST_ROUND = AbiFunction.from_abi(_FEED, "latestRoundData")
_SYMBOL = AbiFunction.from_abi(_TOKEN, "symbol")
_GET_RESERVES = AbiFunction.from_abi(_PAIR, "getReserves")
# liquidator
_FLASH = AbiFunction.from_abi(_LIQUIDATOR, "liquidateWithFlashSwap")
_INVENTORY = AbiFunction.from_abi(_LIQUIDATOR, "liquidateFromInventory")
_INVENTORY_SWAP = AbiFunction.from_abi(_LIQUIDATOR, "liquidateFromInventoryAndSell")

# events
_USER_RESERVE_UPDATED = AbiEvent.from_abi(_POOL, "UserReserveUpdated")
_PAUSED_SET = AbiEvent.from_abi(_POOL, "LiquidationsPausedSet")
_RESERVE_EVENTS = tuple(
    AbiEvent.from_abi(_POOL, name)
    for name in (
        "ReserveDataUpdated",
        "BadDebtWrittenOff",
        "ReserveConfigurationChanged",
        "InterestRateParamsChanged",
        "BorrowingEnabledSet",
    )
)
_RESERVE_DATA_UPDATED = _RESERVE_EVENTS[0]
_POOL_LAYOUT_EVENTS = tuple(
    AbiEvent.from_abi(_POOL, name)
    for name in ("ReserveInitialized", "OracleUpdated", "TreasuryUpdated")
)
_ORACLE_LAYOUT_EVENTS = tuple(
    AbiEvent.from_abi(_ORACLE, name) for name in ("AssetSourceUpdated", "AssetSourceRemoved")
)
_ANSWER_UPDATED = AbiEvent.from_abi(_FEED, "AnswerUpdated")
_SYNC = AbiEvent.from_abi(_PAIR, "Sync")

_RESERVE_FIELDS: tuple[str, ...] = tuple(
    c["name"]
    for c in next(e for e in _POOL if e.get("name") == "getReserveData")["outputs"][0]["components"]
)

ZERO_ADDRESS = "0x" + "00" * 20


def _position_changed(entry: LogEntry) -> PositionChanged:
    """``UserReserveUpdated``, the event a crash block holds thousands of, sliced by hand
    (same values and checks as ``AbiEvent.decode``, a tenth of the time: addresses cached by
    topic, the frozen values built slot by slot)."""
    topics, data = entry.topics, entry.data
    if len(topics) != 3 or len(data) < 96 or data[64:95].strip(b"\0") or data[95] > 1:
        v = _USER_RESERVE_UPDATED.decode(entry)  # raises the precise error
        position = UserReserve(
            checksum(str(v["reserve"])),
            int(v["scaledSupply"]),
            int(v["scaledDebt"]),
            bool(v["usingAsCollateral"]),
        )
        return PositionChanged(checksum(str(v["user"])), position)
    position = UserReserve(
        _topic_address(topics[1]),
        int.from_bytes(data[0:32], "big"),
        int.from_bytes(data[32:64], "big"),
        data[95] == 1,
    )
    return PositionChanged(_topic_address(topics[2]), position)


@lru_cache(maxsize=1 << 18)
def _topic_address(topic: bytes) -> str:
    """The checksummed address an indexed topic holds (the same users and reserves recur)."""
    return checksum("0x" + topic[12:].hex())


def _unchecked_word(kind: str) -> bool:
    """A one-word type whose decoding cannot fail (a bool can: only 0 and 1 are valid)."""
    scalar = kind.startswith(("uint", "int")) and "[" not in kind and "(" not in kind
    return scalar or kind in ("address", "bytes32")


def _reserve_changed(event: AbiEvent) -> Callable[[LogEntry], ReserveChanged]:
    """Only the reserve's address is needed: taken from its topic when it is indexed and the
    rest of the log has the shape ``AbiEvent.decode`` accepts (which, otherwise, decides)."""
    indexed = [name for name, _ in event.indexed]
    names = indexed + [name for name, _ in event.data]
    key = "reserve" if "reserve" in names else "asset"
    at = 1 + indexed.index(key) if key in indexed and dict(event.indexed)[key] == "address" else 0
    plain = all(_unchecked_word(kind) for _, kind in event.data)
    topics, size = 1 + len(event.indexed), 32 * len(event.data)

    def decode(entry: LogEntry) -> ReserveChanged:
        if at and plain and len(entry.topics) == topics and len(entry.data) >= size:
            return ReserveChanged(checksum("0x" + entry.topics[at][12:].hex()))
        values = event.decode(entry)
        return ReserveChanged(checksum(str(values.get("reserve", values.get("asset")))))

    return decode


def _layout_changed(event: AbiEvent) -> Callable[[LogEntry], LayoutChanged]:
    def decode(entry: LogEntry) -> LayoutChanged:
        return LayoutChanged(f"pool {event.name}")

    return decode


def _paused_set(entry: LogEntry) -> LiquidationsPausedChanged:
    return LiquidationsPausedChanged(bool(_PAUSED_SET.decode(entry)["paused"]))


_POOL_DECODERS: dict[bytes, Callable[[LogEntry], ProtocolEvent]] = {
    **{e.topic0: _layout_changed(e) for e in reversed(_POOL_LAYOUT_EVENTS)},
    _PAUSED_SET.topic0: _paused_set,
    **{e.topic0: _reserve_changed(e) for e in reversed(_RESERVE_EVENTS)},
    _USER_RESERVE_UPDATED.topic0: _position_changed,
}
"""The pool's events by first topic (built so that, were two to share one, the first
matched by the former chain of checks wins)."""


def reserve_from_struct(asset: str, values: Sequence[Any]) -> Reserve:
    """The model's Reserve from the pool's ``ReserveData`` struct."""
    d: Mapping[str, Any] = dict(zip(_RESERVE_FIELDS, values, strict=True))
    config = ReserveConfig(
        asset=asset,
        decimals=int(d["decimals"]),
        ltv=int(d["ltv"]),
        liquidation_threshold=int(d["liquidationThreshold"]),
        liquidation_bonus=int(d["liquidationBonus"]),
        liquidation_protocol_fee=int(d["liquidationProtocolFee"]),
        reserve_factor=int(d["reserveFactor"]),
        strategy=InterestRateStrategy(
            base_rate=int(d["baseRate"]),
            slope1=int(d["slope1"]),
            slope2=int(d["slope2"]),
            optimal_utilization=int(d["optimalUtilization"]),
        ),
    )
    state = ReserveState(
        liquidity_index=int(d["liquidityIndex"]),
        variable_borrow_index=int(d["variableBorrowIndex"]),
        liquidity_rate=int(d["liquidityRate"]),
        variable_borrow_rate=int(d["variableBorrowRate"]),
        last_update_timestamp=int(d["lastUpdateTimestamp"]),
        total_scaled_supply=int(d["totalScaledSupply"]),
        total_scaled_debt=int(d["totalScaledDebt"]),
        cash=int(d["cash"]),
    )
    return Reserve(config, state)


def is_empty(position: UserReserve) -> bool:
    return not (position.scaled_supply or position.scaled_debt or position.using_as_collateral)


class AavePoolAdapter(LendingProtocol):
    """Adapter for the bundled pool, its oracle, feeds and AMM pairs, and the flash liquidator."""

    name = "aave-v3-shaped pool"

    def __init__(
        self,
        pool: str,
        multicall: str,
        *,
        oracle: str = "",
        pairs: Sequence[PairInfo] = (),
        flash_liquidator: str = "",
        deployment_block: int = 0,
    ) -> None:
        self.pool = checksum(pool)
        self._multicall = checksum(multicall)
        self.oracle = checksum(oracle) if oracle else ""
        self.pairs = tuple(pairs)
        self.flash_liquidator = checksum(flash_liquidator) if flash_liquidator else ""
        self.deployment_block = deployment_block
        self._pairs_by_address = {p.address: p for p in self.pairs}

    @classmethod
    def from_deployment(cls, deployment: Deployment) -> AavePoolAdapter:
        pairs = tuple(
            PairInfo(checksum(p.address), checksum(p.token0), checksum(p.token1))
            for p in deployment.pairs.values()
        )
        return cls(
            deployment.pool,
            deployment.multicall3,
            oracle=deployment.oracle,
            pairs=pairs,
            flash_liquidator=deployment.flash_liquidator,
            deployment_block=deployment.deployment_block,
        )

    @property
    def multicall_address(self) -> str:
        return self._multicall

    # ------------------------------------------------------------------ logs

    def discovery_filter(self) -> tuple[list[str], list[bytes]]:
        return [self.pool], [_USER_RESERVE_UPDATED.topic0]

    def follow_filter(self, layout: MarketLayout) -> tuple[list[str], list[bytes]]:
        addresses = [self.pool]
        if self.oracle:
            addresses.append(self.oracle)
        addresses += list(layout.feed_addresses())
        addresses += [p.address for p in layout.pairs]
        topics = [
            _USER_RESERVE_UPDATED.topic0,
            _PAUSED_SET.topic0,
            _ANSWER_UPDATED.topic0,
            _SYNC.topic0,
            *(e.topic0 for e in _RESERVE_EVENTS),
            *(e.topic0 for e in _POOL_LAYOUT_EVENTS),
            *(e.topic0 for e in _ORACLE_LAYOUT_EVENTS),
        ]
        return list(dict.fromkeys(addresses)), topics

    def polled_state(self, layout: MarketLayout) -> tuple[PolledState, ...]:
        """``ReserveDataUpdated`` (two a liquidation, a few reserves: one read covers them)
        and the pairs' ``Sync`` (one a swap, a few pairs)."""
        reserves = PolledState("reserves", (self.pool,), (_RESERVE_DATA_UPDATED.topic0,))
        if not layout.pairs:
            return (reserves,)
        pairs = PolledState("pairs", tuple(p.address for p in layout.pairs), (_SYNC.topic0,))
        return reserves, pairs

    def lean_follow_filter(self, layout: MarketLayout) -> tuple[list[str], list[bytes]]:
        addresses, topics = self.follow_filter(layout)
        # A pair emits nothing else followed (unless it is also one of the other sources).
        polled = {p.address for p in layout.pairs} - {self.pool, self.oracle}
        polled -= set(layout.feed_addresses())
        dropped = {_RESERVE_DATA_UPDATED.topic0, _SYNC.topic0}
        return [a for a in addresses if a not in polled], [t for t in topics if t not in dropped]

    def decode_log(self, entry: LogEntry, layout: MarketLayout) -> ProtocolEvent | None:
        if not entry.topics:
            return None
        topic0 = entry.topics[0]
        address = entry.address
        if address == self.pool:
            return self._decode_pool_log(topic0, entry)
        if address == self.oracle:
            for event in _ORACLE_LAYOUT_EVENTS:
                if topic0 == event.topic0:
                    return LayoutChanged(f"oracle {event.name}")
            return None
        if topic0 == _ANSWER_UPDATED.topic0:
            assets = layout.assets_of_feed(address)
            if not assets:
                return None
            values = _ANSWER_UPDATED.decode(entry)
            return PriceChanged(address, assets, int(values["updatedAt"]))
        if topic0 == _SYNC.topic0 and address in self._pairs_by_address:
            values = _SYNC.decode(entry)
            return PairSynced(address, int(values["reserve0"]), int(values["reserve1"]))
        return None

    def _decode_pool_log(self, topic0: bytes, entry: LogEntry) -> ProtocolEvent | None:
        decode = _POOL_DECODERS.get(topic0)
        return decode(entry) if decode is not None else None

    # ------------------------------------------------------------------ reads

    def load_layout(self, multicall: Multicall, block: int | str) -> MarketLayout:
        assets_raw, oracle, treasury = multicall.read_all(
            [
                _single(self.pool, _GET_RESERVES_LIST, "reserves list"),
                _single(self.pool, _POOL_ORACLE, "pool oracle"),
                _single(self.pool, _POOL_TREASURY, "pool treasury"),
            ],
            block,
        )
        for value in (assets_raw, oracle, treasury):
            if isinstance(value, ReadFailed):
                raise RuntimeError(f"cannot read the pool's layout: {value.label} failed")
        self.oracle = checksum(oracle)
        assets = tuple(checksum(a) for a in assets_raw)
        reads: list[Read[Any]] = []
        for asset in assets:
            reads.append(
                Read(Call(self.oracle, _SOURCE_CONFIG.encode(asset)), _SOURCE_CONFIG.decode, asset)
            )
            reads.append(_single(asset, _SYMBOL, f"symbol {asset}"))
        values = multicall.read_all(reads, block) if reads else []
        feeds: dict[str, tuple[FeedInfo, ...]] = {}
        symbols: dict[str, str] = {}
        for i, asset in enumerate(assets):
            config, symbol = values[2 * i], values[2 * i + 1]
            symbols[asset] = symbol if isinstance(symbol, str) else asset[:10]
            infos: list[FeedInfo] = []
            if not isinstance(config, ReadFailed):
                primary, primary_hb, fallback, fallback_hb, _ = config
                for feed, heartbeat in ((primary, primary_hb), (fallback, fallback_hb)):
                    if feed and int(feed, 16) != 0:
                        infos.append(FeedInfo(checksum(feed), int(heartbeat)))
            feeds[asset] = tuple(infos)
        pairs = tuple(p for p in self.pairs if p.token0 in assets or p.token1 in assets)
        return MarketLayout(assets, symbols, feeds, pairs, checksum(treasury))

    def reserves_read(self) -> Read[tuple[Reserve, ...]]:
        def decode(data: bytes) -> tuple[Reserve, ...]:
            assets, structs = _GET_RESERVES_DATA.decode(data)
            return tuple(
                reserve_from_struct(checksum(a), s) for a, s in zip(assets, structs, strict=True)
            )

        return Read(Call(self.pool, _GET_RESERVES_DATA.encode()), decode, "reserves")

    def reserve_read(self, asset: str) -> Read[Reserve]:
        def decode(data: bytes) -> Reserve:
            return reserve_from_struct(asset, _GET_RESERVE_DATA.decode(data)[0])

        return Read(Call(self.pool, _GET_RESERVE_DATA.encode(asset)), decode, f"reserve {asset}")

    def price_read(self, asset: str) -> Read[PriceStatus]:
        def decode(data: bytes) -> PriceStatus:
            price, primary, fallback, tripped, updated_at = _PRICE_STATUS.decode(data)
            return PriceStatus(
                asset, int(price), bool(primary), bool(fallback), bool(tripped), int(updated_at)
            )

        return Read(Call(self.oracle, _PRICE_STATUS.encode(asset)), decode, f"price {asset}")

    def feed_updated_at_read(self, feed: str) -> Read[int]:
        def decode(data: bytes) -> int:
            return int(_LATEST_ROUND.decode(data)[3])

        return Read(Call(feed, _LATEST_ROUND.encode()), decode, f"feed {feed}")

    def paused_read(self) -> Read[bool]:
        return Read(
            Call(self.pool, _LIQUIDATIONS_PAUSED.encode()),
            lambda data: bool(_LIQUIDATIONS_PAUSED.decode(data)[0]),
            "liquidationsPaused",
        )

    def pair_read(self, pair: PairInfo) -> Read[PairReserves]:
        def decode(data: bytes) -> PairReserves:
            r0, r1, _ = _GET_RESERVES.decode(data)
            return PairReserves(pair.address, pair.token0, pair.token1, int(r0), int(r1))

        return Read(Call(pair.address, _GET_RESERVES.encode()), decode, f"pair {pair.address}")

    def account_read(self, user: str) -> Read[Account]:
        def decode(data: bytes) -> Account:
            assets, supplies, debts, flags = _GET_USER_POSITIONS.decode(data)
            positions = tuple(
                UserReserve(checksum(a), int(s), int(d), bool(f))
                for a, s, d, f in zip(assets, supplies, debts, flags, strict=True)
            )
            return Account(user, tuple(p for p in positions if not is_empty(p)))

        return Read(Call(self.pool, _GET_USER_POSITIONS.encode(user)), decode, f"positions {user}")

    def health_read(self, user: str) -> Read[AccountData]:
        def decode(data: bytes) -> AccountData:
            return AccountData(*(int(v) for v in _GET_USER_ACCOUNT_DATA.decode(data)))

        return Read(Call(self.pool, _GET_USER_ACCOUNT_DATA.encode(user)), decode, f"health {user}")

    # ------------------------------------------------------------------ model

    def account_health(self, market: MarketState, account: Account, timestamp: int) -> AccountData:
        return account_data(market, account, timestamp)

    def health_at(self, market: MarketState, timestamp: int) -> Callable[[Account], AccountData]:
        levels = reserve_levels(market, timestamp)  # each reserve's indexes compounded once
        return lambda account: account_data_at(levels, account)

    # ------------------------------------------------------------------ writes

    def encode_liquidation(self, request: LiquidationRequest) -> TxCall:
        r = request
        if r.path is None:
            data = _LIQUIDATION_CALL.encode(
                r.collateral, r.debt, r.user, r.debt_to_cover, r.receive_a_token
            )
            return TxCall(self.pool, data)
        if not self.flash_liquidator:
            raise ValueError("no flash liquidator configured for this pool")
        if r.path is ExecutionPath.INVENTORY:
            data = _INVENTORY.encode(r.collateral, r.debt, r.user, r.debt_to_cover, r.min_out)
            return TxCall(self.flash_liquidator, data)
        pair = r.pair or self.pair_for(r.collateral, r.debt)
        if pair is None:
            raise ValueError(f"no AMM pair for {r.collateral}/{r.debt}")
        fn = _FLASH if r.path is ExecutionPath.FLASH else _INVENTORY_SWAP
        data = fn.encode(pair, r.collateral, r.debt, r.user, r.debt_to_cover, r.min_out)
        return TxCall(self.flash_liquidator, data)

    def pair_for(self, a: str, b: str) -> str | None:
        for pair in self.pairs:
            if {pair.token0, pair.token1} == {a, b}:
                return pair.address
        return None


def _single(target: str, fn: AbiFunction, label: str) -> Read[Any]:
    """A read of a view that returns one value."""
    return Read(Call(target, fn.encode()), lambda data: fn.decode(data)[0], label)
