"""The `liqbot` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table
from web3 import Web3

from bot.chain.urls import redact_url

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.deploy.market import Market
    from bot.run.demo import DemoResult

console = Console(stderr=False)
err_console = Console(stderr=True)


@contextmanager
def progress_bar(
    where: Console, *, disable: bool = False
) -> Iterator[Callable[[str, int, int], None]]:
    """A transient bar for long work; yields the ``progress(what, done, total)`` callback
    that the demo and the re-enactment report through."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=where,
        transient=True,
        disable=disable,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield progress


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="liqbot")
def cli() -> None:
    """liqbot: find under-collateralised lending positions and liquidate them at a profit."""


@cli.command()
@click.option("--borrowers", default=30, show_default=True, help="Borrower positions to open.")
@click.option("--seed", default=7, show_default=True, help="Seed for the borrowers' positions.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--auctions",
    is_flag=True,
    help="The auction keeper instead: vaults, a crash, Dutch auctions (--borrowers = vaults).",
)
def demo(borrowers: int, seed: int, as_json: bool, auctions: bool) -> None:
    """The whole bot against a market crash on an in-process chain (no node, no network)."""
    import json

    from bot.run.demo import run_demo

    if auctions:
        _auction_demo(borrowers, seed, as_json)
        return
    if as_json:
        result = run_demo(borrowers=borrowers, seed=seed)
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    with progress_bar(console) as progress:
        result = run_demo(borrowers=borrowers, seed=seed, progress=progress)
    print_demo(result)


def _auction_demo(vaults: int, seed: int, as_json: bool) -> None:
    """`liqbot demo --auctions`: the keeper's run, then its auctions read back from the chain."""
    from bot.run.auction_demo import run_auction_demo

    if as_json:
        click.echo(json.dumps(run_auction_demo(vaults=vaults, seed=seed).as_json(), indent=2))
        return
    with console.status("auction demo: deploying, opening vaults, crashing, keeping"):
        result = run_auction_demo(vaults=vaults, seed=seed)
    table = Table(title="Auctions (stablecoin; profit after the keeper's gas)")
    for name in ("ilk", "id", "vault owner", "lot", "tab", "takes", "paid", "profit"):
        table.add_column(name, justify="left" if name in ("ilk", "vault owner") else "right")
    for r in result.rows:
        table.add_row(
            r.ilk,
            str(r.auction_id),
            r.owner[:10] + "…",
            f"{r.lot:.4f}",
            f"{r.tab:,.0f}",
            str(r.takes),
            f"{r.paid:,.0f}",
            f"{r.profit:,.2f}",
        )
    console.print(table)
    reasons = Table(title="Left alone in a block, and why (counts over all blocks)")
    reasons.add_column("reason")
    reasons.add_column("times", justify="right")
    for reason, count in result.reasons.items():
        reasons.add_row(reason, str(count))
    console.print(reasons)
    console.print(
        f"{result.barks} barks of {result.vaults} vaults, {result.takes} takes, {result.redos} "
        f"redos over {result.rounds} rounds; keeper rewards {result.rewards:,.2f}, take profit "
        f"{result.take_profit:,.2f}, gas {result.gas:,.2f}: profit {result.profit:,.2f} LUSD; "
        f"{result.reverted} reverted; {result.left_unsafe} vaults left unsafe; "
        f"{result.running} auctions running; {result.seconds:.0f}s"
    )


def _places(symbol: str) -> int:
    return 4 if symbol in ("WETH", "WBTC") else 0


