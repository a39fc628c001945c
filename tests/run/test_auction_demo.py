"""`liqbot demo --auctions --json`: the keeper's demo completes every auction with profit."""

from __future__ import annotations

import json
from decimal import Decimal

from click.testing import CliRunner

from bot.cli import cli


def test_auction_demo_json() -> None:
    result = CliRunner().invoke(cli, ["demo", "--auctions", "--json", "--borrowers", "10"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["vaults"] == 10
    assert data["barks"] >= 10
    assert data["takes"] >= 10
    assert data["reverted"] == 0
    assert data["left_unsafe"] == 0 and data["auctions_running"] == 0
    assert Decimal(data["profit"]) > 0
    assert data["rows"] and all(Decimal(r["profit"]) > 0 for r in data["rows"])
    assert all(
        Decimal(r["paid"]) == Decimal(r["tab"]) or Decimal(r["bought"]) == Decimal(r["lot"])
        for r in data["rows"]
    )
