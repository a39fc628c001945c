"""The auction keeper's backtest: a pure replay of a price path, block by block, against a
model of rivals (bot.backtest.auctions), on a synthetic path and on the real ETH crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.backtest.auctions import (
    AuctionBacktestConfig,
    TakeObservation,
    fit_competitors,
    observations_from_logs,
    run_auction_backtest,
    run_auction_price_path,
)
from bot.backtest.config import PricePathConfig
from bot.cli import cli
from bot.model.auction import RAY, CompetitorModel

REAL = Path(__file__).resolve().parents[3] / "shared/data/real/oracle/rai_fsm_eth_usd/states.csv"
needs_real_data = pytest.mark.skipif(not REAL.exists(), reason="the real data set is not here")
MAY_19 = PricePathConfig(from_block=12_461_000, to_block=12_468_200)


def crash_path(blocks: int = 900) -> list[tuple[int, int, int]]:
    """3,000 USD falling to 1,800 over the first 300 blocks of 13 s, then flat."""
    out = []
    for n in range(1, blocks + 1):
        price = 3_000 * 10**8 - min(n, 300) * 4 * 10**8
        out.append((n, 1_600_000_000 + 13 * n, price))
    return out


def test_synthetic_crash_no_rivals_every_auction_is_the_keepers() -> None:
    config = AuctionBacktestConfig(
        vaults=80, competitors=CompetitorModel(0, 0), gas_price_gwei=0, lookahead_steps=1
    )
    result = run_auction_backtest(crash_path(), config)
    assert result.unsafe_ever > 20
    assert result.barks >= result.unsafe_ever
    assert result.left_unsafe == 0  # free gas: every unsafe vault was worth barking
    assert result.running_at_end == 0
    assert result.rival_takes == 0
    assert all(a.keeper_takes > 0 and not a.rival for a in result.auctions)
    assert result.keeper_profit > 0
    again = run_auction_backtest(crash_path(), config)
    assert again.as_json() == result.as_json()  # deterministic


def test_the_wait_rule_beats_taking_at_once_when_it_knows_the_rivals() -> None:
    """Keeper's model = simulated rivals (same dice for both policies): waiting by expected
    value earns at least what taking as soon as a take pays does, and more when rivals are
    slow; with certain rivals it never waits in a block where a rival may still take."""
    path = crash_path(600)
    profits = {}
    for name, rivals in {
        "certain": CompetitorModel(10_000, 10_000),
        "default": CompetitorModel(10_000, 5_000),
        "slow": CompetitorModel(10_000, 1_000),
    }.items():
        for waits in (True, False):
            config = AuctionBacktestConfig(
                vaults=60, competitors=rivals, keeper_waits=waits, lookahead_steps=2
            )
            result = run_auction_backtest(path, config)
            assert result.running_at_end == 0
            profits[name, waits] = result.keeper_profit
            if not waits:
                assert result.waits == 0
    for name in ("certain", "default", "slow"):
        assert profits[name, True] >= profits[name, False], name
    assert profits["slow", True] > profits["slow", False] * 11 // 10  # > 10% better


def test_fit_competitors_leaves_our_takes_out() -> None:
    ours = "0x00000000000000000000000000000000000000aa"
    takes = [
        TakeObservation(1, 98 * RAY, "0x00000000000000000000000000000000000000bb", 100 * RAY),
        TakeObservation(2, 95 * RAY, "0x00000000000000000000000000000000000000cc", 100 * RAY),
        TakeObservation(3, 120 * RAY, ours, 100 * RAY),
    ]
    model = fit_competitors(takes, [ours], steps_seen=4)
    assert model == CompetitorModel(threshold_bps=9_800, take_probability_bps=5_000)
    logs = [
        {"blockNumber": 7, "price": 5, "taker": ours},
        {"blockNumber": 8, "price": 1, "taker": ours},
    ]
    assert observations_from_logs(logs, {7: 10}) == [TakeObservation(7, 5, ours, 10)]


@needs_real_data
def test_real_may_19_crash_through_the_cli() -> None:
    config = AuctionBacktestConfig(vaults=120, price_path=MAY_19)
    result = run_auction_price_path(REAL, config)
    assert result.barks > 50 and result.running_at_end == 0
    assert result.keeper_profit > 0
    out = CliRunner().invoke(
        cli,
        [
            "backtest-auctions",
            "--price-csv",
            str(REAL),
            "--from-block",
            "12461000",
            "--to-block",
            "12468200",
            "--vaults",
            "120",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == result.as_json()
