"""`liqbot backtest-auctions`: the auction keeper's decisions replayed over a price path.

No chain: a real (or synthetic) collateral price series drives one Maker-style ilk with the
bundled contracts' parameters, a documented book of vaults is generated from a seed, and the
keeper's model (bark, redo, best take, wait-or-take) runs block by block against a
:class:`~bot.model.auction.CompetitorModel` of rivals. Everything is exact integer
arithmetic from :mod:`bot.model.auction`, so a take here pays what the contract would.

The book and the market (all in :class:`AuctionBacktestConfig`):

- ``vaults`` vaults of WETH, collateral value log-uniform in ``[collateral_min_usd,
  collateral_max_usd]`` and collateral ratio ``ratio_min``-``ratio_max`` times the liquidation
  ratio, both at the window's first price; the rate accumulator stays at 1 (no stability fee
  over a window of hours);
- one CSV row per block carrying the new oracle price, then ``blocks_per_row`` blocks at
  ``block_time`` seconds in which it holds (as ``--price-csv`` for the lending backtest);
- a stablecoin/WETH pair of ``pair_depth_usd`` per side, arbitraged back to the oracle at
  every block (the keeper's own sales move it within the block);
- the keeper is the only one who barks and redoes (a vault whose reward does not pay the gas
  stays unsafe and is reported); rivals only take: once per price step, when the auction
  price is at most ``threshold_bps`` of the market, a rival takes the whole auction with
  probability ``take_probability_bps`` (seeded), after the keeper has made its decision.

``fit_competitors`` turns recorded ``Take`` events of others into the model's parameters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest.config import PricePathConfig
from bot.backtest.pricepath import PricePoint, load_price_path
from bot.model.auction import (
    AUCTION_GAS,
    RAY,
    WAD,
    AuctionRevert,
    CompetitorModel,
    DutchParams,
    LinearCurve,
    Sale,
    StairstepCurve,
    auction_status,
    bark_quote,
    best_flash_take,
    collateral_price,
    decide_dutch_take,
    fit_competitor_model,
    future_blocks,
    gas_in_stable,
    is_unsafe,
    marginal_price,
    redo_reward,
    spot,
)

GWEI = 10**9
ORACLE_UNIT = 10**8
DECIMALS = 18


@dataclass(frozen=True)
class AuctionBacktestConfig:
    """The market, the book, the keeper and its rivals (defaults: the bundled WETH-A)."""

    vaults: int = 200
    seed: int = 2021
    ratio_min: Decimal = Decimal("1.02")
    ratio_max: Decimal = Decimal("1.8")
    """Collateral ratio at the first price, in multiples of the liquidation ratio."""
    collateral_min_usd: Decimal = Decimal(2_000)
    collateral_max_usd: Decimal = Decimal(500_000)
    liquidation_ratio: int = 15 * RAY // 10
    penalty: int = 113 * WAD // 100
    tip: int = 50 * WAD
    chip: int = WAD // 1_000
    dust: int = 500 * WAD
    global_limit: int = 20_000_000 * WAD
    curve: str = "stairstep"
    step: int = 90
    cut: int = 99 * RAY // 100
    linear_duration: int = 9_000
    starting_price_factor: int = 12 * RAY // 10
    max_duration: int = 7_200
    min_price_ratio: int = 4 * RAY // 10
    redo_tip: int = 50 * WAD
    redo_chip: int = WAD // 1_000
    pair_depth_usd: int = 20_000_000
    block_time: int = 13
    blocks_per_row: int = 50
    gas_price_gwei: int = 50
    min_profit: int = WAD
    competitors: CompetitorModel = field(default_factory=CompetitorModel)
    """Both the rivals simulated and the keeper's belief about them (unless ``believed``)."""
    believed: CompetitorModel | None = None
    """The keeper's model of rivals when it differs from the simulated ones."""
    keeper_waits: bool = True
    """False: the keeper takes as soon as a take pays (no wait-vs-take model)."""
    lookahead_steps: int = 3
    """Price steps the wait-vs-take decision looks ahead (:func:`future_blocks`)."""
    price_path: PricePathConfig = field(default_factory=PricePathConfig)

    def __post_init__(self) -> None:
        if self.vaults < 1:
            raise ValueError("vaults must be at least 1")
        if self.curve not in ("stairstep", "linear"):
            raise ValueError(f"curve must be 'stairstep' or 'linear', not {self.curve!r}")
        if not 0 < self.ratio_min <= self.ratio_max:
            raise ValueError("need 0 < ratio_min <= ratio_max")

    def dutch(self, dust_tab: int) -> DutchParams:
        curve = (
            StairstepCurve(self.step, self.cut)
            if self.curve == "stairstep"
            else LinearCurve(self.linear_duration)
        )
        return DutchParams(
            curve,
            self.starting_price_factor,
            self.max_duration,
            self.min_price_ratio,
            self.redo_tip,
            self.redo_chip,
            dust_tab,
        )


