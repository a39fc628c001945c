"""LendingPool user actions, balances, account data, borrow limits and interest (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contracts.pool_fixtures import (
    MAX_UINT,
    RAY,
    SECONDS_PER_YEAR,
    VARIABLE,
    WAD,
    Market,
    compounded,
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


def assert_rates_consistent(m: Market, symbol: str) -> None:
    r = m.reserve(symbol)
    assert (r.liquidity_rate, r.variable_borrow_rate) == r.expected_rates()


def test_views_after_deploy(m: Market) -> None:
    pool = m.pool
    assert pool.functions.owner().call() == m.owner
    assert pool.functions.oracle().call() == m.oracle.address
    assert pool.functions.ORACLE().call() == m.oracle.address
    assert pool.functions.treasury().call() == m.treasury
    assert pool.functions.guardian().call() == "0x" + "00" * 20
    assert pool.functions.liquidationsPaused().call() is False
    assert pool.functions.getReservesList().call() == [m.addr(s) for s in ("USDC", "WBTC", "WETH")]
    for symbol, spec in m.specs.items():
        r = m.reserve(symbol)
        assert r.decimals == spec.decimals
        assert (r.ltv, r.liquidation_threshold, r.liquidation_bonus) == (
            spec.ltv,
            spec.lt,
            spec.bonus,
        )
        assert (r.liquidation_protocol_fee, r.reserve_factor) == (spec.fee, spec.reserve_factor)
        assert (r.base_rate, r.slope1, r.slope2) == (spec.base, spec.slope1, spec.slope2)
        assert r.optimal_utilization == spec.optimal
        assert r.borrowing_enabled
        assert r.liquidity_index == r.variable_borrow_index == RAY
        assert r.liquidity_rate == 0
        assert r.variable_borrow_rate == spec.base
        assert r.total_scaled_supply == r.total_scaled_debt == r.cash == 0
    assets, data = pool.functions.getReservesData().call()
    assert assets == pool.functions.getReservesList().call()
    assert [tuple(d) for d in data] == [
        tuple(pool.functions.getReserveData(a).call()) for a in assets
    ]
    nobody = m.users[-1]
    acct = m.account(nobody)
    assert acct.total_collateral == acct.total_debt == 0
    assert acct.health_factor == MAX_UINT


def test_supply_borrow_repay_withdraw(m: Market) -> None:
    alice, bob = m.users[:2]
    pool = m.pool

    receipt = m.supply(alice, "WETH", 10 * WETH)
    assert m.balance("WETH", alice) == 0
    assert m.balance("WETH", pool.address) == 10 * WETH
    assert m.user_reserve("WETH", alice) == (10 * WETH, 0, True)
    (supply_event,) = m.events(receipt, "Supply")
    assert supply_event == {
        "reserve": m.addr("WETH"),
        "user": alice,
        "onBehalfOf": alice,
        "amount": 10 * WETH,
        "referralCode": 0,
    }
    assert m.events(receipt, "ReserveUsedAsCollateralEnabled") == [
        {"reserve": m.addr("WETH"), "user": alice}
    ]
    assert m.events(receipt, "UserReserveUpdated") == [
        {
            "reserve": m.addr("WETH"),
            "user": alice,
            "scaledSupply": 10 * WETH,
            "scaledDebt": 0,
            "usingAsCollateral": True,
        }
    ]
    m.supply(bob, "USDC", 100_000 * USDC)
    assert m.reserve("USDC").cash == 100_000 * USDC

    receipt = m.borrow(alice, "USDC", 20_000 * USDC)
    assert m.balance("USDC", alice) == 20_000 * USDC
    r = m.reserve("USDC")
    assert r.cash == 80_000 * USDC
    assert r.total_scaled_debt == ray_div(20_000 * USDC, r.variable_borrow_index)
    assert m.user_reserve("USDC", alice)[1] == r.total_scaled_debt
    (borrow_event,) = m.events(receipt, "Borrow")
    assert borrow_event["amount"] == 20_000 * USDC
    assert borrow_event["interestRateMode"] == VARIABLE
    assert borrow_event["borrowRate"] == r.variable_borrow_rate > 0
    (rdu,) = m.events(receipt, "ReserveDataUpdated")
    assert rdu["variableBorrowRate"] == r.variable_borrow_rate
    assert rdu["liquidityRate"] == r.liquidity_rate
    assert rdu["stableBorrowRate"] == 0
    assert_rates_consistent(m, "USDC")

    assert m.chain is not None
    m.chain.advance_time(30 * 24 * 3600)
    before = m.reserve("USDC")
    scaled_debt = m.user_reserve("USDC", alice)[1]
    m.fund(alice, "USDC", 0)  # approve the pool
    receipt = m.repay(alice, "USDC", 1_000 * USDC)
    after = m.reserve("USDC")
    dt = m.timestamp(receipt["blockNumber"]) - before.last_update_timestamp
    assert after.variable_borrow_index == ray_mul(
        compounded(before.variable_borrow_rate, dt), before.variable_borrow_index
    )
    assert after.liquidity_index == ray_mul(
        RAY + before.liquidity_rate * dt // SECONDS_PER_YEAR, before.liquidity_index
    )
    assert m.user_reserve("USDC", alice)[1] == scaled_debt - ray_div(
        1_000 * USDC, after.variable_borrow_index
    )
    assert m.events(receipt, "Repay")[0]["amount"] == 1_000 * USDC
    assert_rates_consistent(m, "USDC")

    # Anyone may repay for someone else; max repays the whole debt and returns it.
    m.fund(bob, "USDC", 50_000 * USDC)
    owed_now = m.owed("USDC", alice)
    assert owed_now > 19_000 * USDC
    returned = pool.functions.repay(m.addr("USDC"), MAX_UINT, VARIABLE, alice).call({"from": bob})
    assert returned == owed_now
    scaled_debt = m.user_reserve("USDC", alice)[1]
    receipt = m.repay(bob, "USDC", MAX_UINT, on_behalf=alice)
    (repay_event,) = m.events(receipt, "Repay")
    assert repay_event["user"] == alice
    assert repay_event["repayer"] == bob
    paid = repay_event["amount"]
    assert paid == ray_mul(scaled_debt, m.reserve("USDC").variable_borrow_index) >= returned
    assert m.balance("USDC", bob) == 50_000 * USDC - paid
    assert m.user_reserve("USDC", alice)[1] == 0
    assert m.reserve("USDC").total_scaled_debt == 0
    with reverts("NoDebtOfSelectedType"):
        pool.functions.repay(m.addr("USDC"), 1, VARIABLE, alice).call({"from": bob})

    # Withdraw everything: alice her WETH (no interest, nobody borrowed it), bob his USDC
    # plus interest; the flag goes off with the last unit.
    receipt = m.withdraw(alice, "WETH", MAX_UINT)
    assert m.balance("WETH", alice) == 10 * WETH
    assert m.user_reserve("WETH", alice) == (0, 0, False)
    assert m.events(receipt, "ReserveUsedAsCollateralDisabled") == [
        {"reserve": m.addr("WETH"), "user": alice}
    ]
    (withdraw_event,) = m.events(receipt, "Withdraw")
    assert withdraw_event == {
        "reserve": m.addr("WETH"),
        "user": alice,
        "to": alice,
        "amount": 10 * WETH,
    }
    bob_scaled = m.user_reserve("USDC", bob)[0]
    cash_before = m.reserve("USDC").cash
    receipt = m.withdraw(bob, "USDC", MAX_UINT)
    got = m.events(receipt, "Withdraw")[0]["amount"]
    assert got == ray_mul(bob_scaled, m.reserve("USDC").liquidity_index)
    assert got > 100_000 * USDC  # earned interest
    assert m.balance("USDC", bob) == 50_000 * USDC - paid + got
    assert m.reserve("USDC").cash == cash_before - got
    assert m.reserve("USDC").total_scaled_supply == 0


def test_partial_withdraw_and_supply_on_behalf(m: Market) -> None:
    alice, bob = m.users[:2]
    m.fund(bob, "WBTC", 2 * WBTC)
    receipt = m.tx(m.pool.functions.supply(m.addr("WBTC"), 2 * WBTC, alice, 7), bob)
    event = m.events(receipt, "Supply")[0]
    assert (event["user"], event["onBehalfOf"], event["referralCode"]) == (bob, alice, 7)
    assert m.user_reserve("WBTC", alice) == (2 * WBTC, 0, True)
    assert m.user_reserve("WBTC", bob) == (0, 0, False)
    m.withdraw(alice, "WBTC", WBTC // 2)
    assert m.balance("WBTC", alice) == WBTC // 2
    assert m.user_reserve("WBTC", alice) == (3 * WBTC // 2, 0, True)
    with reverts("NotEnoughAvailableUserBalance"):
        m.pool.functions.withdraw(m.addr("WBTC"), 2 * WBTC, alice).call({"from": alice})
    with reverts("InvalidAmount"):
        m.pool.functions.withdraw(m.addr("WBTC"), 0, alice).call({"from": alice})
    with reverts("InvalidAmount"):
        m.pool.functions.supply(m.addr("WBTC"), 0, alice, 0).call({"from": alice})
    with reverts("InvalidAmount"):
        m.pool.functions.withdraw(m.addr("WETH"), MAX_UINT, alice).call({"from": alice})


def test_account_data_matches_python_across_decimals(m: Market) -> None:
    """6, 8 and 18 decimals in one pool: collateral in all three, debt in all three."""
    alice, bob = m.users[:2]
    m.supply(bob, "USDC", 500_000 * USDC)
    m.supply(bob, "WBTC", 10 * WBTC)
    m.supply(bob, "WETH", 100 * WETH)

    m.supply(alice, "USDC", 12_345_678_901)  # 12,345.678901 USDC
    m.supply(alice, "WBTC", 123_456_789)  # 1.23456789 WBTC
    m.supply(alice, "WETH", 7 * WETH + 123)
    acct = m.account(alice)
    assert acct.total_collateral == (
        12_345_678_901 * 10**8 // USDC
        + 123_456_789 * 60_000 * 10**8 // WBTC
        + (7 * WETH + 123) * 3_000 * 10**8 // WETH
    )
    assert acct == m.expected_account(alice)
    assert acct.total_debt == 0
    assert acct.health_factor == MAX_UINT
    assert acct.available_borrows == pct_mul(acct.total_collateral, acct.ltv)

    m.borrow(alice, "USDC", 10_000 * USDC + 1)
    m.borrow(alice, "WBTC", 12_345_678)
    m.borrow(alice, "WETH", 3 * WETH + 7)
    for symbol in ("USDC", "WBTC", "WETH"):
        assert_rates_consistent(m, symbol)
    acct = m.account(alice)
    assert acct == m.expected_account(alice)
    assert 0 < acct.total_debt < acct.total_collateral
    assert WAD < acct.health_factor < 4 * WAD
    # Weighted averages of ltv and threshold, truncated.
    assert min(s.ltv for s in m.specs.values()) < acct.ltv < max(s.ltv for s in m.specs.values())

    # A year later the debt side has grown (compounded), and the views still agree with Python.
    assert m.chain is not None
    m.chain.advance_time(SECONDS_PER_YEAR)
    m.chain.mine()
    later = m.account(alice)
    assert later == m.expected_account(alice)
    assert later.total_debt > acct.total_debt
    assert later.health_factor < acct.health_factor

    positions = m.pool.functions.getUserPositions(alice).call()
    assets, scaled_supply, scaled_debt, flags = positions
    assert assets == m.pool.functions.getReservesList().call()
    for i, asset in enumerate(assets):
        symbol = m.symbol_of(asset)
        assert (scaled_supply[i], scaled_debt[i], flags[i]) == m.user_reserve(symbol, alice)


def test_borrow_limit_is_ltv(m: Market) -> None:
    alice, bob = m.users[:2]
    m.supply(bob, "USDC", 1_000_000 * USDC)
    m.supply(alice, "WBTC", WBTC)  # $60,000, ltv 70% -> $42,000
    acct = m.account(alice)
    assert acct.available_borrows == 42_000 * 10**8
    usdc = m.addr("USDC")
    with reverts("CollateralCannotCoverNewBorrow"):
        m.pool.functions.borrow(usdc, 42_000 * USDC + 1, VARIABLE, 0, alice).call({"from": alice})
    m.borrow(alice, "USDC", 30_000 * USDC)
    # collateralNeeded = percentDiv(debtBase + amountBase, ltv) must stay <= collateral.
    debt_base = m.account(alice).total_debt
    remaining = 12_000 * USDC - 1
    amount_base = 10**8 * remaining // USDC
    assert pct_div(debt_base + amount_base, 7000) <= 60_000 * 10**8
    with reverts("CollateralCannotCoverNewBorrow"):
        m.pool.functions.borrow(usdc, 12_000 * USDC + 10, VARIABLE, 0, alice).call({"from": alice})
    m.borrow(alice, "USDC", remaining)
    assert m.account(alice).available_borrows == 0
    with reverts("CollateralCannotCoverNewBorrow"):
        m.pool.functions.borrow(usdc, 1 * USDC, VARIABLE, 0, alice).call({"from": alice})


def test_borrow_rejections(m: Market) -> None:
    alice, bob, carol = m.users[:3]
    m.supply(bob, "USDC", 1_000 * USDC)
    m.supply(alice, "WETH", 10 * WETH)
    usdc = m.addr("USDC")
    pool = m.pool
    with reverts("InvalidInterestRateMode"):
        pool.functions.borrow(usdc, USDC, 1, 0, alice).call({"from": alice})
    with reverts("BorrowOnBehalfNotSupported"):
        pool.functions.borrow(usdc, USDC, VARIABLE, 0, bob).call({"from": alice})
    with reverts("InvalidAmount"):
        pool.functions.borrow(usdc, 0, VARIABLE, 0, alice).call({"from": alice})
    with reverts("NotEnoughLiquidity"):
        pool.functions.borrow(usdc, 1_000 * USDC + 1, VARIABLE, 0, alice).call({"from": alice})
    with reverts("CollateralBalanceIsZero"):
        pool.functions.borrow(usdc, USDC, VARIABLE, 0, carol).call({"from": carol})
    with reverts("ReserveNotInitialized"):
        pool.functions.borrow(m.owner, USDC, VARIABLE, 0, alice).call({"from": alice})
    with reverts("InvalidInterestRateMode"):
        pool.functions.repay(usdc, USDC, 1, alice).call({"from": alice})
    m.tx(pool.functions.setBorrowingEnabled(usdc, False), m.owner)
    with reverts("BorrowingNotEnabled"):
        pool.functions.borrow(usdc, USDC, VARIABLE, 0, alice).call({"from": alice})
    m.tx(pool.functions.setBorrowingEnabled(usdc, True), m.owner)
    m.borrow(alice, "USDC", USDC)
    # A collateral whose ltv is 0 counts for the health factor but gives no borrowing power.
    weth = m.specs["WETH"]
    m.tx(
        pool.functions.setReserveConfiguration(
            m.addr("WETH"), 0, weth.lt, weth.bonus, weth.fee, weth.reserve_factor
        ),
        m.owner,
    )
    with reverts("LtvValidationFailed"):
        pool.functions.borrow(usdc, USDC, VARIABLE, 0, alice).call({"from": alice})
    assert m.account(alice).ltv == 0
    assert m.account(alice).health_factor > WAD


def test_withdraw_and_collateral_switch_keep_health_factor(m: Market) -> None:
    alice, bob = m.users[:2]
    m.supply(bob, "USDC", 100_000 * USDC)
    m.supply(alice, "WBTC", WBTC)
    m.supply(alice, "WETH", WETH)  # not enough on its own: 3,000 * 0.825 < 40,000
    m.borrow(alice, "USDC", 40_000 * USDC)
    wbtc, weth = m.addr("WBTC"), m.addr("WETH")
    pool = m.pool
    # Collateral 60,000*0.75 + 3,000*0.825 = 47,475 vs debt 40,000.
    with reverts("HealthFactorLowerThanLiquidationThreshold"):
        pool.functions.withdraw(wbtc, WBTC // 5, alice).call({"from": alice})
    with reverts("HealthFactorLowerThanLiquidationThreshold"):
        pool.functions.setUserUseReserveAsCollateral(wbtc, False).call({"from": alice})
    # Removing WETH keeps HF = 45,000 / 40,000 >= 1.
    receipt = m.tx(pool.functions.setUserUseReserveAsCollateral(weth, False), alice)
    assert m.events(receipt, "ReserveUsedAsCollateralDisabled") == [
        {"reserve": weth, "user": alice}
    ]
    assert m.user_reserve("WETH", alice) == (WETH, 0, False)
    assert m.account(alice) == m.expected_account(alice)
    # Now WETH is free to withdraw whatever the debt, but WBTC is at its limit.
    m.withdraw(alice, "WETH", WETH // 2)
    with reverts("HealthFactorLowerThanLiquidationThreshold"):  # 48,000 * 0.75 < 40,000
        pool.functions.withdraw(wbtc, WBTC // 5, alice).call({"from": alice})
    m.withdraw(alice, "WBTC", WBTC // 20)  # 57,000 * 0.75 = 42,750 >= 40,000
    hf = m.account(alice).health_factor
    assert WAD <= hf < 11 * WAD // 10
    receipt = m.tx(pool.functions.setUserUseReserveAsCollateral(weth, True), alice)
    assert m.events(receipt, "ReserveUsedAsCollateralEnabled") == [{"reserve": weth, "user": alice}]
    assert m.account(alice).health_factor > hf
    with reverts("UnderlyingBalanceZero"):
        pool.functions.setUserUseReserveAsCollateral(m.addr("USDC"), True).call({"from": alice})


def test_interest_accrues_and_suppliers_earn(m: Market) -> None:
    alice, bob = m.users[:2]
    m.supply(bob, "WETH", 100 * WETH)
    m.supply(alice, "USDC", 1_000_000 * USDC)
    m.borrow(alice, "WETH", 90 * WETH)  # 90% utilisation: above the 80% kink
    r0 = m.reserve("WETH")
    u = ray_div(ray_mul(r0.total_scaled_debt, r0.variable_borrow_index), r0.cash + 90 * WETH)
    spec = m.specs["WETH"]
    assert u > spec.optimal
    expected_br = (
        spec.base
        + spec.slope1
        + ray_mul(spec.slope2, ray_div(u - spec.optimal, RAY - spec.optimal))
    )
    assert r0.variable_borrow_rate == expected_br
    assert r0.liquidity_rate == pct_mul(ray_mul(expected_br, u), 10_000 - spec.reserve_factor)

    assert m.chain is not None
    m.chain.advance_time(SECONDS_PER_YEAR // 2)
    m.chain.mine()
    ts = m.timestamp()
    income = m.pool.functions.getReserveNormalizedIncome(m.addr("WETH")).call()
    debt_index = m.pool.functions.getReserveNormalizedVariableDebt(m.addr("WETH")).call()
    assert income == r0.income(ts) > RAY
    assert debt_index == r0.debt_index(ts) > income
    # The pool keeps the reserve factor's share: debt grows faster than supply.
    owed = m.owed("WETH", alice)
    supplied = m.supplied("WETH", bob)
    assert owed - 90 * WETH > supplied - 100 * WETH > 0

    # A touch (a 1-wei supply) writes the indexes; the stored state matches Python exactly.
    receipt = m.supply(bob, "WETH", 1)
    r1 = m.reserve("WETH")
    ts1 = m.timestamp(receipt["blockNumber"])
    assert r1.last_update_timestamp == ts1
    assert r1.liquidity_index == r0.income(ts1)
    assert r1.variable_borrow_index == r0.debt_index(ts1)
    assert (r1.liquidity_rate, r1.variable_borrow_rate) == r1.expected_rates()
    (rdu,) = m.events(receipt, "ReserveDataUpdated")
    assert (rdu["liquidityIndex"], rdu["variableBorrowIndex"]) == (
        r1.liquidity_index,
        r1.variable_borrow_index,
    )


def test_reentrancy_guard_is_transient_and_tokens_must_be_approved(m: Market) -> None:
    alice = m.users[0]
    token = m.tokens["USDC"]
    m.tx(token.functions.mint(alice, USDC), m.owner)
    with reverts("InsufficientAllowance"):  # the token's own error is bubbled up
        m.pool.functions.supply(m.addr("USDC"), USDC, alice, 0).call({"from": alice})
    m.tx(token.functions.approve(m.pool.address, MAX_UINT), alice)
    m.supply(alice, "USDC", USDC, fund=False)
    m.supply(alice, "USDC", USDC)  # a second action: the transient lock was released
    assert m.user_reserve("USDC", alice)[0] == 2 * USDC