def print_demo(result: DemoResult) -> None:
    eth = Decimal(10**18)
    table = Table(title=f"Liquidations (gas and profit in {result.numeraire})", show_footer=True)
    table.add_column("block")
    table.add_column("borrower", no_wrap=True)
    table.add_column("path")
    table.add_column("debt repaid", justify="right", no_wrap=True)
    table.add_column("collateral seized", justify="right", no_wrap=True)
    table.add_column("gas", justify="right", footer=f"{Decimal(result.gas_paid_wei) / eth:.5f}")
    table.add_column("profit", justify="right", footer=f"{Decimal(result.profit_wei) / eth:.5f}")
    for row in result.liquidations:
        table.add_row(
            str(row.block),
            row.user[:8] + "…",
            row.path,
            f"{row.debt_repaid:,.{_places(row.debt)}f} {row.debt}",
            f"{row.collateral_seized:,.{_places(row.collateral)}f} {row.collateral}",
            f"{Decimal(row.gas_paid_wei) / eth:.5f}",
            f"{Decimal(row.profit_native_wei) / eth:.5f}",
        )
    console.print(table)
    if result.left:
        left = Table(title="Still liquidatable at the end, and why")
        left.add_column("borrower")
        left.add_column("health", justify="right")
        left.add_column("reason")
        for x in result.left:
            left.add_row(x.user[:10] + "…", f"{Decimal(x.health_factor) / eth:.4f}", x.reason)
        console.print(left)
    if result.bad_debt:
        bad = Table(title="Bad debt written off (socialised across suppliers)")
        bad.add_column("borrower")
        bad.add_column("amount", justify="right")
        for user, symbol, amount in result.bad_debt:
            bad.add_row(user[:10] + "…", f"{amount:,.4f} {symbol}")
        console.print(bad)
    console.print(
        f"{len(result.liquidations)} liquidations of {result.borrowers} borrowers over "
        f"{result.blocks} blocks; profit {Decimal(result.profit_wei) / eth:.5f} "
        f"{result.numeraire} after {Decimal(result.gas_paid_wei) / eth:.5f} {result.numeraire} "
        f"of gas; {result.reverted} reverted; {len(result.left)} left liquidatable; "
        f"{len(result.bad_debt)} bad-debt write-offs; {result.seconds:.0f}s"
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
@click.option(
    "--auctions",
    is_flag=True,
    help="Also deploy the vault engine and its auctions; --out gets the auction deployment "
    "(for `liqbot keeper`), the market's goes beside it as *.market.json.",
)
@click.option(
    "--taker-owner",
    default=None,
    help="With --auctions: the keeper's address, owner of the AuctionTaker (default: deployer).",
)
def deploy(
    rpc: str, out: Path, chain_id: int | None, auctions: bool, taker_owner: str | None
) -> None:
    """Deploy the bundled market to a chain and write the deployment file.

    The deployer key comes from LIQBOT_DEPLOYER_KEY; without it, the node's first unlocked
    account is used (anvil).
    """
    from eth_account import Account
    from web3.middleware import SignAndSendRawMiddlewareBuilder

    from bot.deploy.market import deploy_market

    if taker_owner is not None and not (auctions and Web3.is_address(taker_owner)):
        raise click.ClickException(
            f"--taker-owner {taker_owner!r}: needs --auctions and a 0x-prefixed address"
        )
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
    if not auctions:
        market.deployment.save(out)
        console.print(f"deployed; wrote {out} (pool {market.deployment.pool})")
        return
    from bot.deploy.auctions import deploy_auction_market

    owner = Web3.to_checksum_address(taker_owner) if taker_owner else None
    with console.status("deploying the vault engine and its auctions..."):
        am = deploy_auction_market(w3, deployer, market, taker_owner=owner)
    market_out = out.with_suffix(".market.json")
    market.deployment.save(market_out)
    am.deployment.save(out)
    console.print(
        f"deployed; wrote {out} (liquidator {am.deployment.liquidator}, taker owned by "
        f"{am.deployment.taker_owner}) and {market_out}"
    )


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML configuration (LIQBOT_* environment variables override it).",
)


def _settings(config: Path | None) -> Settings:
    from bot.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _live_settings(config_path: Path | None, rpc: str | None) -> Settings:
    """Settings for a long-running command (`run`, `keeper`), with logging set up from them;
    ``--rpc`` overrides ``chain.rpc_urls``."""
    from bot.observe.logs import setup_logging

    if rpc is not None:
        os.environ["LIQBOT_CHAIN__RPC_URLS"] = json.dumps([rpc])
    settings = _settings(config_path)
    setup_logging(settings.observe.log_format, settings.observe.log_level)
    logging.getLogger("urllib3").setLevel(logging.INFO)  # its DEBUG lines carry URL paths
    return settings


@cli.command()
@config_option
@click.option("--rpc", default=None, help="JSON-RPC URL (overrides chain.rpc_urls).")
def run(config_path: Path | None, rpc: str | None) -> None:
    """Run the bot against a chain until SIGINT/SIGTERM."""
    from bot.run import live

    settings = _live_settings(config_path, rpc)
    try:
        sys.exit(live.run(settings))
    except live.StartupError as exc:
        raise click.ClickException(f"not started: {exc}") from None


