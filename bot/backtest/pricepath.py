"""``--price-csv``: a real price series through the model, on a documented synthetic book.

No chain and no recording of one: the price path (for example the real ETH/USD series across
the 2021-05-19 crash in ``data/real/oracle/rai_fsm_eth_usd/states.csv``) drives the WETH
oracle of a market with the bundled protocol's parameters, and a book of borrowers generated
from a seed borrows against it. The run is written as an ordinary recording
(:mod:`bot.backtest.synthetic`) and backtested by the same engine, so everything the engine
reports means the same thing in both modes.

The book (all of it configurable in :class:`~bot.backtest.config.PricePathConfig`):

- ``borrowers`` accounts, each supplying WETH only and owing one stablecoin, USDC for a share
  ``usdc_share`` of them and DAI for the rest;
- collateral value log-uniform between ``collateral_min_usd`` and ``collateral_max_usd``,
  health factor log-uniform between ``health_min`` and ``health_max``, both at the price of
  the window's first row (the debt follows: ``collateral * threshold / health``, and never
  more than the LTV allows);
- WETH/USDC and WETH/DAI pairs with ``*_depth_usd`` on each side, arbitraged back to the
  oracle price at every price update by one router swap that pays the pair's 0.3% fee
  (:func:`bot.model.amm.arbitrage_swap`, the trade ``liqbot reenact``'s arbitrageur sends);
  the engine plays the same rule on its own pairs after the bot's flash swaps
  (``BacktestConfig.amm``, reactive for a price path), so their fees stay in the pairs;
- reserves at the bundled parameters (thresholds, bonuses, rate curves), at 50% utilisation;
- one block per CSV row carrying the new price, followed by ``blocks_per_row`` blocks (up to
  the next row) at ``block_time`` seconds in which the price holds and the bot keeps
  liquidating; every block has the same base fee ``base_fee_gwei`` and is half full (the
  EIP-1559 target), so the bot's next-base-fee prediction from the parent header is exact;
- the bot is the only liquidator: what it does not take stays liquidatable, and what falls
  under water is reported as bad debt.
"""

from __future__ import annotations

import csv
import math
import random
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from bot.backtest.config import BacktestConfig, PricePathConfig
from bot.backtest.engine import BacktestResult, run_engines
from bot.backtest.synthetic import SyntheticPair, SyntheticRecording
from bot.chain.rpc import checksum_address
from bot.deploy.market import DEFAULT_ASSETS, AssetSpec

BASE_UNIT = 10**8


@dataclass(frozen=True)
class PricePoint:
    block: int
    timestamp: int
    price: int
    """Oracle answer, 8 decimals."""


