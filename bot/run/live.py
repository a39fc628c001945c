"""`liqbot run`: the loop against any JSON-RPC endpoint, built from one validated config.

Start-up fails closed, in order: configuration, deployment file, chain id of every RPC,
the key, then the executor's own checks (code at every address, liquidator owner, gas
money) and its journal reconciliation. Nothing is signed before all of them pass.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from types import FrameType

from web3 import Web3

from bot.chain.rpc import RpcClient
from bot.chain.urls import redact_url
from bot.config import Settings
from bot.deploy.market import Deployment
from bot.execute import (
    Executor,
    ExecutorConfig,
    FeeCaps,
    FeePolicy,
    RelayConfig,
    StartupConfig,
    load_signer,
)
from bot.model.ranking import BidPolicy, DecisionConfig
from bot.model.types import ExecutionPath
from bot.observe.logs import event
from bot.observe.metrics import Metrics, MetricsServer
from bot.protocols.aave_pool import AavePoolAdapter
from bot.run.loop import LiquidationLoop, Strategy
from bot.watch.heads import head_source
from bot.watch.watcher import Watcher, WatcherConfig

log = logging.getLogger("liqbot.run")
GWEI = 10**9
WAD = 10**18


class StartupError(RuntimeError):
    """The bot refuses to start; the message names the problem and the fix."""


def _gwei(value: Decimal) -> int:
    return int(value * GWEI)


@dataclass
class LiveBot:
    settings: Settings
    deployment: Deployment
    w3: Web3
    rpc: RpcClient
    watcher: Watcher
    executor: Executor
    loop: LiquidationLoop
    metrics: Metrics
    server: MetricsServer | None = None

    def close(self) -> None:
        self.loop.close()
        self.executor.close()
        if self.server is not None:
            self.server.stop()


def load_deployment(settings: Settings) -> Deployment:
    path = settings.chain.deployment
    try:
        deployment = Deployment.load(path)
    except FileNotFoundError:
        raise StartupError(
            f"deployment file {path} does not exist: run `liqbot deploy --rpc URL --out {path}`"
        ) from None
    except (ValueError, KeyError) as exc:
        raise StartupError(
            f"deployment file {path} is malformed ({exc}); redeploy or fix it"
        ) from None
    if deployment.chain_id != settings.chain.chain_id:
        raise StartupError(
            f"deployment file {path} is for chain {deployment.chain_id}, "
            f"but chain.chain_id is {settings.chain.chain_id}"
        )
    return deployment


def check_chain_ids(settings: Settings) -> None:
    """Every configured endpoint answers, and with the configured chain id."""
    for url in settings.chain.rpc_urls:
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
        try:
            chain_id = w3.eth.chain_id
        except Exception as exc:
            raise StartupError(
                f"cannot reach the RPC at {redact_url(url)} ({type(exc).__name__}): "
                "check chain.rpc_urls and that the node runs"
            ) from None
        if chain_id != settings.chain.chain_id:
            raise StartupError(
                f"the RPC at {redact_url(url)} is on chain {chain_id}, "
                f"but chain.chain_id is {settings.chain.chain_id}: refusing to start"
            )


def watcher_for(
    settings: Settings, deployment: Deployment
) -> tuple[RpcClient, AavePoolAdapter, Watcher]:
    """The RPC client, protocol adapter and watcher the configuration describes."""
    rpc = RpcClient(list(settings.chain.rpc_urls))
    protocol = AavePoolAdapter.from_deployment(deployment)
    watch = settings.watch
    watcher = Watcher(
        rpc,
        protocol,
        WatcherConfig(
            margin=WAD * watch.margin_bps // 10_000,
            reconcile_every=watch.reconcile_every,
            log_chunk=watch.log_chunk,
            confirm=watch.confirm != "off",
            defer_confirm=watch.confirm == "after_send",
        ),
    )
    return rpc, protocol, watcher


def strategy_from(settings: Settings, deployment: Deployment) -> Strategy:
    ex = settings.execution
    paths = {
        "flash": (ExecutionPath.FLASH,),
        "inventory": (ExecutionPath.INVENTORY_SWAP, ExecutionPath.INVENTORY),
        "auto": (ExecutionPath.FLASH, ExecutionPath.INVENTORY_SWAP, ExecutionPath.INVENTORY),
    }[ex.mode]
    numeraire = None if ex.numeraire == "native" else ex.numeraire
    unit = 10**18 if numeraire is None else 10 ** deployment.assets[numeraire].decimals
    return Strategy(
        decision=DecisionConfig(
            min_profit=int(ex.min_profit * unit),
            bid=BidPolicy(
                profit_share_bps=ex.priority_fee_share_bps,
                max_fee_per_gas=_gwei(ex.max_fee_gwei),
            ),
            paths=paths,
        ),
        numeraire_symbol=numeraire,
        plan_process_from=ex.plan_process_from,
    )


def build(settings: Settings) -> LiveBot:
    deployment = load_deployment(settings)
    if settings.execution.numeraire not in ("native", *deployment.assets):
        raise StartupError(
            f"execution.numeraire {settings.execution.numeraire!r} is not 'native' or an asset "
            f"of the deployment ({', '.join(deployment.assets)})"
        )
    check_chain_ids(settings)
    keys = settings.keys
    try:
        signer = load_signer(
            keystore=keys.keystore,
            password_file=keys.password_file,
            read_only=keys.source == "none",
            consume_env=True,
        )
    except Exception as exc:  # KeyLoadFailed and friends: their messages hold no secret
        raise StartupError(str(exc)) from None
    w3 = Web3(Web3.HTTPProvider(settings.chain.rpc_urls[0], request_kwargs={"timeout": 30}))
    ex = settings.execution
    config = ExecutorConfig(
        startup=StartupConfig(
            settings.chain.chain_id, deployment.pool, deployment.oracle, deployment.flash_liquidator
        ),
        fees=FeePolicy(FeeCaps(_gwei(ex.max_fee_gwei), _gwei(ex.max_priority_fee_gwei))),
        journal_path=settings.journal,
        confirmations=ex.confirmations,
        stuck_blocks=ex.replace_after_blocks,
        dry_run=ex.dry_run,
        relay=RelayConfig(url=ex.relay_url, method=ex.relay_method) if ex.relay_url else None,
        estimate_gas=ex.estimate_gas,
        bundle_size=ex.bundle_size,
    )
    try:
        executor = Executor.open(
            w3, config, signer, out=lambda line: event("executor", detail=line)
        )
    except Exception as exc:
        raise StartupError(f"{type(exc).__name__}: {exc}") from None
    rpc, protocol, watcher = watcher_for(settings, deployment)
    strategy = strategy_from(settings, deployment)
    metrics = Metrics()
    server = None
    if settings.observe.metrics_port is not None:
        server = MetricsServer(metrics, settings.observe.metrics_port).start()
    loop = LiquidationLoop(w3, watcher, protocol, executor, deployment, strategy, metrics)
    return LiveBot(settings, deployment, w3, rpc, watcher, executor, loop, metrics, server)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event SIGINT/SIGTERM set (the block in hand finishes); the previous handlers come
    back on exit. Shared by `liqbot run` and `liqbot keeper`."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        event("stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(settings: Settings) -> int:
    """Follow the chain until SIGINT/SIGTERM; finish the block in hand, then exit cleanly."""
    with stop_on_signals() as stop:
        return _run(settings, stop)


def _run(settings: Settings, stop: threading.Event) -> int:
    bot = build(settings)
    try:
        event(
            "started",
            chain_id=settings.chain.chain_id,
            account=bot.executor.account,
            pool=bot.deployment.pool,
            dry_run=settings.execution.dry_run,
            metrics_port=bot.server.port if bot.server else None,
        )
        heads = head_source(bot.rpc, settings.chain.ws_url, interval=settings.watch.poll_interval)
        try:
            bot.loop.run(heads, stop=stop)
        finally:
            heads.close()
        event("stopped", blocks=len(bot.loop.reports))
    finally:
        bot.close()
    return 0
