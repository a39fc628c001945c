"""The three execution paths through FlashLiquidator.sol: the model's chosen size and its
predicted gains equal what the contract pays out, to the wei; one unit more of ``minProfit``
makes the contract revert; nearby sizes simulated on chain earn no more."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from bot.chain.contracts import transact
from bot.chain.embedded import EmbeddedChain
from bot.deploy.market import DEFAULT_PAIRS, Market
from bot.model.amm import after_swap
from bot.model.gas import GasSample, GasTable
from bot.model.sizing import SizedPath, evaluate, seize_terms, size_path
from bot.model.types import ExecutionPath, PairReserves
from tests.helpers import reverts
from tests.model.chain_state import read_account, read_market, read_pair
from tests.model.scenarios import CHAIN_SETTINGS, GAS, mint
from tests.model.test_differential_health import Position, open_position
from tests.model.test_differential_liquidation import erc20, push_health

FLASH, INV, SWAP = ExecutionPath.FLASH, ExecutionPath.INVENTORY, ExecutionPath.INVENTORY_SWAP
PAIRS = tuple((p.base, p.quote) for p in DEFAULT_PAIRS) + tuple(
    (p.quote, p.base) for p in DEFAULT_PAIRS
)


@dataclass(frozen=True)
class Case:
    collateral: str
    debt: str
    cents: int
    share_bps: int
    target_hf_bps: int
    dt: int
    inventory_share_bps: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    collateral, debt = draw(st.sampled_from(PAIRS))
    return Case(
        collateral=collateral,
        debt=debt,
        # from $100 to $5M of collateral: up to larger than the pools ($2-4M a side)
        cents=draw(st.integers(10_000, 500_000_000)),
        share_bps=draw(st.integers(5_000, 9_800)),
        target_hf_bps=draw(st.sampled_from([3_000, 8_000, 9_400, 9_700, 9_990])),
        dt=draw(st.sampled_from([0, 3_600, 86_000])),
        inventory_share_bps=draw(st.sampled_from([100, 5_000, 20_000])),
    )


def run_path(
    market: Market, sized: SizedPath, who: str, pair: PairReserves, min_profit: int
) -> object:
    fns = market.liquidator.functions
    coll, debt = sized.collateral, sized.debt
    if sized.path is FLASH:
        return fns.liquidateWithFlashSwap(
            pair.pair, coll, debt, who, sized.debt_to_cover, min_profit
        )
    if sized.path is INV:
        return fns.liquidateFromInventory(coll, debt, who, sized.debt_to_cover, min_profit)
    return fns.liquidateFromInventoryAndSell(
        pair.pair, coll, debt, who, sized.debt_to_cover, min_profit
    )


def balances(tokens: tuple[Contract, Contract], holder: str) -> tuple[int, int]:
    return tokens[0].functions.balanceOf(holder).call(), tokens[1].functions.balanceOf(
        holder
    ).call()


@settings(CHAIN_SETTINGS, max_examples=10)
@given(case=cases())
def test_paths_pay_what_the_model_predicts(
    deployed: tuple[EmbeddedChain, Market], case: Case
) -> None:
    chain, market = deployed
    w3 = market.w3
    owner = w3.eth.accounts[1]
    liquidator = market.liquidator
    snapshot = chain.snapshot()
    try:
        # eth-tester stamps a mined block with the wall clock when that is later than the
        # pending block's time: move the chain an hour ahead so that the wall clock cannot
        # tick past the pending timestamp the prediction below is made for.
        latest = int(w3.eth.get_block("latest")["timestamp"])
        chain.tester.time_travel(max(latest, int(time.time())) + 3600)
        position = Position(
            collateral={case.collateral: case.cents},
            dust={case.collateral: 12_345},
            debts={case.debt: case.share_bps * 8_000 // 10_000 * 6_000 // 10_000},
            disable_second=False,
            dt=case.dt,
            prices={case.collateral: 1_000, case.debt: 1_000},
        )
        who = open_position(chain, market, position)
        push_health(market, who, position, case.target_hf_bps)
        coll, debt = market.deployment.token(case.collateral), market.deployment.token(case.debt)
        tokens = (erc20(market, coll), erc20(market, debt))
        state, account = read_market(market), read_account(market, who)
        pending = int(w3.eth.get_block("pending")["timestamp"])
        data_hf = market.pool.functions.getUserAccountData(who).call(block_identifier="pending")[5]
        if data_hf >= 10**18:
            event("not liquidatable")
            return
        terms = seize_terms(state, account, coll, debt, pending)
        inventory = max(1, terms.max_debt * case.inventory_share_bps // 10_000)
        mint(market, case.debt, liquidator.address, inventory)  # mines a block: read again
        state, account = read_market(market), read_account(market, who)
        pending = int(w3.eth.get_block("pending")["timestamp"])
        terms = seize_terms(state, account, coll, debt, pending)
        pair = read_pair(market, case.collateral, case.debt)
        for path in (FLASH, SWAP, INV):
            balance = None if path is FLASH else inventory
            sized = size_path(terms, path, pair=pair, balance=balance)
            if sized is None:
                event(f"{path.value}: nothing profitable")
                continue
            event(f"{path.value}: {'exact' if sized.exact else 'within 2 eps'}")
            if sized.amounts.capped_by_collateral:
                event(f"{path.value}: capped")
            inner = chain.snapshot()
            try:
                holder = owner if path is FLASH else liquidator.address
                before = balances(tokens, holder)
                # one unit above the predicted profit must revert: the prediction is exact
                with reverts("ProfitBelowMinimum"):
                    run_path(market, sized, who, pair, sized.contract_profit + 1).call(
                        {"from": owner, "gas": GAS}, block_identifier="pending"
                    )
                # sizes around the chosen one earn no more (simulated on chain)
                if path is FLASH:
                    for x in {
                        sized.debt_to_cover - 1,
                        sized.debt_to_cover + 1,
                        sized.debt_to_cover * 99 // 100,
                        sized.debt_to_cover * 101 // 100,
                    }:
                        other = evaluate(terms, path, x, pair=pair) if x > 0 else None
                        # borrowing more than the pool uses is an AMM trade, not a liquidation
                        # (when the oracle and the pair disagree it can look profitable)
                        if other is None or other.debt_gain > 0:
                            continue
                        simulated = liquidator.functions.liquidateWithFlashSwap(
                            pair.pair, coll, debt, who, x, 0
                        ).call({"from": owner, "gas": GAS}, block_identifier="pending")
                        assert simulated == other.collateral_gain
                        # worth no more at oracle prices (unused debt comes back too)
                        assert other.value_key <= sized.value_key
                receipt = transact(w3, run_path(market, sized, who, pair, sized.contract_profit),
                                   owner, gas=GAS)  # fmt: skip
                assert w3.eth.get_block(receipt["blockNumber"])["timestamp"] == pending
                after = balances(tokens, holder)
                assert after[0] - before[0] == sized.collateral_gain
                assert after[1] - before[1] == sized.debt_gain
                now = read_pair(market, case.collateral, case.debt)
                if path is FLASH:
                    expected = after_swap(pair, coll, sized.repay, sized.debt_to_cover)
                elif path is SWAP:
                    expected = after_swap(pair, coll, sized.amounts.to_liquidator, sized.swap_out)
                else:
                    expected = pair
                assert (now.reserve0, now.reserve1) == (expected.reserve0, expected.reserve1)
            finally:
                chain.revert(inner)
    finally:
        chain.revert(snapshot)


def test_gas_table_calibrated_from_receipts(deployed: tuple[EmbeddedChain, Market]) -> None:
    """Each path's gas comes from measured receipts of the real contracts."""
    chain, market = deployed
    w3 = market.w3
    owner = w3.eth.accounts[1]
    snapshot = chain.snapshot()
    samples = []
    try:
        position = Position({"WETH": 5_000_000}, {"WETH": 0}, {"USDC": 4_500}, False, 0, {})
        who = open_position(chain, market, position)
        push_health(market, who, position, 9_000)
        weth, usdc = market.deployment.token("WETH"), market.deployment.token("USDC")
        mint(market, "USDC", market.liquidator.address, 10**12)
        state, account = read_market(market), read_account(market, who)
        pending = int(w3.eth.get_block("pending")["timestamp"])
        terms = seize_terms(state, account, weth, usdc, pending)
        pair = read_pair(market, "WETH", "USDC")
        for path in (FLASH, SWAP, INV):
            sized = size_path(terms, path, pair=pair, balance=None if path is FLASH else 10**12)
            assert sized is not None
            inner = chain.snapshot()
            try:
                receipt = transact(w3, run_path(market, sized, who, pair, 0), owner, gas=GAS)
                samples.append(GasSample(path, int(receipt["gasUsed"])))
            finally:
                chain.revert(inner)
    finally:
        chain.revert(snapshot)
    table = GasTable.from_samples(samples, margin_bps=0)
    assert table.samples == {FLASH: 1, SWAP: 1, INV: 1}
    # flash swap and selling both touch the pair; paying from inventory does not
    assert table.gas_for(INV) < table.gas_for(SWAP)
    assert table.gas_for(INV) < table.gas_for(FLASH)
