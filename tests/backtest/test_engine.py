"""The engine's rules on small recordings written by hand: races, latency, back-runs, what is
missed and why, fee caps, the minimum profit, overlays, and sweeps in one pass."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.backtest import BacktestConfig, run_backtest, sweep
from bot.backtest.config import BacktestConfigError, config_from_mapping, load_config
from bot.backtest.synthetic import SyntheticPair, SyntheticRecording, address
from bot.deploy.market import DEFAULT_ASSETS
from bot.model.types import ExecutionPath

GWEI = 10**9
BASE = 10**8
T0 = 1_700_000_000
COMPETITOR = address("competitor")
A, B, DUST = address("user a"), address("user b"), address("dust")
MAX = 2**256 - 1


def market(path: Path) -> SyntheticRecording:
    """WETH and USDC, one deep pair; A and B borrow at health 1.125 and 1.2, DUST is tiny."""
    specs = [s for s in DEFAULT_ASSETS if s.symbol in ("WETH", "USDC")]
    rec = SyntheticRecording(
        path,
        specs,
        [SyntheticPair("WETH", "USDC", 50_000_000)],
        prices={"WETH": 3_000 * BASE, "USDC": BASE},
        base_block=1_000,
        base_timestamp=T0,
    )
    rec.open_account(A, {"WETH": 10 * 10**18}, {"USDC": 22_000 * 10**6})
    rec.open_account(B, {"WETH": 20 * 10**18}, {"USDC": 41_250 * 10**6})
    rec.open_account(DUST, {"WETH": 10**16}, {"USDC": 22 * 10**6})
    return rec


def play(
    path: Path,
    *,
    crash_and_liquidate_in_one_block: bool = False,
    competitor_block: int = 1_002,
    tip: int = GWEI,
    base_fee: int = 10 * GWEI,
) -> Path:
    """WETH 3000 -> 2500 in block 1001 (A, B and DUST become liquidatable); the competitor
    liquidates A in ``competitor_block``; blocks run to 1006."""
    rec = market(path)
    for n in range(1_001, 1_007):
        rec.block(n, T0 + 12 * (n - 1_000), base_fee)
        if n == 1_001:
            rec.set_price("WETH", 2_500 * BASE)
            rec.arbitrage()
        if n == competitor_block or (crash_and_liquidate_in_one_block and n == 1_001):
            rec.liquidate(
                A, "WETH", "USDC", MAX, liquidator=COMPETITOR, gas_used=300_000,
                gas_price=base_fee + tip,
            )  # fmt: skip
    return rec.close()


@pytest.fixture
def recording(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1_000))

    def make(**kw: Any) -> Path:
        return play(tmp_path / f"r{next(counter)}.sqlite", **kw)

    return make


def actual_of(result: Any, user: str) -> Any:
    (actual,) = [a for a in result.actual_liquidations if a.user == user]
    return actual


def test_a_low_tip_loses_the_race_to_the_bot(recording: Callable[..., Path]) -> None:
    result = run_backtest(recording(tip=GWEI))
    a = actual_of(result, A)
    assert a.preempted_by_bot
    (bot_a,) = [b for b in result.bot_liquidations if b.user == A]
    assert (bot_a.decided_block, bot_a.block) == (1_001, 1_002)
    assert bot_a.race.startswith("won")
    assert bot_a.priority_fee > GWEI
    assert bot_a.profit_usd > 0
    s = result.summary
    assert (s.liquidations_on_chain, s.preempted, s.by_others) == (1, 1, 0)
    assert s.opportunities == 3  # A, B and the dust account
    assert {b.user for b in result.bot_liquidations} == {A, B}


def test_a_high_tip_wins_the_race(recording: Callable[..., Path]) -> None:
    result = run_backtest(recording(tip=20_000 * GWEI))
    a = actual_of(result, A)
    assert not a.preempted_by_bot and a.bot_reason == "lost_race"
    assert a.priority_fee == 20_000 * GWEI
    # the bot's own transaction landed after the competitor's and found nothing to do
    (failed,) = [f for f in result.failed_attempts if f.user == A]
    assert (failed.block, failed.reason) == (1_002, "reverted")
    missed = {m.user: m for m in result.missed}
    assert missed[A].reason == "lost_race" and missed[A].liquidated_by_others == 1


@pytest.mark.parametrize(("rule", "tip", "preempted"), [
    ("win", 20_000 * GWEI, True), ("lose", GWEI, False), ("priority", GWEI, True),
])  # fmt: skip
def test_same_block_rules(
    recording: Callable[..., Path], rule: str, tip: int, preempted: bool
) -> None:
    result = run_backtest(recording(tip=tip), BacktestConfig(same_block=rule))
    assert actual_of(result, A).preempted_by_bot is preempted


def test_a_slower_bot_finds_the_competitor_first(recording: Callable[..., Path]) -> None:
    result = run_backtest(recording(), BacktestConfig(latency_blocks=2))
    a = actual_of(result, A)
    assert a.bot_reason == "competitor_faster" and "1003" in a.detail
    (failed,) = [f for f in result.failed_attempts if f.user == A]
    assert failed.block == 1_003


def test_a_back_run_cannot_be_caught(recording: Callable[..., Path]) -> None:
    result = run_backtest(recording(crash_and_liquidate_in_one_block=True, competitor_block=0))
    assert actual_of(result, A).bot_reason == "backrun"
    assert A not in {b.user for b in result.bot_liquidations}


def test_dust_is_left_and_said_so(recording: Callable[..., Path]) -> None:
    result = run_backtest(recording())
    missed = {m.user: m for m in result.missed}
    assert missed[DUST].reason == "dust"
    assert missed[DUST].last_block == 1_006
    assert result.summary.missed_by_reason == {"dust": 1}


def test_the_minimum_profit_and_the_fee_cap(recording: Callable[..., Path]) -> None:
    path = recording()
    rich = run_backtest(path, BacktestConfig(min_profit_usd=Decimal(10**7)))
    assert not rich.bot_liquidations
    assert {m.user: m.reason for m in rich.missed}[B] == "below_min_profit"
    capped = run_backtest(path, BacktestConfig(max_fee_gwei=Decimal(5)))
    assert not capped.bot_liquidations
    assert {m.user: m.reason for m in capped.missed}[B] == "fee_cap"


def test_the_bot_liquidates_an_account_once_it_is_healthy(recording: Callable[..., Path]) -> None:
    """Nobody else touches B: after the bot's liquidation the account stays as the bot left
    it (the overlay), so the bot does not liquidate the same debt twice."""
    result = run_backtest(recording())
    b_liquidations = [b for b in result.bot_liquidations if b.user == B]
    assert len(b_liquidations) == 1
    assert B not in {m.user for m in result.missed}
    assert b_liquidations[0].profit_usd == pytest.approx(b_liquidations[0].expected_profit_usd)


def test_a_sweep_is_one_pass_equal_to_separate_runs(recording: Callable[..., Path]) -> None:
    path = recording(tip=50 * GWEI)
    grid = {"same_block": ["win", "lose"], "min_profit_usd": ["0", "100000000"]}
    rows = sweep(path, BacktestConfig(), grid)
    assert [(r["same_block"], r["min_profit_usd"]) for r in rows] == [
        ("win", "0"), ("win", "100000000"), ("lose", "0"), ("lose", "100000000"),
    ]  # fmt: skip
    for row in rows:
        alone = run_backtest(
            path,
            BacktestConfig(
                same_block=row["same_block"], min_profit_usd=Decimal(row["min_profit_usd"])
            ),
        )
        assert row["bot_liquidations"] == alone.summary.bot_liquidations
        assert row["expected_profit_usd"] == pytest.approx(alone.summary.expected_profit_usd)
        assert row["preempted"] == alone.summary.preempted


def test_a_window_limits_decisions(recording: Callable[..., Path]) -> None:
    result = run_backtest(recording(), BacktestConfig(from_block=1_003))
    assert result.summary.first_block == 1_003
    assert all(b.decided_block >= 1_003 for b in result.bot_liquidations)
    assert result.summary.liquidations_on_chain == 0  # A was liquidated in 1002


def test_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "bt.toml"
    path.write_text(
        "[backtest]\nlatency_blocks = 2\nsame_block = 'lose'\nmin_profit_usd = 12.5\n"
        "gas = { flash = 450000, inventory = 300000, inventory_swap = 380000 }\n"
        "inventory = { USDC = 1000000000 }\n"
        "[backtest.price_path]\nborrowers = 50\nfrom_block = 12461000\n"
    )
    config = load_config(path)
    assert config.latency_blocks == 2 and config.same_block == "lose"
    assert config.min_profit_usd == Decimal("12.5")
    assert config.gas[ExecutionPath.FLASH] == 450_000
    assert config.inventory == {"USDC": 10**9}
    assert config.price_path.borrowers == 50 and config.price_path.from_block == 12_461_000
    assert load_config(None) == BacktestConfig()
    # a whole liqbot configuration without a [backtest] table means the defaults
    assert config_from_mapping({"chain": {"chain_id": 1}}) == BacktestConfig()


@pytest.mark.parametrize(("table", "message"), [
    ({"latency": 1}, "unknown field"),
    ({"latency_blocks": 0}, "latency_blocks must be at least 1"),
    ({"same_block": "maybe"}, "same_block must be one of"),
    ({"min_profit_usd": "lots"}, "backtest.min_profit_usd"),
    ({"price_path": {"borowers": 3}}, "price_path: unknown field"),
])  # fmt: skip
def test_config_errors_name_the_field(table: dict[str, Any], message: str) -> None:
    with pytest.raises(BacktestConfigError, match=message):
        config_from_mapping({"backtest": table})
