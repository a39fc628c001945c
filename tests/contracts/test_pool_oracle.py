"""The pool over the real PriceOracle + PriceFeed: a stale price blocks liquidations (and
anything that needs a valuation) while repaying and supplying keep working (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contracts.pool_fixtures import (
    MAX_UINT,
    VARIABLE,
    WAD,
    Market,
    expected_liquidation,
    isolated,
    module_market,
)
from tests.helpers import reverts

USDC, WETH = 10**6, 10**18
HEARTBEAT = 3600


@pytest.fixture(scope="module")
def market_module() -> Iterator[Market]:
    yield from module_market(heartbeat=HEARTBEAT)


@pytest.fixture
def m(market_module: Market) -> Iterator[Market]:
    yield from isolated(market_module)


def test_stale_price_makes_liquidation_revert(m: Market) -> None:
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "USDC", 100_000 * USDC)
    m.supply(alice, "WETH", 10 * WETH)
    m.borrow(alice, "USDC", 20_000 * USDC)
    m.fund(liquidator, "USDC", 100_000 * USDC)
    m.set_price("WETH", 2_000 * 10**8)
    assert m.account(alice).health_factor < WAD

    assert m.chain is not None
    m.chain.advance_time(2 * HEARTBEAT)
    m.chain.mine()
    pool = m.pool.functions
    weth, usdc = m.addr("WETH"), m.addr("USDC")
    with reverts("StalePrice"):
        pool.liquidationCall(weth, usdc, alice, MAX_UINT, False).call({"from": liquidator})
    with reverts("StalePrice"):
        pool.getUserAccountData(alice).call()
    with reverts("StalePrice"):
        pool.borrow(usdc, USDC, VARIABLE, 0, alice).call({"from": alice})
    with reverts("StalePrice"):
        pool.withdraw(weth, WETH, alice).call({"from": alice})
    # Supplying and repaying need no price.
    m.supply(bob, "USDC", USDC)
    m.fund(alice, "USDC", 0)
    m.repay(alice, "USDC", USDC)

    # Fresh WETH and USDC answers are enough: alice holds no WBTC, so its stale feed is
    # never read.
    m.set_price("WETH", 2_000 * 10**8)
    m.set_price("USDC", 10**8)
    with reverts("StalePrice"):
        m.oracle.functions.getAssetPrice(m.addr("WBTC")).call()
    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT)
    x = expected_liquidation(m, "WETH", "USDC", alice, MAX_UINT, receipt)
    assert m.balance("WETH", liquidator) == x.to_liquidator > 0
