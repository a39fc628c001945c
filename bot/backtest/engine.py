"""Block by block: what the bot would have done, and what actually happened on chain.

For every recorded block ``d`` the engine takes the book at the end of ``d`` (from
:class:`~bot.backtest.source.RecordedSource`), lists the liquidatable accounts and runs the
live loop's decision on them: ``plan_block`` with the configured minimum profit, bid policy
and gas per path, valued in the chain's native token at the oracle price, sized at ``d``'s
timestamp and priced at the next block's base fee (EIP-1559, exact from ``d``'s header).
Each planned liquidation is a transaction that lands in block ``d + latency``. There it is
replayed by the model on the state it meets: the state before that block, or, when a
competitor liquidated the same account in that block and wins the race, the state after it.
It succeeds or reverts as the contracts would (health no longer below 1, a flash swap that
cannot be repaid, a profit below the guard it was sent with, a base fee above its cap).

The recording goes on as it happened, so a liquidation the bot makes is kept as an *overlay*
on that one account (its positions after the bot's liquidation) until the chain next changes
that account; the chain's own later liquidation of it is then counted as pre-empted by the
bot. The AMM pairs follow the recording as well (``amm = "recorded"``), or, where the
recording's pairs move only by the model's arbitrage (a price path: ``reactive``), are the
engine's own: the bot's swaps stay in them and each block ends with that arbitrage.
Every ``LiquidationCall`` the chain recorded is accounted for: pre-empted by the bot, or
done by others, with their profit and the reason the bot did not get there first.

An *opportunity* is a run of consecutive blocks in which an account is liquidatable. It is
taken when the bot liquidated it at least once, missed otherwise, with the reason.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest.config import BacktestConfig
from bot.backtest.source import BlockState, RecordedSource
from bot.model.amm import after_swap, arbitrage_swap
from bot.model.fixed_point import BASE_UNIT, WAD
from bot.model.gas import GasTable, next_base_fee
from bot.model.health import AccountData, account_data
from bot.model.liquidation import LiquidationReverted, liquidate
from bot.model.profit import NATIVE_UNIT, Valuation
from bot.model.ranking import (
    BidPolicy,
    DecisionConfig,
    Opportunity,
    plan_block,
    price_opportunity,
)
from bot.model.sizing import PairBook, SizedPath, evaluate, seize_terms, size_account
from bot.model.types import Account, ExecutionPath, MarketState, PairReserves
from bot.record.schema import RecordedBlock, RecordedLiquidation

REASONS: dict[str, str] = {
    "backrun": "became liquidatable and was liquidated in the same block (a back-run)",
    "latency": "liquidated by others before the bot's transaction could land",
    "competitor_faster": "a competitor landed first while the bot's transaction was pending",
    "lost_race": "lost the same-block race to a competitor",
    "reverted": "the bot's transaction would have reverted when it landed",
    "fee_cap": "the base fee was above the bot's maximum fee",
    "unprofitable": "no path repays its flash swap or finds a buyer (slippage eats the bonus)",
    "dust": "gas costs more than the bonus",
    "below_min_profit": "profitable, but below the minimum profit",
    "bad_debt": "no collateral left to seize",
    "blocked": "liquidations paused or a price unusable",
    "deferred": "this block's AMM depth or inventory went to better liquidations",
    "max_per_block": "left out by the per-block limit",
    "recovered": "healthy again before the bot's transaction could land",
    "end": "still liquidatable when the recording ends",
}


def _usd(wei: int, native_price: int) -> float:
    return wei * native_price / (NATIVE_UNIT * BASE_UNIT)


def _token_usd(amount: int, price: int | None, decimals: int) -> float:
    if not price:
        return 0.0
    unit: int = 10**decimals
    return amount * price / (unit * BASE_UNIT)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class BotLiquidation:
    """A liquidation the bot would have made (replayed by the model where it landed)."""

    decided_block: int
    block: int
    user: str
    collateral: str
    debt: str
    path: str
    debt_to_cover: int
    debt_covered: int
    collateral_seized: int
    """Collateral the pool hands the liquidator (after the protocol fee), token units."""
    collateral_gain: int
    """What the bot keeps in collateral (flash: seized minus what repays the pair)."""
    debt_gain: int
    """What the bot keeps (or, negative, spends) in the debt asset."""
    gas_units: int
    base_fee: int
    priority_fee: int
    expected_profit_usd: float
    """Net profit the bot expected when it decided (sized at the decision block)."""
    profit_usd: float
    """Net profit where it landed: exact outcome at that block, minus gas at its base fee."""
    gas_usd: float
    race: str = ""
    bad_debt_usd: float = 0.0
    pair_reserves: tuple[int, int] | None = None
    """The pair's (reserve0, reserve1) its swap met (None when the path swaps nothing)."""


@dataclass(frozen=True)
class FailedAttempt:
    decided_block: int
    block: int
    user: str
    path: str
    reason: str
    detail: str
    gas_usd: float = 0.0


@dataclass(frozen=True)
class ActualLiquidation:
    """A ``LiquidationCall`` the chain recorded, valued, and what the bot had to do with it."""

    block: int
    tx_hash: str
    log_index: int
    user: str
    liquidator: str
    sender: str
    collateral: str
    debt: str
    debt_covered: int
    collateral_seized: int
    gas_used: int
    effective_gas_price: int
    priority_fee: int
    seized_usd: float
    repaid_usd: float
    gas_usd: float
    profit_usd: float
    preempted_by_bot: bool
    bot_reason: str = ""
    """Why the bot did not get this one first (a key of ``REASONS``), when it did not."""
    detail: str = ""


@dataclass(frozen=True)
class Missed:
    user: str
    first_block: int
    last_block: int
    reason: str
    detail: str
    liquidated_by_others: int


@dataclass(frozen=True)
class BadDebt:
    block: int
    user: str
    reserve: str
    amount: int
    usd: float


