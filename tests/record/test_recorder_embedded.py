"""The recorder on the in-process eth-tester chain (no node): the same code path, through
``RpcClient.for_web3``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bot.backtest import run_backtest
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import open_positions, plan_borrowers
from bot.deploy.market import Market
from bot.record import record, schema


def test_record_and_backtest_an_embedded_chain(market: Market, tmp_path: Path) -> None:
    w3 = market.w3
    deployer = w3.eth.accounts[0]
    first = w3.eth.block_number + 1
    open_positions(market, plan_borrowers(market, 4, seed=2, health_range=(1.05, 1.2)), deployer)
    market.set_price("WETH", Decimal("2100"), deployer)
    market.set_price("WBTC", Decimal("41000"), deployer)
    last = w3.eth.block_number
    out = tmp_path / "embedded.sqlite"
    summary = record(
        RpcClient.for_web3(w3), market.deployment, first, last, out, checkpoint_every=6,
        progress=False,
    )  # fmt: skip
    assert summary.blocks == last - first + 1
    assert summary.tables["checkpoints"] >= 3
    conn = schema.connect(out)
    events = {e for (e,) in conn.execute("SELECT DISTINCT event FROM logs")}
    conn.close()
    assert {"UserReserveUpdated", "ReserveDataUpdated", "AnswerUpdated", "Borrow"} <= events
    result = run_backtest(out)
    s = result.summary
    assert s.accounts_verified >= 4
    assert (s.position_mismatches, s.health_mismatches) == (0, 0), result.info
    assert s.opportunities >= 1