@cli.command()
@config_option
@click.option("--rpc", default=None, help="JSON-RPC URL (overrides chain.rpc_urls).")
def keeper(config_path: Path | None, rpc: str | None) -> None:
    """Run the auction keeper (bark, take, redo, bid) until SIGINT/SIGTERM.

    chain.deployment must be the file `liqbot deploy --auctions` writes; the [auctions]
    section sets the keeper's model of rivals and its minimum profit.
    """
    from bot.run import keeper_live, live

    settings = _live_settings(config_path, rpc)
    try:
        sys.exit(keeper_live.run_keeper(settings))
    except live.StartupError as exc:
        raise click.ClickException(f"not started: {exc}") from None


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--limit", default=20, show_default=True, help="Positions at risk to show.")
def status(config_path: Path | None, as_json: bool, limit: int) -> None:
    """Positions at risk, balances, pending transactions and PnL (read-only)."""
    from bot.run import live
    from bot.run.status import collect

    settings = _settings(config_path)
    try:
        report = collect(settings, limit=limit)
    except live.StartupError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    table = Table(title=f"Positions at risk at block {report.block} (profit in {report.numeraire})")
    for column in ("borrower", "health", "collateral $", "debt $", "best liquidation", "profit"):
        table.add_column(column, justify="right" if column != "best liquidation" else "left")
    for row in report.at_risk:
        best = row["best"]
        what = (
            "blocked: " + ", ".join(row["blocked_by"])
            if row["blocked_by"]
            else (f"{best['path']} {best['collateral']}/{best['debt']}" if best else "none pays")
        )
        table.add_row(
            row["user"][:10] + "…",
            f"{Decimal(row['health_factor']):.4f}",
            f"{Decimal(row['collateral_usd']):,.0f}",
            f"{Decimal(row['debt_usd']):,.0f}",
            what,
            f"{Decimal(best['expected_profit']):.5f}" if best else "",
        )
    console.print(table)
    balances = Table(title="Balances")
    balances.add_column("what")
    balances.add_column("amount", justify="right")
    for name, value in report.balances.items():
        balances.add_row(name, value)
    console.print(balances)
    console.print(f"pending transactions: {len(report.pending)}")
    for item in report.pending:
        console.print(f"  {item['state']:<8} nonce {item['nonce']}  {item['key']}")
    pnl = report.pnl
    console.print(
        f"PnL: {pnl['liquidations']} liquidations; gas paid "
        f"{Decimal(pnl['gas_paid_wei']) / 10**18:.5f} ETH (burnt on failures "
        f"{Decimal(pnl['gas_burnt_wei']) / 10**18:.5f}); realised {pnl['realised'] or 'nothing'}"
    )


@cli.command()
@click.option("--rpc", required=True, help="JSON-RPC URL of a chain you control (anvil).")
@click.option(
    "--deployment",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("deployment.json"),
    show_default=True,
)
@click.option(
    "--prices",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    default=None,
    help="CSV of timestamped ETH/USD prices (default: the built-in crash).",
)
@click.option("--every", default=1, show_default=True, help="Use every Nth row of the CSV.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between steps.")
@click.option("--borrowers", default=0, show_default=True, help="Open this many borrowers first.")
@click.option("--competitor/--no-competitor", default=False, help="A rival liquidator too.")
def scenario(
    rpc: str,
    deployment: Path,
    prices: Path | None,
    every: int,
    interval: float,
    borrowers: int,
    competitor: bool,
) -> None:
    """Drive the bundled market on anvil: borrowers, a price path, arbitrage, a rival."""
    import time as _time

    from bot.deploy.borrowers import open_positions, plan_borrowers
    from bot.deploy.market import Deployment, bind_market
    from bot.run.scenario import CRASH, Competitor, MarketDriver, price_steps_from_csv

    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
    try:
        dep = Deployment.load(deployment)
    except FileNotFoundError:
        raise click.ClickException(
            f"{deployment} does not exist: run `liqbot deploy` first"
        ) from None
    if w3.eth.chain_id != dep.chain_id:
        raise click.ClickException(f"{deployment} is for chain {dep.chain_id}, the RPC is not")
    market = bind_market(w3, dep)
    operator = dep.deployer
    if borrowers:
        plans = plan_borrowers(market, borrowers, seed=11, health_range=(1.03, 1.4))
        open_positions(market, plans, operator, seed=11)
        console.print(f"opened {borrowers} borrower positions")
    path = price_steps_from_csv(prices, every=every) if prices else list(CRASH)
    rival = Competitor(market, list(w3.eth.accounts)[2], operator) if competitor else None
    if rival is not None:
        rival.fund()
    driver = MarketDriver(market, operator)
    for i, step in enumerate(driver.steps(path), start=1):
        shown = ", ".join(f"{k} {v}" for k, v in step.prices.items())
        console.print(f"step {i}/{len(path)}: {shown}")
        if rival is not None:
            for user in _liquidatable(market):
                rival.liquidate(user, "WETH", "USDC")
        _time.sleep(interval)
    console.print(f"scenario done ({rival.liquidations if rival else 0} rival liquidations)")