@dataclass
class VaultRow:
    owner: int
    collateral: int
    normalized_debt: int


@dataclass
class AuctionOutcome:
    id: int
    vault: int
    started_block: int
    tab: int
    lot: int
    keeper_takes: int = 0
    keeper_profit: int = 0
    """Stablecoin kept by the keeper from takes, after their gas."""
    rival: bool = False
    redos: int = 0
    finished_block: int | None = None


@dataclass
class AuctionBacktestResult:
    blocks: int = 0
    vaults: int = 0
    unsafe_ever: int = 0
    barks: int = 0
    redos: int = 0
    takes: int = 0
    rival_takes: int = 0
    waits: int = 0
    keeper_rewards: int = 0
    keeper_take_profit: int = 0
    gas: int = 0
    left_unsafe: int = 0
    running_at_end: int = 0
    auctions: list[AuctionOutcome] = field(default_factory=list)

    @property
    def keeper_profit(self) -> int:
        return self.keeper_rewards + self.keeper_take_profit - self.gas

    def as_json(self) -> dict[str, Any]:
        unit = Decimal(WAD)
        return {
            "blocks": self.blocks,
            "vaults": self.vaults,
            "unsafe_ever": self.unsafe_ever,
            "barks": self.barks,
            "redos": self.redos,
            "takes": self.takes,
            "rival_takes": self.rival_takes,
            "waits": self.waits,
            "keeper_rewards": str(Decimal(self.keeper_rewards) / unit),
            "keeper_take_profit": str(Decimal(self.keeper_take_profit) / unit),
            "gas": str(Decimal(self.gas) / unit),
            "keeper_profit": str(Decimal(self.keeper_profit) / unit),
            "left_unsafe": self.left_unsafe,
            "running_at_end": self.running_at_end,
            "auctions": [asdict(a) for a in self.auctions],
        }


def synthetic_vaults(config: AuctionBacktestConfig, first_price: int) -> list[VaultRow]:
    """The documented book at the first price (``first_price``: USD, 8 decimals)."""
    rng = random.Random(config.seed)
    low, high = float(config.collateral_min_usd), float(config.collateral_max_usd)
    line = Decimal(config.liquidation_ratio) / RAY
    out = []
    for i in range(config.vaults):
        value_usd = math.exp(rng.uniform(math.log(low), math.log(high)))
        collateral = int(Decimal(str(value_usd)) * ORACLE_UNIT * 10**DECIMALS / first_price)
        ratio = Decimal(str(rng.uniform(float(config.ratio_min), float(config.ratio_max)))) * line
        value_wad = collateral * first_price * WAD // (10**DECIMALS * ORACLE_UNIT)
        debt = max(int(Decimal(value_wad) / ratio), config.dust)
        out.append(VaultRow(i, collateral, debt))  # rate 1: normalised debt = debt
    return out


def path_blocks(
    points: Sequence[PricePoint], config: AuctionBacktestConfig
) -> list[tuple[int, int, int]]:
    """(block, timestamp, oracle price) for every simulated block, in order."""
    out = []
    number = 0
    for i, point in enumerate(points):
        nxt = points[i + 1].timestamp if i + 1 < len(points) else None
        for j in range(config.blocks_per_row + 1):
            ts = point.timestamp + j * config.block_time
            if nxt is not None and ts >= nxt:
                break
            number += 1
            out.append((number, ts, point.price))
    return out


