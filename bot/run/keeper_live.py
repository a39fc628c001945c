"""`liqbot keeper`: the auction keeper against any JSON-RPC endpoint, from one validated config.

A command of its own rather than a mode of `liqbot run`: the auction market has its own
deployment file (``bot.deploy.auctions.AuctionDeployment``), contracts, start-up checks and
loop, and sharing nothing but the settings keeps each start-up path fail-closed on its own.
Start-up, in order: configuration, the auction deployment file and its chain id, the chain id
of every RPC, the key, then :func:`bot.run.keeper.keeper_startup_checks` (code and interface
of the liquidator, engine and taker, the taker's owner, gas money) and the journal's
reconciliation. Nothing is signed before all of them pass. SIGINT/SIGTERM finish the block in
hand and exit 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from web3 import Web3

from bot.chain.rpc import RpcClient
from bot.config import Settings
from bot.deploy.auctions import AuctionDeployment
from bot.execute import Executor, ExecutorConfig, FeeCaps, FeePolicy, StartupConfig, load_signer
from bot.model.auction import CompetitorModel
from bot.observe.logs import event
from bot.protocols.auction_engine import VaultEngineAdapter
from bot.run.keeper import AuctionKeeper, KeeperConfig, open_keeper_executor
from bot.run.live import StartupError, check_chain_ids, stop_on_signals
from bot.watch.auctions import AuctionWatcher

GWEI = 10**9
WAD = 10**18


def load_auction_deployment(settings: Settings) -> AuctionDeployment:
    path = settings.chain.deployment
    try:
        deployment = AuctionDeployment.load(path)
    except FileNotFoundError:
        raise StartupError(
            f"auction deployment file {path} does not exist: run "
            f"`liqbot deploy --auctions --rpc URL --out {path}`"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise StartupError(
            f"{path} is not an auction deployment file ({type(exc).__name__}: {exc}); "
            "`liqbot keeper` needs the file `liqbot deploy --auctions` writes"
        ) from None
    if deployment.chain_id != settings.chain.chain_id:
        raise StartupError(
            f"auction deployment file {path} is for chain {deployment.chain_id}, "
            f"but chain.chain_id is {settings.chain.chain_id}"
        )
    if not deployment.multicall3:
        raise StartupError(
            f"auction deployment file {path} records no multicall3 (written by an older "
            "version): add the market's multicall3 address to it or redeploy"
        )
    return deployment


def keeper_config(settings: Settings) -> KeeperConfig:
    a, ex = settings.auctions, settings.execution
    return KeeperConfig(
        min_profit=int(a.min_profit * WAD),
        competitors=CompetitorModel(a.rival_threshold_bps, a.rival_take_probability_bps),
        priority_fee_per_gas=int(ex.max_priority_fee_gwei * GWEI) // 10,
        max_fee_per_gas=int(ex.max_fee_gwei * GWEI),
        block_time=a.block_time,
        lookahead_steps=a.lookahead_steps,
        english=a.english,
    )


@dataclass
class LiveKeeper:
    settings: Settings
    deployment: AuctionDeployment
    keeper: AuctionKeeper
    executor: Executor

    def close(self) -> None:
        self.executor.close()


def build_keeper(settings: Settings) -> LiveKeeper:
    deployment = load_auction_deployment(settings)
    check_chain_ids(settings)
    keys = settings.keys
    if keys.source == "none":
        raise StartupError("keys.source = 'none': the keeper signs; configure a key")
    try:
        signer = load_signer(
            keystore=keys.keystore, password_file=keys.password_file, consume_env=True
        )
    except Exception as exc:  # KeyLoadFailed and friends: their messages hold no secret
        raise StartupError(str(exc)) from None
    assert signer is not None  # not read-only
    w3 = Web3(Web3.HTTPProvider(settings.chain.rpc_urls[0], request_kwargs={"timeout": 30}))
    protocol = VaultEngineAdapter.from_deployment(deployment, deployment.multicall3)
    ex = settings.execution
    config = ExecutorConfig(
        startup=StartupConfig(
            settings.chain.chain_id, deployment.engine, deployment.oracle, deployment.taker
        ),
        fees=FeePolicy(
            FeeCaps(int(ex.max_fee_gwei * GWEI), int(ex.max_priority_fee_gwei * GWEI)),
        ),
        journal_path=settings.journal,
        confirmations=ex.confirmations,
        stuck_blocks=ex.replace_after_blocks,
        dry_run=ex.dry_run,
        max_in_flight=64,
    )
    try:
        executor = open_keeper_executor(
            w3, protocol, config, signer, out=lambda line: event("executor", detail=line)
        )
    except Exception as exc:
        raise StartupError(f"{type(exc).__name__}: {exc}") from None
    rpc = RpcClient(list(settings.chain.rpc_urls))
    watcher = AuctionWatcher(
        rpc, protocol, keeper=signer.address, log_chunk=settings.watch.log_chunk
    )
    keeper = AuctionKeeper(
        watcher,
        protocol,
        executor,
        signer.address,
        keeper_config(settings),
        taker=deployment.taker,
        liquidator=deployment.liquidator,
    )
    return LiveKeeper(settings, deployment, keeper, executor)


def run_keeper(settings: Settings) -> int:
    """Follow the chain until SIGINT/SIGTERM; finish the block in hand, then exit cleanly."""
    with stop_on_signals() as stop:
        return _run_keeper(settings, stop)


def _run_keeper(settings: Settings, stop: threading.Event) -> int:
    live = build_keeper(settings)
    try:
        event(
            "started",
            chain_id=settings.chain.chain_id,
            account=live.executor.account,
            liquidator=live.deployment.liquidator,
            dry_run=settings.execution.dry_run,
        )
        keeper = live.keeper
        keeper.on_snapshot(keeper.watcher.sync())
        while not stop.is_set():
            for report in keeper.step():
                sent = report.sent
                if sent or report.actions:
                    event(
                        "keeper block",
                        block=report.block,
                        planned=len(report.actions),
                        sent=len(sent),
                        kinds=",".join(sorted({a.kind for a in report.actions})),
                    )
                if stop.is_set():
                    break
            stop.wait(settings.watch.poll_interval)
        event("stopped", blocks=len(keeper.reports), ledger=_ledger_summary(live.executor))
    finally:
        live.close()
    return 0


def _ledger_summary(executor: Executor) -> str:
    outcomes: dict[str, int] = {}
    for entry in executor.ledger():
        key = entry.outcome.split(":")[0]
        outcomes[key] = outcomes.get(key, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "nothing sent"


__all__ = ["build_keeper", "keeper_config", "load_auction_deployment", "run_keeper"]