@dataclass
class Summary:
    blocks: int = 0
    first_block: int = 0
    last_block: int = 0
    accounts: int = 0
    borrowers: int = 0
    opportunities: int = 0
    liquidatable_account_blocks: int = 0
    taken: int = 0
    """Opportunities the bot liquidated at least once."""
    bot_liquidations: int = 0
    expected_profit_usd: float = 0.0
    planned_profit_usd: float = 0.0
    bot_gas_usd: float = 0.0
    failed_attempts: int = 0
    failed_gas_usd: float = 0.0
    liquidations_on_chain: int = 0
    by_others: int = 0
    others_profit_usd: float = 0.0
    preempted: int = 0
    preempted_profit_usd: float = 0.0
    missed: int = 0
    missed_by_reason: dict[str, int] = field(default_factory=dict)
    others_by_reason: dict[str, int] = field(default_factory=dict)
    bad_debt_events: int = 0
    bad_debt_usd: float = 0.0
    bot_bad_debt_usd: float = 0.0
    underwater_peak_usd: float = 0.0
    underwater_end_usd: float = 0.0
    checkpoints_verified: int = 0
    accounts_verified: int = 0
    position_mismatches: int = 0
    health_mismatches: int = 0
    elapsed_seconds: float = 0.0


@dataclass
class Series:
    """Change points per block (the report downsamples them)."""

    prices: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    at_risk: list[tuple[int, int]] = field(default_factory=list)
    liquidatable: list[tuple[int, int]] = field(default_factory=list)
    bot_profit: list[tuple[int, float]] = field(default_factory=list)
    others_profit: list[tuple[int, float]] = field(default_factory=list)
    underwater: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class BacktestResult:
    source: str
    mode: str
    """``recording`` or ``price-path``."""
    config: BacktestConfig
    assumptions: list[str]
    summary: Summary
    bot_liquidations: list[BotLiquidation]
    failed_attempts: list[FailedAttempt]
    actual_liquidations: list[ActualLiquidation]
    missed: list[Missed]
    bad_debt: list[BadDebt]
    series: Series
    info: dict[str, Any] = field(default_factory=dict)
    sweep: list[dict[str, Any]] = field(default_factory=list)


AMM_KINDS = ("price-path", "synthetic")
"""Recordings written by :mod:`bot.backtest.synthetic`: their pairs move only by the model's
arbitrage to the oracle price, so the engine can play that rule on its own pairs."""


def reactive_amm(config: BacktestConfig, kind: str) -> bool:
    """Whether the engine carries its own pairs (``amm``) for a recording of ``kind``."""
    if config.amm == "auto":
        return kind == "price-path"
    if config.amm == "reactive" and kind not in AMM_KINDS:
        raise ValueError(
            f"amm = 'reactive' needs a recording whose pairs follow the model's arbitrage (a "
            f"price-path or synthetic run); this one is from {kind!r}: use amm = 'recorded'"
        )
    return config.amm == "reactive"


def assumptions(config: BacktestConfig, mode: str = "recording") -> list[str]:
    """The assumptions of a run, in words (they go into every report)."""
    gas = ", ".join(f"{p}: {config.gas[p]:,} gas" for p in config.paths)
    race = {
        "win": "the bot's transaction is ordered first",
        "lose": "the competitor's transaction is ordered first",
        "priority": (
            "the higher priority fee per gas is ordered first (ties to the competitor); "
            "direct payments to block builders are not visible and not counted"
        ),
    }[config.same_block]
    native = (
        f"a fixed {config.native_price_usd} USD"
        if config.native_price_usd is not None
        else f"the {config.native_symbol} oracle price"
    )
    out = [
        f"Detection latency: the bot decides on the state at the end of block d; its "
        f"transaction lands in block d + {config.latency_blocks} (the first recorded block at "
        "or after it).",
        f"Same-block competition: when a competitor liquidates the same account in that "
        f"block, {race}.",
        f"Gas per path: {gas}. Priority fee: {config.profit_share_bps / 100:g}% of the "
        f"expected surplus per gas, at least {config.min_priority_fee_gwei} gwei, within a "
        f"maximum fee of {config.max_fee_gwei} gwei.",
        "Base fee: the recorded header's; when deciding, the bot predicts it from the parent "
        "header (EIP-1559, exact one block ahead)"
        + (f"; fixed at {config.base_fee_gwei} gwei here." if config.base_fee_gwei else "."),
        f"Profit is counted after gas, in the native token valued at {native}; the minimum "
        f"profit is {config.min_profit_usd} USD.",
        f"A transaction that reverts where it lands costs {config.reverted_gas:,} gas"
        + (" (a private relay that drops reverts)." if config.reverted_gas == 0 else "."),
        "A liquidation by the bot changes the liquidated account (an overlay) until the "
        "chain next changes it; reserves follow the recording"
        + (
            "; AMM pairs are the engine's own: the bot's swaps stay in them, and every block "
            "ends with the arbitrage to the oracle price (after the bot's transactions and the "
            "price update), which leaves the swaps' fees in the pairs."
            if config.amm == "reactive" or (config.amm == "auto" and mode == "price-path")
            else "; AMM pairs follow the recording (the bot's swaps count within their block)."
        ),
        "Others' profit: collateral received minus debt repaid at the oracle prices at the end "
        "of the block, minus the transaction's gas (shared among its liquidations).",
        f"Screening: an account whose positions and prices did not change is re-sized at "
        f"most every {config.rescreen_blocks} blocks and re-priced every block; every "
        "liquidation the bot commits to is sized exactly.",
        f"At risk: health factor below {1 + config.at_risk_margin_bps / 10_000:g}.",
    ]
    if config.inventory:
        held = ", ".join(f"{amount} {symbol}" for symbol, amount in config.inventory.items())
        out.append(f"Inventory held by the bot's liquidator (token units): {held}.")
    if mode == "price-path":
        out.append(
            "Price path: a synthetic, documented book of borrowers on the bundled market's "
            "parameters; the bot is the only liquidator; AMM pairs are arbitraged to the "
            "oracle price at every price update (and, reactive, after the bot's swaps)."
        )
    return out


