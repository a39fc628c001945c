"""`liqbot demo`: the whole bot against a market crash on an in-process chain.

No node and no network: an eth-tester chain, the bundled market with thin AMM pairs,
reproducible borrowers, a 40% crash over several blocks, and the real loop (watcher,
model, executor with its journal) liquidating what pays. The result is read back from the
chain (receipts, events, oracle prices), not from the bot's own predictions.
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

from bot.chain.contracts import wait_ok
from bot.chain.embedded import embedded_chain
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import open_positions, plan_borrowers
from bot.deploy.market import Market, PairSpec, deploy_market
from bot.execute import Executor, ExecutorConfig, FeeCaps, FeePolicy, StartupConfig
from bot.execute.keys import Signer
from bot.model.profit import NATIVE_UNIT
from bot.model.ranking import BidPolicy, DecisionConfig
from bot.protocols.aave_pool import AavePoolAdapter
from bot.run.loop import LeftAlone, LiquidationLoop, Strategy
from bot.run.scenario import CRASH, MarketDriver, PriceStep
from bot.watch.watcher import Watcher, WatcherConfig

GWEI = 10**9
SETTLE_BLOCKS = 25
"""At most this many blocks after the crash, until two pass with nothing to do."""

THIN_PAIRS: tuple[PairSpec, ...] = (
    PairSpec("WETH", "USDC", 1_500_000),
    PairSpec("WBTC", "USDC", 800_000),
    PairSpec("WETH", "DAI", 800_000),
    PairSpec("WBTC", "WETH", 800_000),
    PairSpec("DAI", "USDC", 800_000),
)
"""Shallow pools: a large liquidation moves the price, so size matters."""

DEMO_BID = BidPolicy(
    profit_share_bps=2_000, max_fee_per_gas=300 * GWEI, min_priority_fee_per_gas=20 * GWEI
)
"""A mainnet-like tip, so that gas costs what it would and dust is left alone."""


@dataclass(frozen=True, slots=True)
class DemoLiquidation:
    block: int
    user: str
    collateral: str
    debt: str
    path: str
    debt_repaid: Decimal
    collateral_seized: Decimal
    gas_paid_wei: int
    profit_native_wei: int
    """What the bot kept, valued at the oracle in that block, minus the gas it paid."""
    tx_hash: str


@dataclass
class DemoResult:
    numeraire: str
    liquidations: list[DemoLiquidation] = field(default_factory=list)
    left: list[LeftAlone] = field(default_factory=list)
    bad_debt: list[tuple[str, str, Decimal]] = field(default_factory=list)
    reverted: int = 0
    gas_burnt_wei: int = 0
    borrowers: int = 0
    blocks: int = 0
    seconds: float = 0.0

    @property
    def profit_wei(self) -> int:
        return sum(x.profit_native_wei for x in self.liquidations) - self.gas_burnt_wei

    @property
    def gas_paid_wei(self) -> int:
        return sum(x.gas_paid_wei for x in self.liquidations) + self.gas_burnt_wei

    def as_json(self) -> dict[str, object]:
        eth = Decimal(NATIVE_UNIT)
        return {
            "numeraire": self.numeraire,
            "liquidations": len(self.liquidations),
            "profit": str(Decimal(self.profit_wei) / eth),
            "gas_paid": str(Decimal(self.gas_paid_wei) / eth),
            "gas_burnt_on_reverts": str(Decimal(self.gas_burnt_wei) / eth),
            "reverted": self.reverted,
            "borrowers": self.borrowers,
            "blocks": self.blocks,
            "seconds": round(self.seconds, 1),
            "rows": [
                {
                    "block": x.block,
                    "user": x.user,
                    "collateral": x.collateral,
                    "debt": x.debt,
                    "path": x.path,
                    "debt_repaid": str(x.debt_repaid),
                    "collateral_seized": str(x.collateral_seized),
                    "gas_paid": str(Decimal(x.gas_paid_wei) / eth),
                    "profit": str(Decimal(x.profit_native_wei) / eth),
                    "tx_hash": x.tx_hash,
                }
                for x in self.liquidations
            ],
            "left_liquidatable": [
                {
                    "user": x.user,
                    "health_factor": str(Decimal(x.health_factor) / 10**18),
                    "reason": x.reason,
                }
                for x in self.left
            ],
            "bad_debt": [
                {"user": user, "asset": asset, "amount": str(amount)}
                for user, asset, amount in self.bad_debt
            ],
        }


def demo_bot_account() -> LocalAccount:
    """A throwaway key for the demo's in-process chain (it guards nothing)."""
    account: LocalAccount = Account.from_key(keccak(b"liqbot-demo-bot"))
    return account


