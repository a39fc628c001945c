"""`liqbot status`: positions at risk, the bot's balances, pending transactions, PnL.

Read-only: it syncs its own watcher, prices opportunities with the same model, and reads
the journal through a read-only SQLite connection, so it can run beside a live bot
without taking its lock.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from web3 import Web3

from bot.chain.artifacts import abi_of
from bot.config import Settings
from bot.model.gas import next_base_fee
from bot.model.ranking import best_for_account
from bot.model.sizing import PairBook
from bot.run.gas import LearningGasTable
from bot.run.live import check_chain_ids, load_deployment, strategy_from, watcher_for
from bot.run.loop import valuation_for

WAD = 10**18
BASE = Decimal(10**8)
FINAL_STATES = ("confirmed", "failed", "cancelled", "replaced")


@dataclass
class Status:
    block: int
    numeraire: str
    at_risk: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, str] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    pnl: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "numeraire": self.numeraire,
            "at_risk": self.at_risk,
            "balances": self.balances,
            "pending": self.pending,
            "pnl": self.pnl,
        }


def read_journal(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(intents not yet final, ledger totals) from the journal, opened read-only."""
    if not path.exists():
        return [], {"liquidations": 0, "gas_paid_wei": "0", "gas_burnt_wei": "0", "realised": {}}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        marks = ",".join("?" for _ in FINAL_STATES)
        pending = [
            {"key": r["opportunity_key"], "state": r["state"], "nonce": r["nonce"]}
            for r in conn.execute(
                f"SELECT opportunity_key, state, nonce FROM intents WHERE state NOT IN ({marks})",
                FINAL_STATES,
            )
        ]
        realised: dict[str, int] = {}
        paid = burnt = liquidations = 0
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = list(conn.execute("SELECT * FROM ledger"))
        if "item_ledger" in tables:  # a bundle's items (journals written before have none)
            rows += conn.execute("SELECT * FROM item_ledger")
        for r in rows:
            paid += int(r["gas_paid_wei"])
            burnt += int(r["gas_burnt_wei"])
            if r["outcome"] == "liquidated":
                liquidations += 1
                asset = r["profit_asset"]
                realised[asset] = realised.get(asset, 0) + int(r["realised_profit"])
    finally:
        conn.close()
    return pending, {
        "liquidations": liquidations,
        "gas_paid_wei": str(paid),
        "gas_burnt_wei": str(burnt),
        "realised": {asset: str(amount) for asset, amount in realised.items()},
    }


def collect(settings: Settings, limit: int = 20) -> Status:
    deployment = load_deployment(settings)
    check_chain_ids(settings)
    _rpc, _protocol, watcher = watcher_for(settings, deployment)
    snapshot = watcher.sync()
    strategy = strategy_from(settings, deployment)
    w3 = Web3(Web3.HTTPProvider(settings.chain.rpc_urls[0], request_kwargs={"timeout": 30}))
    gas = LearningGasTable.calibrated().table
    valuation = valuation_for(deployment, strategy, snapshot.market)
    base_fee = (
        next_base_fee(snapshot.base_fee, snapshot.gas_used, snapshot.gas_limit)
        if snapshot.gas_limit
        else snapshot.base_fee
    )
    status = Status(block=snapshot.block_number, numeraire=strategy.numeraire_symbol or "ETH")
    pairs = PairBook.of(snapshot.pairs)
    for risky in snapshot.at_risk[:limit]:
        best = best_for_account(
            snapshot.market,
            risky.account,
            snapshot.timestamp,
            pairs=pairs,
            valuation=valuation,
            gas_table=gas,
            base_fee=base_fee,
            config=strategy.decision,
        )
        status.at_risk.append(
            {
                "user": risky.user,
                "health_factor": str(Decimal(risky.health_factor) / WAD),
                "collateral_usd": str(Decimal(risky.data.total_collateral_base) / BASE),
                "debt_usd": str(Decimal(risky.data.total_debt_base) / BASE),
                "blocked_by": list(risky.blocked_by),
                "best": None
                if best is None
                else {
                    "path": str(best.path),
                    "collateral": deployment.symbol_of(best.sized.collateral),
                    "debt": deployment.symbol_of(best.sized.debt),
                    "debt_to_cover": str(best.debt_to_cover),
                    "expected_profit": str(Decimal(best.net_profit) / valuation.numeraire.unit),
                },
            }
        )
    owner = (
        w3.eth.contract(address=deployment.flash_liquidator, abi=abi_of("FlashLiquidator"))
        .functions.owner()
        .call()
    )
    status.balances["owner"] = owner
    status.balances["owner ETH"] = str(Decimal(w3.eth.get_balance(owner)) / WAD)
    for symbol, asset in deployment.assets.items():
        token = w3.eth.contract(address=asset.token, abi=abi_of("TestToken"))
        held = token.functions.balanceOf(deployment.flash_liquidator).call()
        status.balances[f"liquidator {symbol}"] = str(Decimal(held) / 10**asset.decimals)
    status.pending, status.pnl = read_journal(settings.journal)
    return status
