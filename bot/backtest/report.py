"""Backtest reports: a summary table for the terminal, JSON for machines, and a self-contained
HTML page with inline SVG charts (no script, no CDN, nothing fetched) for people.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from rich.table import Table

from bot.backtest.engine import REASONS, SWEEP_METRICS, BacktestResult

REPORT_VERSION = 1


# ----------------------------------------------------------------------------- terminal


def _usd(value: float) -> str:
    return f"{value:,.2f}"


def summary_rows(result: BacktestResult) -> list[tuple[str, str]]:
    """(label, value) pairs of the summary, in the order people read them."""
    s = result.summary
    rows = [
        ("blocks", f"{s.blocks:,} ({s.first_block:,}-{s.last_block:,})"),
        ("accounts / borrowers", f"{s.accounts:,} / {s.borrowers:,}"),
        ("opportunities (liquidatable episodes)", f"{s.opportunities:,}"),
        ("would have taken", f"{s.taken:,} ({s.bot_liquidations:,} liquidations)"),
        ("expected profit after gas (USD)", _usd(s.expected_profit_usd)),
        ("  of which gas paid (USD)", _usd(s.bot_gas_usd)),
        ("  as planned when deciding (USD)", _usd(s.planned_profit_usd)),
        ("failed attempts", f"{s.failed_attempts:,}"),
        ("liquidations on chain", f"{s.liquidations_on_chain:,}"),
        ("  by others", f"{s.by_others:,}"),
        ("  their profit (USD)", _usd(s.others_profit_usd)),
        ("  pre-empted by the bot", f"{s.preempted:,}"),
        ("missed", f"{s.missed:,}"),
    ]
    for reason, count in s.missed_by_reason.items():
        rows.append((f"  {reason}", f"{count:,}"))
    rows += [
        ("bad debt written off on chain (USD)", f"{_usd(s.bad_debt_usd)} ({s.bad_debt_events})"),
        ("under water: peak / end (USD)", f"{_usd(s.underwater_peak_usd)} / "
         f"{_usd(s.underwater_end_usd)}"),
    ]  # fmt: skip
    if s.bot_bad_debt_usd:
        rows.append(
            ("bad debt written off by the bot's liquidations (USD)", _usd(s.bot_bad_debt_usd))
        )
    if s.checkpoints_verified:
        rows.append(
            (
                "checkpoints verified",
                f"{s.checkpoints_verified:,} ({s.accounts_verified:,} accounts; mismatches: "
                f"{s.position_mismatches} positions, {s.health_mismatches} health)",
            )
        )
    rows.append(("time (s)", f"{s.elapsed_seconds:.2f}"))
    return rows


def summary_table(result: BacktestResult) -> Table:
    """The summary as a rich table (``liqbot backtest`` prints it)."""
    title = f"Backtest of {Path(result.source).name} ({result.mode})"
    table = Table(title=title, show_header=True)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for label, value in summary_rows(result):
        table.add_row(label, value)
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def sweep_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Sweep rows (from :func:`bot.backtest.sweep`) as a rich table."""
    table = Table(title="Parameter sweep")
    if not rows:
        return table
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    return table


def parse_grid(text: str) -> dict[str, list[str]]:
    """``"min_profit_usd=0,10,50;latency_blocks=1,2"`` -> a grid for :func:`sweep` (values
    are coerced by the configuration, as from TOML)."""
    grid: dict[str, list[str]] = {}
    for part in text.replace(" ", "").split(";"):
        if not part:
            continue
        name, _, values = part.partition("=")
        if not name or not values:
            raise ValueError(f"sweep: expected name=v1,v2,... got {part!r}")
        grid[name] = [v for v in values.split(",") if v]
    if not grid:
        raise ValueError("sweep: empty grid")
    return grid


# ----------------------------------------------------------------------------- JSON


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)  # beyond a double's integers: keep every digit
    return value


def result_to_json(result: BacktestResult) -> dict[str, Any]:
    """The whole result as plain JSON values (token amounts past 2**53 become strings)."""
    out: dict[str, Any] = {"report_version": REPORT_VERSION, "reasons": REASONS}
    out.update(_jsonable(result))
    return out


