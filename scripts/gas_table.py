#!/usr/bin/env python3
"""Measure the gas of the protocol's main operations on anvil and print a table.

python scripts/gas_table.py            # anvil from node_modules
python scripts/gas_table.py --json     # one JSON object instead of the table
python scripts/gas_table.py --chain embedded   # the in-process eth-tester chain
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.contracts import send_signed, transact
from bot.chain.embedded import embedded_chain
from bot.deploy.borrowers import BorrowerPlan, open_positions
from bot.deploy.market import MAX_UINT, Market, deploy_market
from bot.model.amm import get_amount_out


@contextmanager
def chain_w3(kind: str) -> Iterator[Web3]:
    if kind == "embedded":
        yield embedded_chain().w3
        return
    with Anvil() as node:
        yield Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))


def measure(w3: Web3) -> dict[str, int]:
    deployer, liquidator = w3.eth.accounts[0], w3.eth.accounts[1]
    market: Market = deploy_market(w3, deployer, liquidator_owner=liquidator)
    pool = market.pool
    weth, usdc = market.deployment.token("WETH"), market.deployment.token("USDC")
    gas: dict[str, int] = {}

    # Three borrowers, WETH collateral and USDC debt, at a health factor of about 1.1.
    plans = [
        BorrowerPlan(
            i,
            {"WETH": market.units("WETH", 10)},
            {"USDC": market.units("USDC", 22_000)},
            Decimal("1.125"),
        )
        for i in range(3)
    ]
    borrowers = open_positions(market, plans, deployer, seed=99)

    # A borrower's own supply, borrow, repay and withdraw, signed with its key.
    user = borrowers[0]
    transact(
        w3, market.token("WETH").functions.mint(user.address, market.units("WETH", 2)), deployer
    )
    send_signed(w3, market.token("WETH").functions.approve(pool.address, MAX_UINT), user)
    send_signed(w3, market.token("USDC").functions.approve(pool.address, MAX_UINT), user)
    gas["supply"] = send_signed(
        w3, pool.functions.supply(weth, market.units("WETH", 1), user.address, 0), user
    )["gasUsed"]
    gas["borrow"] = send_signed(
        w3, pool.functions.borrow(usdc, market.units("USDC", 100), 2, 0, user.address), user
    )["gasUsed"]
    gas["repay"] = send_signed(
        w3, pool.functions.repay(usdc, market.units("USDC", 50), 2, user.address), user
    )["gasUsed"]
    gas["withdraw"] = send_signed(
        w3, pool.functions.withdraw(weth, market.units("WETH", "0.5"), user.address), user
    )["gasUsed"]

    # WETH falls 25%: every borrower is liquidatable.
    market.set_price("WETH", Decimal("2250"), deployer)

    # Direct liquidationCall from an EOA's inventory.
    transact(
        w3, market.token("USDC").functions.mint(liquidator, market.units("USDC", 50_000)), deployer
    )
    transact(w3, market.token("USDC").functions.approve(pool.address, MAX_UINT), liquidator)
    gas["liquidationCall (EOA inventory)"] = transact(
        w3,
        pool.functions.liquidationCall(
            weth, usdc, borrowers[1].address, market.units("USDC", 5_000), False
        ),
        liquidator,
    )["gasUsed"]

    # Capital-free through the flash liquidator.
    pair = market.pair("WETH", "USDC")
    gas["flash liquidation"] = transact(
        w3,
        market.liquidator.functions.liquidateWithFlashSwap(
            pair.address, weth, usdc, borrowers[2].address, market.units("USDC", 5_000), 0
        ),
        liquidator,
    )["gasUsed"]

    # Inventory held by the liquidator contract, collateral sold on the AMM.
    transact(
        w3,
        market.token("USDC").functions.transfer(
            market.liquidator.address, market.units("USDC", 10_000)
        ),
        liquidator,
    )
    gas["liquidation from contract inventory + swap"] = transact(
        w3,
        market.liquidator.functions.liquidateFromInventoryAndSell(
            pair.address, weth, usdc, borrowers[2].address, market.units("USDC", 2_000), 0
        ),
        liquidator,
    )["gasUsed"]

    # AMM swaps: through the router and directly on the pair.
    transact(
        w3, market.token("USDC").functions.approve(market.router.address, MAX_UINT), liquidator
    )
    gas["AMM swap (router)"] = transact(
        w3,
        market.router.functions.swapExactTokensForTokens(
            market.units("USDC", 1_000), 0, [usdc, weth], liquidator, 2**40
        ),
        liquidator,
    )["gasUsed"]
    reserves = pair.functions.getReserves().call()
    usdc_is_0 = pair.functions.token0().call() == usdc
    amount_in = market.units("USDC", 1_000)
    r_in, r_out = (reserves[0], reserves[1]) if usdc_is_0 else (reserves[1], reserves[0])
    out = get_amount_out(amount_in, r_in, r_out)
    transact(w3, market.token("USDC").functions.transfer(pair.address, amount_in), liquidator)
    gas["AMM swap (pair)"] = transact(
        w3,
        pair.functions.swap(0 if usdc_is_0 else out, out if usdc_is_0 else 0, liquidator, b""),
        liquidator,
    )["gasUsed"]
    return gas


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chain", choices=("anvil", "embedded"), default="anvil")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with chain_w3(args.chain) as w3:
        gas = measure(w3)
    if args.json:
        print(json.dumps({"chain": args.chain, "gas": gas}, indent=2))
        return 0
    table = Table(title=f"Gas used on {args.chain}")
    table.add_column("operation")
    table.add_column("gas", justify="right")
    for name, used in gas.items():
        table.add_row(name, f"{used:,}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
