"""The same pool, deployed and liquidated on anvil (a real JSON-RPC node)."""

from __future__ import annotations

import pytest
from web3 import Web3

from tests.contracts.pool_fixtures import (
    MAX_UINT,
    VARIABLE,
    WAD,
    deploy_market,
    expected_liquidation,
)
from tests.helpers import reverts

USDC, WBTC, WETH = 10**6, 10**8, 10**18


@pytest.mark.anvil
def test_pool_lifecycle_on_anvil(anvil_w3: Web3) -> None:
    m = deploy_market(anvil_w3)
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "USDC", 100_000 * USDC)
    m.supply(alice, "WETH", 10 * WETH)
    m.supply(alice, "WBTC", WBTC // 10)
    m.borrow(alice, "USDC", 25_000 * USDC)
    assert m.account(alice) == m.expected_account(alice)
    with reverts("CollateralCannotCoverNewBorrow"):
        m.pool.functions.borrow(m.addr("USDC"), 10_000 * USDC, VARIABLE, 0, alice).call(
            {"from": alice}
        )
    with reverts("HealthFactorNotBelowThreshold"):
        m.pool.functions.liquidationCall(
            m.addr("WETH"), m.addr("USDC"), alice, MAX_UINT, False
        ).call({"from": liquidator})

    anvil_w3.provider.make_request("evm_increaseTime", [30 * 24 * 3600])  # type: ignore[arg-type]
    anvil_w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    m.set_price("WETH", 2_200 * 10**8)
    acct = m.account(alice)
    assert acct == m.expected_account(alice)
    assert acct.health_factor < WAD

    m.fund(liquidator, "USDC", 100_000 * USDC)
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT)
    x = expected_liquidation(m, "WETH", "USDC", alice, MAX_UINT, receipt)
    assert x.debt_covered > 0
    assert m.balance("WETH", liquidator) == x.to_liquidator
    assert m.balance("USDC", liquidator) == 100_000 * USDC - x.debt_covered
    (event,) = m.events(receipt, "LiquidationCall")
    assert event["liquidatedCollateralAmount"] == x.to_liquidator
    assert m.user_reserve("WETH", m.treasury)[0] > 0
    assert m.account(alice) == m.expected_account(alice)
    code = anvil_w3.eth.get_code(m.pool.address)
    assert 0 < len(code) <= 24_576
