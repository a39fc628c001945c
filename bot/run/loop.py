"""The run loop: each block's snapshot -> the model's plan -> the executor -> tracking.

It owns no chain logic of its own: the watcher says what the market is, the model says
what pays, the executor decides whether it is still safe to send. What the loop adds is
the glue (valuation in the operator's numeraire, inventory, the next base fee), the
reason every liquidatable account was left alone, and the events and metrics a person
watches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from bot.chain.artifacts import abi_of
from bot.deploy.market import Deployment
from bot.execute import ExecutionResult, Executor, Status, Update, request_from_opportunity
from bot.execute.request import ExecutionRequest, opportunity_key
from bot.model.gas import GasTable, next_base_fee
from bot.model.health import account_data
from bot.model.liquidation import LiquidationReverted
from bot.model.profit import Numeraire, Valuation
from bot.model.ranking import (
    DecisionConfig,
    Opportunity,
    iter_plan,
    price_opportunity,
    rank_accounts,
)
from bot.model.sizing import PairBook, size_account
from bot.model.types import Account, ExecutionPath, MarketState
from bot.observe.logs import event
from bot.observe.metrics import Metrics
from bot.protocols.base import LendingProtocol
from bot.run.gas import LearningGasTable
from bot.watch.heads import HeadSource
from bot.watch.snapshot import AccountAtRisk, MarketSnapshot
from bot.watch.watcher import Watcher

log = logging.getLogger("liqbot.run")


@dataclass(frozen=True, slots=True)
class Strategy:
    """How the loop turns snapshots into decisions (everything the model needs beyond state)."""

    decision: DecisionConfig = field(default_factory=DecisionConfig)
    numeraire_symbol: str | None = None
    """None: the chain's native token; else an asset symbol of the market."""
    native_symbol: str = "WETH"
    """The market asset whose oracle price prices the chain's native token."""
    gas_table: GasTable | None = None
    """Fixed gas per path; None: the shipped calibration, learning from every receipt."""
    max_per_block: int | None = None


def valuation_for(deployment: Deployment, strategy: Strategy, market: MarketState) -> Valuation:
    """Prices in the operator's numeraire; the native token is priced by its market asset."""
    native_price = market.price(deployment.token(strategy.native_symbol))
    symbol = strategy.numeraire_symbol
    if symbol is None:
        return Valuation(market, native_price)
    asset = deployment.assets[symbol]
    return Valuation(market, native_price, Numeraire(asset.token, asset.decimals))


@dataclass(frozen=True, slots=True)
class LeftAlone:
    """A liquidatable account the bot did not liquidate in a block, and why."""

    user: str
    health_factor: int
    reason: str


@dataclass
class BlockReport:
    block: int
    seen_at: float
    liquidatable: int = 0
    planned: list[Opportunity] = field(default_factory=list)
    results: list[ExecutionResult] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    left: list[LeftAlone] = field(default_factory=list)
    decided_at: float = 0.0
    first_broadcast_at: float | None = None
    last_broadcast_at: float | None = None

    @property
    def sent(self) -> list[ExecutionResult]:
        return [r for r in self.results if r.sent]


