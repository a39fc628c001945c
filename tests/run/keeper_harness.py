"""A crash for the auction keeper, on any chain: deploy, open vaults, crash, and run the real
keeper (watcher, model, executor with its journal) until every auction is done.

Shared by the eth-tester and anvil tests; the assertions read the chain (events, balances,
receipts), not the keeper's own predictions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import Wei

from bot.chain.contracts import wait_ok
from bot.chain.rpc import RpcClient
from bot.deploy.auctions import (
    OpenedVault,
    arbitrage_pairs,
    deploy_auction_market,
    ilk_id,
    open_vaults,
)
from bot.deploy.market import MAX_UINT, deploy_market
from bot.execute import Executor, ExecutorConfig, FeeCaps, FeePolicy, StartupConfig
from bot.execute.keys import Signer
from bot.model.auction import CompetitorModel
from bot.protocols.auction_engine import VaultEngineAdapter
from bot.run.keeper import AuctionKeeper, KeeperConfig, KeeperReport, open_keeper_executor
from bot.watch.auctions import AuctionWatcher
from tests.contracts.auction_fixtures import DEPLOY_GAS, WAD, WBTC, WETH, ChainControl, Env

GWEI = 10**9
ILKS = (WETH, WBTC)


def keeper_account() -> LocalAccount:
    """A throwaway key for test chains (it guards nothing)."""
    account: LocalAccount = Account.from_key(keccak(b"liqbot-keeper-test"))
    return account


def build_keeper_env(w3: Web3, control: ChainControl) -> Env:
    """The market and auction market, with the AuctionTaker owned by the keeper's key."""
    accounts = [Web3.to_checksum_address(a) for a in w3.eth.accounts]
    deployer = accounts[0]
    bot = keeper_account()
    wait_ok(
        w3,
        w3.eth.send_transaction({"from": deployer, "to": bot.address, "value": Wei(1_000 * WAD)}),
        "funding the keeper",
    )
    market = deploy_market(w3, deployer)
    am = deploy_auction_market(w3, deployer, market, taker_owner=bot.address, gas=DEPLOY_GAS)
    return Env(
        w3=w3, control=control, am=am, deployer=deployer, bot=bot.address, users=accounts[1:]
    )


@dataclass
class KeeperRun:
    env: Env
    keeper: AuctionKeeper
    executor: Executor
    protocol: VaultEngineAdapter
    tmp: Any
    reports: list[KeeperReport] = field(default_factory=list)

    def close(self) -> None:
        self.executor.close()
        self.tmp.cleanup()


def start_keeper(
    env: Env,
    config: KeeperConfig | None = None,
    *,
    journal_dir: Path | None = None,
) -> KeeperRun:
    w3 = env.w3
    protocol = VaultEngineAdapter.from_deployment(
        env.am.deployment, env.am.market.deployment.multicall3
    )
    tmp = tempfile.TemporaryDirectory()
    directory = journal_dir or Path(tmp.name)
    dep = env.am.deployment
    executor = open_keeper_executor(
        w3,
        protocol,
        ExecutorConfig(
            startup=StartupConfig(dep.chain_id, dep.engine, dep.oracle, dep.taker),
            fees=FeePolicy(
                FeeCaps(max_fee_per_gas=300 * GWEI, max_priority_fee_per_gas=50 * GWEI),
                min_priority_fee_per_gas=2 * GWEI,
            ),
            journal_path=directory / "journal.sqlite",
            confirmations=1,
            estimate_gas=False,
            lock_dir=directory,
            max_in_flight=1_000,
        ),
        Signer(keeper_account(), "test key"),
    )
    watcher = AuctionWatcher(RpcClient.for_web3(w3), protocol, keeper=env.bot)
    keeper = AuctionKeeper(
        watcher,
        protocol,
        executor,
        env.bot,
        config or KeeperConfig(competitors=CompetitorModel(10_000, 5_000), block_time=2),
        taker=dep.taker,
        liquidator=dep.liquidator,
    )
    keeper.on_snapshot(watcher.sync())
    return KeeperRun(env, keeper, executor, protocol, tmp)


# --------------------------------------------------------------------------- market moves


def arbitrage(env: Env) -> None:
    """Pull each stablecoin/collateral pair back to the oracle price (the deployer arbitrages)."""
    arbitrage_pairs(env.am, env.deployer)


def prepare_crash(
    env: Env, count: int, *, seed: int = 7, limit_share: int = 2, ilks: tuple[str, ...] = ILKS
) -> list[OpenedVault]:
    """Open ``count`` vaults 5-45% above the liquidation line, crash the collaterals by 35%,
    pull the pairs to the new price, and cap the debt under auction at 1/``limit_share``."""
    for ilk in ILKS:
        env.send(env.token(ilk).functions.approve(env.am.router.address, MAX_UINT), env.deployer)
    env.send(env.stable.functions.approve(env.am.router.address, MAX_UINT), env.deployer)
    opened = open_vaults(env.am, count, seed=seed, ratio_range=(1.05, 1.45), ilks=ilks)
    for ilk in ilks:
        env.scale_price(ilk, Decimal("0.65"))
    arbitrage(env)
    total = sum(v.plan.debt for v in opened)
    env.send(env.liquidator.functions.setGlobalLimit(total // limit_share), env.deployer)
    return opened


def unsafe(env: Env, vault: OpenedVault) -> bool:
    result: bool = env.engine.functions.isUnsafe(ilk_id(vault.plan.ilk), vault.owner).call()
    return result


def run_until_done(
    run: KeeperRun,
    *,
    seconds_per_round: int = 600,
    max_rounds: int = 80,
    done: Callable[[], bool],
) -> int:
    """Let time pass (prices re-pushed, pairs arbitraged) and the keeper act, round after
    round, until ``done()``; returns the number of rounds."""
    for rounds in range(1, max_rounds + 1):
        run.reports += run.keeper.step()
        if done():
            # one more step so the executor confirms what the last round sent
            run.env.advance(1)
            run.reports += run.keeper.step()
            return rounds
        run.env.advance(seconds_per_round)
        arbitrage(run.env)
    raise AssertionError(f"not done after {max_rounds} rounds")


def auctions_running(env: Env) -> int:
    return sum(
        int(env.dutch(ilk).functions.count().call())
        + int(env.english(ilk).functions.count().call())
        for ilk in ILKS
    )


def crash_weth(
    env: Env, count: int, seed: int, ratio_range: tuple[float, float] = (1.05, 1.3)
) -> list[OpenedVault]:
    opened = open_vaults(env.am, count, seed=seed, ratio_range=ratio_range, ilks=(WETH,))
    env.scale_price(WETH, Decimal("0.7"))
    arbitrage(env)
    assert all(unsafe(env, v) for v in opened)
    return opened


def first_take(
    run: KeeperRun, env: Env, *, seconds: int = 300, rounds: int = 20
) -> tuple[Any, Any]:
    """Let time pass until the keeper decides to take; return (action, snapshot) unsent."""
    from bot.run.keeper import TAKE

    for _ in range(rounds):
        env.advance(seconds)
        arbitrage(env)
        snapshots = run.keeper.watcher.poll()
        assert snapshots
        snapshot = snapshots[-1]
        actions, _ = run.keeper.plan(snapshot)
        takes = [a for a in actions if a.kind == TAKE]
        if takes:
            return takes[0], snapshot
        run.keeper.on_snapshot(snapshot)
    raise AssertionError("the keeper never decided to take")
