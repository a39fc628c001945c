#!/usr/bin/env python3
"""Measure the gas of every liquidation path on anvil and write the model's gas calibration.

    python scripts/calibrate_gas.py            # writes bot/data/gas_calibration.json
    python scripts/calibrate_gas.py --print    # only prints the samples

The model must not guess gas: a liquidation that runs out of gas burns its fee for nothing,
and one that overestimates gas skips profitable work. This runs each path (flash,
inventory, inventory + swap) on each collateral/debt pair of the bundled market, with
one- and two-collateral borrowers and with the seize capped by collateral (bad debt), and
keeps every receipt's gasUsed. The run loop loads the file and keeps learning from its own
receipts.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path

from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.contracts import transact
from bot.chain.reverts import as_reverted
from bot.deploy.borrowers import BorrowerPlan, open_positions
from bot.deploy.market import Market, deploy_market
from bot.run.scenario import MarketDriver

OUT = Path(__file__).resolve().parents[1] / "bot" / "data" / "gas_calibration.json"

CASES: tuple[tuple[dict[str, str], str, str, str], ...] = (
    # (collateral units by symbol, debt symbol, collateral liquidated, debt amount in USD)
    ({"WETH": "10"}, "USDC", "WETH", "22000"),
    ({"WETH": "10"}, "DAI", "WETH", "22000"),
    ({"WBTC": "0.5"}, "USDC", "WBTC", "21500"),
    ({"WBTC": "0.5"}, "WETH", "WBTC", "21500"),
    ({"WETH": "6", "WBTC": "0.2"}, "USDC", "WETH", "22000"),
    ({"WETH": "6", "WBTC": "0.2"}, "USDC", "WBTC", "22000"),
)
PATHS = ("flash", "inventory", "inventory_swap")


def _debt_units(market: Market, symbol: str, usd: str) -> int:
    spec = market.specs[symbol]
    return int(Decimal(usd) / spec.price_usd * 10**spec.decimals)


def measure(w3: Web3) -> dict[str, list[int]]:
    deployer, owner = w3.eth.accounts[0], w3.eth.accounts[1]
    market = deploy_market(w3, deployer, liquidator_owner=owner)
    liquidator = market.liquidator
    samples: dict[str, list[int]] = {path: [] for path in PATHS}
    plans = []
    index = 0
    for collateral, debt, _seized, usd in CASES:
        for _path in PATHS:
            for _depth in ("partial", "capped"):
                plans.append(
                    BorrowerPlan(
                        index,
                        {s: market.units(s, a) for s, a in collateral.items()},
                        {debt: _debt_units(market, debt, usd)},
                        Decimal("1.1"),
                    )
                )
                index += 1
    borrowers = open_positions(market, plans, deployer, seed=4242)
    # ETH falls 45% and BTC 55%: every borrower is below 1; the "capped" ones are liquidated
    # in full, most with the seize capped by collateral.
    driver = MarketDriver(market, deployer)
    driver.set_prices({"WETH": Decimal("1650"), "WBTC": Decimal("27000")})
    driver.arbitrage()
    for symbol in market.specs:
        amount = (
            market.units(symbol, 10)
            if symbol in ("WETH", "WBTC")
            else market.units(symbol, 500_000)
        )
        transact(w3, market.token(symbol).functions.mint(liquidator.address, amount), deployer)

    position = 0
    for _collateral, debt, seized, _usd in CASES:
        c, d = market.deployment.token(seized), market.deployment.token(debt)
        pair = market.deployment.pair_for(seized, debt)
        assert pair is not None, (seized, debt)
        for path in PATHS:
            for depth in ("partial", "capped"):
                user = borrowers[position].address
                position += 1
                data = market.pool.functions.getUserAccountData(user).call()
                debt_value = (
                    data[1]
                    * 10 ** market.specs[debt].decimals
                    // market.oracle.functions.getAssetPrice(d).call()
                )
                amount = debt_value // 4 if depth == "partial" else 2**256 - 1
                if path == "flash":
                    # A flash swap must not borrow more than the capped seize can repay.
                    amount = min(amount, debt_value // 2)
                    fn = liquidator.functions.liquidateWithFlashSwap(
                        pair.address, c, d, user, amount, 0
                    )
                elif path == "inventory":
                    fn = liquidator.functions.liquidateFromInventory(c, d, user, amount, 0)
                else:
                    fn = liquidator.functions.liquidateFromInventoryAndSell(
                        pair.address, c, d, user, amount, 0
                    )
                try:
                    fn.call({"from": owner})
                except Exception as exc:  # a case the market makes unprofitable: no sample
                    print(f"skipped {path} {seized}/{debt} {depth}: {as_reverted(exc).reason}")
                    continue
                receipt = transact(w3, fn, owner, gas=2_000_000)
                samples[path].append(int(receipt["gasUsed"]))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--print", action="store_true", help="print the samples, write nothing")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with Anvil() as node:
        samples = measure(Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60})))
    text = json.dumps({"chain": "anvil", "samples": samples}, indent=1, sort_keys=True) + "\n"
    print(json.dumps({p: {"n": len(v), "min": min(v), "max": max(v)} for p, v in samples.items()}))
    if not args.print:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
