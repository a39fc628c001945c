"""LendingPool liquidations: close factor, bonus and protocol fee, capped seizes, bad debt,
interest-driven liquidations and the pause switch (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_typing import ChecksumAddress

from tests.contracts.pool_fixtures import (
    MAX_UINT,
    RAY,
    SECONDS_PER_YEAR,
    WAD,
    Market,
    expected_liquidation,
    isolated,
    module_market,
    pct_div,
    pct_mul,
    ray_div,
    ray_mul,
)
from tests.helpers import reverts

USDC, WBTC, WETH = 10**6, 10**8, 10**18


@pytest.fixture(scope="module")
def market_module() -> Iterator[Market]:
    yield from module_market()


@pytest.fixture
def m(market_module: Market) -> Iterator[Market]:
    yield from isolated(market_module)


def open_position(m: Market) -> tuple[ChecksumAddress, ChecksumAddress]:
    """Alice: 10 WETH ($30,000, threshold 82.5%) against 20,000 USDC of debt (HF 1.2375).
    Bob supplies the USDC. Returns (alice, liquidator) with the liquidator funded."""
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "USDC", 100_000 * USDC)
    m.supply(alice, "WETH", 10 * WETH)
    m.borrow(alice, "USDC", 20_000 * USDC)
    m.fund(liquidator, "USDC", 1_000_000 * USDC)
    return alice, liquidator


def test_healthy_position_cannot_be_liquidated(m: Market) -> None:
    alice, liquidator = open_position(m)
    liquidate = m.pool.functions.liquidationCall
    weth, usdc, wbtc = m.addr("WETH"), m.addr("USDC"), m.addr("WBTC")
    with reverts("HealthFactorNotBelowThreshold"):
        liquidate(weth, usdc, alice, MAX_UINT, False).call({"from": liquidator})
    m.set_price("WETH", 2_000 * 10**8)
    assert m.account(alice).health_factor < WAD
    with reverts("CollateralCannotBeLiquidated"):
        liquidate(wbtc, usdc, alice, MAX_UINT, False).call({"from": liquidator})
    with reverts("SpecifiedCurrencyNotBorrowedByUser"):
        liquidate(weth, wbtc, alice, MAX_UINT, False).call({"from": liquidator})
    with reverts("ReserveNotInitialized"):
        liquidate(weth, m.owner, alice, MAX_UINT, False).call({"from": liquidator})
    m.tx(m.pool.functions.setLiquidationsPaused(True), m.owner)
    with reverts("LiquidationsPaused"):
        liquidate(weth, usdc, alice, MAX_UINT, False).call({"from": liquidator})


def test_close_factor_half_just_above_095_with_bonus_and_fee(m: Market) -> None:
    alice, liquidator = open_position(m)
    # HF = 10 * 2303.30 * 0.825 / 20,000 = 0.95011...
    m.set_price("WETH", 2_303_30000000)
    hf = m.account(alice).health_factor
    assert 95 * WAD // 100 < hf < WAD
    assert m.account(alice) == m.expected_account(alice)

    usdc_before = m.balance("USDC", liquidator)
    scaled_debt = m.user_reserve("USDC", alice)[1]
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT)
    x = expected_liquidation(m, "WETH", "USDC", alice, MAX_UINT, receipt)
    assert 95 * WAD // 100 < x.health_factor < WAD
    # Close factor 50%: half the debt, and the collateral worth it plus the 5% bonus.
    assert x.debt_covered == x.actual_debt == pct_mul(x.user_debt, 5000)
    assert x.collateral_amount == pct_mul(
        x.debt_covered * 10**8 * WETH // (2_303_30000000 * USDC), 10_500
    )
    bonus_part = x.collateral_amount - pct_div(x.collateral_amount, 10_500)
    assert x.protocol_fee == pct_mul(bonus_part, 1_000) > 0
    assert x.to_liquidator == x.collateral_amount - x.protocol_fee

    assert usdc_before - m.balance("USDC", liquidator) == x.debt_covered
    assert m.balance("WETH", liquidator) == x.to_liquidator
    (event,) = m.events(receipt, "LiquidationCall")
    assert event == {
        "collateralAsset": m.addr("WETH"),
        "debtAsset": m.addr("USDC"),
        "user": alice,
        "debtToCover": x.debt_covered,
        "liquidatedCollateralAmount": x.to_liquidator,
        "liquidator": liquidator,
        "receiveAToken": False,
    }
    # Balances: debt burnt by rayDiv, the fee moved to the treasury as supply, the rest burnt.
    index = m.reserve("WETH").liquidity_index
    assert index == x.liquidity_index == RAY  # nobody borrows WETH
    fee_scaled = ray_div(x.protocol_fee, index)
    to_liq_scaled = ray_div(x.to_liquidator, index)
    assert m.user_reserve("USDC", alice)[1] == scaled_debt - ray_div(x.debt_covered, x.borrow_index)
    assert m.user_reserve("WETH", alice) == (10 * WETH - fee_scaled - to_liq_scaled, 0, True)
    assert m.user_reserve("WETH", m.treasury) == (fee_scaled, 0, False)
    assert m.reserve("WETH").total_scaled_supply == 10 * WETH - to_liq_scaled
    assert m.reserve("WETH").cash == 10 * WETH - x.to_liquidator
    updates = {(e["reserve"], e["user"]): e for e in m.events(receipt, "UserReserveUpdated")}
    assert updates[(m.addr("WETH"), m.treasury)]["scaledSupply"] == fee_scaled
    assert updates[(m.addr("USDC"), alice)]["scaledDebt"] == m.user_reserve("USDC", alice)[1]
    assert m.events(receipt, "BadDebtWrittenOff") == []
    # The treasury can take its fee out.
    m.withdraw(m.treasury, "WETH", MAX_UINT)
    assert m.balance("WETH", m.treasury) == x.protocol_fee
    # Still unhealthy? then the next liquidation is again limited by the close factor.
    assert m.account(alice) == m.expected_account(alice)


def test_close_factor_full_below_095(m: Market) -> None:
    alice, liquidator = open_position(m)
    m.set_price("WETH", 2_303_00000000)  # HF 0.9499875
    assert m.account(alice).health_factor < 95 * WAD // 100
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT)
    x = expected_liquidation(m, "WETH", "USDC", alice, MAX_UINT, receipt)
    assert x.debt_covered == x.user_debt  # 100%: not capped, 9.12 WETH < 10 WETH
    assert x.collateral_amount < x.user_collateral
    assert m.user_reserve("USDC", alice)[1] == 0
    supply_left = m.user_reserve("WETH", alice)[0]
    assert supply_left == 10 * WETH - ray_div(x.protocol_fee, RAY) - ray_div(x.to_liquidator, RAY)
    acct = m.account(alice)
    assert acct.total_debt == 0
    assert acct.health_factor == MAX_UINT
    assert m.events(receipt, "BadDebtWrittenOff") == []


def test_debt_to_cover_below_the_close_factor(m: Market) -> None:
    alice, liquidator = open_position(m)
    m.set_price("WETH", 2_000 * 10**8)  # HF 0.825: close factor 100%
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, 1_234 * USDC)
    x = expected_liquidation(m, "WETH", "USDC", alice, 1_234 * USDC, receipt)
    assert x.debt_covered == x.actual_debt == 1_234 * USDC
    # 1,234 USDC at $1 is 0.617 WETH at $2,000; times 1.05.
    assert x.collateral_amount == pct_mul(617 * WETH // 1000, 10_500)
    assert m.balance("WETH", liquidator) == x.to_liquidator
    assert m.events(receipt, "LiquidationCall")[0]["debtToCover"] == 1_234 * USDC


def test_seize_capped_by_collateral_recomputes_debt(m: Market) -> None:
    """Alice's WBTC is too small to cover the close factor's amount plus bonus: all of it is
    seized, the debt covered is recomputed from it, and her WETH keeps the account solvent."""
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "USDC", 100_000 * USDC)
    m.supply(alice, "WETH", 10 * WETH)
    m.supply(alice, "WBTC", WBTC // 10)  # $6,000
    m.borrow(alice, "USDC", 24_000 * USDC)
    m.fund(liquidator, "USDC", 100_000 * USDC)
    m.set_price("WETH", 2_000 * 10**8)  # (16,500 + 4,500) / 24,000 = 0.875
    receipt = m.liquidate(liquidator, "WBTC", "USDC", alice, MAX_UINT)
    x = expected_liquidation(m, "WBTC", "USDC", alice, MAX_UINT, receipt)
    assert x.health_factor < 95 * WAD // 100
    assert x.collateral_amount == x.user_collateral == WBTC // 10
    # debtCovered = percentDiv(cp * amount * du / (dp * cu), bonus) = 6,000 / 1.065 USDC
    assert x.debt_covered == pct_div(60_000 * 10**8 * (WBTC // 10) * USDC // (10**8 * WBTC), 10_650)
    assert x.debt_covered < x.actual_debt
    assert m.user_reserve("WBTC", alice) == (0, 0, False)  # emptied: flag off
    assert m.events(receipt, "ReserveUsedAsCollateralDisabled") == [
        {"reserve": m.addr("WBTC"), "user": alice}
    ]
    fee_scaled = ray_div(x.protocol_fee, RAY)
    assert m.user_reserve("WBTC", m.treasury)[0] == fee_scaled
    assert m.balance("WBTC", liquidator) == x.to_liquidator
    # The remainder after the fee went to the liquidator: nothing is left anywhere else.
    assert m.reserve("WBTC").total_scaled_supply == fee_scaled
    assert m.owed("USDC", alice) > 24_000 * USDC - x.debt_covered - 1
    assert m.events(receipt, "BadDebtWrittenOff") == []  # WETH still backs the rest
    assert m.account(alice) == m.expected_account(alice)


def test_bad_debt_is_written_off_and_socialised(m: Market) -> None:
    alice, liquidator = open_position(m)
    bob = m.users[1]
    carol = m.users[3]
    m.supply(carol, "USDC", 50_000 * USDC)
    m.set_price("WETH", 1_800 * 10**8)  # collateral $18,000 < debt $20,000
    bob_before = m.supplied("USDC", bob)
    carol_before = m.supplied("USDC", carol)
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT)
    x = expected_liquidation(m, "WETH", "USDC", alice, MAX_UINT, receipt)
    assert x.collateral_amount == x.user_collateral == 10 * WETH  # capped
    assert x.debt_covered == pct_div(18_000 * USDC, 10_500)
    remaining = x.user_debt - x.debt_covered

    (bad,) = m.events(receipt, "BadDebtWrittenOff")
    assert bad["user"] == alice
    assert bad["reserve"] == m.addr("USDC")
    assert bad["amount"] == remaining > 2_800 * USDC
    before = m.reserve("USDC", receipt["blockNumber"] - 1)
    after = m.reserve("USDC")
    income = before.income(m.timestamp(receipt["blockNumber"]))
    supplied = ray_mul(before.total_scaled_supply, income)
    expected_index = ray_div(supplied - remaining, before.total_scaled_supply)
    assert bad["newLiquidityIndex"] == after.liquidity_index == expected_index < RAY
    assert after.total_scaled_debt == 0
    assert m.user_reserve("USDC", alice) == (0, 0, False)
    assert m.user_reserve("WETH", alice) == (0, 0, False)
    acct = m.account(alice)
    assert (acct.total_collateral, acct.total_debt, acct.health_factor) == (0, 0, MAX_UINT)
    # Every USDC supplier lost pro rata.
    bob_after, carol_after = m.supplied("USDC", bob), m.supplied("USDC", carol)
    assert bob_after < bob_before
    assert carol_after < carol_before
    loss_share = (bob_before - bob_after) / (carol_before - carol_after)
    assert abs(loss_share - 2.0) < 1e-6
    # Balances are rayMul(scaled, index): the loss is shared up to a few units of rounding.
    assert bob_after == ray_mul(m.user_reserve("USDC", bob)[0], after.liquidity_index)
    assert abs((bob_before - bob_after) + (carol_before - carol_after) - remaining) <= 4
    # The rates follow the new state (no debt left: utilisation 0).
    assert (after.liquidity_rate, after.variable_borrow_rate) == after.expected_rates()
    assert after.liquidity_rate == 0


def test_bad_debt_in_several_reserves(m: Market) -> None:
    """A write-off covers every debt reserve, not only the one being liquidated."""
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "USDC", 100_000 * USDC)
    m.supply(bob, "WBTC", WBTC)
    m.supply(alice, "WETH", 10 * WETH)
    m.borrow(alice, "USDC", 15_000 * USDC)
    m.borrow(alice, "WBTC", WBTC // 10)  # $6,000
    m.fund(liquidator, "USDC", 100_000 * USDC)
    m.set_price("WETH", 1_500 * 10**8)
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT)
    written = {e["reserve"]: e["amount"] for e in m.events(receipt, "BadDebtWrittenOff")}
    assert set(written) == {m.addr("USDC"), m.addr("WBTC")}
    assert written[m.addr("WBTC")] >= WBTC // 10
    for symbol in ("USDC", "WBTC"):
        r = m.reserve(symbol)
        assert r.total_scaled_debt == 0
        assert (r.liquidity_rate, r.variable_borrow_rate) == r.expected_rates()
    # Bob is the only WBTC supplier: he bears the whole WBTC loss (to rounding).
    assert abs(m.supplied("WBTC", bob) - (WBTC - written[m.addr("WBTC")])) <= 1
    updated = {e["reserve"] for e in m.events(receipt, "ReserveDataUpdated")}
    assert updated == {m.addr("USDC"), m.addr("WBTC"), m.addr("WETH")}


def test_receive_a_token(m: Market) -> None:
    alice, liquidator = open_position(m)
    m.set_price("WETH", 2_200 * 10**8)
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT, receive_a_token=True)
    x = expected_liquidation(m, "WETH", "USDC", alice, MAX_UINT, receipt)
    assert m.balance("WETH", liquidator) == 0
    assert m.user_reserve("WETH", liquidator) == (ray_div(x.to_liquidator, RAY), 0, True)
    assert m.reserve("WETH").total_scaled_supply == 10 * WETH
    assert m.reserve("WETH").cash == 10 * WETH
    assert m.events(receipt, "ReserveUsedAsCollateralEnabled") == [
        {"reserve": m.addr("WETH"), "user": liquidator}
    ]
    assert m.events(receipt, "LiquidationCall")[0]["receiveAToken"] is True
    m.withdraw(liquidator, "WETH", MAX_UINT)
    assert m.balance("WETH", liquidator) == x.to_liquidator


def test_interest_alone_drifts_a_position_into_liquidation(m: Market) -> None:
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "WETH", 10 * WETH)
    m.supply(alice, "USDC", 30_000 * USDC)  # ltv 77% -> $23,100 = 7.7 WETH
    m.borrow(alice, "WETH", 77 * WETH // 10)
    m.fund(liquidator, "WETH", 100 * WETH)
    start = m.account(alice)
    assert WAD < start.health_factor < 105 * WAD // 100
    rate = m.reserve("WETH").variable_borrow_rate
    assert rate > 4 * RAY // 100  # 77% utilisation

    assert m.chain is not None
    m.chain.advance_time(SECONDS_PER_YEAR)
    m.chain.mine()
    acct = m.account(alice)
    assert acct == m.expected_account(alice)
    assert acct.total_collateral == start.total_collateral  # no price moved
    assert acct.health_factor < WAD
    receipt = m.liquidate(liquidator, "USDC", "WETH", alice, MAX_UINT)
    x = expected_liquidation(m, "USDC", "WETH", alice, MAX_UINT, receipt)
    assert x.user_debt > 77 * WETH // 10 * 104 // 100
    assert x.debt_covered == pct_mul(x.user_debt, 5000)
    assert m.balance("USDC", liquidator) == x.to_liquidator
    assert m.account(alice).health_factor > acct.health_factor


def test_liquidating_same_asset_as_collateral_and_debt(m: Market) -> None:
    """Borrowing the asset you supply is allowed; liquidating it touches one reserve once."""
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "WETH", 100 * WETH)
    m.supply(alice, "WETH", 10 * WETH)
    m.borrow(alice, "WETH", 8 * WETH)  # HF 1.03125
    m.fund(liquidator, "WETH", 100 * WETH)
    assert m.chain is not None
    m.chain.advance_time(3 * SECONDS_PER_YEAR)
    m.chain.mine()
    assert m.account(alice).health_factor < WAD
    receipt = m.liquidate(liquidator, "WETH", "WETH", alice, MAX_UINT)
    x = expected_liquidation(m, "WETH", "WETH", alice, MAX_UINT, receipt)
    assert x.collateral_amount == pct_mul(x.debt_covered, 10_500)
    (rdu,) = m.events(receipt, "ReserveDataUpdated")
    r = m.reserve("WETH")
    assert (rdu["liquidityRate"], rdu["variableBorrowRate"]) == r.expected_rates()
    assert m.account(alice) == m.expected_account(alice)
