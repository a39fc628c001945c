"""The run loop's threads on anvil: a crash block's liquidations are checked, signed and
journaled on the loop's own thread between two decisions of the planner, and only their
simulations and broadcasts wait on worker threads (the block's first goes out at once, from
the loop's thread, before the rest of the plan is decided).

The same with the plan made by the plan worker, in a process of its own.

What must hold: the executor is never entered by two threads at once, and the journal is
used by the loop's thread alone once the block's reads are back; simulations and
broadcasts run on their own threads, broadcasts in nonce order; every planned liquidation
gets its result, in plan order, with nonces in that order; and everything sent is mined
successfully.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import BorrowerPlan
from bot.deploy.bulk import deploy_bulk, open_bulk
from bot.deploy.market import Market, deploy_market
from bot.execute import Executor
from bot.execute.keys import Signer
from bot.execute.request import opportunity_key
from bot.model.gas import GasTable
from bot.model.ranking import DecisionConfig
from bot.protocols.aave_pool import AavePoolAdapter
from bot.run.loop import BlockReport, LiquidationLoop, Strategy
from bot.run.scenario import MarketDriver
from bot.watch.watcher import Watcher, WatcherConfig
from tests.execute.scenario import BOT_ADDRESS, automine, bot_account, executor_config, mine

pytestmark = pytest.mark.anvil

ACCOUNTS = 60


def crash_book(market: Any) -> list[BorrowerPlan]:
    """WETH/USDC positions at health 1.04-1.11 at $3,000: all liquidatable at $2,700."""
    weth, usdc = market.specs["WETH"], market.specs["USDC"]
    lt = Decimal(weth.liquidation_threshold) / 10_000
    plans = []
    for i in range(ACCOUNTS):
        usd = Decimal(4_000 + 97 * i)
        health = Decimal("1.04") + Decimal(i % 8) / 100
        plans.append(
            BorrowerPlan(
                i,
                {"WETH": int(usd / weth.price_usd * 10**weth.decimals)},
                {"USDC": int(usd * lt / health / usdc.price_usd * 10**usdc.decimals)},
                health,
            )
        )
    return plans


class Exclusive:
    """Wraps methods: counts the times two threads were inside at once (one thread's nested
    calls are not counted), and records which thread called what (with the first
    argument)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside: list[str] = []
        self.overlaps = 0
        self.calls: list[tuple[str, str, Any]] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            thread = threading.current_thread().name
            with self.lock:
                self.inside.append(thread)
                if len(set(self.inside)) > 1:
                    self.overlaps += 1
                self.calls.append((name, thread, args[:1]))
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.inside.remove(thread)

        return guarded

    def threads(self, name: str) -> list[str]:
        return [thread for called, thread, _ in self.calls if called == name]


@dataclass
class CrashLoop:
    """A loop over a pool whose WETH/USDC borrowers a price fall has made liquidatable."""

    w3: Web3
    watcher: Watcher
    executor: Executor
    loop: LiquidationLoop

    def crash_block(self) -> BlockReport:
        """The crash block's report (its sends mined in the next block, then checked)."""
        automine(self.w3, False)
        try:
            report = self.loop.on_snapshot(self.watcher.sync())
            mine(self.w3)
            self.loop.on_snapshot(self.watcher.poll()[-1])
        finally:
            automine(self.w3, True)
            self.loop.close()
            self.executor.close()
        return report


def crash_market(w3: Web3, tmp_path: Path) -> tuple[Market, Executor]:
    """A market with :func:`crash_book`'s borrowers (healthy at $3,000), and the bot's
    executor on it (journal in ``tmp_path``)."""
    market = deploy_market(w3, w3.eth.accounts[0], liquidator_owner=BOT_ADDRESS)
    w3.provider.make_request("anvil_setBalance", [BOT_ADDRESS, hex(1_000 * 10**18)])  # type: ignore[arg-type]
    open_bulk(deploy_bulk(market), crash_book(market))
    executor = Executor.open(
        w3,
        executor_config(market, tmp_path / "journal.sqlite", confirmations=1, max_in_flight=10_000),
        Signer(bot_account(), "test key"),
        out=lambda line: None,
    )
    return market, executor


