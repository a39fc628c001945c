"""The executor end to end on eth-tester (auto-mining; no mempool): every route, every "no".

Transactions mine at once here, so these tests are about decisions, encoding, receipts and
the ledger; mempool behaviour (stuck, dropped, replaced) is tested on anvil.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account

from bot.chain.contracts import transact
from bot.deploy.market import Market
from bot.execute import (
    ExecutionRequest,
    Executor,
    IntentState,
    RevertKind,
    Route,
    Status,
    direct_request,
)
from bot.execute.keys import Signer
from bot.model.types import ExecutionPath
from tests.execute.conftest import SECRETS
from tests.execute.invariants import assert_nothing_lost, figures
from tests.execute.scenario import (
    BOT_ADDRESS,
    BOT_KEY,
    GWEI,
    Scenario,
    executor_config,
    request_for,
)


def _open(market: Market, tmp_path: Path, signer: Signer | None, **kw: object) -> Executor:
    kw.setdefault("confirmations", 1)
    kw.setdefault("estimate_gas", False)  # py-evm's estimate is a slow binary search
    printed: list[str] = []
    config = executor_config(market, tmp_path / "journal.sqlite", **kw)  # type: ignore[arg-type]
    ex = Executor.open(market.w3, config, signer, out=printed.append)
    ex.printed = printed  # type: ignore[attr-defined]
    return ex


def _journal_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*") if p.is_file())


def test_flash_liquidation_is_mined_confirmed_and_ledgered(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    bot_market = bot_scenario.market
    w3 = bot_market.w3
    borrower = bot_scenario.borrowers[0]
    request = request_for(bot_market, borrower.address)
    assert request.route is Route.FLASH and request.min_profit > 0
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    weth = bot_market.token("WETH")
    weth_before = weth.functions.balanceOf(BOT_ADDRESS).call()

    ex = _open(bot_market, tmp_path, signer, estimate_gas=True)
    result = ex.execute(request)
    assert result.sent, result
    assert result.simulated_profit is not None and result.simulated_profit >= request.min_profit
    assert ex.execute(request).status is Status.IN_FLIGHT  # one intent per opportunity
    updates = ex.poll()
    assert [(u.before, u.after) for u in updates] == [(IntentState.SENT, IntentState.CONFIRMED)]
    assert ex.execute(request).status is Status.ALREADY_DONE  # the decision predates our success

    (entry,) = ex.ledger()
    assert entry.outcome == "liquidated" and entry.path == "flash"
    assert entry.predicted_profit == request.expected_profit
    assert entry.realised_profit == weth.functions.balanceOf(BOT_ADDRESS).call() - weth_before
    assert abs(entry.realised_profit - entry.predicted_profit) * 1000 <= entry.predicted_profit
    assert entry.gas_burnt_wei == 0 and entry.gas_paid_wei > 0

    assert ex.journal is not None
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.balance_change == -entry.gas_paid_wei
    assert f.bot_txs == [result.tx_hash]
    ex.close()
    journal = _journal_bytes(tmp_path)
    assert all(secret.encode() not in journal for secret in SECRETS)
    assert bytes.fromhex(BOT_KEY[2:]) not in journal


@pytest.mark.parametrize("path", [ExecutionPath.INVENTORY, ExecutionPath.INVENTORY_SWAP])
def test_inventory_routes(
    path: ExecutionPath, bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    bot_market = bot_scenario.market
    w3 = bot_market.w3
    borrower = bot_scenario.borrowers[0]
    usdc = bot_market.token("USDC")
    liquidator = bot_market.deployment.flash_liquidator
    stock = bot_market.units("USDC", 50_000)
    transact(w3, usdc.functions.mint(liquidator, stock), w3.eth.accounts[0])
    request = request_for(bot_market, borrower.address, path, inventory={usdc.address: stock})
    request = replace(request, gas_limit=700_000)  # the model's placeholder is too low
    assert request.route.value == path.value
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    ex = _open(bot_market, tmp_path, signer)
    result = ex.execute(request)
    assert result.sent, result
    ex.poll()
    (entry,) = ex.ledger()
    assert entry.outcome == "liquidated"
    assert entry.realised_profit == result.simulated_profit
    assert abs(entry.realised_profit - request.expected_profit) * 1000 <= request.expected_profit
    assert ex.journal is not None
    assert_nothing_lost(figures(w3, ex.journal, BOT_ADDRESS, start, balance))
    ex.close()


def test_direct_route_approves_once(bot_scenario: Scenario, tmp_path: Path, signer: Signer) -> None:
    bot_market = bot_scenario.market
    w3 = bot_market.w3
    first, second = bot_scenario.borrowers
    d = bot_market.deployment
    usdc = bot_market.token("USDC")
    transact(
        w3, usdc.functions.mint(BOT_ADDRESS, bot_market.units("USDC", 50_000)), w3.eth.accounts[0]
    )
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    ex = _open(bot_market, tmp_path, signer)

    def direct(user: str) -> ExecutionRequest:
        return direct_request(
            pool=d.pool,
            account=BOT_ADDRESS,
            user=user,
            collateral=d.token("WETH"),
            debt=d.token("USDC"),
            debt_to_cover=bot_market.units("USDC", 5_000),
            expected_collateral=1,
            min_collateral=1,
            gas_limit=400_000,
            priority_fee_per_gas=GWEI,
            observed_block=w3.eth.block_number,
        )

    waiting = ex.execute(direct(first.address))
    assert waiting.status is Status.WAITING_FOR_APPROVAL and waiting.tx_hash
    ex.poll()
    for user in (first.address, second.address):
        result = ex.execute(direct(user))
        assert result.sent, result
        ex.poll()
    assert ex.journal is not None
    kinds = [(i.kind, i.state) for i in ex.journal.intents()]
    assert (
        kinds == [("approve", IntentState.CONFIRMED)] + [("liquidation", IntentState.CONFIRMED)] * 2
    )
    weth_received = bot_market.token("WETH").functions.balanceOf(BOT_ADDRESS).call()
    assert sum(e.realised_profit for e in ex.ledger() if e.kind == "liquidation") == weth_received
    assert_nothing_lost(figures(w3, ex.journal, BOT_ADDRESS, start, balance))
    ex.close()


def test_dry_run_prints_what_it_would_send_and_signs_nothing(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    bot_market = bot_scenario.market
    w3 = bot_market.w3
    borrower = bot_scenario.borrowers[0]
    request = request_for(bot_market, borrower.address)
    nonce = w3.eth.get_transaction_count(BOT_ADDRESS)
    config = executor_config(
        bot_market, tmp_path / "journal.sqlite", dry_run=True, estimate_gas=False
    )
    ex = Executor.open(w3, config, signer)  # prints to stdout
    result = ex.execute(request)
    assert result.status is Status.DRY_RUN and result.would_send is not None
    out = capsys.readouterr().out
    printed = json.loads(out.strip().splitlines()[-1])["would_send"]
    assert printed["to"] == request.to and printed["data"] == "0x" + request.data.hex()
    assert printed["maxFeePerGas"] == result.fees.max_fee_per_gas  # type: ignore[union-attr]
    assert all(secret not in out for secret in SECRETS)
    assert w3.eth.get_transaction_count(BOT_ADDRESS) == nonce
    assert not (tmp_path / "journal.sqlite").exists()
    assert ex.poll() == []


def test_read_only_simulates_without_a_key(bot_scenario: Scenario, tmp_path: Path) -> None:
    bot_market = bot_scenario.market
    borrower = bot_scenario.borrowers[0]
    ex = _open(bot_market, tmp_path, None)
    assert ex.account == BOT_ADDRESS  # simulates as the liquidator's owner
    result = ex.execute(request_for(bot_market, borrower.address))
    assert result.status is Status.READ_ONLY and result.simulated_profit
    assert not (tmp_path / "journal.sqlite").exists()


def test_min_profit_guard_refuses_in_simulation(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    bot_market = bot_scenario.market
    borrower = bot_scenario.borrowers[0]
    request = request_for(bot_market, borrower.address)
    greedy = request_for(bot_market, borrower.address)
    # The same opportunity, re-encoded with a guard above what it can earn.
    data = greedy.data[:-32] + (request.expected_profit * 2).to_bytes(32, "big")
    greedy = replace(greedy, data=data, min_profit=request.expected_profit * 2)
    ex = _open(bot_market, tmp_path, signer)
    result = ex.execute(greedy)
    assert result.status is Status.SIMULATION_REVERTED
    assert result.revert_kind is RevertKind.BELOW_MIN_PROFIT
    # A request whose own min_profit is above what the simulation returns is refused too.
    higher = replace(request, min_profit=request.expected_profit * 2)
    result = ex.execute(higher)
    assert result.status is Status.BELOW_MIN_PROFIT
    assert ex.journal is not None and ex.journal.attempts() == []
    ex.close()


def test_paused_pool_is_classified_and_nothing_sent(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    bot_market = bot_scenario.market
    w3 = bot_market.w3
    borrower = bot_scenario.borrowers[0]
    request = request_for(bot_market, borrower.address)
    pause = bot_market.pool.functions.setLiquidationsPaused(True)._encode_transaction_data()
    transact(
        w3, bot_market.guardian.functions.submit(bot_market.pool.address, pause), w3.eth.accounts[0]
    )
    ex = _open(bot_market, tmp_path, signer)
    result = ex.execute(request)
    assert result.status is Status.SIMULATION_REVERTED and result.revert_kind is RevertKind.PAUSED
    assert ex.journal is not None and ex.journal.attempts() == []
    ex.close()


def test_gas_fee_and_balance_refusals(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    bot_market = bot_scenario.market
    w3 = bot_market.w3
    borrower = bot_scenario.borrowers[0]
    request = replace(request_for(bot_market, borrower.address), priority_fee_per_gas=200 * GWEI)
    ex = _open(bot_market, tmp_path, signer, max_tip=300 * GWEI)
    assert ex.execute(replace(request, expected_profit_wei=1)).status is Status.GAS_EXCEEDS_PROFIT
    assert ex.execute(replace(request, max_fee_per_gas=1)).status is Status.FEES_OVER_CAP
    stale = replace(request, observed_block=w3.eth.block_number + 5)
    assert ex.execute(stale).status is Status.STALE_HEAD
    # Spend most of the gas money (the bot's key, before anything is in flight).
    spend = Account.from_key(BOT_KEY).sign_transaction(
        {
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(BOT_ADDRESS),
            "to": w3.eth.accounts[0],
            "value": w3.eth.get_balance(BOT_ADDRESS) - 5 * 10**16,
            "gas": 21_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 0,
        }
    )
    w3.eth.send_raw_transaction(spend.raw_transaction)
    assert ex.execute(request).status is Status.NONCE_CONFLICT  # noticed, re-evaluated next
    result = ex.execute(request)  # 0.05 ETH cannot pay 600k gas at 200 gwei
    assert result.status is Status.NO_GAS_MONEY, result
    assert ex.journal is not None and ex.journal.attempts() == []
    ex.close()


def test_a_chain_switch_halts_before_signing(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot_market = bot_scenario.market
    borrower = bot_scenario.borrowers[0]
    request = request_for(bot_market, borrower.address)
    ex = _open(bot_market, tmp_path, signer)
    monkeypatch.setattr(ex.node, "chain_id", lambda: 1)  # a failover to another network
    result = ex.execute(request)
    assert result.status is Status.BLOCKED and "halted" in result.detail
    monkeypatch.undo()
    assert ex.execute(request).status is Status.BLOCKED  # stays halted
    assert ex.poll() == []
    assert ex.journal is not None and ex.journal.attempts() == []
    assert [k for k, _ in ex.journal.events("halt")] == ["halt"]
    ex.close()


def test_out_of_gas_is_recorded_as_gas_burnt(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    bot_market = bot_scenario.market
    w3 = bot_market.w3
    request = replace(request_for(bot_market, bot_scenario.borrowers[0].address), gas_limit=150_000)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    ex = _open(bot_market, tmp_path, signer)
    result = ex.execute(request)
    assert result.sent
    ex.poll()
    assert ex.journal is not None
    intent = ex.journal.intent(result.intent_id)  # type: ignore[arg-type]
    assert intent.state is IntentState.FAILED and intent.outcome == "reverted:out_of_gas"
    (entry,) = ex.ledger()
    assert result.gas_limit == 180_000 and entry.gas_used * 10 >= 180_000 * 9
    assert entry.gas_burnt_wei == entry.gas_paid_wei > 0 and entry.realised_profit == 0
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.balance_change == -entry.gas_burnt_wei
    ex.close()


def test_pnl_totals_and_a_lagging_node(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot_market = bot_scenario.market
    first, second = bot_scenario.borrowers
    ex = _open(bot_market, tmp_path, signer)
    ok = ex.execute(replace(request_for(bot_market, first.address), gas_limit=900_000))
    assert ok.sent
    ex.poll()
    oog = ex.execute(replace(request_for(bot_market, second.address), gas_limit=100_000))
    assert oog.sent
    ex.poll()
    assert ex.journal is not None
    pnl = ex.journal.pnl()
    (liquidated,) = [e for e in ex.ledger() if e.outcome == "liquidated"]
    (failed,) = [e for e in ex.ledger() if e.outcome != "liquidated"]
    assert pnl.outcomes == {"liquidated": 1, "reverted:out_of_gas": 1}
    assert pnl.realised_profit == {liquidated.profit_asset: liquidated.realised_profit}
    assert pnl.gas_paid_wei == liquidated.gas_paid_wei + failed.gas_paid_wei
    assert pnl.gas_burnt_wei == failed.gas_paid_wei > 0
    # A node whose head goes backwards is not acted on.
    real_head = ex.node.head()
    monkeypatch.setattr(ex.node, "head", lambda: replace(real_head, number=real_head.number - 3))
    stale = ex.execute(request_for(bot_market, second.address))
    assert stale.status is Status.STALE_HEAD
    assert ex.poll() == []
    ex.close()