# ----------------------------------------------------------------------------- charts

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _downsample(points: Sequence[tuple[int, float]], limit: int = 900) -> list[tuple[int, float]]:
    """At most about ``limit`` points; each bucket keeps its first, lowest, highest and last
    point, so that spikes survive."""
    if len(points) <= limit:
        return list(points)
    x0, x1 = points[0][0], points[-1][0]
    buckets = max(1, limit // 4)
    width = max(1, (x1 - x0 + 1) / buckets)
    out: list[tuple[int, float]] = []
    current: list[tuple[int, float]] = []
    index = 0
    for p in points:
        i = int((p[0] - x0) / width)
        if i != index and current:
            out += _keep(current)
            current = []
        index = i
        current.append(p)
    if current:
        out += _keep(current)
    return out


def _keep(bucket: list[tuple[int, float]]) -> list[tuple[int, float]]:
    chosen = {0, len(bucket) - 1}
    chosen.add(min(range(len(bucket)), key=lambda i: bucket[i][1]))
    chosen.add(max(range(len(bucket)), key=lambda i: bucket[i][1]))
    return [bucket[i] for i in sorted(chosen)]


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (count - 1) for i in range(count)]


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.1f}B"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:,.2f}"


def line_chart(
    title: str,
    lines: Sequence[tuple[str, Sequence[tuple[int, float]]]],
    *,
    x_range: tuple[int, int],
    y_label: str = "",
    width: int = 900,
    height: int = 260,
    zero_based: bool = True,
) -> str:
    """An SVG step chart of (block, value) change points, one polyline per named series
    (the y axis starts at 0 unless ``zero_based`` is off, as for prices)."""
    left, right, top, bottom = 70, 20, 30, 40
    w, h = width - left - right, height - top - bottom
    x0, x1 = x_range
    if x1 <= x0:
        x1 = x0 + 1
    data = [(name, _downsample(points)) for name, points in lines if points]
    values = [v for _, pts in data for _, v in pts]
    lo = min(values) if values else 0.0
    hi = max(values) if values else 1.0
    if zero_based:
        lo = min(lo, 0.0)
    else:
        pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    if hi <= lo:
        hi = lo + 1.0

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * w

    def sy(y: float) -> float:
        return top + h - (y - lo) / (hi - lo) * h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" class="title">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" class="frame"/>',
    ]
    for t in _ticks(lo, hi):
        y = sy(t)
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="ylab">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        x = sx(t)
        parts.append(f'<text x="{x:.1f}" y="{top + h + 16}" class="xlab">{int(t):,}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{height - 4}" class="xlab">block</text>')
    if y_label:
        parts.append(
            f'<text x="14" y="{top + h / 2}" class="ylab" '
            f'transform="rotate(-90 14 {top + h / 2})">{html.escape(y_label)}</text>'
        )
    for i, (name, points) in enumerate(data):
        color = _COLORS[i % len(_COLORS)]
        coords: list[str] = []
        previous: float | None = None
        for x, v in points:
            if previous is not None:
                coords.append(f"{sx(x):.1f},{sy(previous):.1f}")
            coords.append(f"{sx(x):.1f},{sy(v):.1f}")
            previous = v
        if previous is not None:
            coords.append(f"{sx(x1):.1f},{sy(previous):.1f}")
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
            f'points="{" ".join(coords)}"/>'
        )
        parts.append(
            f'<rect x="{left + 10 + 190 * i}" y="{top + 6}" width="10" height="10" '
            f'fill="{color}"/><text x="{left + 24 + 190 * i}" y="{top + 15}" class="legend">'
            f"{html.escape(name)}</text>"
        )
    if not data:
        parts.append(f'<text x="{left + w / 2}" y="{top + h / 2}" class="xlab">no data</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 980px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
td, th { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.mono { font-family: ui-monospace, monospace; font-size: 12px; }
.title { font-size: 14px; font-weight: 600; }
.frame { fill: none; stroke: #999; } .grid { stroke: #eee; }
.xlab { font-size: 11px; text-anchor: middle; fill: #555; }
.ylab { font-size: 11px; text-anchor: end; fill: #555; }
.legend { font-size: 12px; fill: #333; }
.note { color: #555; font-size: 13px; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 300) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows[:limit]:
        body.append("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>")
    more = (
        f'<p class="note">{len(rows) - limit:,} more rows in the JSON report.</p>'
        if len(rows) > limit
        else ""
    )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _short(address: str) -> str:
    return address[:10] + "…" if len(address) > 12 else address


def render_html(result: BacktestResult) -> str:
    s = result.summary
    series = result.series
    x_range = (s.first_block, s.last_block)
    moving = {
        symbol: points
        for symbol, points in series.prices.items()
        if len({v for _, v in points}) > 1
    }
    prices = moving or series.prices
    price_charts = [
        line_chart(
            f"{symbol} oracle price (USD)", [(symbol, points)], x_range=x_range, zero_based=False
        )
        for symbol, points in prices.items()
    ][:3]
    risk = line_chart(
        "Accounts at risk and liquidatable",
        [
            ("at risk", [(b, float(v)) for b, v in series.at_risk]),
            ("liquidatable", [(b, float(v)) for b, v in series.liquidatable]),
        ],
        x_range=x_range,
        y_label="accounts",
    )
    profit = line_chart(
        "Cumulative profit (USD): the bot's expected vs what others earned",
        [("bot (expected)", series.bot_profit), ("others (on chain)", series.others_profit)],
        x_range=x_range,
        y_label="USD",
    )
    underwater = line_chart(
        "Debt under water (USD)", [("under water", series.underwater)], x_range=x_range
    )
    missed_rows = [
        (reason, count, REASONS.get(reason, "")) for reason, count in s.missed_by_reason.items()
    ]
    others_rows = [
        (reason, count, REASONS.get(reason, "")) for reason, count in s.others_by_reason.items()
    ]
    bot_rows = [
        (b.block, b.decided_block, _short(b.user), f"{b.collateral}/{b.debt}", b.path,
         b.expected_profit_usd, b.profit_usd, b.gas_usd, b.race)
        for b in result.bot_liquidations
    ]  # fmt: skip
    actual_rows = [
        (a.block, _short(a.user), _short(a.liquidator), f"{a.collateral}/{a.debt}",
         a.effective_gas_price / 1e9, a.profit_usd,
         "pre-empted by the bot" if a.preempted_by_bot else a.bot_reason)
        for a in result.actual_liquidations
    ]  # fmt: skip
    failed_rows = [
        (f.block, f.decided_block, _short(f.user), f.path, f.reason, f.detail)
        for f in result.failed_attempts
    ]
    missed_list = [
        (_short(m.user), m.first_block, m.last_block, m.reason, m.detail) for m in result.missed
    ]
    sweep = ""
    if result.sweep:
        sweep = "<h2>Parameter sweep</h2>" + _table(
            list(result.sweep[0]), [list(r.values()) for r in result.sweep]
        )
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    title = f"liqbot backtest — {Path(result.source).name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(result.mode)} · blocks {s.first_block:,} to {s.last_block:,}
· generated {generated}</p>
<h2>Summary</h2>
{_table(["", ""], summary_rows(result))}
<h2>Why opportunities were missed</h2>
{_table(["reason", "opportunities", "meaning"], missed_rows)}
<h2>Liquidations by others: why the bot was not first</h2>
{_table(["reason", "liquidations", "meaning"], others_rows)}
<h2>Assumptions</h2>
<ul>{"".join(f"<li>{html.escape(a)}</li>" for a in result.assumptions)}</ul>
<h2>Price path</h2>
{"".join(price_charts)}
<h2>Accounts at risk</h2>
{risk}
<h2>Profit</h2>
{profit}
{underwater}
{sweep}
<h2>What the bot would have done</h2>
{
        _table(
            [
                "block",
                "decided",
                "user",
                "pair",
                "path",
                "planned USD",
                "profit USD",
                "gas USD",
                "race",
            ],
            bot_rows,
        )
    }
<h2>Attempts that would have failed</h2>
{_table(["block", "decided", "user", "path", "reason", "detail"], failed_rows)}
<h2>What actually happened on chain</h2>
{
        _table(
            ["block", "user", "liquidator", "pair", "gas price (gwei)", "profit USD", "bot"],
            actual_rows,
        )
    }
<h2>Missed opportunities</h2>
{_table(["user", "from block", "to block", "reason", "detail"], missed_list)}
</body></html>
"""


def write_report(
    result: BacktestResult, json_path: Path | None = None, html_path: Path | None = None
) -> None:
    """Write the JSON report and/or the HTML page (either may be None)."""
    if json_path is not None:
        json_path.write_text(json.dumps(result_to_json(result), indent=1) + "\n")
    if html_path is not None:
        html_path.write_text(render_html(result))


__all__ = [
    "SWEEP_METRICS",
    "line_chart",
    "parse_grid",
    "render_html",
    "result_to_json",
    "summary_rows",
    "summary_table",
    "sweep_table",
    "write_report",
]
