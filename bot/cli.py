"""The `liqbot` command line."""

from __future__ import annotations

import os
import sys
import time
from decimal import Decimal
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from web3 import Web3

from bot.chain.urls import redact_url

console = Console(stderr=False)
err_console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="liqbot")
def cli() -> None:
    """liqbot: find under-collateralised lending positions and liquidate them at a profit."""


@cli.command()
@click.option("--borrowers", default=24, show_default=True, help="Borrower positions to open.")
@click.option("--seed", default=7, show_default=True, help="Seed for the borrowers' positions.")
def demo(borrowers: int, seed: int) -> None:
    """Deploy the bundled market on an in-process chain (no node, no network) and show it."""
    from bot.chain.embedded import embedded_chain
    from bot.deploy.borrowers import open_positions, plan_borrowers
    from bot.deploy.market import deploy_market

    started = time.perf_counter()
    chain = embedded_chain()
    w3 = chain.w3
    deployer = w3.eth.accounts[0]
    with console.status("deploying the bundled market on eth-tester..."):
        market = deploy_market(w3, deployer)
    with console.status(f"opening {borrowers} borrower positions..."):
        plans = plan_borrowers(market, borrowers, seed=seed)
        accounts = open_positions(market, plans, deployer, seed=seed)

    table = Table(title="Bundled market on the embedded eth-tester chain")
    for column in ("asset", "decimals", "price (USD)", "LTV", "liq. threshold", "bonus", "token"):
        table.add_column(column)
    for symbol, spec in market.specs.items():
        table.add_row(
            symbol,
            str(spec.decimals),
            f"{spec.price_usd:,}",
            f"{spec.ltv / 100:.2f}%",
            f"{spec.liquidation_threshold / 100:.2f}%",
            f"{(spec.liquidation_bonus - 10_000) / 100:.2f}%",
            market.deployment.token(symbol),
        )
    console.print(table)

    positions = Table(title=f"{len(accounts)} borrowers (first 10)")
    for column in ("borrower", "collateral (USD)", "debt (USD)", "health factor"):
        positions.add_column(column, justify="right")
    for account in accounts[:10]:
        data = market.pool.functions.getUserAccountData(account.address).call()
        positions.add_row(
            account.address,
            f"{Decimal(data[0]) / 10**8:,.2f}",
            f"{Decimal(data[1]) / 10**8:,.2f}",
            f"{Decimal(data[5]) / 10**18:.4f}",
        )
    console.print(positions)
    console.print(
        f"deployed at block {market.deployment.deployment_block}, "
        f"chain id {market.deployment.chain_id}, in {time.perf_counter() - started:.1f}s"
    )


@cli.command()
@click.option("--rpc", required=True, help="JSON-RPC URL of the chain (e.g. anvil's).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("deployment.json"),
    show_default=True,
    help="Where to write the deployment file.",
)
@click.option(
    "--chain-id", type=int, default=None, help="Refuse to deploy unless the chain has this id."
)
def deploy(rpc: str, out: Path, chain_id: int | None) -> None:
    """Deploy the bundled market to a chain and write the deployment file.

    The deployer key comes from LIQBOT_DEPLOYER_KEY; without it, the node's first unlocked
    account is used (anvil).
    """
    from eth_account import Account
    from web3.middleware import SignAndSendRawMiddlewareBuilder

    from bot.deploy.market import deploy_market

    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
    try:
        actual_chain_id = w3.eth.chain_id
    except Exception as exc:
        raise click.ClickException(
            f"cannot reach the RPC at {redact_url(rpc)}: {type(exc).__name__}. "
            "Check the URL and that the node runs."
        ) from None
    if chain_id is not None and chain_id != actual_chain_id:
        raise click.ClickException(
            f"the RPC's chain id is {actual_chain_id}, not {chain_id}: refusing to deploy"
        )
    key = os.environ.get("LIQBOT_DEPLOYER_KEY")
    if key:
        try:
            account = Account.from_key(key)
        except Exception:
            raise click.ClickException(
                "LIQBOT_DEPLOYER_KEY is not a valid private key (expected 32 bytes of hex)"
            ) from None
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
        deployer = account.address
    else:
        unlocked = w3.eth.accounts
        if not unlocked:
            raise click.ClickException(
                "no deployer: set LIQBOT_DEPLOYER_KEY, or use a node with unlocked accounts (anvil)"
            )
        deployer = unlocked[0]
    with console.status(f"deploying the bundled market to chain {actual_chain_id}..."):
        market = deploy_market(w3, deployer)
    market.deployment.save(out)
    console.print(f"deployed; wrote {out} (pool {market.deployment.pool})")


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