# ----------------------------------------------------------------------------- internals


@dataclass(frozen=True, slots=True)
class _Pending:
    opp: Opportunity
    decided_block: int
    land_at: int
    expected_usd: float
    max_fee: int


@dataclass
class _Episode:
    user: str
    start: int
    last: int
    taken: int = 0
    by_others: int = 0
    reason: str = ""
    detail: str = ""
    decided: bool = False


@dataclass(slots=True)
class _Screen:
    key: tuple[Any, ...]
    block: int
    data: AccountData
    sized: list[SizedPath]
    gross: list[int]
    """Each sized path's value before gas (native wei) at the key's prices."""


@dataclass(frozen=True, slots=True)
class _Executed:
    sized: SizedPath
    market: MarketState
    account: Account
    net_wei: int
    gas_wei: int
    priority: int
    bad_debt_usd: float


class Engine:
    """One configuration's view of a recording; :func:`run_engines` drives several at once."""

    def __init__(self, source: RecordedSource, config: BacktestConfig) -> None:
        self.source = source
        self.config = config
        self.gas_table = GasTable(gas=dict(config.gas))
        self.bid = BidPolicy(
            profit_share_bps=config.profit_share_bps,
            max_fee_per_gas=config.max_fee_per_gas,
            min_priority_fee_per_gas=config.min_priority_fee_per_gas,
        )
        self.numbers = [h.number for h in source.headers]
        self.pending: dict[int, list[_Pending]] = defaultdict(list)
        self.pending_users: dict[str, _Pending] = {}
        self.overlay: dict[str, Account] = {}
        self.overlay_health: dict[str, tuple[Account, Any, AccountData, float]] = {}
        self.unmatched: Counter[str] = Counter()
        self.lost_race: dict[tuple[str, int], str] = {}
        self.last_failure: dict[str, tuple[str, str]] = {}
        self.episodes: dict[str, _Episode] = {}
        self.screens: dict[str, _Screen] = {}
        self.seen: dict[str, tuple[int, AccountData]] = {}
        self.excess: dict[str, tuple[Any, int]] = {}
        """The account data each screened account was last judged on, and in which block."""
        self.stock: dict[str, int] = {}
        self.summary = Summary()
        self.bot: list[BotLiquidation] = []
        self.failed: list[FailedAttempt] = []
        self.actual: list[ActualLiquidation] = []
        self.missed: list[Missed] = []
        self.bad_debt: list[BadDebt] = []
        self.series = Series()
        self.bot_profit = 0.0
        self.others_profit = 0.0
        self.native_asset: str | None = None
        self.first = config.from_block if config.from_block is not None else -1
        self.last = config.to_block if config.to_block is not None else 2**63
        self._last_point: dict[str, Any] = {}
        self._deferred: list[_Pending] = []
        self.reactive = reactive_amm(config, source.info.kind)
        self.amm: dict[str, PairReserves] = {}
        """Reactive mode: the engine's own pairs (by address), the bot's swaps included."""
        self.amm_version = 0
        """Bumped whenever a pair of :attr:`amm` changes (sizings made before are stale)."""
        self._aligned: dict[str, tuple[PairReserves, int, int]] = {}

    # ------------------------------------------------------------------ helpers

    def native_price(self) -> int:
        if self.config.native_price_usd is not None:
            return int(self.config.native_price_usd * BASE_UNIT)
        if self.native_asset is None:
            self.native_asset = self.source.asset_of(self.config.native_symbol)
            if self.native_asset is None:
                raise ValueError(
                    f"the market has no {self.config.native_symbol} to price gas with: set "
                    "native_symbol to one of its assets, or native_price_usd"
                )
        price = self.source.price(self.native_asset)
        if not price:
            raise ValueError(f"no oracle price for {self.config.native_symbol} yet")
        return price

    def base_fee_at(self, header: RecordedBlock) -> int:
        if self.config.base_fee_gwei is not None:
            return int(self.config.base_fee_gwei * 10**9)
        return header.base_fee

    def predicted_base_fee(self, header: RecordedBlock) -> int:
        if self.config.base_fee_gwei is not None:
            return int(self.config.base_fee_gwei * 10**9)
        if header.gas_limit and header.base_fee:
            return next_base_fee(header.base_fee, header.gas_used, header.gas_limit)
        return header.base_fee

    def decimals(self, asset: str) -> int:
        market = self.source.health_market()
        return market.reserve(asset).config.decimals if market.has_reserve(asset) else 18

    def account(self, user: str) -> Account:
        return self.overlay.get(user) or self.source.account(user)

    def in_window(self, block: int) -> bool:
        return self.first <= block <= self.last

    def pairs(self) -> tuple[PairReserves, ...]:
        """The AMM pairs now: the engine's own in reactive mode, else the recording's."""
        if self.reactive:
            return tuple(self.amm.values())
        return self.source.pairs()

    def _pair_map(self) -> dict[frozenset[str], PairReserves]:
        return {frozenset((p.token0, p.token1)): p for p in self.pairs()}

    def _carry(self, pairs: Mapping[frozenset[str], PairReserves]) -> None:
        """Keep the pairs the bot's transactions left (reactive mode)."""
        if not self.reactive:
            return
        for pair in pairs.values():
            if self.amm.get(pair.pair) != pair:
                self.amm[pair.pair] = pair
                self.amm_version += 1

    def _arbitrage(self) -> None:
        """The block ends with each pair traded back to the oracle price by one swap that
        pays the fee: the synthetic recording's rule (and the re-enactment's arbitrageur),
        played on the engine's own pairs, which hold the bot's swaps."""
        for address, pair in list(self.amm.items()):
            p0, p1 = self.source.price(pair.token0), self.source.price(pair.token1)
            if not p0 or not p1:
                continue
            w0 = p0 * 10 ** self.decimals(pair.token1)
            w1 = p1 * 10 ** self.decimals(pair.token0)
            if self._aligned.get(address) == (pair, w0, w1):
                continue  # nothing to trade at these prices (checked last block)
            swap = arbitrage_swap(pair, w0, w1)
            if swap is None:
                self._aligned[address] = (pair, w0, w1)
                continue
            self.amm[address] = swap.after
            self.amm_version += 1

    def start(self) -> None:
        layout = self.source.book.layout
        if self.reactive:
            self.amm = {p.pair: p for p in self.source.pairs()}
        for symbol, amount in self.config.inventory.items():
            asset = self.source.asset_of(symbol)
            if asset is None:
                raise ValueError(
                    f"inventory: the market has no {symbol} (assets: "
                    f"{', '.join(layout.symbols.values())})"
                )
            self.stock[asset] = amount

    # ------------------------------------------------------------------ before a block

    def before(self, header: RecordedBlock) -> None:
        """Land the transactions due in ``header``'s block on the state before it."""
        due = self.pending.pop(header.number, [])
        if not due:
            return
        base_fee = self.base_fee_at(header)
        competitors: dict[str, RecordedLiquidation] = {}
        for liq in self.source.liquidations.get(header.number, ()):
            competitors.setdefault(liq.user, liq)
        market = self.source.market()
        pairs = self._pair_map()
        deferred: list[_Pending] = []
        for tx in due:
            user = tx.opp.user
            if base_fee > tx.max_fee:
                self._fail(
                    tx, header.number, base_fee, "fee_cap", f"base fee {base_fee / 1e9:.2f} gwei"
                )
                continue
            rival = competitors.get(user)
            if rival is not None:
                rival_tip = self._rival_priority(rival, base_fee)
                ours = min(tx.opp.priority_fee_per_gas, tx.max_fee - base_fee)
                wins = self.config.same_block == "win" or (
                    self.config.same_block == "priority" and ours > rival_tip
                )
                race = (
                    f"bot tip {ours / 1e9:.2f} gwei vs {rival.liquidator[:10]} "
                    f"{rival_tip / 1e9:.2f} gwei"
                )
                if not wins:
                    self.lost_race[(user, header.number)] = race
                    deferred.append(tx)
                    continue
                market, pairs = self._land(tx, header, market, pairs, base_fee, "won: " + race)
            else:
                market, pairs = self._land(tx, header, market, pairs, base_fee, "")
        self._carry(pairs)
        self._deferred = deferred

    def _rival_priority(self, liq: RecordedLiquidation, base_fee: int) -> int:
        tx = self.source.transactions.get(liq.tx_hash)
        if tx is None:
            return 0
        return max(0, tx.effective_gas_price - base_fee)

    def _land(
        self,
        tx: _Pending,
        header: RecordedBlock,
        market: MarketState,
        pairs: dict[frozenset[str], PairReserves],
        base_fee: int,
        race: str,
    ) -> tuple[MarketState, dict[frozenset[str], PairReserves]]:
        self.pending_users.pop(tx.opp.user, None)
        account = self.account(tx.opp.user)
        done = self._execute(tx, market, account, pairs, header.timestamp, base_fee)
        if isinstance(done, tuple):
            self._fail(tx, header.number, base_fee, *done)
            return market, pairs
        s = done.sized
        native = self.native_price()
        profit = _usd(done.net_wei, native)
        gas_usd = _usd(done.gas_wei, native)
        opp = tx.opp
        self.bot.append(
            BotLiquidation(
                decided_block=tx.decided_block,
                block=header.number,
                user=opp.user,
                collateral=self.source.symbol(s.collateral),
                debt=self.source.symbol(s.debt),
                path=str(s.path),
                debt_to_cover=s.debt_to_cover,
                debt_covered=s.amounts.debt_covered,
                collateral_seized=s.amounts.to_liquidator,
                collateral_gain=s.collateral_gain,
                debt_gain=s.debt_gain,
                gas_units=opp.gas_units,
                base_fee=base_fee,
                priority_fee=done.priority,
                expected_profit_usd=tx.expected_usd,
                profit_usd=profit,
                gas_usd=gas_usd,
                race=race,
                bad_debt_usd=done.bad_debt_usd,
            )
        )
        self.bot_profit += profit
        self.overlay[opp.user] = done.account
        self.unmatched[opp.user] += 1
        self.last_failure.pop(opp.user, None)
        episode = self.episodes.get(opp.user)
        if episode is not None:
            episode.taken += 1
        key = frozenset((s.collateral, s.debt))
        if s.path in (ExecutionPath.FLASH, ExecutionPath.INVENTORY_SWAP) and key in pairs:
            met = pairs[key]
            self.bot[-1] = replace(self.bot[-1], pair_reserves=(met.reserve0, met.reserve1))
        if s.path is ExecutionPath.FLASH and key in pairs:
            pairs = {**pairs, key: after_swap(pairs[key], s.collateral, s.repay, s.debt_to_cover)}
        elif s.path is ExecutionPath.INVENTORY_SWAP and key in pairs:
            pairs = {
                **pairs,
                key: after_swap(pairs[key], s.collateral, s.amounts.to_liquidator, s.swap_out),
            }
        if s.path is not ExecutionPath.FLASH:
            self.stock[s.debt] = self.stock.get(s.debt, 0) + s.debt_gain
        if s.path is ExecutionPath.INVENTORY:
            self.stock[s.collateral] = self.stock.get(s.collateral, 0) + s.collateral_gain
        return done.market, pairs

    def _execute(
        self,
        tx: _Pending,
        market: MarketState,
        account: Account,
        pairs: Mapping[frozenset[str], PairReserves],
        timestamp: int,
        base_fee: int,
    ) -> _Executed | tuple[str, str]:
        """The transaction replayed by the model where it lands; (reason, detail) if it
        would revert there."""
        opp = tx.opp
        s0 = opp.sized
        try:
            terms = seize_terms(market, account, s0.collateral, s0.debt, timestamp)
        except LiquidationReverted as exc:
            return "reverted", type(exc).__name__
        except KeyError:
            return "reverted", "no usable oracle price"
        pair = pairs.get(frozenset((s0.collateral, s0.debt)))
        balance = None if s0.path is ExecutionPath.FLASH else self.stock.get(s0.debt, 0)
        sized = evaluate(terms, s0.path, opp.debt_to_cover, pair=pair, balance=balance)
        if sized is None:
            return "reverted", "the flash swap or the inventory cannot cover it"
        if sized.contract_profit < opp.min_profit_guard:
            return "reverted", "ProfitBelowMinimum"
        try:
            outcome = liquidate(
                market, account, s0.collateral, s0.debt, opp.debt_to_cover, timestamp
            )
        except LiquidationReverted as exc:
            return "reverted", type(exc).__name__
        priority = min(opp.priority_fee_per_gas, tx.max_fee - base_fee)
        gas_wei = opp.gas_units * (base_fee + priority)
        native = self.native_price()
        valuation = Valuation(market, native)
        gross = valuation.value(sized.collateral_gain, sized.collateral) + valuation.value(
            sized.debt_gain, sized.debt
        )
        bad = sum(
            _token_usd(w.loss, self.source.price(w.asset), self.decimals(w.asset))
            for w in outcome.bad_debt
        )
        return _Executed(
            sized=sized,
            market=outcome.market,
            account=outcome.account,
            net_wei=gross - valuation.gas_value(gas_wei),
            gas_wei=gas_wei,
            priority=priority,
            bad_debt_usd=bad,
        )

    def _fail(self, tx: _Pending, block: int, base_fee: int, reason: str, detail: str) -> None:
        self.pending_users.pop(tx.opp.user, None)
        gas_usd = 0.0
        if reason == "reverted" and self.config.reverted_gas:
            priority = min(tx.opp.priority_fee_per_gas, tx.max_fee - base_fee)
            gas_usd = _usd(self.config.reverted_gas * (base_fee + priority), self.native_price())
            self.bot_profit -= gas_usd
        self.failed.append(
            FailedAttempt(
                tx.decided_block, block, tx.opp.user, str(tx.opp.path), reason, detail, gas_usd
            )
        )
        self.last_failure[tx.opp.user] = (reason, detail)

    # ------------------------------------------------------------------ after a block

    def after(self, state: BlockState) -> None:
        n = state.block.number
        for user in state.changed_users:
            self.overlay.pop(user, None)
        if not self.in_window(n):
            self._deferred = []
            if self.reactive:
                self._arbitrage()
            return
        self.summary.blocks += 1
        self._record_actual(state)
        if self._deferred:
            market = self.source.market()
            pairs = self._pair_map()
            base_fee = self.base_fee_at(state.block)
            for tx in self._deferred:
                race = self.lost_race.get((tx.opp.user, n), "")
                market, pairs = self._land(
                    tx, state.block, market, pairs, base_fee, "after " + race
                )
            self._carry(pairs)
            self._deferred = []
        if self.reactive:
            self._arbitrage()
        liquidatable = self._effective(state)
        self._episodes(liquidatable, n)
        self._decide(state, liquidatable)
        self._points(state, liquidatable)

    def _effective(self, state: BlockState) -> list[str]:
        """Liquidatable accounts, those the bot liquidated taken as the bot left them."""
        out: list[str] = []
        for user in state.liquidatable:
            if user in self.overlay:
                data = self._overlay_data(user)
                if data is None or not data.liquidatable:
                    continue
            out.append(user)
        return out

    def _overlay_data(self, user: str) -> AccountData | None:
        """The model's account data of an account the bot liquidated, as the bot left it.

        Recomputed when a price moved or an index jumped, or once interest could have carried
        it across the liquidation line (the source's rate bounds; so its band is exact)."""
        account = self.overlay[user]
        now = self.source.timestamp
        version = self.source.version
        cached = self.overlay_health.get(user)
        if cached is not None and cached[0] is account and cached[1] == version and now < cached[3]:
            return cached[2]
        try:
            data = self.source.account_data(user, account)
        except (KeyError, ZeroDivisionError):
            return None
        rb, rl = self.source.rate_caps()
        hf = data.health_factor / WAD
        margin = 1e-6
        if data.health_factor >= 2**255:
            until = math.inf
        elif data.liquidatable:
            gap = -math.log(hf * (1 + margin)) if hf > 0 else math.inf
            until = now + gap / rl if gap > 0 else now
        else:
            gap = math.log(hf * (1 - margin))
            until = now + gap / rb if gap > 0 else now
        self.overlay_health[user] = (account, version, data, until)
        return data

    def _record_actual(self, state: BlockState) -> None:
        n = state.block.number
        if not state.liquidations and not state.bad_debt:
            return
        native = self.native_price()
        base_fee = state.block.base_fee
        per_tx = Counter(liq.tx_hash for liq in state.liquidations)
        for liq in state.liquidations:
            self.summary.liquidations_on_chain += 1
            tx = self.source.transactions.get(liq.tx_hash)
            gas_used = tx.gas_used // per_tx[liq.tx_hash] if tx else 0
            price = tx.effective_gas_price if tx else 0
            seized = _token_usd(
                liq.collateral_to_liquidator,
                self.source.price(liq.collateral_asset),
                self.decimals(liq.collateral_asset),
            )
            repaid = _token_usd(
                liq.debt_covered, self.source.price(liq.debt_asset), self.decimals(liq.debt_asset)
            )
            gas_usd = _usd(gas_used * price, native)
            profit = seized - repaid - gas_usd
            preempted = self.unmatched[liq.user] > 0
            reason = detail = ""
            if preempted:
                self.unmatched[liq.user] -= 1
                self.summary.preempted += 1
                self.summary.preempted_profit_usd += profit
            else:
                reason, detail = self._why_missed(liq.user, n)
                self.summary.by_others += 1
                self.others_profit += profit
                episode = self.episodes.get(liq.user)
                if episode is not None:
                    episode.by_others += 1
                    if not episode.reason:
                        episode.reason, episode.detail = reason, detail
            self.actual.append(
                ActualLiquidation(
                    block=n,
                    tx_hash=liq.tx_hash,
                    log_index=liq.log_index,
                    user=liq.user,
                    liquidator=liq.liquidator,
                    sender=tx.sender if tx else "",
                    collateral=self.source.symbol(liq.collateral_asset),
                    debt=self.source.symbol(liq.debt_asset),
                    debt_covered=liq.debt_covered,
                    collateral_seized=liq.collateral_to_liquidator,
                    gas_used=gas_used,
                    effective_gas_price=price,
                    priority_fee=max(0, price - base_fee),
                    seized_usd=seized,
                    repaid_usd=repaid,
                    gas_usd=gas_usd,
                    profit_usd=profit,
                    preempted_by_bot=preempted,
                    bot_reason=reason,
                    detail=detail,
                )
            )
        for bad in state.bad_debt:
            usd = _token_usd(bad.amount, self.source.price(bad.reserve), self.decimals(bad.reserve))
            self.bad_debt.append(
                BadDebt(n, bad.user, self.source.symbol(bad.reserve), bad.amount, usd)
            )

    def _why_missed(self, user: str, block: int) -> tuple[str, str]:
        race = self.lost_race.get((user, block))
        if race is not None:
            return "lost_race", race
        pending = self.pending_users.get(user)
        if pending is not None:
            return (
                "competitor_faster",
                f"the bot's transaction would land at block {pending.land_at}",
            )
        episode = self.episodes.get(user)
        if episode is None:
            return "backrun", f"liquidatable and liquidated in block {block}"
        earliest = episode.start + self.config.latency_blocks
        if not episode.decided or block < earliest:
            return "latency", (
                f"liquidatable from block {episode.start}, liquidated in block {block}; the "
                f"bot's transaction could land at block {earliest} at the earliest"
            )
        failure = self.last_failure.get(user)
        if failure is not None:
            return failure
        if episode.reason:
            return episode.reason, episode.detail
        return "latency", f"liquidated in block {block}"

    def _episodes(self, liquidatable: list[str], n: int) -> None:
        current = set(liquidatable)
        self.summary.liquidatable_account_blocks += len(current)
        for user in current:
            episode = self.episodes.get(user)
            if episode is None:
                self.episodes[user] = _Episode(user, n, n)
                self.summary.opportunities += 1
            else:
                episode.last = n
        for user in [u for u in self.episodes if u not in current]:
            self._close(self.episodes.pop(user), ended=True)

    def _close(self, episode: _Episode, *, ended: bool) -> None:
        if episode.taken:
            self.summary.taken += 1
            return
        if episode.by_others:
            reason, detail = episode.reason or "latency", episode.detail
        else:
            failure = self.last_failure.get(episode.user)
            if failure is not None:
                reason, detail = failure
            elif episode.reason and episode.reason not in ("latency", "backrun"):
                reason, detail = episode.reason, episode.detail
            elif ended:
                reason, detail = (
                    "recovered",
                    f"liquidatable in blocks {episode.start}-{episode.last}",
                )
            else:
                reason, detail = "end", f"liquidatable from block {episode.start}"
        self.missed.append(
            Missed(episode.user, episode.start, episode.last, reason, detail, episode.by_others)
        )

    # ------------------------------------------------------------------ deciding

    def _decide(self, state: BlockState, liquidatable: list[str]) -> None:
        n = state.block.number
        target = n + self.config.latency_blocks
        i = bisect.bisect_left(self.numbers, target)
        if i >= len(self.numbers) or self.numbers[i] > self.last:
            return
        land_at = self.numbers[i]
        candidates = [u for u in liquidatable if u not in self.pending_users]
        if not candidates:
            return
        market = self.source.market()
        native = self.native_price()
        valuation = Valuation(market, native)
        base_fee = self.predicted_base_fee(state.block)
        min_profit = -(-int(self.config.min_profit_usd * BASE_UNIT * NATIVE_UNIT) // native)
        timestamp = state.block.timestamp
        pairs = self.pairs()
        book = PairBook.of(pairs)
        shortlist: list[Account] = []
        ranking: dict[str, int] = {}
        reasons: dict[str, tuple[str, str]] = {}
        for user in candidates:
            episode = self.episodes[user]
            episode.decided = True
            account = self.account(user)
            blocked = self.source.blocked_by(user, account)
            if blocked:
                reasons[user] = ("blocked", ", ".join(blocked))
                continue
            verdict = self._screen(
                user, account, market, valuation, book, base_fee, timestamp, n, min_profit
            )
            if isinstance(verdict, int):
                shortlist.append(account)
                ranking[user] = verdict
            else:
                reasons[user] = verdict
        limit = self.config.max_per_block
        if limit is not None and len(shortlist) > limit + max(5, limit // 2):
            keep = limit + max(5, limit // 2)
            shortlist.sort(key=lambda a: -ranking[a.user])
            for account in shortlist[keep:]:
                reasons[account.user] = ("max_per_block", f"{limit} per block")
            shortlist = shortlist[:keep]
        plan: list[Opportunity] = []
        if shortlist:
            decision = DecisionConfig(min_profit=min_profit, bid=self.bid, paths=self.config.paths)

            def planned(accounts: list[Account]) -> list[Opportunity]:
                return plan_block(
                    market,
                    accounts,
                    timestamp,
                    pairs=pairs,
                    valuation=valuation,
                    gas_table=self.gas_table,
                    base_fee=base_fee,
                    inventory=self.stock,
                    config=decision,
                    max_liquidations=self.config.max_per_block,
                )

            try:
                plan = planned(shortlist)
            except LiquidationReverted:
                # plan_block applies each pick with the pool's own rules, which can refuse
                # what sizing accepted (a reserve short of cash): plan accounts one by one.
                for account in shortlist:
                    try:
                        plan += planned([account])
                    except LiquidationReverted as exc:
                        reasons[account.user] = ("reverted", type(exc).__name__)
                plan = sorted(plan, key=lambda o: -o.net_profit)[:limit]
        planned_users = {o.user for o in plan}
        for account in shortlist:
            if account.user not in planned_users and account.user not in reasons:
                full = limit is not None and len(plan) >= limit
                reasons[account.user] = (
                    ("max_per_block", f"{limit} per block")
                    if full
                    else ("deferred", "profitable alone, not after the block's better ones")
                )
        for user, (reason, detail) in reasons.items():
            episode = self.episodes[user]
            episode.reason, episode.detail = reason, detail
        for opp in plan:
            tx = _Pending(
                opp=opp,
                decided_block=n,
                land_at=land_at,
                expected_usd=_usd(opp.net_profit, native),
                max_fee=self.bid.max_fee_per_gas,
            )
            self.pending[land_at].append(tx)
            self.pending_users[opp.user] = tx

    def _screen(
        self,
        user: str,
        account: Account,
        market: MarketState,
        valuation: Valuation,
        book: PairBook,
        base_fee: int,
        timestamp: int,
        block: int,
        min_profit: int,
    ) -> tuple[str, str] | int:
        """Its best net profit (wei) when the account may pay (it goes to ``plan_block``),
        else why not."""
        prices = tuple(market.prices.get(p.asset) for p in account.positions)
        key = (
            account,
            prices,
            valuation.native_price,
            market.liquidations_paused,
            self.amm_version,
        )
        cached = self.screens.get(user)
        if (
            cached is None
            or cached.key != key
            or block - cached.block >= self.config.rescreen_blocks
        ):
            data = account_data(market, account, timestamp)
            sized: list[SizedPath] = []
            if data.total_collateral_base:
                sized = size_account(
                    market,
                    account,
                    timestamp,
                    pairs=book,
                    inventory=self.stock,
                    paths=self.config.paths,
                    data=data,
                )
            gross = [
                valuation.value(sp.collateral_gain, sp.collateral)
                + valuation.value(sp.debt_gain, sp.debt)
                for sp in sized
            ]
            cached = _Screen(key, block, data, sized, gross)
            self.screens[user] = cached
        self.seen[user] = (block, cached.data)
        if not cached.data.liquidatable:
            return "recovered", "health factor back above 1"
        if cached.data.total_collateral_base == 0:
            return "bad_debt", "no collateral left to seize"
        if base_fee > self.bid.max_fee_per_gas:
            return "fee_cap", f"base fee {base_fee / 1e9:.2f} gwei"
        if cached.sized and all(
            g <= self.gas_table.gas_for(sp.path) * base_fee
            for g, sp in zip(cached.gross, cached.sized, strict=True)
        ):
            # Not even the base fee is covered, whatever the tip: no need to price it.
            i = max(range(len(cached.gross)), key=cached.gross.__getitem__)
            native = valuation.native_price
            gas = self.gas_table.gas_for(cached.sized[i].path) * base_fee
            if cached.gross[i] <= 0:
                return "unprofitable", "slippage eats the bonus"
            return "dust", (
                f"bonus {_usd(cached.gross[i], native):.2f} USD, gas {_usd(gas, native):.2f} USD"
            )
        best: Opportunity | None = None
        for sized_path in cached.sized:
            opp = price_opportunity(
                user,
                cached.data.health_factor,
                sized_path,
                valuation,
                self.gas_table,
                base_fee,
                self.bid,
            )
            if opp is not None and (best is None or opp.net_profit > best.net_profit):
                best = opp
        if best is None:
            return "unprofitable", "no path can repay its flash swap or find a buyer"
        if best.gross_profit <= 0:
            return "unprofitable", "slippage eats the bonus"
        if best.gross_profit <= best.gas_cost:
            native = valuation.native_price
            return "dust", (
                f"bonus {_usd(valuation.to_native(best.gross_profit), native):.2f} USD, "
                f"gas {_usd(valuation.to_native(best.gas_cost), native):.2f} USD"
            )
        if best.net_profit < max(min_profit, 1):
            return "below_min_profit", f"{_usd(best.net_profit, valuation.native_price):.2f} USD"
        return best.net_profit

    # ------------------------------------------------------------------ series and the end

    def _point(self, key: str, series: list[Any], block: int, value: Any) -> None:
        if self._last_point.get(key) != value:
            self._last_point[key] = value
            series.append((block, value))

    def _points(self, state: BlockState, liquidatable: list[str]) -> None:
        n = state.block.number
        s = self.series
        self._point("risk", s.at_risk, n, state.at_risk)
        self._point("liq", s.liquidatable, n, len(liquidatable))
        self._point("bot", s.bot_profit, n, round(self.bot_profit, 2))
        self._point("others", s.others_profit, n, round(self.others_profit, 2))
        book = self.source.book
        for asset, price in book.last_good_price.items():
            symbol = self.source.symbol(asset)
            self._point("p:" + symbol, s.prices.setdefault(symbol, []), n, price / BASE_UNIT)
        total = 0
        version = self.source.version
        for user in liquidatable:
            if user in self.overlay:
                data = self._overlay_data(user)
            else:
                seen = self.seen.get(user)
                data = seen[1] if seen is not None and seen[0] == n else None
            if data is not None:
                gap = max(0, data.total_debt_base - data.total_collateral_base)
            else:
                cached = self.excess.get(user)
                if cached is None or cached[0] != version or user in state.changed_users:
                    try:
                        exact = self.source.account_data(user)
                        gap = max(0, exact.total_debt_base - exact.total_collateral_base)
                    except (KeyError, ZeroDivisionError):
                        gap = self.source.excess(user)
                    self.excess[user] = (version, gap)
                else:
                    gap = cached[1]
            total += gap
        usd = round(total / BASE_UNIT, 2)
        self._point("uw", s.underwater, n, usd)
        self.summary.underwater_peak_usd = max(self.summary.underwater_peak_usd, usd)
        self.summary.underwater_end_usd = usd

    def finish(self, elapsed: float) -> BacktestResult:
        for episode in list(self.episodes.values()):
            self._close(episode, ended=False)
        self.episodes = {}
        for tx in self.pending_users.values():
            self.failed.append(
                FailedAttempt(
                    tx.decided_block, tx.land_at, tx.opp.user, str(tx.opp.path), "end",
                    "the recording ends before the transaction lands"
                )
            )  # fmt: skip
        s = self.summary
        source = self.source
        s.first_block = max(self.first, source.headers[0].number) if source.headers else 0
        s.last_block = min(self.last, source.headers[-1].number) if source.headers else 0
        s.accounts = len(source.book)
        s.borrowers = len(source.book.borrowers)
        s.bot_liquidations = len(self.bot)
        s.expected_profit_usd = sum(b.profit_usd for b in self.bot) - sum(
            f.gas_usd for f in self.failed
        )
        s.planned_profit_usd = sum(b.expected_profit_usd for b in self.bot)
        s.bot_gas_usd = sum(b.gas_usd for b in self.bot)
        s.failed_attempts = len(self.failed)
        s.failed_gas_usd = sum(f.gas_usd for f in self.failed)
        s.others_profit_usd = self.others_profit
        s.missed = len(self.missed)
        s.missed_by_reason = dict(Counter(m.reason for m in self.missed).most_common())
        s.others_by_reason = dict(
            Counter(a.bot_reason for a in self.actual if not a.preempted_by_bot).most_common()
        )
        s.bad_debt_events = len(self.bad_debt)
        s.bad_debt_usd = sum(b.usd for b in self.bad_debt)
        s.bot_bad_debt_usd = sum(b.bad_debt_usd for b in self.bot)
        st = source.stats
        s.checkpoints_verified = st.checkpoints
        s.accounts_verified = st.accounts_verified
        s.position_mismatches = st.position_mismatches
        s.health_mismatches = st.health_mismatches
        s.elapsed_seconds = elapsed
        info = source.info
        return BacktestResult(
            source=str(info.path),
            mode="price-path" if info.kind == "price-path" else "recording",
            config=self.config,
            assumptions=assumptions(self.config, "price-path" if info.kind == "price-path" else ""),
            summary=s,
            bot_liquidations=self.bot,
            failed_attempts=self.failed,
            actual_liquidations=self.actual,
            missed=self.missed,
            bad_debt=self.bad_debt,
            series=self.series,
            info={
                "chain_id": info.chain_id,
                "base_block": info.base_block,
                "first_block": info.first_block,
                "last_block": info.recorded_through,
                "complete": info.complete,
                "kind": info.kind,
                "symbols": dict(source.book.layout.symbols),
                "first_timestamp": source.headers[0].timestamp if source.headers else 0,
                "last_timestamp": source.block.timestamp,
                "verification_examples": list(st.examples),
                "source_stats": {
                    "blocks": st.blocks,
                    "logs": st.logs,
                    "reads": st.reads,
                    "recomputes": st.recomputes,
                    "price_moves": st.price_moves,
                },
            },
        )


def run_engines(
    path: Path,
    configs: Sequence[BacktestConfig],
    *,
    on_block: Callable[[BlockState], None] | None = None,
) -> list[BacktestResult]:
    """Replay ``path`` once, feeding every configuration's engine (one pass per sweep)."""
    if not configs:
        return []
    margins = {c.at_risk_margin_bps for c in configs}
    if len(margins) > 1:
        raise ValueError("configurations of one pass must share at_risk_margin_bps")
    started = time.perf_counter()
    source = RecordedSource(path, at_risk_margin=WAD * margins.pop() // 10_000)
    try:
        source.start()
        engines = [Engine(source, c) for c in configs]
        for engine in engines:
            engine.start()
        last = max(e.last for e in engines)
        for header in source.headers:
            if header.number > last:
                break
            for engine in engines:
                engine.before(header)
            state = source.advance(header)
            for engine in engines:
                engine.after(state)
            if on_block is not None:
                on_block(state)
        elapsed = time.perf_counter() - started
        return [engine.finish(elapsed) for engine in engines]
    finally:
        source.close()


def run_backtest(path: Path, config: BacktestConfig | None = None) -> BacktestResult:
    """Backtest one configuration on a recording (``liqbot backtest FILE.sqlite``)."""
    return run_engines(path, [config or BacktestConfig()])[0]


SWEEP_METRICS = (
    "opportunities",
    "taken",
    "bot_liquidations",
    "expected_profit_usd",
    "failed_attempts",
    "by_others",
    "others_profit_usd",
    "preempted",
    "missed",
    "bad_debt_usd",
    "underwater_peak_usd",
)


def sweep_rows(
    results: Sequence[BacktestResult], grid_points: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for point, result in zip(grid_points, results, strict=True):
        row: dict[str, Any] = {k: _plain(v) for k, v in point.items()}
        for metric in SWEEP_METRICS:
            row[metric] = getattr(result.summary, metric)
        rows.append(row)
    return rows


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order (the first key varies slowest)."""
    points: list[dict[str, Any]] = [{}]
    for name, values in grid.items():
        if not values:
            raise ValueError(f"sweep: no values for {name}")
        points = [{**p, name: v} for p in points for v in values]
    return points


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value