def open_crash_loop(anvil: Anvil, w3: Web3, tmp_path: Path, *, plan_process: bool) -> CrashLoop:
    market, executor = crash_market(w3, tmp_path)
    driver = MarketDriver(market, w3.eth.accounts[0])
    driver.set_prices({"WETH": Decimal("2700")})  # the pairs still trade at $3,000
    protocol = AavePoolAdapter.from_deployment(market.deployment)
    watcher = Watcher(RpcClient([anvil.url]), protocol, WatcherConfig(defer_confirm=True))
    strategy = Strategy(
        decision=DecisionConfig(),
        gas_table=GasTable(),
        native_symbol="WETH",
        plan_process_from=1 if plan_process else 0,
    )
    loop = LiquidationLoop(w3, watcher, protocol, executor, market.deployment, strategy)
    return CrashLoop(w3, watcher, executor, loop)


def assert_sent_in_plan_order_and_mined(w3: Web3, report: BlockReport) -> list[int]:
    """Every planned liquidation has its result, in plan order, sent with nonces in that
    order, and mined successfully; the nonces."""
    assert [r.key for r in report.results] == [
        opportunity_key(o.user, o.sized.collateral, o.sized.debt) for o in report.planned
    ]
    assert all(r.sent for r in report.results), [r.detail for r in report.results if not r.sent]
    nonces = [r.nonce for r in report.results]
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
    receipts = [w3.eth.get_transaction_receipt(r.tx_hash) for r in report.results]  # type: ignore[arg-type]
    assert all(int(r["status"]) == 1 for r in receipts)
    return [n for n in nonces if n is not None]


SIMULATION_THREADS = {"liqbot-simulate_0", "liqbot-simulate_1"}


@pytest.mark.parametrize("plan_process", [False, True], ids=["plan-here", "plan-worker"])
def test_a_crash_block_is_sent_from_the_sender_thread_without_sharing_the_executor(
    anvil: Anvil, anvil_w3: Web3, tmp_path: Path, plan_process: bool
) -> None:
    crash = open_crash_loop(anvil, anvil_w3, tmp_path, plan_process=plan_process)
    executor, loop = crash.executor, crash.loop
    guard = Exclusive()
    for name in ("execute_batch", "start_batch", "begin_block", "end_block", "poll", "poll_for"):
        setattr(executor, name, guard.wrap(name, getattr(executor, name)))
    steps = Exclusive()  # what runs beside the loop's thread: the node's round trips
    for name in ("_simulate_batch", "_sign_batch", "_send_batch"):
        setattr(executor, name, steps.wrap(name, getattr(executor, name)))
    journal = Exclusive()
    assert executor.journal is not None
    for name in dir(executor.journal):
        method = getattr(executor.journal, name)
        if not name.startswith("_") and inspect.ismethod(method):
            setattr(executor.journal, name, journal.wrap(name, method))
    worker = loop.start_plan_worker()
    assert (worker is not None) == plan_process
    assert worker is None or worker.wait_ready(60)
    report = crash.crash_block()

    # the crash block's plan was made by the worker, if there is one (the second block
    # has nothing to plan)
    assert worker is None or (worker.plans == 1 and not worker.lost)
    assert report.liquidatable >= ACCOUNTS * 3 // 4
    assert len(report.planned) >= ACCOUNTS // 2
    # every planned liquidation has its result, in plan order, with nonces in that order,
    # and the chain agrees: every one of them mined and succeeded
    nonces = assert_sent_in_plan_order_and_mined(crash.w3, report)
    # nothing entered the executor or the journal from two threads at once
    assert guard.overlaps == 0 and journal.overlaps == 0
    # the block's reads ran on a sender thread while the first decision was made, and
    # before it; the first liquidation went out at once, whole, from the loop's thread
    assert [(name, thread) for name, thread, _ in guard.calls[:2]] == [
        ("begin_block", "liqbot-send_0"),
        ("execute_batch", "MainThread"),
    ]
    assert len(guard.calls[1][2][0]) == 1
    # the rest in steps: checked, signed and journaled on the loop's thread ...
    batches = [args[0] for name, _, args in guard.calls if name == "start_batch"]
    assert len(batches) >= 2
    assert 1 + sum(len(b) for b in batches) == len(report.planned)
    assert set(guard.threads("start_batch")) == {"MainThread"}
    assert set(steps.threads("_sign_batch")) == {"MainThread"}
    # ... the journal used by that thread alone (and by the block's reads, before it) ...
    assert set(thread for _, thread, _ in journal.calls) == {"MainThread", "liqbot-send_0"}
    assert {n for n, t, _ in journal.calls if t == "liqbot-send_0"} <= {"count_open", "next_nonce"}
    # ... only the round trips elsewhere, the broadcasts on one thread, in nonce order
    simulated_on = steps.threads("_simulate_batch")
    assert simulated_on[0] == "MainThread" and len(simulated_on) == 1 + len(batches)
    assert set(simulated_on[1:]) <= SIMULATION_THREADS
    assert steps.threads("_send_batch") == ["MainThread"] + ["liqbot-broadcast_0"] * len(batches)
    sent_nonces = [
        a.nonce for name, _, args in steps.calls if name == "_send_batch" for a in args[0]
    ]
    assert sent_nonces == nonces
    assert report.first_broadcast_at is not None and report.last_broadcast_at is not None
    assert report.first_broadcast_at < report.last_broadcast_at


