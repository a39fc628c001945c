"""`liqbot demo --auctions`: the auction keeper against a crash on an in-process chain.

The second half of the demo, for Maker-style markets: an eth-tester chain, the bundled market
and its vault engine with Dutch auctions (WETH-A on the stair-step curve, WBTC-A on the
linear one), reproducible vaults 5-45% above their liquidation line, a 35% crash with the
debt under auction capped at half of all debt, arbitrageurs pulling the AMM pairs back to the
oracle, and the real keeper (watcher, model, executor with its journal) barking, restarting
and taking through its flash taker with no inventory. The tables are read back from the
chain: ``Bark``, ``Take`` and ``Taken`` events and receipts.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.logs import DISCARD
from web3.types import Wei

from bot.chain.contracts import transact, wait_ok
from bot.chain.embedded import embedded_chain
from bot.chain.rpc import RpcClient
from bot.deploy.auctions import (
    AuctionMarket,
    arbitrage_pairs,
    deploy_auction_market,
    ilk_id,
    open_vaults,
)
from bot.deploy.market import MAX_UINT, deploy_market
from bot.execute import ExecutorConfig, FeeCaps, FeePolicy, StartupConfig
from bot.execute.keys import Signer
from bot.model.auction import WAD, CompetitorModel, gas_in_stable
from bot.protocols.auction_engine import VaultEngineAdapter
from bot.run.keeper import AuctionKeeper, KeeperConfig, Skipped, open_keeper_executor
from bot.watch.auctions import AuctionWatcher

GWEI = 10**9
ROUND_SECONDS = 360
MAX_ROUNDS = 60
DEPLOY_GAS = 8_000_000


@dataclass(frozen=True, slots=True)
class AuctionRow:
    """One auction the keeper started or bought from, as the chain tells it."""

    ilk: str
    auction_id: int
    owner: str
    lot: Decimal
    tab: Decimal
    takes: int
    bought: Decimal
    paid: Decimal
    profit: Decimal
    """Stablecoin the taker kept, minus the takes' gas (valued at the oracle)."""


@dataclass
class AuctionDemoResult:
    vaults: int = 0
    barks: int = 0
    takes: int = 0
    redos: int = 0
    reverted: int = 0
    rounds: int = 0
    rewards: Decimal = Decimal(0)
    take_profit: Decimal = Decimal(0)
    gas: Decimal = Decimal(0)
    left_unsafe: int = 0
    running: int = 0
    rows: list[AuctionRow] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    """How often each kind of reason was given for leaving something alone, over all blocks."""
    seconds: float = 0.0

    @property
    def profit(self) -> Decimal:
        return self.rewards + self.take_profit - self.gas

    def as_json(self) -> dict[str, object]:
        return {
            "vaults": self.vaults,
            "barks": self.barks,
            "takes": self.takes,
            "redos": self.redos,
            "reverted": self.reverted,
            "rounds": self.rounds,
            "keeper_rewards": str(self.rewards),
            "take_profit": str(self.take_profit),
            "gas": str(self.gas),
            "profit": str(self.profit),
            "left_unsafe": self.left_unsafe,
            "auctions_running": self.running,
            "reasons": dict(self.reasons),
            "seconds": round(self.seconds, 1),
            "rows": [
                {
                    "ilk": r.ilk,
                    "id": r.auction_id,
                    "owner": r.owner,
                    "lot": str(r.lot),
                    "tab": str(r.tab),
                    "takes": r.takes,
                    "bought": str(r.bought),
                    "paid": str(r.paid),
                    "profit": str(r.profit),
                }
                for r in self.rows
            ],
        }


def keeper_demo_account() -> LocalAccount:
    """A throwaway key for the demo's in-process chain (it guards nothing)."""
    account: LocalAccount = Account.from_key(keccak(b"liqbot-demo-keeper"))
    return account