def rival_roll(seed: int, auction_id: int, step_price: int) -> int:
    """The rival's die for one auction's price step, 0-9999: a function of the step alone,
    so two keeper policies replayed with one seed meet the same rivals (common random
    numbers) and their difference is the policy's, not the dice's."""
    return random.Random(f"{seed}:{auction_id}:{step_price}").randrange(10_000)


def run_auction_backtest(
    blocks: Sequence[tuple[int, int, int]], config: AuctionBacktestConfig
) -> AuctionBacktestResult:
    """Replay the keeper over ``blocks`` of (number, timestamp, oracle price)."""
    if not blocks:
        raise ValueError("no blocks to replay")
    vaults = {v.owner: v for v in synthetic_vaults(config, blocks[0][2])}
    dust_tab = config.dust * config.penalty // WAD
    params = config.dutch(dust_tab)
    gas_price = config.gas_price_gwei * GWEI
    result = AuctionBacktestResult(vaults=len(vaults))
    sales: dict[int, Sale] = {}
    outcomes: dict[int, AuctionOutcome] = {}
    last_step: dict[int, int] = {}
    under_auction = 0
    unsafe_ever: set[int] = set()
    next_id = 0
    for number, now, oracle in blocks:
        result.blocks += 1
        price = collateral_price(oracle, DECIMALS)
        native = oracle  # the collateral is the native token (WETH)

        def gas(kind: str, native: int = native) -> int:
            return gas_in_stable(AUCTION_GAS[kind] * gas_price, native)

        r_stable = config.pair_depth_usd * WAD
        r_coll = config.pair_depth_usd * ORACLE_UNIT * 10**DECIMALS // oracle
        full_coll, r_full = r_coll, r_stable
        reserved: dict[int, tuple[int, int]] = {}
        line = spot(price, config.liquidation_ratio)
        # auctions first (the keeper's takes, then the rivals), then new barks
        for auction_id in sorted(sales):
            sale = sales[auction_id]
            outcome = outcomes[auction_id]
            status = auction_status(sale, params, now)
            if status.needs_redo:
                reward = redo_reward(
                    tab=sale.tab,
                    lot=sale.lot,
                    feed_price=price,
                    dust_tab=dust_tab,
                    redo_tip=config.redo_tip,
                    redo_chip=config.redo_chip,
                )
                if reward - gas("redo") >= config.min_profit:
                    start = price * config.starting_price_factor // RAY
                    sales[auction_id] = Sale(auction_id, sale.tab, sale.lot, sale.owner, now, start)
                    result.redos += 1
                    outcome.redos += 1
                    result.keeper_rewards += reward
                    result.gas += gas("redo")
                continue
            best = best_flash_take(
                tab=sale.tab,
                lot=sale.lot,
                price=status.price,
                dust_tab=dust_tab,
                reserve_in=r_coll,
                reserve_out=r_stable,
                gas_stable=gas("take"),
            )
            market = marginal_price(r_coll, r_stable)
            take = best is not None and best.net >= config.min_profit
            if take and best is not None and config.keeper_waits:
                blocks_ahead = future_blocks(
                    sale,
                    params,
                    now=now,
                    block_time=config.block_time,
                    market_price=market,
                    competitors=config.believed or config.competitors,
                    horizon_steps=config.lookahead_steps,
                    rival_pending=last_step.get(auction_id) != status.price,
                )
                blocks_ahead = [
                    replace(
                        b, reserves=(full_coll + reserved[b.time][0], r_full - reserved[b.time][1])
                    )
                    if i > 0 and b.time in reserved
                    else b
                    for i, b in enumerate(blocks_ahead)
                ]
                decision = decide_dutch_take(
                    tab=sale.tab,
                    lot=sale.lot,
                    blocks=blocks_ahead,
                    dust_tab=dust_tab,
                    reserve_in=r_coll,
                    reserve_out=r_stable,
                    gas_stable=gas("take"),
                    min_profit=config.min_profit,
                )
                if not decision.take_now:
                    take = False
                    result.waits += 1
                    if decision.next_take is not None:
                        # the pair of the block it waits for is this auction's: later
                        # auctions plan on what it leaves (they share one pair)
                        j, planned = decision.next_take
                        t = blocks_ahead[j].time
                        dc, ds = reserved.get(t, (0, 0))
                        reserved[t] = (dc + planned.quote.slice, ds + planned.proceeds)
            if take and best is not None:
                q = best.quote
                r_coll += q.slice
                r_stable -= best.proceeds
                result.takes += 1
                result.keeper_take_profit += best.profit
                result.gas += gas("take")
                outcome.keeper_takes += 1
                outcome.keeper_profit += best.net
                under_auction -= q.tab + q.owe if q.lot == 0 else q.owe
                if q.finishes:
                    outcome.finished_block = number
                    del sales[auction_id]
                    continue
                sale = Sale(auction_id, q.tab, q.lot, sale.owner, sale.start_time, sale.start_price)
                sales[auction_id] = sale
                status = auction_status(sale, params, now)
            # rivals: once per price step, at or below their threshold
            step_key = status.price
            if last_step.get(auction_id) == step_key:
                continue
            last_step[auction_id] = step_key
            chance = config.competitors.take_probability(status.price, market)
            if chance and rival_roll(config.seed, auction_id, status.price) < chance:
                result.rival_takes += 1
                outcome.rival = True
                outcome.finished_block = number
                under_auction -= sale.tab
                del sales[auction_id]
        for owner in sorted(vaults):
            vault = vaults[owner]
            if not is_unsafe(vault.collateral, vault.normalized_debt, line, RAY):
                continue
            unsafe_ever.add(owner)
            room = max(config.global_limit - under_auction, 0)
            try:
                barked = bark_quote(
                    collateral=vault.collateral,
                    normalized_debt=vault.normalized_debt,
                    rate=RAY,
                    dust=config.dust,
                    room=room,
                    penalty=config.penalty,
                    tip=config.tip,
                    chip=config.chip,
                )
            except AuctionRevert:
                continue
            if barked.reward - gas("bark") < config.min_profit:
                continue
            next_id += 1
            top = price * config.starting_price_factor // RAY
            sales[next_id] = Sale(next_id, barked.tab, barked.lot, str(owner), now, top)
            outcomes[next_id] = AuctionOutcome(next_id, owner, number, barked.tab, barked.lot)
            under_auction += barked.tab
            vault.collateral -= barked.lot
            vault.normalized_debt -= barked.normalized_debt
            result.barks += 1
            result.keeper_rewards += barked.reward
            result.gas += gas("bark")
    last_price = spot(collateral_price(blocks[-1][2], DECIMALS), config.liquidation_ratio)
    result.left_unsafe = sum(
        is_unsafe(v.collateral, v.normalized_debt, last_price, RAY) for v in vaults.values()
    )
    result.unsafe_ever = len(unsafe_ever)
    result.running_at_end = len(sales)
    result.auctions = [outcomes[i] for i in sorted(outcomes)]
    return result


