"""LendingPool administration: access control on every admin function, parameter
validation, configuration events and their effect on rates (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.chain.artifacts import load_artifact
from bot.chain.contracts import deploy_contract
from tests.contracts.pool_fixtures import (
    DEPLOY_GAS,
    RAY,
    SECONDS_PER_YEAR,
    Market,
    compounded,
    isolated,
    module_market,
    ray_mul,
)
from tests.helpers import reverts

ZERO = "0x" + "00" * 20
RATES = (0, 4 * RAY // 100, 60 * RAY // 100, 80 * RAY // 100)


@pytest.fixture(scope="module")
def market_module() -> Iterator[Market]:
    yield from module_market()


@pytest.fixture
def m(market_module: Market) -> Iterator[Market]:
    yield from isolated(market_module)


def admin_calls(m: Market, new_asset: str) -> dict[str, Any]:
    pool = m.pool.functions
    usdc = m.addr("USDC")
    someone = m.users[0]
    return {
        "initReserve": pool.initReserve(new_asset, 7000, 7500, 10500, 1000, 1000, *RATES),
        "setReserveConfiguration": pool.setReserveConfiguration(usdc, 7000, 7500, 10500, 0, 0),
        "setInterestRateParams": pool.setInterestRateParams(usdc, *RATES),
        "setBorrowingEnabled": pool.setBorrowingEnabled(usdc, False),
        "setOracle": pool.setOracle(someone),
        "setTreasury": pool.setTreasury(someone),
        "setGuardian": pool.setGuardian(someone),
        "transferOwnership": pool.transferOwnership(someone),
    }


def test_every_admin_function_is_owner_only(m: Market) -> None:
    mallory = m.users[-1]
    new_token = deploy_contract(m.w3, "TestToken", "NEW", "NEW", 12, sender=m.owner, gas=DEPLOY_GAS)
    calls = admin_calls(m, new_token.address)
    assert len(calls) == 8
    for fn in calls.values():
        with reverts("NotOwner"):
            fn.call({"from": mallory})
    m.tx(m.pool.functions.setGuardian(mallory), m.owner)
    for fn in calls.values():
        with reverts("NotOwner"):  # the guardian is no admin either
            fn.call({"from": mallory})
        fn.call({"from": m.owner})  # while the owner may call each one
    with reverts("NotGuardian"):
        m.pool.functions.setLiquidationsPaused(True).call({"from": m.users[0]})


def test_owner_and_guardian_pause(m: Market) -> None:
    guardian, other = m.users[:2]
    receipt = m.tx(m.pool.functions.setGuardian(guardian), m.owner)
    assert m.events(receipt, "GuardianUpdated") == [
        {"previousGuardian": ZERO, "newGuardian": guardian}
    ]
    assert m.pool.functions.guardian().call() == guardian
    receipt = m.tx(m.pool.functions.setLiquidationsPaused(True), guardian)
    assert m.events(receipt, "LiquidationsPausedSet") == [{"paused": True}]
    assert m.pool.functions.liquidationsPaused().call() is True
    with reverts("NotGuardian"):
        m.pool.functions.setLiquidationsPaused(False).call({"from": other})
    m.tx(m.pool.functions.setLiquidationsPaused(False), m.owner)
    assert m.pool.functions.liquidationsPaused().call() is False


def test_transfer_ownership_and_addresses(m: Market) -> None:
    new_owner, new_treasury, new_oracle = m.users[:3]
    receipt = m.tx(m.pool.functions.setTreasury(new_treasury), m.owner)
    assert m.events(receipt, "TreasuryUpdated") == [
        {"previousTreasury": m.treasury, "newTreasury": new_treasury}
    ]
    receipt = m.tx(m.pool.functions.setOracle(new_oracle), m.owner)
    assert m.events(receipt, "OracleUpdated") == [
        {"previousOracle": m.oracle.address, "newOracle": new_oracle}
    ]
    assert m.pool.functions.ORACLE().call() == new_oracle
    assert m.pool.functions.treasury().call() == new_treasury
    for fn in (m.pool.functions.setOracle, m.pool.functions.setTreasury):
        with reverts("ZeroAddress"):
            fn(ZERO).call({"from": m.owner})
    with reverts("ZeroAddress"):
        m.pool.functions.transferOwnership(ZERO).call({"from": m.owner})
    receipt = m.tx(m.pool.functions.transferOwnership(new_owner), m.owner)
    assert m.events(receipt, "OwnershipTransferred") == [
        {"previousOwner": m.owner, "newOwner": new_owner}
    ]
    assert m.pool.functions.owner().call() == new_owner
    with reverts("NotOwner"):
        m.pool.functions.setBorrowingEnabled(m.addr("USDC"), False).call({"from": m.owner})
    m.tx(m.pool.functions.setBorrowingEnabled(m.addr("USDC"), False), new_owner)
    assert m.reserve("USDC").borrowing_enabled is False


def test_constructor_rejects_zero_addresses(m: Market) -> None:
    artifact = load_artifact("LendingPool")
    factory = m.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    for args in ((ZERO, m.treasury), (m.oracle.address, ZERO)):
        with reverts("ZeroAddress"):
            factory.constructor(*args).estimate_gas({"from": m.owner})


@pytest.mark.parametrize(
    ("ltv", "lt", "bonus", "fee", "rf"),
    [
        (8000, 7999, 10500, 1000, 1000),  # ltv > threshold
        (7000, 7500, 10000, 1000, 1000),  # bonus must exceed 100%
        (9000, 9600, 10500, 1000, 1000),  # threshold * bonus > 100%
        (7000, 7500, 10500, 10001, 1000),  # protocol fee > 100%
        (7000, 7500, 10500, 1000, 10001),  # reserve factor > 100%
    ],
)
def test_configuration_validation(
    market_module: Market, ltv: int, lt: int, bonus: int, fee: int, rf: int
) -> None:
    m = market_module  # only calls: no state to restore
    with reverts("InvalidReserveConfiguration"):
        m.pool.functions.setReserveConfiguration(m.addr("USDC"), ltv, lt, bonus, fee, rf).call(
            {"from": m.owner}
        )


def test_rate_params_validation_and_reserve_checks(m: Market) -> None:
    pool = m.pool.functions
    usdc = m.addr("USDC")
    for optimal in (0, RAY, RAY + 1):
        with reverts("InvalidInterestRateParams"):
            pool.setInterestRateParams(usdc, 0, 1, 2, optimal).call({"from": m.owner})
    with reverts("ReserveAlreadyInitialized"):
        pool.initReserve(usdc, 7000, 7500, 10500, 1000, 1000, *RATES).call({"from": m.owner})
    with reverts("ReserveNotInitialized"):
        pool.setInterestRateParams(m.owner, *RATES).call({"from": m.owner})
    with reverts("ReserveNotInitialized"):
        pool.setBorrowingEnabled(m.owner, True).call({"from": m.owner})
    with reverts("ReserveNotInitialized"):
        pool.supply(m.owner, 1, m.owner, 0).call({"from": m.owner})
    # 9000 * 11100 / 10000 = 9990 <= 10000 is fine; the threshold itself may reach 100%.
    pool.setReserveConfiguration(usdc, 9000, 9000, 11100, 10000, 10000).call({"from": m.owner})
    pool.setReserveConfiguration(usdc, 0, 0, 10001, 0, 0).call({"from": m.owner})


def test_init_reserve_reads_decimals_and_emits(m: Market) -> None:
    token = deploy_contract(m.w3, "TestToken", "Dai", "DAI", 18, sender=m.owner, gas=DEPLOY_GAS)
    args = (token.address, 7500, 8000, 10500, 1000, 1000, RAY // 50, *RATES[1:])
    receipt = m.tx(m.pool.functions.initReserve(*args), m.owner)
    assert m.events(receipt, "ReserveInitialized") == [{"asset": token.address, "decimals": 18}]
    assert m.events(receipt, "ReserveConfigurationChanged") == [
        {
            "asset": token.address,
            "ltv": 7500,
            "liquidationThreshold": 8000,
            "liquidationBonus": 10500,
            "liquidationProtocolFee": 1000,
            "reserveFactor": 1000,
        }
    ]
    assert m.events(receipt, "InterestRateParamsChanged") == [
        {
            "asset": token.address,
            "baseRate": RAY // 50,
            "slope1": RATES[1],
            "slope2": RATES[2],
            "optimalUtilization": RATES[3],
        }
    ]
    (rdu,) = m.events(receipt, "ReserveDataUpdated")
    assert rdu["variableBorrowRate"] == RAY // 50 and rdu["liquidityRate"] == 0
    assert m.pool.functions.getReservesList().call()[-1] == token.address
    raw = m.pool.functions.getReserveData(token.address).call()
    assert raw[0] == 18
    assert raw[-4] == m.timestamp(receipt["blockNumber"])  # lastUpdateTimestamp


def test_rate_changes_take_effect_immediately_after_accrual(m: Market) -> None:
    alice, bob = m.users[:2]
    m.supply(bob, "USDC", 100_000 * 10**6)
    m.supply(alice, "WETH", 10 * 10**18)
    m.borrow(alice, "USDC", 20_000 * 10**6)
    before = m.reserve("USDC")
    assert m.chain is not None
    m.chain.advance_time(SECONDS_PER_YEAR // 4)
    new = (RAY // 10, RAY // 10, RAY, 50 * RAY // 100)
    receipt = m.tx(m.pool.functions.setInterestRateParams(m.addr("USDC"), *new), m.owner)
    after = m.reserve("USDC")
    dt = m.timestamp(receipt["blockNumber"]) - before.last_update_timestamp
    # Interest up to now accrued at the old rate, then the new curve applies.
    assert after.variable_borrow_index == ray_mul(
        compounded(before.variable_borrow_rate, dt), before.variable_borrow_index
    )
    assert (after.base_rate, after.slope1, after.slope2, after.optimal_utilization) == new
    assert (after.liquidity_rate, after.variable_borrow_rate) == after.expected_rates()
    assert after.variable_borrow_rate > before.variable_borrow_rate
    # Raising the reserve factor lowers the liquidity rate at once.
    spec = m.specs["USDC"]
    m.tx(
        m.pool.functions.setReserveConfiguration(
            m.addr("USDC"), spec.ltv, spec.lt, spec.bonus, spec.fee, 5000
        ),
        m.owner,
    )
    changed = m.reserve("USDC")
    assert changed.reserve_factor == 5000
    assert changed.liquidity_rate < after.liquidity_rate
    assert (changed.liquidity_rate, changed.variable_borrow_rate) == changed.expected_rates()
