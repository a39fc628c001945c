"""plan_block re-evaluates only the accounts a liquidation affects: it must give exactly the
plan of the plain greedy loop that re-ranks every remaining account after every liquidation.

The reference below is that loop, written out in full; hypothesis builds three-asset markets
with accrued interest, shared and separate AMM pairs, scarce and plentiful inventory and
thin reserve cash, and compares both plans opportunity by opportunity (or the exception).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.model.amm import after_swap
from bot.model.fixed_point import BASE_UNIT, RAY
from bot.model.gas import GasTable
from bot.model.liquidation import LiquidationReverted, liquidate
from bot.model.profit import Valuation
from bot.model.ranking import DecisionConfig, Opportunity, plan_block, rank_accounts
from bot.model.types import (
    Account,
    ExecutionPath,
    MarketState,
    PairReserves,
    ReserveState,
    UserReserve,
)
from tests.model.factories import USDC, WBTC, WETH, reserve

FLASH, INV, SWAP = ExecutionPath.FLASH, ExecutionPath.INVENTORY, ExecutionPath.INVENTORY_SWAP
GAS = GasTable({FLASH: 400_000, INV: 300_000, SWAP: 380_000})
PRICES = {WETH: 3000 * BASE_UNIT, WBTC: 60_000 * BASE_UNIT, USDC: BASE_UNIT}
DECIMALS = {WETH: 18, WBTC: 8, USDC: 6}
NOW = 1_000_000


def reference_plan(
    market: MarketState,
    accounts: Sequence[Account],
    timestamp: int,
    *,
    pairs: Sequence[PairReserves],
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    inventory: Mapping[str, int],
    config: DecisionConfig,
    max_liquidations: int | None,
) -> list[Opportunity]:
    """The greedy plan by brute force: every remaining account re-ranked every time."""
    book = {frozenset((p.token0, p.token1)): p for p in pairs}
    stock = dict(inventory)
    remaining = {a.user: a for a in accounts}
    plan: list[Opportunity] = []
    while remaining and (max_liquidations is None or len(plan) < max_liquidations):
        ranked = rank_accounts(
            market,
            remaining.values(),
            timestamp,
            pairs=list(book.values()),
            valuation=replace(valuation, market=market),
            gas_table=gas_table,
            base_fee=base_fee,
            inventory=stock,
            config=config,
        )
        if not ranked:
            break
        best = ranked[0]
        plan.append(best)
        s = best.sized
        market = liquidate(
            market, remaining.pop(best.user), s.collateral, s.debt, s.debt_to_cover, timestamp
        ).market
        key = frozenset((s.collateral, s.debt))
        if s.path is FLASH:
            book[key] = after_swap(book[key], s.collateral, s.repay, s.debt_to_cover)
        elif s.path is SWAP:
            book[key] = after_swap(book[key], s.collateral, s.amounts.to_liquidator, s.swap_out)
        if s.path is not FLASH:
            stock[s.debt] = stock.get(s.debt, 0) + s.debt_gain
        if s.path is INV:
            stock[s.collateral] = stock.get(s.collateral, 0) + s.collateral_gain
    return plan


def _state(rate_pct: int, cash: int) -> ReserveState:
    return ReserveState(
        liquidity_index=RAY + RAY // 50,
        variable_borrow_index=RAY + RAY // 30,
        liquidity_rate=rate_pct * RAY // 200,
        variable_borrow_rate=rate_pct * RAY // 100,
        last_update_timestamp=NOW - 86_400 * 30,  # a month of interest to accrue
        total_scaled_supply=10**30,
        total_scaled_debt=10**20,
        cash=cash,
    )


def drawn_account(
    draw: st.DrawFn,
    i: int,
    collaterals: Sequence[tuple[str, ...]],
    debts: Sequence[str],
    max_usd: int,
    health_pct: tuple[int, int],
) -> Account:
    """A borrower with ``usd`` of collateral (split evenly) and one debt at a drawn health."""
    collateral = draw(st.sampled_from(list(collaterals)))
    debt = draw(st.sampled_from([d for d in debts if d not in collateral]))
    usd = draw(st.integers(500, max_usd))
    health = draw(st.integers(*health_pct)) / 100
    positions = [
        UserReserve(
            c,
            scaled_supply=usd * 10 ** DECIMALS[c] * BASE_UNIT // len(collateral) // PRICES[c],
            using_as_collateral=True,
        )
        for c in collateral
    ]
    debt_usd = usd * 0.8 / health
    positions.append(
        UserReserve(
            debt, scaled_debt=int(debt_usd * 10 ** DECIMALS[debt] * BASE_UNIT / PRICES[debt])
        )
    )
    order = {WETH: 0, WBTC: 1, USDC: 2}
    positions.sort(key=lambda p: order[p.asset])
    return Account(f"0x{i:040x}", tuple(positions))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    thin_cash = draw(st.booleans())
    reserves = tuple(
        reserve(
            asset,
            DECIMALS[asset],
            bonus=draw(st.sampled_from([10500, 10800])),
            state=_state(
                draw(st.integers(1, 20)),
                draw(st.integers(0, 30)) * 10 ** DECIMALS[asset] if thin_cash else 10**30,
            ),
        )
        for asset in (WETH, WBTC, USDC)
    )
    drop = draw(st.integers(70, 100))
    prices = {**PRICES, WETH: PRICES[WETH] * drop // 100}
    market = MarketState(reserves, prices)
    accounts = [
        drawn_account(draw, i, [(WETH,), (WBTC,), (WETH, WBTC)], (USDC, WETH), 200_000, (75, 102))
        for i in range(draw(st.integers(1, 10)))
    ]

    pair_list = []
    for a, b, address in ((WETH, USDC, "0xA1"), (WBTC, USDC, "0xA2"), (WBTC, WETH, "0xA3")):
        if draw(st.booleans()):
            usd = draw(st.sampled_from([50_000, 300_000, 3_000_000]))
            pair_list.append(
                PairReserves(
                    address,
                    a,
                    b,
                    usd * 10 ** DECIMALS[a] * BASE_UNIT // prices[a],
                    usd * 10 ** DECIMALS[b] * BASE_UNIT // prices[b],
                )
            )
    inventory = {
        asset: draw(st.sampled_from([0, 1_000, 20_000, 10**9]))
        * 10 ** DECIMALS[asset]
        * BASE_UNIT
        // prices[asset]
        for asset in (WETH, USDC)
    }
    return {
        "market": market,
        "accounts": accounts,
        "pairs": pair_list,
        "inventory": inventory,
        "max_liquidations": draw(st.sampled_from([None, 1, 3])),
        "config": DecisionConfig(
            inventory_only_without_flash=draw(st.booleans()),
            min_profit=draw(st.sampled_from([0, 50 * 10**18])),
        ),
    }


def plan_inputs(case: dict[str, object]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A planner's arguments for ``case``: (market, accounts, timestamp) and the keywords."""
    market = case["market"]
    assert isinstance(market, MarketState)
    kwargs = {
        "pairs": case["pairs"],
        "valuation": Valuation(market, native_price=market.price(WETH)),
        "gas_table": GAS,
        "base_fee": 10**9,
        "inventory": case["inventory"],
        "config": case["config"],
        "max_liquidations": case["max_liquidations"],
    }
    return (market, case["accounts"], NOW), kwargs