def run_demo(
    *,
    borrowers: int = 40,
    seed: int = 7,
    path: tuple[PriceStep, ...] = CRASH,
    journal_dir: Path | None = None,
    progress: Callable[[str, int, int], None] = lambda what, done, total: None,
) -> DemoResult:
    started = time.monotonic()
    chain = embedded_chain()
    w3 = chain.w3
    deployer = w3.eth.accounts[0]
    bot = demo_bot_account()
    wait_ok(
        w3,
        w3.eth.send_transaction(
            {"from": deployer, "to": bot.address, "value": Wei(100 * NATIVE_UNIT)}
        ),
        "funding the bot",
    )
    progress("deploying the market", 0, 3)
    market = deploy_market(w3, deployer, pairs=THIN_PAIRS, liquidator_owner=bot.address)
    progress("opening borrower positions", 1, 3)
    plans = plan_borrowers(market, borrowers, seed=seed, health_range=(1.03, 1.45))
    dust = plan_borrowers(market, max(2, borrowers // 10), seed=seed + 1, size_usd=(40, 150))
    open_positions(market, plans, deployer, seed=seed)
    open_positions(market, dust, deployer, seed=seed + 1)
    progress("starting the bot", 2, 3)

    tmp = tempfile.TemporaryDirectory() if journal_dir is None else None
    directory = Path(tmp.name) if tmp is not None else journal_dir
    assert directory is not None
    dep = market.deployment
    executor = Executor.open(
        w3,
        ExecutorConfig(
            startup=StartupConfig(dep.chain_id, dep.pool, dep.oracle, dep.flash_liquidator),
            fees=FeePolicy(
                FeeCaps(
                    max_fee_per_gas=DEMO_BID.max_fee_per_gas, max_priority_fee_per_gas=100 * GWEI
                ),
                min_priority_fee_per_gas=DEMO_BID.min_priority_fee_per_gas,
            ),
            journal_path=directory / "journal.sqlite",
            confirmations=1,
            estimate_gas=False,
            lock_dir=directory,
        ),
        Signer(bot, "demo key"),
        out=lambda line: None,
    )
    protocol = AavePoolAdapter.from_deployment(dep)
    watcher = Watcher(RpcClient.for_web3(w3), protocol, WatcherConfig())
    loop = LiquidationLoop(
        w3,
        watcher,
        protocol,
        executor,
        dep,
        Strategy(decision=DecisionConfig(bid=DEMO_BID)),
    )
    try:
        loop.on_snapshot(watcher.sync())
        driver = MarketDriver(market, deployer)
        total = len(path) + SETTLE_BLOCKS
        for i, _step in enumerate(driver.steps(path)):
            progress("crash: prices fall", i, total)
            _follow(loop)
        quiet = 0
        for i in range(SETTLE_BLOCKS):  # arbitrageurs keep pulling the AMM back to the oracle
            driver.arbitrage()
            chain.mine()
            progress("after the crash", len(path) + i, total)
            _follow(loop)
            quiet = 0 if any(r.planned or r.updates for r in loop.reports[-2:]) else quiet + 1
            if quiet >= 2:
                break
        progress("done", total, total)
        result = _result(market, loop)
        result.borrowers = len(plans) + len(dust)
        result.seconds = time.monotonic() - started
        return result
    finally:
        executor.close()
        if tmp is not None:
            tmp.cleanup()


def _follow(loop: LiquidationLoop) -> None:
    for snapshot in loop.watcher.poll():
        loop.on_snapshot(snapshot)


def _result(market: Market, loop: LiquidationLoop) -> DemoResult:
    w3 = market.w3
    dep = market.deployment
    result = DemoResult(numeraire="ETH")
    units = {symbol: Decimal(10**a.decimals) for symbol, a in dep.assets.items()}
    pool = market.pool
    for entry in loop.executor.ledger():
        if entry.kind != "liquidation":
            continue
        if entry.outcome != "liquidated":
            result.reverted += 1
            result.gas_burnt_wei += entry.gas_burnt_wei
            continue
        receipt = w3.eth.get_transaction_receipt(entry.tx_hash)  # type: ignore[arg-type]
        (call,) = pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
        collateral = dep.symbol_of(call["args"]["collateralAsset"])
        debt = dep.symbol_of(call["args"]["debtAsset"])
        block = int(receipt["blockNumber"])
        profit_symbol = dep.symbol_of(entry.profit_asset) if entry.profit_asset else collateral
        price = market.oracle.functions.getAssetPrice(dep.token(profit_symbol)).call(
            block_identifier=block
        )
        eth_price = market.oracle.functions.getAssetPrice(dep.token("WETH")).call(
            block_identifier=block
        )
        unit = 10 ** dep.assets[profit_symbol].decimals
        kept_wei = entry.realised_profit * price * NATIVE_UNIT // (unit * eth_price)
        result.liquidations.append(
            DemoLiquidation(
                block=block,
                user=call["args"]["user"],
                collateral=collateral,
                debt=debt,
                path=entry.path,
                debt_repaid=Decimal(call["args"]["debtToCover"]) / units[debt],
                collateral_seized=Decimal(call["args"]["liquidatedCollateralAmount"])
                / units[collateral],
                gas_paid_wei=entry.gas_paid_wei,
                profit_native_wei=kept_wei - entry.gas_paid_wei,
                tx_hash=entry.tx_hash,
            )
        )
    last = loop.reports[-1] if loop.reports else None
    result.left = list(last.left) if last else []
    result.blocks = len(loop.reports)
    for log in pool.events.BadDebtWrittenOff().get_logs(from_block=dep.deployment_block):
        symbol = dep.symbol_of(log["args"]["reserve"])
        result.bad_debt.append(
            (log["args"]["user"], symbol, Decimal(log["args"]["amount"]) / units[symbol])
        )
    return result