def _liquidatable(market: Market) -> list[str]:
    """Borrowers below health 1, from the pool's Borrow events (a rival's simple scan)."""
    users = {
        log["args"]["onBehalfOf"]
        for log in market.pool.events.Borrow().get_logs(
            from_block=market.deployment.deployment_block
        )
    }
    return [u for u in users if market.pool.functions.getUserAccountData(u).call()[5] < 10**18]


@cli.command()
@click.option("--rpc", "rpc_urls", required=True, multiple=True, help="JSON-RPC URL(s).")
@click.option(
    "--deployment",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    default=Path("deployment.json"),
    show_default=True,
)
@click.option("--from", "first", type=int, required=True, help="First block to record.")
@click.option("--to", "last", type=int, required=True, help="Last block to record.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--checkpoint-every", default=1000, show_default=True, help="Blocks per checkpoint.")
def record(
    rpc_urls: tuple[str, ...],
    deployment: Path,
    first: int,
    last: int,
    out: Path,
    checkpoint_every: int,
) -> None:
    """Record blocks, logs and state checkpoints into SQLite (resumable)."""
    from bot.chain.rpc import RpcFailure
    from bot.record import RecordingError
    from bot.record import record as record_blocks

    try:
        summary = record_blocks(
            list(rpc_urls), deployment, first, last, out, checkpoint_every=checkpoint_every
        )
    except (RecordingError, RpcFailure, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    console.print(summary)


@cli.command()
@click.argument(
    "recording", required=False, type=click.Path(dir_okay=False, path_type=Path, exists=True)
)
@click.option(
    "--price-csv",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    default=None,
    help="Replay a CSV price path over a documented book of borrowers instead.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    default=None,
    help="TOML with a [backtest] table (assumptions).",
)
@click.option("--sweep", "grid", default=None, help='e.g. "min_profit_usd=0,50;latency_blocks=1,2"')
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--report-html", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def backtest(
    recording: Path | None,
    price_csv: Path | None,
    config_path: Path | None,
    grid: str | None,
    report_json: Path | None,
    report_html: Path | None,
    as_json: bool,
) -> None:
    """What the bot would have done over recorded blocks (or a price path), and what it missed."""
    import dataclasses

    from bot import backtest as bt
    from bot.model.gas import DEFAULT_GAS
    from bot.run.gas import LearningGasTable

    source = price_csv or recording
    if source is None:
        raise click.UsageError("give a recording (FILE.sqlite) or --price-csv FILE.csv")
    try:
        config = bt.load_config(config_path)
        if dict(config.gas) == dict(DEFAULT_GAS):  # not set by the operator: measured gas
            config = dataclasses.replace(config, gas=dict(LearningGasTable.calibrated().table.gas))
        if price_csv is not None:
            result = bt.run_price_path(price_csv, config)
        else:
            assert recording is not None
            result = bt.run_backtest(recording, config)
        rows = bt.sweep(source, config, bt.parse_grid(grid)) if grid else None
    except (bt.BacktestConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if rows is not None:
        result.sweep = rows
    if report_json or report_html:
        bt.write_report(result, report_json, report_html)
    if as_json:
        click.echo(json.dumps(bt.result_to_json(result), indent=2, default=str))
        return
    console.print(bt.summary_table(result))
    if rows:
        console.print(bt.sweep_table(rows))


@cli.command()
@click.option(
    "--price-csv",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    default=None,
    help="A CSV price path (e.g. data/real/oracle/rai_fsm_eth_usd/states.csv).",
)
@click.option(
    "--recording",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    default=None,
    help="Take the WETH price path from a recording (FILE.sqlite) instead.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    default=None,
    help="TOML with a [backtest] table (assumptions), as for `liqbot backtest`.",
)
@click.option("--from", "from_block", type=int, default=None, help="First CSV block of the window.")
@click.option("--to", "to_block", type=int, default=None, help="Last CSV block of the window.")
@click.option("--rows", type=int, default=None, help="At most this many price rows.")
@click.option("--every", type=int, default=1, show_default=True, help="Every N-th price row.")
@click.option("--accounts", type=int, default=200, show_default=True, help="Borrowers in the book.")
@click.option(
    "--blocks-per-row",
    type=int,
    default=10,
    show_default=True,
    help="Blocks after each price row in which the price holds (both runs).",
)
@click.option("--rpc", default=None, help="An anvil of yours (run with --order fifo).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reenact-out"),
    show_default=True,
    help="Directory for reenact.json, backtest.json/.html and both recordings.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def reenact(
    price_csv: Path | None,
    recording: Path | None,
    config_path: Path | None,
    from_block: int | None,
    to_block: int | None,
    rows: int | None,
    every: int,
    accounts: int,
    blocks_per_row: int,
    rpc: str | None,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Replay a price path on anvil with the live bot, and hold it to the backtest."""
    import dataclasses

    from bot import backtest as bt
    from bot.model.gas import DEFAULT_GAS
    from bot.run import reenact as re
    from bot.run.gas import LearningGasTable

    if (price_csv is None) == (recording is None):
        raise click.UsageError("give --price-csv FILE.csv or --recording FILE.sqlite (one)")
    if accounts < 1 or blocks_per_row < 1:
        raise click.UsageError("--accounts and --blocks-per-row must be at least 1")
    try:
        config = bt.load_config(config_path)
        if dict(config.gas) == dict(DEFAULT_GAS):  # not set by the operator: measured gas
            config = dataclasses.replace(config, gas=dict(LearningGasTable.calibrated().table.gas))
        out_dir.mkdir(parents=True, exist_ok=True)
        if recording is not None:
            price_csv = re.price_csv_from_recording(recording, out_dir / "recording-path.csv")
            default = bt.PricePathConfig()  # the columns that CSV is written with
            pp = dataclasses.replace(
                config.price_path,
                price_column=default.price_column,
                block_column=default.block_column,
                time_column=default.time_column,
            )
        else:
            pp = config.price_path
        assert price_csv is not None
        pp = dataclasses.replace(
            pp,
            from_block=pp.from_block if from_block is None else from_block,
            to_block=pp.to_block if to_block is None else to_block,
            borrowers=accounts,
            blocks_per_row=blocks_per_row,
        )
        if recording is None:
            pp = re.default_window(price_csv, pp)
        path = re.slice_price_csv(price_csv, out_dir / "price-path.csv", pp, rows=rows, every=every)
        config = dataclasses.replace(config, price_path=pp)
        with progress_bar(err_console, disable=as_json) as progress:
            result = re.reenact(path, config, out_dir, rpc_url=rpc, progress=progress)
    except (bt.BacktestConfigError, re.ReenactError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, default=str))
        return
    console.print(re.summary_table(result))
    if result.disagreements:
        console.print(re.disagreement_table(result))
    console.print(f"wrote {out_dir / 'reenact.json'} and the backtest's report beside it")


@cli.command("backtest-auctions")
@click.option(
    "--price-csv",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    required=True,
    help="Collateral (ETH) price path, same columns as `liqbot backtest --price-csv`.",
)
@click.option("--from-block", type=int, default=None, help="First CSV row (by block).")
@click.option("--to-block", type=int, default=None, help="Last CSV row (by block).")
@click.option("--vaults", default=200, show_default=True, help="Vaults in the synthetic book.")
@click.option("--seed", default=2021, show_default=True)
@click.option(
    "--threshold-bps",
    default=10_000,
    show_default=True,
    help="Rivals take once the auction price is at most this share of the market price.",
)
@click.option(
    "--take-probability-bps",
    default=5_000,
    show_default=True,
    help="Chance that a rival takes, per price step, below that threshold.",
)
@click.option("--gas-price-gwei", default=50, show_default=True)
@click.option("--no-wait", is_flag=True, help="Take as soon as a take pays (no wait model).")
@click.option(
    "--lookahead-steps",
    default=3,
    show_default=True,
    type=click.IntRange(1, 10),
    help="Price steps the wait-vs-take decision looks ahead.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def backtest_auctions(
    price_csv: Path,
    from_block: int | None,
    to_block: int | None,
    vaults: int,
    seed: int,
    threshold_bps: int,
    take_probability_bps: int,
    gas_price_gwei: int,
    no_wait: bool,
    lookahead_steps: int,
    as_json: bool,
) -> None:
    """The auction keeper's decisions over a price path, against a model of rivals."""
    from bot.backtest.auctions import AuctionBacktestConfig, run_auction_price_path
    from bot.backtest.config import PricePathConfig
    from bot.model.auction import CompetitorModel

    try:
        config = AuctionBacktestConfig(
            vaults=vaults,
            seed=seed,
            competitors=CompetitorModel(threshold_bps, take_probability_bps),
            gas_price_gwei=gas_price_gwei,
            keeper_waits=not no_wait,
            lookahead_steps=lookahead_steps,
            price_path=PricePathConfig(from_block=from_block, to_block=to_block),
        )
        result = run_auction_price_path(price_csv, config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    data = result.as_json()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title="Auction keeper backtest (stablecoin)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if key != "auctions":
            table.add_row(key.replace("_", " "), str(value))
    console.print(table)


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
