"""The adapter for the bundled vault engine and its auctions (contracts/src/auction/).

Vaults are event-sourced exactly: ``VaultUpdated`` carries a vault's new absolute collateral
and normalised debt after every change (deposit, draw, repay, confiscation). Auctions are
marked changed by their own events (Kick/Take/Redo, Kick/Tend/Dent/Deal/Tick) and read back
with ``sales(id)`` / ``auctions(id)`` in one Multicall3 batch. Ilk parameters, the oracle's
collateral price, the liquidator's room and the pair reserves are a fixed handful of reads
per ilk, batched every block (they do not grow with the number of vaults).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.chain.artifacts import abi_of
from bot.chain.multicall import Call, Multicall, Read, ReadFailed
from bot.chain.rpc import LogEntry
from bot.model.auction import (
    DutchParams,
    EnglishAuctionState,
    EnglishParams,
    LinearCurve,
    Sale,
    StairstepCurve,
    room,
)
from bot.protocols.auction_base import (
    DUTCH,
    ENGLISH,
    AuctionChanged,
    AuctionEvent,
    AuctionProtocol,
    IlkInfo,
    IlkState,
    ParametersChanged,
    VaultChanged,
    VaultState,
)
from bot.protocols.base import AbiEvent, AbiFunction, TxCall, balance_read, checksum

if TYPE_CHECKING:
    from bot.deploy.auctions import AuctionDeployment

_ENGINE = abi_of("VaultEngine")
_LIQUIDATOR = abi_of("Liquidator")
_DUTCH = abi_of("DutchAuction")
_ENGLISH = abi_of("EnglishAuction")
_LINEAR = abi_of("LinearDecrease")
_STAIRSTEP = abi_of("StairstepExponentialDecrease")
_PAIR = abi_of("AmmPair")
_TAKER = abi_of("AuctionTaker")
_ORACLE = abi_of("PriceOracle")

_ILKS = AbiFunction.from_abi(_ENGINE, "ilks")
_COLLATERAL_PRICE = AbiFunction.from_abi(_ENGINE, "collateralPrice")
_VAULT = AbiFunction.from_abi(_ENGINE, "vault")
_LIQ_ILKS = AbiFunction.from_abi(_LIQUIDATOR, "ilks")
_GLOBAL_LIMIT = AbiFunction.from_abi(_LIQUIDATOR, "globalLimit")
_TOTAL_UNDER = AbiFunction.from_abi(_LIQUIDATOR, "totalDebtUnderAuction")
_BARK = AbiFunction.from_abi(_LIQUIDATOR, "bark")
_D_CURVE = AbiFunction.from_abi(_DUTCH, "curve")
_D_PARAMS = tuple(
    AbiFunction.from_abi(_DUTCH, name)
    for name in (
        "startingPriceFactor",
        "maxDuration",
        "minPriceRatio",
        "redoTip",
        "redoChip",
        "dustTab",
        "stopped",
    )
)
_D_LIST = AbiFunction.from_abi(_DUTCH, "list")
_D_SALES = AbiFunction.from_abi(_DUTCH, "sales")
_REDO = AbiFunction.from_abi(_DUTCH, "redo")
_E_PARAMS = tuple(
    AbiFunction.from_abi(_ENGLISH, name)
    for name in ("minBidIncrease", "bidDuration", "auctionDuration")
)
_E_LIST = AbiFunction.from_abi(_ENGLISH, "list")
_E_AUCTIONS = AbiFunction.from_abi(_ENGLISH, "auctions")
_TEND = AbiFunction.from_abi(_ENGLISH, "tend")
_DENT = AbiFunction.from_abi(_ENGLISH, "dent")
_DEAL = AbiFunction.from_abi(_ENGLISH, "deal")
_DURATION = AbiFunction.from_abi(_LINEAR, "duration")
_STEP = AbiFunction.from_abi(_STAIRSTEP, "step")
_CUT = AbiFunction.from_abi(_STAIRSTEP, "cut")
_GET_RESERVES = AbiFunction.from_abi(_PAIR, "getReserves")
_FLASH_TAKE = AbiFunction.from_abi(_TAKER, "takeWithFlashSale")
_ASSET_PRICE = AbiFunction.from_abi(_ORACLE, "getAssetPrice")

_VAULT_UPDATED = AbiEvent.from_abi(_ENGINE, "VaultUpdated")
_ENGINE_PARAMS = tuple(AbiEvent.from_abi(_ENGINE, n) for n in ("IlkAdded", "IlkParameterSet"))
_LIQ_PARAMS = tuple(
    AbiEvent.from_abi(_LIQUIDATOR, n) for n in ("IlkParameterSet", "AuctionSet", "GlobalLimitSet")
)
_DUTCH_EVENTS = tuple(AbiEvent.from_abi(_DUTCH, n) for n in ("Kick", "Take", "Redo"))
_DUTCH_PARAMS = tuple(
    AbiEvent.from_abi(_DUTCH, n) for n in ("ParameterSet", "StoppedSet", "CurveSet")
)
_ENGLISH_EVENTS = tuple(
    AbiEvent.from_abi(_ENGLISH, n) for n in ("Kick", "Tend", "Dent", "Deal", "Tick")
)
_ENGLISH_PARAMS = (AbiEvent.from_abi(_ENGLISH, "ParameterSet"),)
_CURVE_PARAMS = (
    AbiEvent.from_abi(_LINEAR, "DurationSet"),
    AbiEvent.from_abi(_STAIRSTEP, "StepSet"),
    AbiEvent.from_abi(_STAIRSTEP, "CutSet"),
)

ZERO = "0x" + "00" * 20


def _ilk_bytes(name: str) -> bytes:
    raw = name.encode()
    if len(raw) > 32:
        raise ValueError(f"ilk name {name!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


class VaultEngineAdapter(AuctionProtocol):
    """Adapter for the bundled VaultEngine, Liquidator, Dutch/English auctions, curves, the
    stablecoin/collateral pairs and the bot's AuctionTaker."""

    name = "maker-style vault engine"

    def __init__(
        self,
        *,
        engine: str,
        liquidator: str,
        stablecoin: str,
        oracle: str,
        taker: str,
        multicall: str,
        ilks: Sequence[IlkInfo],
        curves: dict[str, tuple[str, str]],
        native_asset: str = "",
        deployment_block: int = 0,
    ) -> None:
        """``curves`` maps an ilk name to its (linear, stairstep) curve contracts;
        ``native_asset`` is the oracle asset that prices the chain's native token (WETH)."""
        self.engine = checksum(engine)
        self.liquidator = checksum(liquidator)
        self._stablecoin = checksum(stablecoin)
        self.oracle = checksum(oracle)
        self.taker = checksum(taker)
        self._multicall = checksum(multicall)
        self._ilks = tuple(ilks)
        self._by_name = {i.name: i for i in self._ilks}
        self._by_bytes = {i.ilk: i for i in self._ilks}
        self._curves = {k: (checksum(a), checksum(b)) for k, (a, b) in curves.items()}
        self.native_asset = checksum(native_asset) if native_asset else ""
        self.deployment_block = deployment_block
        self._modules: dict[str, tuple[str, str]] = {}
        for info in self._ilks:
            self._modules[info.dutch] = (info.name, DUTCH)
            self._modules[info.english] = (info.name, ENGLISH)
        self._curve_owner = {
            address: name for name, pair in self._curves.items() for address in pair
        }

    @classmethod
    def from_deployment(
        cls, deployment: AuctionDeployment, multicall: str, *, native_symbol: str = "WETH"
    ) -> VaultEngineAdapter:
        ilks = []
        native = ""
        for name, d in deployment.ilks.items():
            stable_first = checksum(d.pair_token0) == checksum(deployment.stablecoin)
            ilks.append(
                IlkInfo(
                    name=name,
                    ilk=_ilk_bytes(name),
                    collateral=checksum(d.collateral),
                    decimals=d.decimals,
                    dutch=checksum(d.dutch_auction),
                    english=checksum(d.english_auction),
                    pair=checksum(d.pair),
                    stable_is_token0=stable_first,
                )
            )
            if d.symbol == native_symbol:
                native = d.collateral
        return cls(
            engine=deployment.engine,
            liquidator=deployment.liquidator,
            stablecoin=deployment.stablecoin,
            oracle=deployment.oracle,
            taker=deployment.taker,
            multicall=multicall,
            ilks=ilks,
            curves={n: (d.linear_curve, d.stairstep_curve) for n, d in deployment.ilks.items()},
            native_asset=native,
            deployment_block=deployment.deployment_block,
        )

    @property
    def multicall_address(self) -> str:
        return self._multicall

    @property
    def stablecoin(self) -> str:
        return self._stablecoin

    def ilks(self) -> tuple[IlkInfo, ...]:
        return self._ilks

    def info(self, ilk: str) -> IlkInfo:
        try:
            return self._by_name[ilk]
        except KeyError:
            raise KeyError(f"unknown ilk {ilk!r}; known: {', '.join(self._by_name)}") from None

    # ------------------------------------------------------------------ logs

    def discovery_filter(self) -> tuple[list[str], list[bytes]]:
        return [self.engine], [_VAULT_UPDATED.topic0]

    def follow_filter(self) -> tuple[list[str], list[bytes]]:
        addresses = [self.engine, self.liquidator]
        for info in self._ilks:
            addresses += [info.dutch, info.english]
        for pair in self._curves.values():
            addresses += list(pair)
        topics = [
            _VAULT_UPDATED.topic0,
            *(e.topic0 for e in _ENGINE_PARAMS + _LIQ_PARAMS),
            *(e.topic0 for e in _DUTCH_EVENTS + _DUTCH_PARAMS),
            *(e.topic0 for e in _ENGLISH_EVENTS + _ENGLISH_PARAMS),
            *(e.topic0 for e in _CURVE_PARAMS),
        ]
        return list(dict.fromkeys(addresses)), list(dict.fromkeys(topics))

    def decode_log(self, entry: LogEntry) -> AuctionEvent | None:
        if not entry.topics:
            return None
        topic0, address = entry.topics[0], entry.address
        if address == self.engine:
            if topic0 == _VAULT_UPDATED.topic0:
                v = _VAULT_UPDATED.decode(entry)
                info = self._by_bytes.get(bytes(v["ilk"]))
                if info is None:
                    return None
                return VaultChanged(
                    VaultState(
                        info.name,
                        checksum(v["owner"]),
                        int(v["collateral"]),
                        int(v["normalizedDebt"]),
                    )
                )
            if any(topic0 == e.topic0 for e in _ENGINE_PARAMS):
                return ParametersChanged("engine")
            return None
        if address == self.liquidator:
            if any(topic0 == e.topic0 for e in _LIQ_PARAMS):
                return ParametersChanged("liquidator")
            return None
        module = self._modules.get(address)
        if module is not None:
            ilk, kind = module
            events = _DUTCH_EVENTS if kind == DUTCH else _ENGLISH_EVENTS
            if any(topic0 == e.topic0 for e in events):
                return AuctionChanged(ilk, kind, int.from_bytes(entry.topics[1], "big"))
            if any(topic0 == e.topic0 for e in _DUTCH_PARAMS + _ENGLISH_PARAMS):
                return ParametersChanged(f"{kind} auction of {ilk}")
            return None
        if address in self._curve_owner and any(topic0 == e.topic0 for e in _CURVE_PARAMS):
            return ParametersChanged(f"curve of {self._curve_owner[address]}")
        return None

    # ------------------------------------------------------------------ reads

    def ilk_state(self, multicall: Multicall, block: int | str) -> dict[str, IlkState]:
        reads: list[Read[Any]] = [
            _one(self.liquidator, _GLOBAL_LIMIT.encode(), _GLOBAL_LIMIT, "globalLimit"),
            _one(self.liquidator, _TOTAL_UNDER.encode(), _TOTAL_UNDER, "totalDebtUnderAuction"),
        ]
        per_ilk = 0
        for info in self._ilks:
            linear, stairstep = self._curves[info.name]
            group: list[Read[Any]] = [
                Read(Call(self.engine, _ILKS.encode(info.ilk)), _ILKS.decode, f"ilks {info.name}"),
                _one(self.engine, _COLLATERAL_PRICE.encode(info.ilk), _COLLATERAL_PRICE, "price"),
                Read(
                    Call(self.liquidator, _LIQ_ILKS.encode(info.ilk)),
                    _LIQ_ILKS.decode,
                    f"liquidator ilks {info.name}",
                ),
                _one(info.dutch, _D_CURVE.encode(), _D_CURVE, "curve"),
                *(_one(info.dutch, fn.encode(), fn, fn.name) for fn in _D_PARAMS),
                *(_one(info.english, fn.encode(), fn, fn.name) for fn in _E_PARAMS),
                _one(linear, _DURATION.encode(), _DURATION, "duration"),
                _one(stairstep, _STEP.encode(), _STEP, "step"),
                _one(stairstep, _CUT.encode(), _CUT, "cut"),
                Read(Call(info.pair, _GET_RESERVES.encode()), _GET_RESERVES.decode, "reserves"),
            ]
            per_ilk = len(group)
            reads += group
        values = multicall.read_all(reads, block)
        for value, read in zip(values, reads, strict=True):
            if isinstance(value, ReadFailed) and read.label != "price":
                raise RuntimeError(f"cannot read the auction market: {read.label} failed")
        global_limit, total_under = int(values[0]), int(values[1])
        out: dict[str, IlkState] = {}
        for n, info in enumerate(self._ilks):
            v = values[2 + n * per_ilk : 2 + (n + 1) * per_ilk]
            (_, _, _, rate, fee, last_drip, ratio, _, dust) = v[0]
            price = 0 if isinstance(v[1], ReadFailed) else int(v[1])
            module, penalty, limit, under, tip, chip = v[2]
            curve_address = checksum(v[3])
            linear, stairstep = self._curves[info.name]
            sp, max_duration, min_ratio, redo_tip, redo_chip, dust_tab, stopped = (
                int(x) for x in v[4:11]
            )
            beg, bid_duration, auction_duration = (int(x) for x in v[11:14])
            duration, step, cut = int(v[14]), int(v[15]), int(v[16])
            r0, r1, _ = v[17]
            curve: LinearCurve | StairstepCurve
            if curve_address == linear:
                curve = LinearCurve(duration)
            elif curve_address == stairstep:
                curve = StairstepCurve(step, cut)
            else:
                raise RuntimeError(
                    f"the Dutch auction of {info.name} uses curve {curve_address}, which is "
                    "neither of the deployment's curves: update the deployment file"
                )
            module = checksum(module)
            kind = DUTCH if module == info.dutch else ENGLISH if module == info.english else ""
            out[info.name] = IlkState(
                name=info.name,
                rate=int(rate),
                stability_fee=int(fee),
                last_drip=int(last_drip),
                liquidation_ratio=int(ratio),
                dust=int(dust),
                collateral_price=price,
                module=module,
                module_kind=kind,
                penalty=int(penalty),
                tip=int(tip),
                chip=int(chip),
                room=room(global_limit, total_under, int(limit), int(under)),
                dutch=DutchParams(
                    curve, sp, max_duration, min_ratio, redo_tip, redo_chip, dust_tab, stopped
                ),
                english=EnglishParams(beg, bid_duration, auction_duration),
                reserve_collateral=int(r1) if info.stable_is_token0 else int(r0),
                reserve_stable=int(r0) if info.stable_is_token0 else int(r1),
            )
        return out

    def active_ids_read(self, ilk: str, module_kind: str) -> Read[tuple[int, ...]]:
        info = self.info(ilk)
        fn = _D_LIST if module_kind == DUTCH else _E_LIST
        target = info.dutch if module_kind == DUTCH else info.english
        return Read(
            Call(target, fn.encode()),
            lambda data: tuple(int(x) for x in fn.decode(data)[0]),
            f"{module_kind} list {ilk}",
        )

    def sale_read(self, ilk: str, auction_id: int) -> Read[Sale | None]:
        info = self.info(ilk)

        def decode(data: bytes) -> Sale | None:
            _, tab, lot, owner, start, top = _D_SALES.decode(data)
            if checksum(owner) == ZERO:
                return None
            return Sale(auction_id, int(tab), int(lot), checksum(owner), int(start), int(top))

        return Read(Call(info.dutch, _D_SALES.encode(auction_id)), decode, f"sale {auction_id}")

    def english_read(self, ilk: str, auction_id: int) -> Read[EnglishAuctionState | None]:
        info = self.info(ilk)

        def decode(data: bytes) -> EnglishAuctionState | None:
            _, bid, lot, bidder, expiry, end, owner, tab = _E_AUCTIONS.decode(data)
            if checksum(owner) == ZERO:
                return None
            return EnglishAuctionState(
                auction_id,
                int(bid),
                int(lot),
                checksum(bidder),
                int(expiry),
                int(end),
                checksum(owner),
                int(tab),
            )

        return Read(
            Call(info.english, _E_AUCTIONS.encode(auction_id)), decode, f"english {auction_id}"
        )

    def vault_read(self, ilk: str, owner: str) -> Read[VaultState]:
        info = self.info(ilk)

        def decode(data: bytes) -> VaultState:
            collateral, art = _VAULT.decode(data)
            return VaultState(ilk, owner, int(collateral), int(art))

        return Read(Call(self.engine, _VAULT.encode(info.ilk, owner)), decode, f"vault {owner}")

    def stable_balance_read(self, holder: str) -> Read[int]:
        return balance_read(self._stablecoin, holder)

    def native_price_read(self) -> Read[int]:
        if not self.native_asset:
            raise ValueError("no native asset configured: pass native_symbol to from_deployment")
        return _one(
            self.oracle, _ASSET_PRICE.encode(self.native_asset), _ASSET_PRICE, "native price"
        )

    # ------------------------------------------------------------------ writes

    def encode_bark(self, ilk: str, owner: str, keeper: str) -> TxCall:
        return TxCall(self.liquidator, _BARK.encode(self.info(ilk).ilk, owner, keeper))

    def encode_flash_take(
        self, ilk: str, auction_id: int, amount: int, max_price: int, min_profit: int
    ) -> TxCall:
        info = self.info(ilk)
        data = _FLASH_TAKE.encode(info.dutch, auction_id, amount, max_price, info.pair, min_profit)
        return TxCall(self.taker, data)

    def encode_redo(self, ilk: str, auction_id: int, keeper: str) -> TxCall:
        return TxCall(self.info(ilk).dutch, _REDO.encode(auction_id, keeper))

    def encode_tend(self, ilk: str, auction_id: int, lot: int, bid: int) -> TxCall:
        return TxCall(self.info(ilk).english, _TEND.encode(auction_id, lot, bid))

    def encode_dent(self, ilk: str, auction_id: int, lot: int, bid: int) -> TxCall:
        return TxCall(self.info(ilk).english, _DENT.encode(auction_id, lot, bid))

    def encode_deal(self, ilk: str, auction_id: int) -> TxCall:
        return TxCall(self.info(ilk).english, _DEAL.encode(auction_id))


def _one(target: str, data: bytes, fn: AbiFunction, label: str) -> Read[Any]:
    return Read(Call(target, data), lambda raw: fn.decode(raw)[0], label)


def event_topics() -> dict[str, bytes]:
    """topic0 of the events a keeper's transaction must emit, by name (for expected logs)."""
    return {
        "Bark": AbiEvent.from_abi(_LIQUIDATOR, "Bark").topic0,
        "Take": _DUTCH_EVENTS[1].topic0,
        "Redo": _DUTCH_EVENTS[2].topic0,
        "Tend": _ENGLISH_EVENTS[1].topic0,
        "Dent": _ENGLISH_EVENTS[2].topic0,
        "Deal": _ENGLISH_EVENTS[3].topic0,
        "Taken": AbiEvent.from_abi(_TAKER, "Taken").topic0,
    }
