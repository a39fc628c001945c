"""The recorded source: its liquidatable set and at-risk count are exact in every block (held
against recomputing every account every block), and its book agrees with the checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.backtest.source import RecordedSource
from bot.backtest.synthetic import busy_market
from bot.model.fixed_point import WAD
from bot.model.health import account_data
from bot.record.schema import RecordingError


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("busy") / "busy.sqlite"
    counts = busy_market(path, blocks=2_500, accounts=300, seed=3, checkpoint_every=400)
    assert counts["liquidations"] > 20 and counts["price_updates"] > 50
    return path


def test_bands_are_exact_in_every_block(busy: Path) -> None:
    """Brute force: every borrower's health recomputed with the model in every block."""
    source = RecordedSource(busy)
    source.start()
    risk_line = WAD + WAD // 20
    liquidatable_blocks = 0
    for header in source.headers:
        state = source.advance(header)
        market = source.health_market()
        liquidatable: set[str] = set()
        at_risk = 0
        for user in source.book.borrowers:
            hf = account_data(market, source.account(user), header.timestamp).health_factor
            liquidatable |= {user} if hf < WAD else set()
            at_risk += hf < risk_line
        assert set(state.liquidatable) == liquidatable, header.number
        assert state.at_risk == at_risk, header.number
        liquidatable_blocks += bool(liquidatable)
    assert liquidatable_blocks > 100, "the crash should make accounts liquidatable for a while"
    # and it did not get there by recomputing everything every block
    assert source.stats.recomputes < len(source.headers) * len(source.book.borrowers) / 20
    source.close()


def test_the_book_agrees_with_every_checkpoint(busy: Path) -> None:
    source = RecordedSource(busy)
    source.start()
    for header in source.headers:
        source.advance(header)
    stats = source.stats
    assert stats.checkpoints == 6
    assert stats.accounts_verified > 100
    assert (stats.position_mismatches, stats.health_mismatches) == (0, 0), stats.examples
    source.close()


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such recording"):
        RecordedSource(tmp_path / "nothing.sqlite")


def test_an_account_with_debt_and_no_collateral(tmp_path: Path) -> None:
    """Health factor 0: always liquidatable, never worth it (nothing to seize)."""
    from bot.backtest import run_backtest
    from bot.backtest.synthetic import SyntheticPair, SyntheticRecording, address
    from bot.deploy.market import DEFAULT_ASSETS

    specs = [s for s in DEFAULT_ASSETS if s.symbol in ("WETH", "USDC")]
    rec = SyntheticRecording(
        tmp_path / "ghost.sqlite",
        specs,
        [SyntheticPair("WETH", "USDC", 1_000_000)],
        prices={"WETH": 3_000 * 10**8, "USDC": 10**8},
        base_block=10,
        base_timestamp=1_700_000_000,
    )
    ghost = address("ghost")
    rec.open_account(ghost, {}, {"USDC": 500 * 10**6})
    for n in range(11, 16):
        rec.block(n, 1_700_000_000 + 12 * (n - 10), 10**9)
        rec.set_price("WETH", (3_000 - 100 * (n - 10)) * 10**8)
    path = rec.close()
    source = RecordedSource(path)
    source.start()
    for header in source.headers:
        assert source.advance(header).liquidatable == (ghost,)
    source.close()
    result = run_backtest(path)
    assert [(m.user, m.reason) for m in result.missed] == [(ghost, "bad_debt")]
    assert result.summary.underwater_end_usd == pytest.approx(500, rel=1e-3)
