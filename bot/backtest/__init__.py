"""Backtests: what the bot would have earned over recorded blocks, and what it missed.

Entry points for the CLI:

- :func:`run_backtest` (``liqbot backtest FILE.sqlite [--config FILE]``),
- :func:`run_price_path` (``liqbot backtest --price-csv FILE``),
- :func:`sweep` (``--sweep``: several configurations in one pass, as table rows),
- :func:`write_report` (JSON and a self-contained HTML page) and :func:`summary_table`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.backtest.config import (
    BacktestConfig,
    BacktestConfigError,
    PricePathConfig,
    config_from_mapping,
    load_config,
)
from bot.backtest.engine import (
    REASONS,
    BacktestResult,
    grid_points,
    run_backtest,
    run_engines,
    sweep_rows,
)
from bot.backtest.pricepath import run_price_path, run_price_paths
from bot.backtest.report import (
    parse_grid,
    result_to_json,
    summary_table,
    sweep_table,
    write_report,
)


def is_price_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def sweep(
    path: Path, config: BacktestConfig, grid: Mapping[str, Sequence[Any]]
) -> list[dict[str, Any]]:
    """One row per combination of ``grid`` (field name -> values, e.g. ``min_profit_usd``,
    ``profit_share_bps``, ``latency_blocks``), all run in one pass over ``path`` (a
    recording, or a price CSV)."""
    results = sweep_results(path, config, grid)
    return sweep_rows(results, grid_points(grid))


def sweep_results(
    path: Path, config: BacktestConfig, grid: Mapping[str, Sequence[Any]]
) -> list[BacktestResult]:
    """The full result of every combination of ``grid`` (see :func:`sweep`)."""
    configs = [config.with_values(**point) for point in grid_points(grid)]
    if is_price_csv(path):
        return run_price_paths(path, configs)
    return run_engines(path, configs)


__all__ = [
    "REASONS",
    "BacktestConfig",
    "BacktestConfigError",
    "BacktestResult",
    "PricePathConfig",
    "config_from_mapping",
    "grid_points",
    "is_price_csv",
    "load_config",
    "parse_grid",
    "result_to_json",
    "run_backtest",
    "run_engines",
    "run_price_path",
    "summary_table",
    "sweep",
    "sweep_results",
    "sweep_table",
    "write_report",
]