class LiquidationLoop:
    """Drive one market: call :meth:`on_snapshot` per block, or :meth:`run` to follow heads."""

    def __init__(
        self,
        w3: Web3,
        watcher: Watcher,
        protocol: LendingProtocol,
        executor: Executor,
        deployment: Deployment,
        strategy: Strategy | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.w3 = w3
        self.watcher = watcher
        self.protocol = protocol
        self.executor = executor
        self.deployment = deployment
        self.strategy = strategy or Strategy()
        self.metrics = metrics
        self._erc20_abi = abi_of("TestToken")
        self.gas = None if self.strategy.gas_table is not None else LearningGasTable.calibrated()
        self._ledger_seen: set[int] = set()
        self.reports: list[BlockReport] = []
        self._stop = threading.Event()
        self._queued: list[tuple[Opportunity, ExecutionRequest]] = []
        self._chunk = 1

    @property
    def gas_table(self) -> GasTable:
        if self.strategy.gas_table is not None:
            return self.strategy.gas_table
        assert self.gas is not None
        return self.gas.table

    def _learn_gas(self) -> None:
        """Feed every newly final receipt into the gas table (an out-of-gas one counts more)."""
        if self.gas is None:
            return
        for entry in self.executor.ledger():
            if entry.intent_id in self._ledger_seen or entry.kind != "liquidation":
                continue
            self._ledger_seen.add(entry.intent_id)
            if entry.gas_used and entry.path in ExecutionPath.__members__.values():
                self.gas.observe(
                    ExecutionPath(entry.path),
                    entry.gas_used,
                    out_of_gas=entry.outcome.endswith("out_of_gas"),
                )

    # ------------------------------------------------------------------ valuation

    def valuation(self, market: MarketState) -> Valuation:
        return valuation_for(self.deployment, self.strategy, market)

    def inventory(self) -> dict[str, int]:
        """Token balances of the liquidator contract (what the inventory paths can spend)."""
        holder = self.deployment.flash_liquidator
        stock: dict[str, int] = {}
        for asset in self.deployment.assets.values():
            token = self.w3.eth.contract(address=asset.token, abi=self._erc20_abi)
            stock[asset.token] = int(token.functions.balanceOf(holder).call())
        return stock

    # ------------------------------------------------------------------ per block

    def on_snapshot(self, snapshot: MarketSnapshot, seen_at: float | None = None) -> BlockReport:
        """Plan and send what pays in this block; track what is in flight."""
        seen = seen_at if seen_at is not None else time.monotonic()
        report = BlockReport(block=snapshot.block_number, seen_at=seen)
        if self.metrics is not None:
            self.metrics.block_seen(snapshot.block_number)
            self.metrics.positions.set(snapshot.borrowers)
            self.metrics.at_risk.set(len(snapshot.at_risk))
        liquidatable = [a for a in snapshot.at_risk if a.data.liquidatable]
        report.liquidatable = len(liquidatable)
        if self.metrics is not None:
            self.metrics.liquidatable.set(len(liquidatable))

        sendable = [a for a in liquidatable if not a.blocked_by]
        for blocked in (a for a in liquidatable if a.blocked_by):
            report.left.append(
                LeftAlone(
                    blocked.user, blocked.health_factor, "blocked: " + ", ".join(blocked.blocked_by)
                )
            )
        # Receipts first only when they can change this block's plan: an account that needs
        # another liquidation must not wait a block behind its own mined one. Otherwise
        # fresh opportunities go out first and tracking follows (one poll a block either way).
        early = bool(sendable) and self.executor.live and self._any_in_flight(sendable)
        updates = self.executor.poll() if early else []
        if updates:
            self._learn_gas()
        if sendable:
            # One read of chain id, head, nonces and balance for all of this block's sends.
            if self.executor.live:
                self.executor.begin_block()
            try:
                self._plan_and_send(snapshot, sendable, report)
            finally:
                self.executor.end_block()
        report.decided_at = report.decided_at or time.monotonic()
        if not early:
            updates = self.executor.poll() if self.executor.live else []
        report.updates = updates
        if report.updates:
            self._learn_gas()
        for update in report.updates:
            if self.metrics is not None:
                self.metrics.transactions.labels(state=str(update.after)).inc()
            event(
                "tx_update",
                key=update.key,
                before=str(update.before),
                after=str(update.after),
                detail=update.detail,
            )
        self.reports.append(report)
        return report

    def _any_in_flight(self, accounts: Sequence[AccountAtRisk]) -> bool:
        """Some of ``accounts`` has a liquidation the executor still tracks as in flight."""
        keys = [intent.opportunity_key for intent in self.executor.in_flight()]
        if not keys:
            return False
        prefixes = tuple(opportunity_key(a.user, "", "").removesuffix("::") + ":" for a in accounts)
        return any(key.startswith(prefixes) for key in keys)

    def _plan_and_send(
        self, snapshot: MarketSnapshot, accounts: Sequence[AccountAtRisk], report: BlockReport
    ) -> None:
        market = snapshot.market
        valuation = self.valuation(market)
        base_fee = (
            next_base_fee(snapshot.base_fee, snapshot.gas_used, snapshot.gas_limit)
            if snapshot.gas_limit
            else snapshot.base_fee
        )
        inventory = self.inventory()
        common: dict[str, Any] = {
            "pairs": snapshot.pairs,
            "valuation": valuation,
            "gas_table": self.gas_table,
            "base_fee": base_fee,
            "inventory": inventory,
            "config": self.strategy.decision,
        }
        # Each liquidation is sent as soon as the greedy plan decides it: the first goes out
        # after one pass over the accounts, not after the whole plan.
        users = [a.account for a in accounts]
        plan: list[Opportunity] = []
        self._chunk, self._queued = 1, []  # nothing decided on an older block is ever sent
        try:
            for opp in iter_plan(
                market,
                users,
                snapshot.timestamp,
                max_liquidations=self.strategy.max_per_block,
                **common,
            ):
                self._take(opp, plan, snapshot, valuation, report)
        except LiquidationReverted as exc:
            # Chaining liquidations ran a reserve out of cash in the model: plan the rest of
            # the accounts on the block's own state (the executor's simulation decides).
            event("plan_fallback", block=snapshot.block_number, reason=type(exc).__name__)
            done = {o.user for o in plan}
            rest = rank_accounts(
                market, [a for a in users if a.user not in done], snapshot.timestamp, **common
            )
            if self.strategy.max_per_block is not None:
                rest = rest[: max(0, self.strategy.max_per_block - len(plan))]
            for opp in rest:
                self._take(opp, plan, snapshot, valuation, report)
        self._flush(report)
        report.planned = plan
        if not report.decided_at:  # nothing to take: the decision is that
            report.decided_at = time.monotonic()
            if self.metrics is not None:
                self.metrics.decision_latency.observe(report.decided_at - report.seen_at)
        planned_users = {o.user for o in plan}
        for account in accounts:
            if account.user not in planned_users:
                reason = self.why_left(snapshot, account.account, valuation, base_fee, inventory)
                report.left.append(LeftAlone(account.user, account.health_factor, reason))
                event("skipped", block=snapshot.block_number, user=account.user, reason=reason)
                if self.metrics is not None:
                    self.metrics.skipped.labels(reason=reason.split(":")[0]).inc()

    def _take(
        self,
        opp: Opportunity,
        plan: list[Opportunity],
        snapshot: MarketSnapshot,
        valuation: Valuation,
        report: BlockReport,
    ) -> None:
        """Send one planned liquidation and record what became of it."""
        plan.append(opp)
        if not report.decided_at:
            report.decided_at = time.monotonic()
            if self.metrics is not None:
                self.metrics.decision_latency.observe(report.decided_at - report.seen_at)
        if self.metrics is not None:
            self.metrics.opportunities.inc()
        event(
            "opportunity",
            block=snapshot.block_number,
            user=opp.user,
            path=str(opp.path),
            collateral=self._symbol(opp.sized.collateral),
            debt=self._symbol(opp.sized.debt),
            debt_to_cover=opp.debt_to_cover,
            net_profit=opp.net_profit,
            priority_fee=opp.priority_fee_per_gas,
        )
        request = request_from_opportunity(
            opp,
            self.protocol,
            pool=self.deployment.pool,
            liquidator=self.deployment.flash_liquidator,
            observed_block=snapshot.block_number,
            expected_profit_wei=valuation.to_native(opp.gross_profit),
        )
        self._queued.append((opp, request))
        if len(self._queued) >= self._chunk:
            self._flush(report)

    _MAX_CHUNK = 32
    """Liquidations sent in one batch at most (the first alone, then 2, 4, ...: the first
    broadcast waits for no other decision, the later ones share their round trips)."""

    def _flush(self, report: BlockReport) -> None:
        """Simulate and send the decided liquidations not sent yet, as one batch."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        self._chunk = min(self._chunk * 2, self._MAX_CHUNK)
        results = self.executor.execute_batch([request for _, request in queued])
        for (opp, _), result in zip(queued, results, strict=True):
            report.results.append(result)
            self._record_result(opp, result, report)

    def _record_result(
        self, opp: Opportunity, result: ExecutionResult, report: BlockReport
    ) -> None:
        now = time.monotonic()
        if result.sent:
            report.first_broadcast_at = report.first_broadcast_at or now
            report.last_broadcast_at = now
            if self.metrics is not None:
                self.metrics.taken.inc()
                self.metrics.broadcast_latency.observe(now - report.seen_at)
            event(
                "sent",
                user=opp.user,
                tx_hash=result.tx_hash,
                nonce=result.nonce,
                path=str(opp.path),
                expected_net=opp.net_profit,
            )
            return
        reason = str(result.status)
        if result.revert_kind is not None:
            reason += f": {result.revert_kind}"
            if self.metrics is not None:
                self.metrics.reverts.labels(reason=str(result.revert_kind)).inc()
        if result.status is Status.DRY_RUN:
            event("dry_run", user=opp.user, would_send=result.would_send)
        else:
            event("not_sent", user=opp.user, status=reason, detail=result.detail)
        report.left.append(LeftAlone(opp.user, opp.health_factor, reason))

    def why_left(
        self,
        snapshot: MarketSnapshot,
        account: Account,
        valuation: Valuation,
        base_fee: int,
        inventory: Mapping[str, int],
    ) -> str:
        """Why no liquidation of ``account`` is worth sending: bad debt, dust, or unprofitable."""
        # Keys are "liquidation:<user>:<collateral>:<debt>"; any pair of this user counts.
        prefix = opportunity_key(account.user, "", "").removesuffix("::") + ":"
        data = account_data(snapshot.market, account, snapshot.timestamp)
        if data.total_collateral_base == 0:
            return "bad debt: no collateral left to seize"
        if any(intent.opportunity_key.startswith(prefix) for intent in self.executor.in_flight()):
            return "in flight"
        sized = size_account(
            snapshot.market,
            account,
            snapshot.timestamp,
            pairs=PairBook.of(snapshot.pairs),
            inventory=inventory,
            paths=self.strategy.decision.paths,
            max_steps=self.strategy.decision.max_steps,
            data=data,
        )
        if not sized:
            return "unprofitable: no size repays a flash swap, and no inventory covers it"
        priced = [
            opp
            for s in sized
            if (
                opp := price_opportunity(
                    account.user,
                    data.health_factor,
                    s,
                    valuation,
                    self.gas_table,
                    base_fee,
                    self.strategy.decision.bid,
                )
            )
            is not None
        ]
        if not priced:
            return "gas: the base fee is above the fee cap"
        best = max(priced, key=lambda o: o.net_profit)
        if best.gross_profit <= 0:
            return "unprofitable: slippage and fees eat the bonus"
        if best.net_profit <= 0:
            return "dust: gas costs more than the bonus"
        if best.net_profit < self.strategy.decision.min_profit:
            return "below minimum profit"
        return "deferred: this block's AMM depth went to better liquidations"

    def _symbol(self, asset: str) -> str:
        try:
            return self.deployment.symbol_of(asset)
        except KeyError:
            return asset

    # ------------------------------------------------------------------ following heads

    def run(
        self,
        heads: HeadSource,
        *,
        stop: threading.Event | None = None,
        on_report: Callable[[BlockReport], None] = lambda report: None,
    ) -> None:
        """Follow new heads until ``stop`` is set (SIGINT/SIGTERM set it in the CLI)."""
        stop = stop or self._stop

        def handle(snapshot: MarketSnapshot) -> None:
            on_report(self.on_snapshot(snapshot))

        self.watcher.run(heads, stop=stop, on_snapshot=handle)
