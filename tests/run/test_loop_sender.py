"""The run loop's sender threads on anvil: a crash block's liquidations are simulated and
broadcast on background threads while the planner decides the next ones (the block's
first goes out at once, from the loop's own thread).

What must hold: the executor is never entered by two threads at once except by two batches
(one broadcasting while the next is staged; the loop hands the executor to the senders only
between the block's reads and the settling of the last batch); every planned liquidation
gets its result, in plan order, with nonces in that order; the first goes out alone, before
the rest of the plan is decided; and everything sent is mined successfully.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import BorrowerPlan
from bot.deploy.bulk import deploy_bulk, open_bulk
from bot.deploy.market import deploy_market
from bot.execute import Executor
from bot.execute.keys import Signer
from bot.execute.request import opportunity_key
from bot.model.gas import GasTable
from bot.model.ranking import DecisionConfig
from bot.protocols.aave_pool import AavePoolAdapter
from bot.run.loop import LiquidationLoop, Strategy
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
    """Wraps executor methods: counts the times two threads were inside at once other than
    two batches (and more than two batches), and records which thread ran each batch and
    how big it was."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside: list[str] = []
        self.overlaps = 0
        self.batch_overlaps = 0
        self.batches: list[tuple[str, int]] = []
        self.calls: list[tuple[str, str]] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.inside.append(name)
                if len(self.inside) > 1:
                    pair = set(self.inside) == {"execute_batch"} and len(self.inside) == 2
                    if pair:
                        self.batch_overlaps += 1
                    else:
                        self.overlaps += 1
            try:
                self.calls.append((name, threading.current_thread().name))
                if name == "execute_batch":
                    self.batches.append((threading.current_thread().name, len(args[0])))
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.inside.remove(name)

        return guarded


def test_a_crash_block_is_sent_from_the_sender_thread_without_sharing_the_executor(
    anvil: Anvil, anvil_w3: Web3, tmp_path: Path
) -> None:
    w3 = anvil_w3
    deployer = w3.eth.accounts[0]
    market = deploy_market(w3, deployer, liquidator_owner=BOT_ADDRESS)
    w3.provider.make_request("anvil_setBalance", [BOT_ADDRESS, hex(1_000 * 10**18)])  # type: ignore[arg-type]
    open_bulk(deploy_bulk(market), crash_book(market))
    driver = MarketDriver(market, deployer)
    driver.set_prices({"WETH": Decimal("2700")})  # the pairs still trade at $3,000

    executor = Executor.open(
        w3,
        executor_config(market, tmp_path / "journal.sqlite", confirmations=1, max_in_flight=10_000),
        Signer(bot_account(), "test key"),
        out=lambda line: None,
    )
    guard = Exclusive()
    for name in ("execute_batch", "begin_block", "end_block", "poll", "poll_for", "execute"):
        setattr(executor, name, guard.wrap(name, getattr(executor, name)))
    protocol = AavePoolAdapter.from_deployment(market.deployment)
    watcher = Watcher(RpcClient([anvil.url]), protocol, WatcherConfig(defer_confirm=True))
    strategy = Strategy(decision=DecisionConfig(), gas_table=GasTable(), native_symbol="WETH")
    loop = LiquidationLoop(w3, watcher, protocol, executor, market.deployment, strategy)
    try:
        automine(w3, False)
        report = loop.on_snapshot(watcher.sync())
        mine(w3)
        loop.on_snapshot(watcher.poll()[-1])
    finally:
        automine(w3, True)
        executor.close()

    assert report.liquidatable >= ACCOUNTS * 3 // 4
    assert len(report.planned) >= ACCOUNTS // 2
    # every planned liquidation has its result, in plan order, and all went out
    assert [r.key for r in report.results] == [
        opportunity_key(o.user, o.sized.collateral, o.sized.debt) for o in report.planned
    ]
    assert all(r.sent for r in report.results), [r.detail for r in report.results if not r.sent]
    # the sender threads ran the batches, the first alone, never alongside the loop's calls
    # (two batches at once only: one broadcasting, the next staged), nonces in plan order
    assert guard.overlaps == 0
    nonces = [r.nonce for r in report.results]
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
    assert guard.batches[0] == ("MainThread", 1)  # the first at once, from the loop
    # the block's reads ran on the sender while the first decision was made, and before it
    assert guard.calls[:2] == [("begin_block", "liqbot-send_0"), ("execute_batch", "MainThread")]
    assert len(guard.batches) > 2
    assert {thread for thread, _ in guard.batches[1:]} <= {"liqbot-send_0", "liqbot-send_1"}
    assert sum(size for _, size in guard.batches) == len(report.planned)
    assert report.first_broadcast_at is not None and report.last_broadcast_at is not None
    assert report.first_broadcast_at < report.last_broadcast_at
    # and the chain agrees: every one of them mined and succeeded
    hashes = [r.tx_hash for r in report.results]
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]  # type: ignore[arg-type]
    assert all(int(r["status"]) == 1 for r in receipts)