def _timestamp(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def load_price_path(path: Path, config: PricePathConfig | None = None) -> list[PricePoint]:
    """The CSV's (block, time, price) rows inside the window, by block, one per block."""
    config = config or PricePathConfig()
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        for column in (config.block_column, config.time_column, config.price_column):
            if column not in columns:
                raise ValueError(
                    f"{path}: no column {column!r} (columns: {', '.join(c for c in columns if c)})"
                )
        points: dict[int, PricePoint] = {}
        for row in reader:
            try:
                block = int(row[config.block_column])
                price = Decimal(row[config.price_column])
                stamp = _timestamp(row[config.time_column])
            except (ValueError, InvalidOperation, TypeError):
                continue  # a blank or malformed row
            if price <= 0:
                continue
            if config.from_block is not None and block < config.from_block:
                continue
            if config.to_block is not None and block > config.to_block:
                continue
            points[block] = PricePoint(block, stamp, int(price * BASE_UNIT))
    out = [points[b] for b in sorted(points)]
    if len(out) < 2:
        raise ValueError(f"{path}: fewer than two usable price rows in the window")
    return out


@dataclass(frozen=True)
class Borrower:
    user: str
    collateral_weth: int
    debt_symbol: str
    debt: int
    health: float


def synthetic_book(
    config: PricePathConfig, weth_price: int, specs: dict[str, AssetSpec]
) -> list[Borrower]:
    """The documented book (see the module docstring), reproducible from ``config.seed``."""
    rng = random.Random(config.seed)
    weth = specs["WETH"]
    lo_c, hi_c = math.log(config.collateral_min_usd), math.log(config.collateral_max_usd)
    lo_h, hi_h = math.log(config.health_min), math.log(config.health_max)
    # Never more than the LTV allows (with a hair to spare): the pool would refuse it.
    floor = weth.liquidation_threshold / (weth.ltv * 0.999)
    out: list[Borrower] = []
    for i in range(config.borrowers):
        collateral_usd = math.exp(rng.uniform(lo_c, hi_c))
        health = max(math.exp(rng.uniform(lo_h, hi_h)), floor)
        symbol = "USDC" if rng.random() < float(config.usdc_share) else "DAI"
        debt_usd = collateral_usd * weth.liquidation_threshold / 10_000 / health
        user = checksum_address(
            "0x" + keccak(f"liqbot price-path borrower {config.seed} {i}".encode())[-20:].hex()
        )
        collateral = int(collateral_usd * BASE_UNIT) * 10**weth.decimals // weth_price
        debt = int(debt_usd * 10 ** specs[symbol].decimals)
        out.append(Borrower(user, collateral, symbol, debt, health))
    return out


def price_path_specs(points: list[PricePoint]) -> dict[str, AssetSpec]:
    """The three reserves of a price-path market, priced at the window's first row."""
    specs = {s.symbol: s for s in DEFAULT_ASSETS if s.symbol in ("WETH", "USDC", "DAI")}
    prices = {"WETH": points[0].price, "USDC": BASE_UNIT, "DAI": BASE_UNIT}
    return {s: replace(spec, price_usd=Decimal(prices[s]) / BASE_UNIT) for s, spec in specs.items()}


@dataclass(frozen=True)
class PathBlock:
    """One block of a price-path run: its number, time and the WETH price it publishes."""

    number: int
    timestamp: int
    new_price: int | None
    """The oracle answer published in this block (8 decimals), None when the price holds."""
    price: int
    """The price in force in this block."""


def price_path_blocks(
    points: list[PricePoint], config: BacktestConfig, *, latency: int | None = None
) -> list[PathBlock]:
    """The blocks a price-path run is made of (shared by the backtest and ``liqbot reenact``,
    so that both replay the same schedule): one block per CSV row carrying its price, then up
    to ``blocks_per_row`` blocks (never past the next row) in which it holds."""
    pp = config.price_path
    follow = max(pp.blocks_per_row, 2 * (latency or config.latency_blocks) + 1)
    out: list[PathBlock] = []
    last_price = points[0].price
    for i, point in enumerate(points):
        end = points[i + 1].block if i + 1 < len(points) else point.block + follow + 1
        for j in range(follow + 1):
            number = point.block + j
            if number >= end:
                break
            new = point.price if j == 0 and point.price != last_price else None
            if new is not None:
                last_price = new
            out.append(PathBlock(number, point.timestamp + j * pp.block_time, new, last_price))
    return out


def write_price_path_recording(
    csv_path: Path, config: BacktestConfig, out: Path, *, latency: int | None = None
) -> Path:
    """The price path and the synthetic book, written as a recording at ``out``."""
    pp = config.price_path
    points = load_price_path(csv_path, pp)
    specs = price_path_specs(points)
    prices = {"WETH": points[0].price, "USDC": BASE_UNIT, "DAI": BASE_UNIT}
    rec = SyntheticRecording(
        out,
        list(specs.values()),
        [
            SyntheticPair("WETH", "USDC", int(pp.weth_usdc_depth_usd)),
            SyntheticPair("WETH", "DAI", int(pp.weth_dai_depth_usd)),
        ],
        prices=prices,
        base_block=points[0].block - 1,
        base_timestamp=points[0].timestamp - pp.block_time,
        kind="price-path",
        extra_meta={"price_csv": str(csv_path), "price_path": _plain(asdict(pp))},
    )
    for b in synthetic_book(pp, points[0].price, specs):
        rec.open_account(b.user, {"WETH": b.collateral_weth}, {b.debt_symbol: b.debt})
    base_fee = int(pp.base_fee_gwei * 10**9)
    for block in price_path_blocks(points, config, latency=latency):
        rec.block(block.number, block.timestamp, base_fee)
        if block.new_price is not None:
            rec.set_price("WETH", block.new_price)
            rec.arbitrage()
    return rec.close()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    return value


def run_price_paths(
    csv_path: Path, configs: list[BacktestConfig], *, keep: Path | None = None
) -> list[BacktestResult]:
    """Several configurations over one synthetic run (they share its price-path settings)."""
    if not configs:
        return []
    latency = max(c.latency_blocks for c in configs)
    with tempfile.TemporaryDirectory(prefix="liqbot-price-path-") as tmp:
        path = keep or Path(tmp) / "price-path.sqlite"
        write_price_path_recording(csv_path, configs[0], path, latency=latency)
        results = run_engines(path, configs)
    for result in results:
        result.source = str(csv_path)
        result.mode = "price-path"
        result.info["price_path"] = _plain(asdict(configs[0].price_path))
        if keep is not None:
            result.info["recording"] = str(keep)
    return results


def run_price_path(
    csv_path: Path, config: BacktestConfig | None = None, *, keep: Path | None = None
) -> BacktestResult:
    """Backtest the bot on a price series (``liqbot backtest --price-csv FILE``).

    ``keep`` writes the synthetic recording there (to query it) instead of a temporary file.
    """
    return run_price_paths(csv_path, [config or BacktestConfig()], keep=keep)[0]
