"""Record a crash played on anvil, backtest the recording, and hold the backtest to the chain.

The scenario: two dozen borrowers; WETH -25% and WBTC -20% in one block (C). Before anything
else happens, the test asks the model (through its own chain reads, not the recorder's) what
the bot would do, and lets a real bot do exactly that in block C+1 on a snapshot: its flash
liquidations run through the FlashLiquidator and their receipts are kept. The snapshot is
then reverted and history goes on without the bot: in C+1 a competitor liquidates A at a
low tip and B at a high one, in C+3 it liquidates D, and a few empty blocks follow.

The backtest must (1) account for every ``LiquidationCall`` the chain holds, with the
receipts' gas, (2) see the races as the rules say (A and D pre-empted by the bot, B lost),
(3) decide at C what the model decides on the chain's own state, and (4) predict for each
liquidation the bot made in C+1 the exact amounts the contracts moved, and its profit within
the gas it paid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.logs import DISCARD

from bot.backtest import REASONS, BacktestConfig, BacktestResult, run_backtest, write_report
from bot.backtest.source import RecordedSource
from bot.chain.anvil import Anvil
from bot.chain.rpc import RpcClient
from bot.model.gas import GasTable, next_base_fee
from bot.model.profit import NATIVE_UNIT, Valuation
from bot.model.ranking import BidPolicy, DecisionConfig, Opportunity, plan_block
from bot.model.types import ExecutionPath
from bot.protocols.aave_pool import AavePoolAdapter
from bot.record import record
from bot.record.schema import LIQUIDATION_CALL
from bot.watch import Watcher, WatcherConfig
from tests.model.chain_state import read_account, read_market, read_pair
from tests.record.scenario import GWEI, Played, play

pytestmark = pytest.mark.anvil

CONFIG = BacktestConfig(
    min_profit_usd=Decimal(5),
    max_per_block=None,
    same_block="priority",
    # Budgets for this pool: flash liquidations here measured 440k-490k gas (cold storage,
    # two collaterals); the model's 400k placeholder would understate them.
    gas={
        ExecutionPath.FLASH: 600_000,
        ExecutionPath.INVENTORY: 450_000,
        ExecutionPath.INVENTORY_SWAP: 560_000,
    },
)
BASE = 10**8


@dataclass
class Execution:
    """What the FlashLiquidator did for one planned liquidation in block C+1 (snapshot)."""

    user: str
    debt_covered: int
    collateral_seized: int
    profit: int
    gas_used: int
    effective_gas_price: int


@dataclass
class World:
    played: Played
    crash: int
    plan: list[Opportunity]
    executions: dict[str, Execution]
    path: Path
    result: BacktestResult
    a: str
    b: str
    d: str


def model_plan(p: Played, block: int) -> list[Opportunity]:
    """The live loop's decision at ``block``, from plain web3 reads of the chain."""
    m = p.market
    state = read_market(m)
    accounts = [read_account(m, u) for u in p.liquidatable()]
    pairs = [read_pair(m, *name.split("/")) for name in m.deployment.pairs]
    header = p.w3.eth.get_block(block)
    native = state.price(m.deployment.token("WETH"))
    min_profit = -(-int(CONFIG.min_profit_usd * BASE * NATIVE_UNIT) // native)
    return plan_block(
        state,
        accounts,
        int(header["timestamp"]),
        pairs=pairs,
        valuation=Valuation(state, native),
        gas_table=GasTable(gas=dict(CONFIG.gas)),
        base_fee=next_base_fee(header["baseFeePerGas"], header["gasUsed"], header["gasLimit"]),
        config=DecisionConfig(
            min_profit=min_profit,
            bid=BidPolicy(CONFIG.profit_share_bps, CONFIG.max_fee_per_gas, 0),
            paths=CONFIG.paths,
        ),
    )


def bot_executes(p: Played, plan: list[Opportunity], timestamp: int) -> dict[str, Execution]:
    """Send the plan from the liquidator's owner, all in one block at ``timestamp``."""
    m = p.market
    liquidator = m.liquidator
    sent: list[tuple[str, str]] = []
    tip = 2**255
    with p.one_block(timestamp):
        for opp in plan:
            assert opp.path is ExecutionPath.FLASH
            s = opp.sized
            pair = m.deployment.pair_for(
                m.deployment.symbol_of(s.collateral), m.deployment.symbol_of(s.debt)
            )
            assert pair is not None
            fn = liquidator.functions.liquidateWithFlashSwap(
                pair.address, s.collateral, s.debt, opp.user, s.debt_to_cover, opp.min_profit_guard
            )
            tip = min(tip, opp.priority_fee_per_gas)  # see Played.send
            sent.append((opp.user, p.send(fn, p.bot, tip=tip, max_fee=opp.max_fee_per_gas)))
    out: dict[str, Execution] = {}
    for user, tx in sent:
        receipt = p.receipt(tx)
        (event,) = liquidator.events.Liquidated().process_receipt(receipt, errors=DISCARD)
        out[user] = Execution(
            user,
            event["args"]["debtCovered"],
            event["args"]["collateralSeized"],
            event["args"]["profit"],
            receipt["gasUsed"],
            receipt["effectiveGasPrice"],
        )
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with Anvil() as node:
        p = play(node, borrowers=24, seed=11)
        crash = p.crash({"WETH": Decimal("2250"), "WBTC": Decimal("48000")})
        next_timestamp = p.timestamp(crash) + 12
        plan = model_plan(p, crash)
        assert len(plan) >= 4, "the crash should leave several profitable liquidations"
        snapshot = p.rpc("evm_snapshot")
        executions = bot_executes(p, plan, next_timestamp)
        assert p.rpc("evm_revert", snapshot)
        a, d, b = plan[0].user, plan[1].user, plan[-1].user
        assert p.compete([(a, GWEI), (b, 2_000 * GWEI)], timestamp=next_timestamp) == crash + 1
        p.mine()
        assert p.compete([(d, 2 * GWEI)]) == crash + 3
        for _ in range(4):
            p.mine()
        path = tmp_path_factory.mktemp("scenario") / "scenario.sqlite"
        record(
            [node.url],
            p.market.deployment,
            p.first,
            p.head,
            path,
            checkpoint_every=5,
            progress=False,
            chunk=40,
        )
        result = run_backtest(path, CONFIG)
        yield World(p, crash, plan, executions, path, result, a, b, d)


def test_every_liquidation_call_is_accounted_for(world: World) -> None:
    p, result = world.played, world.result
    events = p.w3.eth.get_logs(
        {"fromBlock": p.first, "toBlock": p.head, "address": p.market.deployment.pool,
         "topics": ["0x" + LIQUIDATION_CALL.topic0.hex()]}
    )  # fmt: skip
    contract = p.market.pool
    chain = []
    for e in events:
        args = contract.events.LiquidationCall().process_log(e)["args"]
        receipt = p.w3.eth.get_transaction_receipt(e["transactionHash"])
        chain.append(
            (
                e["blockNumber"],
                "0x" + bytes(e["transactionHash"]).hex(),
                e["logIndex"],
                args["user"],
                args["liquidator"],
                args["debtToCover"],
                args["liquidatedCollateralAmount"],
                receipt["gasUsed"],
                receipt["effectiveGasPrice"],
            )
        )
    seen = [
        (a.block, a.tx_hash, a.log_index, a.user, a.liquidator, a.debt_covered,
         a.collateral_seized, a.gas_used, a.effective_gas_price)
        for a in result.actual_liquidations
    ]  # fmt: skip
    assert seen == chain
    assert len(chain) == 3
    assert result.summary.liquidations_on_chain == 3
    for actual in result.actual_liquidations:
        assert actual.preempted_by_bot or actual.bot_reason in REASONS
        assert actual.liquidator == p.competitor


def test_races_follow_the_rules(world: World) -> None:
    by_user = {a.user: a for a in world.result.actual_liquidations}
    a, b, d = by_user[world.a], by_user[world.b], by_user[world.d]
    assert (a.block, b.block, d.block) == (world.crash + 1, world.crash + 1, world.crash + 3)
    assert a.preempted_by_bot, "a 1 gwei tip loses to the bot's bid"
    assert not b.preempted_by_bot and b.bot_reason == "lost_race", b
    assert d.preempted_by_bot, "the bot's transaction landed two blocks earlier"
    s = world.result.summary
    assert (s.preempted, s.by_others) == (2, 1)
    assert s.others_by_reason == {"lost_race": 1}


def test_the_bot_decides_what_the_model_decides_on_chain_state(world: World) -> None:
    result = world.result
    decided = [b for b in result.bot_liquidations if b.decided_block == world.crash]
    decided += [f for f in result.failed_attempts if f.decided_block == world.crash]  # type: ignore[misc]
    assert sorted(x.user for x in decided) == sorted(o.user for o in world.plan)
    first = {b.user: b for b in result.bot_liquidations if b.decided_block == world.crash}
    for opp in world.plan:
        if opp.user in first:
            assert first[opp.user].debt_to_cover == opp.debt_to_cover
            assert first[opp.user].block == world.crash + 1


def test_predictions_match_what_the_bot_did_within_gas(world: World) -> None:
    result = world.result
    landed = {
        b.user: b
        for b in result.bot_liquidations
        if b.decided_block == world.crash and b.block == world.crash + 1
    }
    compared = 0
    for opp in world.plan:
        if opp.user == world.b:
            continue  # the competitor went first in history; the bot did not in the snapshot
        bot, real = landed[opp.user], world.executions[opp.user]
        # the amounts the contracts moved, to the unit
        assert (bot.debt_covered, bot.collateral_seized, bot.collateral_gain) == (
            real.debt_covered,
            real.collateral_seized,
            real.profit,
        )
        # a flash borrow the pool did not use comes back to the owner in the debt asset
        assert bot.debt_gain == opp.debt_to_cover - real.debt_covered
        # gas: the table's budget covers what it used; profit within that gas
        assert real.gas_used <= CONFIG.gas[ExecutionPath.FLASH]
        native = world.played.market.oracle.functions.getAssetPrice(
            world.played.market.deployment.token("WETH")
        ).call(block_identifier=world.crash)
        symbol = bot.collateral
        spec = world.played.market.specs[symbol]
        price = world.played.market.oracle.functions.getAssetPrice(
            world.played.market.deployment.token(symbol)
        ).call(block_identifier=world.crash)
        debt_spec = world.played.market.specs[bot.debt]
        debt_price = world.played.market.oracle.functions.getAssetPrice(
            world.played.market.deployment.token(bot.debt)
        ).call(block_identifier=world.crash)
        gross = real.profit * price / 10**spec.decimals / BASE
        gross += (
            (opp.debt_to_cover - real.debt_covered) * debt_price / 10**debt_spec.decimals / BASE
        )
        realized = gross - real.gas_used * real.effective_gas_price * native / 1e26
        assert abs(bot.profit_usd - realized) <= bot.gas_usd + 1e-6
        assert bot.profit_usd > 0
        compared += 1
    assert compared >= 3


def test_the_book_agrees_with_the_chain_at_every_checkpoint(world: World) -> None:
    s = world.result.summary
    assert s.checkpoints_verified >= 10
    assert s.accounts_verified >= 24
    assert (s.position_mismatches, s.health_mismatches) == (0, 0), world.result.info


def test_the_recorded_book_equals_the_live_watchers(world: World) -> None:
    p = world.played
    source = RecordedSource(world.path)
    source.start()
    states: dict[int, Any] = {}
    for header in source.headers:
        state = source.advance(header)
        if header.number in (world.crash, world.crash + 1, world.crash + 3):
            states[header.number] = (
                state,
                {u: source.account_data(u).health_factor for u in state.liquidatable},
            )
    source.close()
    adapter = AavePoolAdapter.from_deployment(p.market.deployment)
    for block, (state, health) in states.items():
        watcher = Watcher(
            RpcClient([p.anvil.url]), adapter, WatcherConfig(confirm=True, confirm_all=True)
        )
        snapshot = watcher.sync(block)
        live = {a.user: a.health_factor for a in snapshot.at_risk if a.data.liquidatable}
        assert health == live, block
        assert all(a.confirmed for a in snapshot.at_risk)
        assert state.at_risk == len(snapshot.at_risk)


def test_the_report_is_self_contained(world: World, tmp_path: Path) -> None:
    json_path, html_path = tmp_path / "r.json", tmp_path / "r.html"
    write_report(world.result, json_path, html_path)
    data = json.loads(json_path.read_text())
    assert data["summary"]["liquidations_on_chain"] == 3
    assert len(data["actual_liquidations"]) == 3
    assert data["assumptions"]
    page = html_path.read_text()
    assert page.count("<svg") >= 4
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert Web3.to_checksum_address(world.a)[:10] in page
