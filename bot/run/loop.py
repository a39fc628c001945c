"""The run loop: each block's snapshot -> the model's plan -> the executor -> tracking.

It owns no chain logic of its own: the watcher says what the market is, the model says
what pays, the executor decides whether it is still safe to send. What the loop adds is
the glue (valuation in the operator's numeraire, inventory, the next base fee), the
reason every liquidatable account was left alone, and the events and metrics a person
watches.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from bot.chain.multicall import Read, ReadFailed
from bot.deploy.market import AssetDeployment, Deployment
from bot.execute import ExecutionResult, Executor, Status, Update, request_from_opportunity
from bot.execute.executor import BatchSend
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
from bot.protocols.base import LendingProtocol, balance_read
from bot.run.collector import BlockCollector
from bot.run.gas import LearningGasTable
from bot.run.plan_worker import PlanWorker
from bot.watch.heads import HeadSource
from bot.watch.snapshot import AccountAtRisk, MarketSnapshot
from bot.watch.watcher import Watcher

log = logging.getLogger("liqbot.run")


SWITCH_INTERVAL = 0.001
"""How long the planner may hold the interpreter before a worker thread, back from the
node with an answer, gets it (Python's default is 5 ms: each of a batch's round trips could
wait that long behind the planner; measured, the block's reads took 35 ms instead of 11)."""


@contextmanager
def following_heads() -> Iterator[BlockCollector]:
    """The interpreter as the loop runs while it follows heads: the switch interval above,
    and garbage collected between blocks (call the collector's ``after_block`` after each);
    both restored on the way out."""
    collector = BlockCollector()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield collector
    finally:
        sys.setswitchinterval(switch)
        collector.stop()


def _user_prefix(user: str) -> str:
    """What every opportunity key of ``user`` starts with (any collateral and debt)."""
    return opportunity_key(user, "", "").removesuffix("::") + ":"


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
    plan_process_from: int = 256
    """Plans of this many accounts or more are made by the plan worker, a process of its
    own, once it runs (:meth:`LiquidationLoop.run` starts it); 0: never. Below a few hundred
    accounts the plan is too short for the worker to win back what sending it the inputs
    costs."""


def valuation_for(deployment: Deployment, strategy: Strategy, market: MarketState) -> Valuation:
    """Prices in the operator's numeraire; the native token is priced by its market asset."""
    native_price = market.price(deployment.token(strategy.native_symbol))
    symbol = strategy.numeraire_symbol
    if symbol is None:
        return Valuation(market, native_price)
    asset = deployment.assets[symbol]
    return Valuation(market, native_price, Numeraire(asset.token, asset.decimals))


@dataclass(frozen=True, slots=True)
class _Sent:
    """A batch's results, and when its broadcasts were answered (on the thread that sent
    them)."""

    results: list[ExecutionResult]
    at: float


@dataclass(slots=True)
class _InFlight:
    """A batch handed over: run whole on a sender thread (``future``), or in steps on
    this thread with only its round trips elsewhere (``steps``, see :class:`BatchSend`)."""

    queued: list[tuple[Opportunity, ExecutionRequest]]
    future: Future[_Sent] | None = None
    steps: BatchSend | None = None

    @property
    def finished(self) -> bool:
        if self.steps is not None:
            return self.steps.broadcast
        return self.future is None or self.future.done()

    @property
    def waiting_on(self) -> Future[Any] | None:
        return self.steps.waiting_on if self.steps is not None else self.future


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
    confirmed_at: float | None = None
    """When the pool's confirmation of a deferred-confirm snapshot came back."""
    mismatched: list[str] = field(default_factory=list)
    """Accounts whose model health the pool's confirmation contradicted (book repaired)."""

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
        self.gas = None if self.strategy.gas_table is not None else LearningGasTable.calibrated()
        self._ledger_seen: set[int] = set()
        self.reports: list[BlockReport] = []
        self._stop = threading.Event()
        self._queued: list[tuple[Opportunity, ExecutionRequest]] = []
        self._deferred: list[tuple[Opportunity, ExecutionRequest]] = []
        """Liquidations of accounts with one in flight: sent after the block's others."""
        self._waiting: set[str] = set()
        self._early: list[Update] = []
        self._chunk = 1
        self._symbols: dict[str, str] = {}
        self._sender: ThreadPoolExecutor | None = None
        self._reads: Future[Any] | None = None
        """The executor's block reads (``begin_block``), running on the sender thread."""
        self._node_io: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
        self._sending: deque[_InFlight] = deque()
        """The batches being simulated and broadcast, oldest first."""
        self.plan_worker: PlanWorker | None = None
        self._stock: tuple[list[AssetDeployment], tuple[Read[int], ...]] | None = None

    def start_plan_worker(self) -> PlanWorker | None:
        """Start the plan worker (if the strategy uses one); plans are made in this
        process until it is up, and again should it fail (one that cannot be started is
        tried again later, as a lost one is)."""
        if self.plan_worker is None and self.strategy.plan_process_from > 0:
            self.plan_worker = PlanWorker()
        return self.plan_worker

    def close(self) -> None:
        """Stop the plan worker and the sender threads (a loop can be closed twice)."""
        if self.plan_worker is not None:
            self.plan_worker.close()
            self.plan_worker = None
        pools = [self._sender, *(self._node_io or ())]
        self._sender, self._node_io = None, None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True)

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

    def _stock_reads(self) -> tuple[list[AssetDeployment], tuple[Read[int], ...]]:
        """The market's assets, and a read of the liquidator's balance of each."""
        if self._stock is None:
            holder = self.deployment.flash_liquidator
            assets = list(self.deployment.assets.values())
            self._stock = assets, tuple(balance_read(a.token, holder) for a in assets)
        return self._stock

    def inventory(
        self, block: int | str = "latest", read: Sequence[Any] | None = None
    ) -> dict[str, int]:
        """Token balances of the liquidator contract (what the inventory paths can spend),
        in one Multicall3 read at ``block`` (or ``read`` there already: a snapshot's
        ``along`` values). A balance that cannot be read counts as none: the inventory
        paths then stay unused for that asset rather than overspend."""
        assets, reads = self._stock_reads()
        values = (
            read
            if read is not None and len(read) == len(assets)
            else self.watcher.multicall.read_all(list(reads), block)
        )
        stock: dict[str, int] = {}
        for asset, value in zip(assets, values, strict=True):
            if isinstance(value, ReadFailed):
                log.warning("inventory: balanceOf %s failed (%s); counted as 0", asset.token, value)
                value = 0
            stock[asset.token] = int(value)
        return stock

    # ------------------------------------------------------------------ per block

    def on_snapshot(self, snapshot: MarketSnapshot, seen_at: float | None = None) -> BlockReport:
        """Plan and send what pays in this block; track what is in flight."""
        seen = seen_at if seen_at is not None else time.monotonic()
        report = BlockReport(block=snapshot.block_number, seen_at=seen)
        reads = self._stock_reads()[1]
        if self.watcher.along is not reads:
            # From the next block on, the inventory rides along the watcher's reads of a
            # block whose state moved (every crash block): no round trip of its own before
            # the plan (5-6 ms in the bench).
            self.watcher.along = reads
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
        # An account that needs another liquidation while its last one is in flight must not
        # wait a block behind its own mined one, nor hold up the fresh ones: the plan is made
        # for every account, its liquidations are sent after the others, once those
        # accounts' intents are settled; everything else is tracked after the sends (one
        # full poll a block either way).
        self._waiting = (
            self._in_flight_prefixes(sendable) if sendable and self.executor.live else set()
        )
        self._early = []
        if sendable:
            try:
                self._plan_and_send(snapshot, sendable, report)
            finally:
                self._await_reads()
                self.executor.end_block()
        report.decided_at = report.decided_at or time.monotonic()
        if self.watcher.config.defer_confirm and liquidatable:
            self._confirm(snapshot, report)
        report.updates = self._early + (self.executor.poll() if self.executor.live else [])
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

    def _confirm(self, snapshot: MarketSnapshot, report: BlockReport) -> None:
        """The pool's word on this block's liquidatable accounts, read after the sends (each
        send was simulated on chain before it was signed); a disagreement repairs the book
        for the next block and is reported."""
        model = {risky.user: risky.data.health_factor for risky in snapshot.at_risk}
        confirmed = self.watcher.confirm(snapshot)
        report.confirmed_at = time.monotonic()
        for risky in confirmed.at_risk:
            chain = risky.chain_health_factor
            if chain is not None and chain != model.get(risky.user):
                report.mismatched.append(risky.user)
                if self.metrics is not None:
                    self.metrics.confirm_mismatches.inc()
                event(
                    "confirm_mismatch",
                    block=snapshot.block_number,
                    user=risky.user,
                    model=model.get(risky.user),
                    pool=chain,
                )

    def _in_flight_prefixes(self, accounts: Sequence[AccountAtRisk]) -> set[str]:
        """Key prefixes of those ``accounts`` that have a liquidation still in flight."""
        keys = self.executor.in_flight_keys()
        if not keys:
            return set()
        prefixes = {_user_prefix(a.user) for a in accounts}
        return {p for key in keys if (p := key.rsplit(":", 2)[0] + ":") in prefixes}

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
        along = snapshot.along if self.watcher.along is self._stock_reads()[1] else None
        inventory = self.inventory(snapshot.block_number, along)
        if self.executor.live:
            # One read of chain id, head, nonces and balance for all of this block's sends,
            # made on the sender thread while this one decides the first liquidation (which
            # waits for those reads: nothing is sent unchecked). Planning is pure: the two
            # threads never talk to the node at once (eth-tester is not thread-safe).
            self._reads = self._sender_pool().submit(self.executor.begin_block)
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
        # nothing decided on an older block is ever sent
        self._chunk, self._queued, self._deferred = 1, [], []
        worker = self.plan_worker
        planner = (
            worker.plan
            if worker is not None and len(users) >= self.strategy.plan_process_from
            else iter_plan
        )
        try:
            try:
                with closing(
                    planner(
                        market,
                        users,
                        snapshot.timestamp,
                        max_liquidations=self.strategy.max_per_block,
                        **common,
                    )
                ) as decided:
                    for opp in decided:
                        self._take(opp, plan, snapshot, valuation, report)
            except LiquidationReverted as exc:
                # Chaining liquidations ran a reserve out of cash in the model: plan the rest
                # of the accounts on the block's own state (the executor's simulation decides).
                event("plan_fallback", block=snapshot.block_number, reason=type(exc).__name__)
                done = {o.user for o in plan}
                rest = rank_accounts(
                    market, [a for a in users if a.user not in done], snapshot.timestamp, **common
                )
                if self.strategy.max_per_block is not None:
                    rest = rest[: max(0, self.strategy.max_per_block - len(plan))]
                for opp in rest:
                    self._take(opp, plan, snapshot, valuation, report)
            self._drain(report)
        finally:
            self._settle(report)  # never leave a batch half-recorded, whatever went wrong
            self._await_reads()  # the executor is this thread's again from here on
        if self._deferred:
            self._send_deferred(report)
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
        if self._waiting and _user_prefix(opp.user) in self._waiting:
            self._deferred.append((opp, request))
            return
        self._queued.append((opp, request))
        self._pump(report)

    def _send_deferred(self, report: BlockReport) -> None:
        """Settle the in-flight intents of the deferred accounts, then send their
        liquidations (the executor still refuses any whose last one is in flight)."""
        self._early = self.executor.poll_for(sorted(self._waiting))
        if self._early:
            self._learn_gas()
        self._queued, self._deferred = self._deferred, []
        try:
            self._drain(report)
        finally:
            self._settle(report)

    _MAX_CHUNK = 128
    """Liquidations sent in one batch at most (the first alone, then up to 2, 4, ...: the
    first broadcast waits for no other decision, the later ones share their round trips and
    the journal's fsync; 128 rather than 32 took a crash block's 1,000-1,318 sends from
    ~0.85 to ~0.7 ms each once the plan was done)."""

    # Against a JSON-RPC node through the public mempool (``Executor.pipelined``), this
    # thread plans (or, for a large plan, takes it as the plan worker streams it back from
    # its own process) and also does each batch's own work between two decisions: checks,
    # signing, the journal (``BatchSend``); only the node's round trips wait on worker
    # threads, so the planner never waits on the node: two for simulations, one for
    # broadcasts, which leave in nonce order (batches are signed in the order they were
    # started, whichever simulation comes back first). Up to four batches are in flight:
    # one broadcast, two simulated at once, a fourth waiting for a simulation thread
    # (measured against one simulation thread and three in flight, 10k bench, 4 runs
    # each alternated: all-broadcast's median crash block 574 ms, against 641 ms; the
    # batches queued when the plan ends no longer wait for one ``tryEach`` call after
    # another). Elsewhere
    # (eth-tester, relays) one batch at a time runs whole on a sender thread, and the loop
    # touches the executor only before the first batch is handed over and after the last
    # is settled (``_settle``).

    _SIMULATION_THREADS = 2

    def _depth(self) -> int:
        """Batches in flight at once."""
        return self._SIMULATION_THREADS + 2 if self.executor.pipelined else 1

    def _pump(self, report: BlockReport) -> None:
        """Move the batches in flight on (sign the simulated ones, record the broadcast
        ones); hand the queue over once a batch is free and the queue holds a chunk."""
        self._advance()
        while self._sending and self._sending[0].finished:
            self._collect(report)
        if len(self._sending) < self._depth() and len(self._queued) >= self._chunk:
            self._submit()

    def _advance(self) -> None:
        """Sign, oldest first, the batches whose simulations are back (a batch is signed
        only after the ones started before it: nonces are taken in that order)."""
        for batch in self._sending:
            steps = batch.steps
            if steps is None or steps.signed:
                continue
            if not steps.simulated:
                return
            steps.sign()

    def _drain(self, report: BlockReport) -> None:
        """Send everything queued and wait for it."""
        while self._queued or self._sending:
            if self._queued and len(self._sending) < self._depth():
                self._submit()
                continue
            self._advance()
            if self._sending[0].finished:
                self._collect(report)
                continue
            # Not the round trips already back: a later batch's simulation that came back
            # first waits for the earlier ones' (it is signed after them), and waiting on
            # it would return at once, again and again.
            pending = [f for b in self._sending if (f := b.waiting_on) is not None and not f.done()]
            if pending:
                wait(pending, return_when=FIRST_COMPLETED)
            else:
                self._collect(report)

    def _settle(self, report: BlockReport) -> None:
        """Wait for the batches in flight, if any, and record them (every one, before the
        first error is raised)."""
        error: Exception | None = None
        while self._sending:
            try:
                self._collect(report)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def _submit(self) -> None:
        queued = self._queued[: self._MAX_CHUNK]
        self._queued = self._queued[self._MAX_CHUNK :]
        requests = [request for _, request in queued]
        batch = _InFlight(queued)
        self._await_reads()  # the block's reads, before this thread uses the executor
        if self._chunk == 1:
            # The block's first liquidation goes out from this thread, before the planner
            # resumes: handing it over would only queue it behind the planner for the
            # interpreter.
            batch.future = Future()
            batch.future.set_result(self._execute(requests))
        else:
            batch.steps = self.executor.start_batch(requests, *self._node_io_pools())
            if batch.steps is not None:
                batch.steps.start()
            else:
                batch.future = self._sender_pool().submit(self._execute, requests)
        self._chunk = min(self._chunk * 2, self._MAX_CHUNK)
        self._sending.append(batch)

    def _sender_pool(self) -> ThreadPoolExecutor:
        """One thread: the block's reads, and whole batches where none is sent in steps."""
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqbot-send")
        return self._sender

    def _node_io_pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        """The round trips of the batches sent in steps: simulations (independent calls at
        the latest block, several at once), and broadcasts (one thread, in the order
        given)."""
        if self._node_io is None:
            self._node_io = (
                ThreadPoolExecutor(
                    max_workers=self._SIMULATION_THREADS, thread_name_prefix="liqbot-simulate"
                ),
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqbot-broadcast"),
            )
        return self._node_io

    def _await_reads(self) -> None:
        """Wait for the block's reads; the executor is this thread's again afterwards."""
        reads, self._reads = self._reads, None
        if reads is not None:
            reads.result()

    def _execute(self, requests: list[ExecutionRequest]) -> _Sent:
        results = self.executor.execute_batch(requests)
        return _Sent(results, time.monotonic())

    def _collect(self, report: BlockReport) -> None:
        """Record the oldest batch, waiting for it (an executor error surfaces here)."""
        batch = self._sending.popleft()
        if batch.steps is not None:
            batch.steps.sign()  # waits for its simulation if need be; a no-op once signed
            results, at = batch.steps.finish()
            sent = _Sent(results, at)
        else:
            assert batch.future is not None
            sent = batch.future.result()
        for (opp, _), result in zip(batch.queued, sent.results, strict=True):
            report.results.append(result)
            self._record_result(opp, result, report, sent.at)

    def _record_result(
        self, opp: Opportunity, result: ExecutionResult, report: BlockReport, at: float
    ) -> None:
        now = at
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
        prefix = _user_prefix(account.user)
        data = account_data(snapshot.market, account, snapshot.timestamp)
        if data.total_collateral_base == 0:
            return "bad debt: no collateral left to seize"
        if any(k.startswith(prefix) for intent in self.executor.in_flight() for k in intent.keys):
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
        """The asset's symbol for events (looked up once per address: every liquidation
        names two)."""
        symbol = self._symbols.get(asset)
        if symbol is None:
            try:
                symbol = self.deployment.symbol_of(asset)
            except KeyError:
                symbol = asset
            self._symbols[asset] = symbol
        return symbol

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
        self.start_plan_worker()
        try:
            with following_heads() as collector:

                def handle(snapshot: MarketSnapshot) -> None:
                    on_report(self.on_snapshot(snapshot))
                    collector.after_block()

                self.watcher.run(heads, stop=stop, on_snapshot=handle)
        finally:
            self.close()