def _run(fn: object, case: dict[str, object]) -> list[Opportunity] | str:
    args, kwargs = plan_inputs(case)
    try:
        return fn(*args, **kwargs)  # type: ignore[operator,no-any-return]
    except LiquidationReverted as exc:
        return type(exc).__name__


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_incremental_plan_equals_the_brute_force_greedy(case: dict[str, object]) -> None:
    assert _run(plan_block, case) == _run(reference_plan, case)


def test_many_accounts_on_one_pair_use_inventory_once_the_pool_is_spent() -> None:
    """Sixty accounts sharing one pair and one inventory: the plans agree, and the plan both
    spends the pool (flash) and then the inventory (a mixed, order-dependent case)."""
    reserves = tuple(
        reserve(asset, DECIMALS[asset], state=_state(5, 10**30)) for asset in (WETH, WBTC, USDC)
    )
    market = MarketState(reserves, {**PRICES, WETH: PRICES[WETH] * 80 // 100})
    accounts = [
        Account(
            f"0x{i:040x}",
            (
                UserReserve(WETH, scaled_supply=(2 + i % 7) * 10**18, using_as_collateral=True),
                UserReserve(USDC, scaled_debt=(2 + i % 7) * 2_300 * 10**6),
            ),
        )
        for i in range(60)
    ]
    thin = PairReserves("0xA1", WETH, USDC, 100 * 10**18, 300_000 * 10**6)
    case: dict[str, object] = {
        "market": market,
        "accounts": accounts,
        "pairs": [thin],
        "inventory": {USDC: 150_000 * 10**6},
        "max_liquidations": None,
        "config": DecisionConfig(),
    }
    fast, slow = _run(plan_block, case), _run(reference_plan, case)
    assert isinstance(fast, list) and fast == slow
    paths = {o.path for o in fast}
    assert paths == {FLASH, INV}, paths
