"""`liqbot demo` end to end: the real loop liquidates a crash on eth-tester."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.run.demo import DemoResult, run_demo
from bot.run.scenario import CRASH


@pytest.fixture(scope="module")
def demo() -> DemoResult:
    return run_demo(borrowers=12, seed=7, path=CRASH[:5])


def test_the_demo_liquidates_at_a_profit(demo: DemoResult) -> None:
    assert len(demo.liquidations) >= 3
    assert demo.reverted == 0 and demo.gas_burnt_wei == 0
    assert demo.profit_wei > 0
    # The total is exactly the sum of the rows (each row: kept value minus its gas).
    assert demo.profit_wei == sum(x.profit_native_wei for x in demo.liquidations)
    assert all(x.profit_native_wei > 0 for x in demo.liquidations)
    assert all(x.debt_repaid > 0 and x.collateral_seized > 0 for x in demo.liquidations)


def test_nothing_profitable_is_left_behind(demo: DemoResult) -> None:
    allowed = ("dust:", "unprofitable:", "bad debt:", "blocked:")
    for left in demo.left:
        assert left.reason.startswith(allowed), left
        assert left.health_factor < 10**18


def test_demo_json_has_the_promised_keys() -> None:
    result = CliRunner().invoke(cli, ["demo", "--json", "--borrowers", "4"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["numeraire"] == "ETH"
    assert data["liquidations"] == len(data["rows"])
    assert Decimal(data["profit"]) == sum(Decimal(r["profit"]) for r in data["rows"]) - Decimal(
        data["gas_burnt_on_reverts"]
    )
    assert Decimal(data["gas_paid"]) >= 0
    for left in data["left_liquidatable"]:
        assert left["reason"]
