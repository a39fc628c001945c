"""The engine's rules on small recordings written by hand: races, latency, back-runs, what is
missed and why, fee caps, the minimum profit, overlays, and sweeps in one pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.backtest import BacktestConfig, run_backtest, sweep
from bot.backtest.config import BacktestConfigError, config_from_mapping, load_config
from bot.backtest.engine import Engine, reactive_amm
from bot.backtest.source import RecordedSource
from bot.backtest.synthetic import SyntheticPair, SyntheticRecording, address
from bot.deploy.market import DEFAULT_ASSETS
from bot.model.amm import after_swap, arbitrage_swap
from bot.model.types import ExecutionPath, PairReserves

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
    ({"amm": "sideways"}, "amm must be one of auto, recorded, reactive"),
])  # fmt: skip
def test_config_errors_name_the_field(table: dict[str, Any], message: str) -> None:
    with pytest.raises(BacktestConfigError, match=message):
        config_from_mapping({"backtest": table})


# ----------------------------------------------------------------------------- reactive AMM


@dataclass(frozen=True)
class _Step:
    number: int
    before: PairReserves
    """The engine's WETH/USDC pair before the block."""
    engine: PairReserves
    """... and after it (the bot's swaps landed, the block's arbitrage done)."""
    recorded: PairReserves
    """The recording's pair after the block."""


def _drive(path: Path, config: BacktestConfig) -> tuple[Engine, list[_Step]]:
    """``run_engines`` for one engine, keeping each block's pair (the engine's and the
    recording's)."""
    source = RecordedSource(path, at_risk_margin=10**18 * config.at_risk_margin_bps // 10_000)
    source.start()
    engine = Engine(source, config)
    engine.start()
    steps: list[_Step] = []
    try:
        for header in source.headers:
            (before,) = engine.pairs()
            engine.before(header)
            state = source.advance(header)
            engine.after(state)
            (after,) = engine.pairs()
            (recorded,) = source.pairs()
            steps.append(_Step(header.number, before, after, recorded))
    finally:
        source.close()
    return engine, steps


def _weights(pair: PairReserves, weth: str) -> tuple[int, int]:
    """The arbitrage's target at WETH 2,500 USD, USDC 1 USD (token0, token1 unit values)."""
    value = {weth: 2_500 * BASE * 10**6}  # one WETH wei, scaled by the other token's unit
    usdc = BASE * 10**18
    return value.get(pair.token0, usdc), value.get(pair.token1, usdc)


def test_reactive_pairs_carry_the_bots_swaps_and_the_arbitrage_after_them(
    recording: Callable[..., Path],
) -> None:
    """The bot's flash swaps in block 1002 move the pair; the block ends with the model's
    arbitrage of the moved pair (exactly the integer swap the chain's arbitrageur makes), the
    swaps' fees stay in it, and later blocks keep that pair instead of the recording's."""
    path = recording(competitor_block=0)
    weth = address("token WETH")
    engine, steps = _drive(path, BacktestConfig(amm="reactive"))
    at = {s.number: s for s in steps}
    # Until the bot trades, the engine's arbitrage is the recording's Sync to the wei.
    assert at[1_001].engine == at[1_001].recorded != at[1_001].before
    landed = [b for b in engine.bot if b.block == 1_002]
    assert {b.user for b in landed} == {A, B}
    pair = at[1_002].before
    for b in landed:  # in landing order, each on the pair the previous one left
        assert b.path == str(ExecutionPath.FLASH)
        assert b.pair_reserves == (pair.reserve0, pair.reserve1)
        repay = b.collateral_seized - b.collateral_gain
        pair = after_swap(pair, weth, repay, b.debt_to_cover)
    swap = arbitrage_swap(pair, *_weights(pair, weth))
    assert swap is not None and swap.token_in != weth  # the arbitrageur buys the WETH back
    assert at[1_002].engine == swap.after
    assert at[1_002].recorded == at[1_001].recorded  # the recording never saw the bot's trades
    k = at[1_002].engine.reserve0 * at[1_002].engine.reserve1
    assert k > at[1_001].recorded.reserve0 * at[1_001].recorded.reserve1  # fees left in it
    # Later blocks: the carried pair, arbitraged by the same rule (a no-op once aligned).
    for n in range(1_003, 1_007):
        prev = at[n - 1].engine
        again = arbitrage_swap(prev, *_weights(prev, weth))
        assert at[n].engine == (prev if again is None else again.after)
        assert at[n].engine != at[n].recorded


def test_recorded_pairs_follow_the_recording(recording: Callable[..., Path]) -> None:
    """``amm = "recorded"`` (the default outside price paths): the recording's pairs after
    every block, the bot's swaps counting only within their block, as before."""
    path = recording(competitor_block=0)
    for config in (BacktestConfig(), BacktestConfig(amm="recorded")):
        engine, steps = _drive(path, config)
        assert not engine.reactive
        assert any(b.block == 1_002 and b.pair_reserves for b in engine.bot)
        assert all(s.engine == s.recorded for s in steps)


def test_reactive_needs_a_recording_that_follows_the_arbitrage_rule() -> None:
    assert reactive_amm(BacktestConfig(), "price-path")
    assert not reactive_amm(BacktestConfig(), "synthetic")
    assert not reactive_amm(BacktestConfig(), "rpc")
    assert reactive_amm(BacktestConfig(amm="reactive"), "synthetic")
    assert not reactive_amm(BacktestConfig(amm="recorded"), "price-path")
    with pytest.raises(ValueError, match="amm = 'recorded'"):
        reactive_amm(BacktestConfig(amm="reactive"), "rpc")
