"""Reports: the terminal tables, the JSON for machines, the self-contained HTML page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from bot.backtest import (
    BacktestConfig,
    parse_grid,
    run_backtest,
    summary_table,
    sweep,
    sweep_table,
    write_report,
)
from bot.backtest.report import _downsample, line_chart, result_to_json
from bot.backtest.synthetic import busy_market


@pytest.fixture(scope="module")
def result_and_path(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    path = tmp_path_factory.mktemp("report") / "busy.sqlite"
    busy_market(path, blocks=1_500, accounts=150, seed=4, checkpoint_every=500)
    return run_backtest(path, BacktestConfig()), path


def test_summary_table(result_and_path: tuple[object, Path]) -> None:
    result, _ = result_and_path
    console = Console(record=True, width=120)
    console.print(summary_table(result))  # type: ignore[arg-type]
    text = console.export_text()
    for label in ("opportunities", "would have taken", "expected profit", "by others",
                  "missed", "bad debt", "checkpoints verified"):  # fmt: skip
        assert label in text


def test_json_report(result_and_path: tuple[object, Path], tmp_path: Path) -> None:
    result, _ = result_and_path
    out = tmp_path / "report.json"
    write_report(result, out, None)  # type: ignore[arg-type]
    data = json.loads(out.read_text())
    assert data["report_version"] == 1
    assert data["summary"]["blocks"] == 1_500
    assert data["config"]["gas"] == {"flash": 400000, "inventory": 300000, "inventory_swap": 380000}
    assert data["reasons"]["lost_race"]
    # amounts past 2**53 keep every digit, as strings
    amounts = [b["debt_covered"] for b in data["bot_liquidations"]]
    assert all((isinstance(a, int) and a < 2**53) or isinstance(a, str) for a in amounts)
    assert data == json.loads(json.dumps(result_to_json(result)))  # type: ignore[arg-type]


def test_html_page_is_self_contained(result_and_path: tuple[object, Path], tmp_path: Path) -> None:
    result, _ = result_and_path
    out = tmp_path / "report.html"
    write_report(result, None, out)  # type: ignore[arg-type]
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") >= 4  # price, accounts at risk, profit, under water
    assert "<script" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}
    for heading in ("Price path", "Accounts at risk", "Profit", "Assumptions"):
        assert heading in page


def test_sweep_rows_and_table(result_and_path: tuple[object, Path]) -> None:
    _, path = result_and_path
    grid = parse_grid("latency_blocks=1,2; min_profit_usd=0,1000")
    assert grid == {"latency_blocks": ["1", "2"], "min_profit_usd": ["0", "1000"]}
    rows = sweep(path, BacktestConfig(), grid)
    assert len(rows) == 4
    fast, slow = rows[0], rows[2]
    assert fast["latency_blocks"] == "1" and slow["latency_blocks"] == "2"
    assert slow["preempted"] <= fast["preempted"]
    console = Console(record=True, width=200)
    console.print(sweep_table(rows))
    assert "latency_blocks" in console.export_text()
    with pytest.raises(ValueError, match="name=v1"):
        parse_grid("latency_blocks")


def test_downsampling_keeps_spikes() -> None:
    points = [(i, 1.0) for i in range(10_000)]
    points[5_000] = (5_000, 99.0)
    kept = _downsample(points, limit=200)
    assert len(kept) <= 260
    assert (5_000, 99.0) in kept
    svg = line_chart("t", [("a", points)], x_range=(0, 9_999))
    assert svg.startswith("<svg") and "polyline" in svg