def test_a_batch_simulated_after_a_later_one_is_still_signed_and_sent_first(
    anvil: Anvil, anvil_w3: Web3, tmp_path: Path
) -> None:
    """Two simulations run at once, and the first batch in steps comes back last: it is
    signed and broadcast before the batch started after it all the same, and the loop's
    thread waits for it rather than spinning on the answer already back."""
    crash = open_crash_loop(anvil, anvil_w3, tmp_path, plan_process=False)
    executor = crash.executor
    simulate = executor._simulate_batch
    later_back = threading.Event()
    held: list[bool] = []
    came_back: list[str] = []
    order = threading.Lock()
    hold_s = 1.0

    def simulate_first_stepped_last(items: Any, head: Any) -> Any:
        with order:
            first = threading.current_thread().name in SIMULATION_THREADS and not held
            if first:
                held.append(False)
        if first:
            # back only once the next batch's simulation is, and a while after
            held[0] = later_back.wait(30)
            time.sleep(hold_s)
        answer = simulate(items, head)
        with order:
            came_back.append("first" if first else threading.current_thread().name)
            if not first and threading.current_thread().name in SIMULATION_THREADS:
                later_back.set()
        return answer

    executor._simulate_batch = simulate_first_stepped_last  # type: ignore[method-assign]
    signed: list[int] = []
    sign = executor._sign_batch

    def record_signing(ready: Any, *args: Any) -> Any:
        staged = sign(ready, *args)
        signed.extend(entry.attempt.nonce for _, _, entry in staged)
        return staged

    executor._sign_batch = record_signing  # type: ignore[method-assign]
    loop_cpu = time.thread_time()
    report = crash.crash_block()
    loop_cpu = time.thread_time() - loop_cpu

    # the two simulations ran at once: the later batch's came back while the first waited
    assert held == [True]
    assert came_back.index("first") > 1
    nonces = assert_sent_in_plan_order_and_mined(crash.w3, report)
    assert signed == nonces  # signed in plan order, the held batch before the later one
    # the loop's thread slept through the hold: a spin on the answer already back would
    # cost it the whole hold in CPU (planning and signing 60 accounts take a fraction)
    assert loop_cpu < hold_s * 0.6, loop_cpu
