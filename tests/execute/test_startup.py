"""Start-up checks fail closed, with a message that says what to fix, before any signature."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.chain.contracts import send_signed
from bot.execute import Executor, ExecutorConfig, StartupCheckFailed
from bot.execute.keys import Signer
from bot.execute.lock import AlreadyRunning
from bot.execute.node import Node
from bot.execute.startup import missing_functions, run_checks, selector
from tests.execute.scenario import BOT_ADDRESS, Scenario, bot_account, executor_config


def _config(sc: Scenario, tmp_path: Path, **startup: Any) -> ExecutorConfig:
    config = executor_config(sc.market, tmp_path / "journal.sqlite", estimate_gas=False)
    return replace(config, startup=replace(config.startup, **startup))


def test_all_checks_pass_and_are_reported(bot_scenario: Scenario) -> None:
    sc = bot_scenario
    d = sc.market.deployment
    config = executor_config(sc.market, Path("/nonexistent/j.sqlite")).startup
    report = run_checks(Node(sc.w3), config, BOT_ADDRESS)
    assert report.chain_id == d.chain_id and report.balance_wei
    assert any("owned by" in c for c in report.checks)
    read_only = run_checks(Node(sc.w3), config, None)
    assert any("read-only" in c for c in read_only.checks)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"chain_id": 1}, "the node is on chain"),
        ({"pool": "0x" + "12" * 20}, "holds no code"),
        ({"oracle": "token:USDC"}, "lacks getAssetPrice"),
        ({"liquidator": "pool"}, "lacks liquidateWithFlashSwap"),
        ({"oracle": "feed"}, "lacks getAssetPrice"),
        ({"min_gas_balance_wei": 10**30}, "top it up"),
    ],
    ids=["chain-id", "eoa-pool", "token-as-oracle", "pool-as-liquidator", "feed", "gas"],
)
def test_bad_configuration_stops_the_start_with_nothing_signed(
    change: dict[str, object],
    message: str,
    bot_scenario: Scenario,
    tmp_path: Path,
    signer: Signer,
) -> None:
    sc = bot_scenario
    d = sc.market.deployment
    resolved = {
        key: (
            d.token("USDC")
            if value == "token:USDC"
            else d.pool
            if value == "pool"
            else d.assets["WETH"].feed
            if value == "feed"
            else value
        )
        for key, value in change.items()
    }
    nonce = sc.w3.eth.get_transaction_count(BOT_ADDRESS)
    with pytest.raises(StartupCheckFailed, match=message):
        Executor.open(sc.w3, _config(sc, tmp_path, **resolved), signer)
    assert sc.w3.eth.get_transaction_count(BOT_ADDRESS) == nonce
    # The refusal released the journal's lock: a corrected start may go ahead.
    Executor.open(sc.w3, _config(sc, tmp_path), signer, out=lambda _: None).close()


def test_a_liquidator_owned_by_someone_else_stops_the_start(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = bot_scenario
    w3 = sc.w3
    other = list(w3.eth.accounts)[5]
    send_signed(w3, sc.market.liquidator.functions.transferOwnership(other), bot_account())
    with pytest.raises(StartupCheckFailed, match=f"owned by {other}"):
        Executor.open(w3, _config(sc, tmp_path), signer)
    assert w3.eth.get_transaction_count(BOT_ADDRESS) == 1  # only the transfer above


def test_two_executors_with_one_key_refuse(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = bot_scenario
    first = Executor.open(sc.w3, _config(sc, tmp_path), signer, out=lambda _: None)
    with pytest.raises(AlreadyRunning):
        Executor.open(sc.w3, _config(sc, tmp_path), signer)
    other_journal = replace(_config(sc, tmp_path), journal_path=tmp_path / "other.sqlite")
    with pytest.raises(AlreadyRunning):
        Executor.open(sc.w3, other_journal, signer)
    first.close()


def test_selectors_pushed_with_fewer_bytes_are_found() -> None:
    sig = "liquidationCall(address,address,address,uint256,bool)"
    sel = selector(sig)
    assert sel[0] == 0  # 0x00a718a9: solc pushes it with PUSH3
    assert missing_functions(b"\x62" + sel[1:], [sig]) == []
    assert missing_functions(b"\x63" + sel, [sig]) == []
    assert missing_functions(b"\x60\x00", [sig]) == [sig]