def run_auction_price_path(csv_path: Path, config: AuctionBacktestConfig) -> AuctionBacktestResult:
    points = load_price_path(csv_path, config.price_path)
    return run_auction_backtest(path_blocks(points, config), config)


# ----------------------------------------------------------------------------- fitting


@dataclass(frozen=True, slots=True)
class TakeObservation:
    """A recorded ``Take``: its block, auction price (ray) and taker, and the market price
    (ray of stablecoin per collateral unit: the pair's or the oracle's) in that block."""

    block: int
    price: int
    taker: str
    market_price: int


def fit_competitors(
    takes: Iterable[TakeObservation], ours: Iterable[str], *, steps_seen: int | None = None
) -> CompetitorModel:
    """The competitor model that recorded takes of *others* imply (ours are left out)."""
    mine = {a.lower() for a in ours}
    observations = [(t.price, t.market_price) for t in takes if t.taker.lower() not in mine]
    return fit_competitor_model(observations, steps_seen=steps_seen)


def observations_from_logs(
    takes: Iterable[Mapping[str, Any]], market_price_at: Mapping[int, int]
) -> list[TakeObservation]:
    """``Take`` events decoded to dicts with ``price``, ``taker`` and ``blockNumber``."""
    out = []
    for t in takes:
        block = int(t["blockNumber"])
        if block in market_price_at:
            out.append(
                TakeObservation(block, int(t["price"]), str(t["taker"]), market_price_at[block])
            )
    return out
