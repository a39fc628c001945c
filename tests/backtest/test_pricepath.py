"""``--price-csv``: the real ETH/USD path across 2021-05-19 through the model, and the book it
runs on."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.backtest import REASONS, BacktestConfig, PricePathConfig, run_price_path, sweep
from bot.backtest.pricepath import load_price_path, synthetic_book
from bot.deploy.market import DEFAULT_ASSETS
from bot.record.schema import RecordingError

REAL = (
    Path(__file__).resolve().parents[2].parent
    / "shared/data/real/oracle/rai_fsm_eth_usd/states.csv"
)
MAY_19 = PricePathConfig(from_block=12_461_000, to_block=12_468_200, borrowers=300)

needs_real_data = pytest.mark.skipif(not REAL.exists(), reason="the real data set is not here")


@needs_real_data
def test_the_real_path_loads() -> None:
    points = load_price_path(REAL)
    assert len(points) > 2_000
    assert [p.block for p in points] == sorted({p.block for p in points})
    window = load_price_path(REAL, MAY_19)
    assert window[0].price == 345_138_673_080  # 3,451.3867308 at block 12,461,521
    low = min(window, key=lambda p: p.price)
    assert (low.block, low.price) == (12_465_292, 209_079_435_153)


@needs_real_data
def test_the_bot_on_may_19() -> None:
    result = run_price_path(REAL, BacktestConfig(price_path=MAY_19))
    s = result.summary
    assert result.mode == "price-path"
    assert s.accounts == 300
    assert s.liquidations_on_chain == 0  # no competitor in this mode
    assert s.opportunities > 50
    assert s.bot_liquidations > 30
    assert s.expected_profit_usd > 0
    assert set(s.missed_by_reason) <= set(REASONS)
    assert s.taken + s.missed == s.opportunities
    assert any("synthetic" in a for a in result.assumptions)
    # reproducible
    again = run_price_path(REAL, BacktestConfig(price_path=MAY_19))
    assert again.summary.expected_profit_usd == s.expected_profit_usd


@needs_real_data
def test_a_sweep_on_the_price_path() -> None:
    small = PricePathConfig(from_block=12_464_000, to_block=12_466_000, borrowers=120)
    rows = sweep(
        REAL,
        BacktestConfig(price_path=small),
        {"min_profit_usd": ["0", "2000"], "profit_share_bps": [1000, 5000]},
    )
    assert len(rows) == 4
    by = {(r["min_profit_usd"], r["profit_share_bps"]): r for r in rows}
    assert by[("2000", 1000)]["bot_liquidations"] <= by[("0", 1000)]["bot_liquidations"]
    # a bigger tip share pays more gas for the same liquidations
    assert by[("0", 5000)]["expected_profit_usd"] < by[("0", 1000)]["expected_profit_usd"]


def test_the_book_is_documented_and_reproducible() -> None:
    config = PricePathConfig(borrowers=500, seed=9)
    specs = {s.symbol: s for s in DEFAULT_ASSETS}
    book = synthetic_book(config, 3_000 * 10**8, specs)
    assert book == synthetic_book(config, 3_000 * 10**8, specs)
    assert len({b.user for b in book}) == 500
    healths = [b.health for b in book]
    assert min(healths) >= float(config.health_min) and max(healths) <= float(config.health_max)
    usdc = sum(b.debt_symbol == "USDC" for b in book) / len(book)
    assert abs(usdc - float(config.usdc_share)) < 0.08


def test_a_small_csv(tmp_path: Path) -> None:
    csv = tmp_path / "path.csv"
    rows = ["block_number,block_timestamp,ETH Price (OSM)"]
    prices = ["3000", "2900", "", "2400", "2300", "2600"]
    for i, price in enumerate(prices):
        rows.append(f"{100 + 300 * i},{1_600_000_000 + 3600 * i},{price}")
    csv.write_text("\n".join(rows) + "\n")
    points = load_price_path(csv)
    assert [p.price for p in points] == [int(Decimal(p) * 10**8) for p in prices if p]
    keep = tmp_path / "kept.sqlite"
    config = BacktestConfig(price_path=PricePathConfig(borrowers=80, seed=1))
    result = run_price_path(csv, config, keep=keep)
    assert keep.exists() and result.info["recording"] == str(keep)
    assert result.summary.bot_liquidations > 0
    assert result.series.prices["WETH"][0][1] == 3000.0


def test_a_csv_without_the_column_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("block,price\n1,2\n")
    with pytest.raises(ValueError, match="no column 'block_number'"):
        load_price_path(csv)


def test_a_recording_that_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    path.write_bytes(b"not sqlite at all" * 100)
    from bot.backtest import run_backtest

    with pytest.raises(RecordingError):
        run_backtest(path)