def run_auction_demo(
    *,
    vaults: int = 30,
    seed: int = 7,
    journal_dir: Path | None = None,
    progress: Callable[[str, int, int], None] = lambda what, done, total: None,
) -> AuctionDemoResult:
    started = time.monotonic()
    chain = embedded_chain()
    w3 = chain.w3
    deployer = w3.eth.accounts[0]
    bot = keeper_demo_account()
    wait_ok(
        w3,
        w3.eth.send_transaction({"from": deployer, "to": bot.address, "value": Wei(100 * WAD)}),
        "funding the keeper",
    )
    progress("deploying the markets", 0, 3)
    market = deploy_market(w3, deployer)
    am = deploy_auction_market(w3, deployer, market, taker_owner=bot.address, gas=DEPLOY_GAS)
    progress("opening vaults", 1, 3)
    for name in am.deployment.ilks:
        transact(w3, am.collateral(name).functions.approve(am.router.address, MAX_UINT), deployer)
    transact(w3, am.stablecoin.functions.approve(am.router.address, MAX_UINT), deployer)
    opened = open_vaults(am, vaults, seed=seed, ratio_range=(1.05, 1.45))
    for name in am.deployment.ilks:  # the crash: -35%
        price = am.oracle_price(name) * 65 // 100
        symbol = am.deployment.ilks[name].symbol
        for feed in (market.feed(symbol), market.fallback_feed(symbol)):
            transact(w3, feed.functions.updateAnswer(price), deployer)
    arbitrage_pairs(am, deployer)
    total_debt = sum(v.plan.debt for v in opened)
    transact(w3, am.liquidator.functions.setGlobalLimit(total_debt // 2), deployer)

    progress("starting the keeper", 2, 3)
    tmp = tempfile.TemporaryDirectory() if journal_dir is None else None
    directory = Path(tmp.name) if tmp is not None else journal_dir
    assert directory is not None
    dep = am.deployment
    protocol = VaultEngineAdapter.from_deployment(dep, market.deployment.multicall3)
    executor = open_keeper_executor(
        w3,
        protocol,
        ExecutorConfig(
            startup=StartupConfig(dep.chain_id, dep.engine, dep.oracle, dep.taker),
            fees=FeePolicy(
                FeeCaps(max_fee_per_gas=300 * GWEI, max_priority_fee_per_gas=100 * GWEI),
                min_priority_fee_per_gas=20 * GWEI,
            ),
            journal_path=directory / "journal.sqlite",
            confirmations=1,
            estimate_gas=False,
            lock_dir=directory,
            max_in_flight=1_000,
        ),
        Signer(bot, "demo key"),
    )
    watcher = AuctionWatcher(RpcClient.for_web3(w3), protocol, keeper=bot.address)
    keeper = AuctionKeeper(
        watcher,
        protocol,
        executor,
        bot.address,
        KeeperConfig(
            competitors=CompetitorModel(10_000, 5_000),
            priority_fee_per_gas=20 * GWEI,
            block_time=2,
        ),
        taker=dep.taker,
        liquidator=dep.liquidator,
    )
    result = AuctionDemoResult(vaults=len(opened))
    engine = am.engine
    try:
        keeper.on_snapshot(watcher.sync())
        for rounds in range(1, MAX_ROUNDS + 1):
            result.rounds = rounds
            progress("auctions", rounds, MAX_ROUNDS)
            running = sum(int(am.dutch(n).functions.count().call()) for n in dep.ilks)
            unsafe = sum(
                bool(engine.functions.isUnsafe(ilk_id(v.plan.ilk), v.owner).call()) for v in opened
            )
            if running == 0 and unsafe == 0:
                break
            chain.tester.time_travel(int(w3.eth.get_block("latest")["timestamp"]) + ROUND_SECONDS)
            for name in dep.ilks:  # keep the feeds fresh
                symbol = dep.ilks[name].symbol
                price = am.oracle_price(name)
                for feed in (market.feed(symbol), market.fallback_feed(symbol)):
                    transact(w3, feed.functions.updateAnswer(price), deployer)
            arbitrage_pairs(am, deployer)
            keeper.step()
        chain.mine()
        keeper.step()
        _read_back(am, keeper, result)
        result.running = sum(int(am.dutch(n).functions.count().call()) for n in dep.ilks)
        result.left_unsafe = sum(
            bool(engine.functions.isUnsafe(ilk_id(v.plan.ilk), v.owner).call()) for v in opened
        )
        result.seconds = time.monotonic() - started
        return result
    finally:
        executor.close()
        if tmp is not None:
            tmp.cleanup()


@dataclass
class _Row:
    owner: str = ""
    lot: Decimal = Decimal(0)
    tab: Decimal = Decimal(0)
    takes: int = 0
    bought: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    profit: Decimal = Decimal(0)


def _read_back(am: AuctionMarket, keeper: AuctionKeeper, result: AuctionDemoResult) -> None:
    """Fill ``result`` from the receipts of what the keeper sent (its journal's ledger)."""
    w3 = am.w3
    unit = Decimal(WAD)
    weth = next(n for n, d in am.deployment.ilks.items() if d.symbol == "WETH")
    eth_price = am.oracle_price(weth)
    rows: dict[tuple[str, int], _Row] = {}
    liquidator, taker = am.liquidator, am.taker
    for entry in keeper.executor.ledger():
        if entry.kind != "liquidation":
            continue
        gas = Decimal(gas_in_stable(entry.gas_paid_wei, eth_price)) / unit
        result.gas += gas
        if entry.outcome != "liquidated":
            result.reverted += 1
            continue
        receipt = w3.eth.get_transaction_receipt(entry.tx_hash)  # type: ignore[arg-type]
        if entry.path == "auction_bark":
            (bark,) = liquidator.events.Bark().process_receipt(receipt, errors=DISCARD)
            args = bark["args"]
            ilk = bytes(args["ilk"]).rstrip(b"\0").decode()
            result.barks += 1
            result.rewards += Decimal(args["reward"]) / unit
            decimals = am.deployment.ilks[ilk].decimals
            row = rows.setdefault((ilk, int(args["id"])), _Row())
            row.owner = str(args["owner"])
            row.lot = Decimal(args["collateralAmount"]) / Decimal(10**decimals)
            row.tab = Decimal(args["tab"]) / unit
            row.profit += Decimal(args["reward"]) / unit - gas
        elif entry.path == "auction_take":
            (taken,) = taker.events.Taken().process_receipt(receipt, errors=DISCARD)
            args = taken["args"]
            ilk = next(
                n for n, d in am.deployment.ilks.items() if d.dutch_auction == args["auction"]
            )
            decimals = am.deployment.ilks[ilk].decimals
            result.takes += 1
            profit = Decimal(args["profit"]) / unit
            result.take_profit += profit
            row = rows.setdefault((ilk, int(args["id"])), _Row())
            row.takes += 1
            row.bought += Decimal(args["collateralBought"]) / Decimal(10**decimals)
            row.paid += Decimal(args["paid"]) / unit
            row.profit += profit - gas
        elif entry.path == "auction_redo":
            result.redos += 1
            result.rewards += Decimal(entry.predicted_profit) / unit
    for (ilk, auction_id), r in sorted(rows.items()):
        result.rows.append(
            AuctionRow(ilk, auction_id, r.owner, r.lot, r.tab, r.takes, r.bought, r.paid, r.profit)
        )
    reasons: dict[str, int] = {}
    for report in keeper.reports:
        for skip in report.skipped:
            family = _family(skip)
            reasons[family] = reasons.get(family, 0) + 1
    result.reasons = dict(sorted(reasons.items(), key=lambda kv: -kv[1]))


def _family(skip: Skipped) -> str:
    if skip.reason.startswith("not sent"):
        return f"{skip.kind}: " + ": ".join(skip.reason.split(": ")[:3])[:60]
    return f"{skip.kind}: {skip.reason.split(':')[0]}"
