"""A seeded random walk over the pool (supply, borrow, repay, withdraw, price moves, time,
liquidations) checking after every step that the pool agrees with the Python reference:
account data, rates, liquidation amounts, and that scaled balances and cash add up."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import TxReceipt

from bot.chain.reverts import as_reverted, is_revert
from tests.contracts.pool_fixtures import (
    MAX_UINT,
    VARIABLE,
    WAD,
    AccountData,
    Market,
    Reserve,
    account_from,
    deploy_market,
    expected_liquidation,
)

# Reverts a random action may legitimately hit; anything else fails the test.
EXPECTED_REVERTS = {
    "CollateralCannotCoverNewBorrow",
    "CollateralBalanceIsZero",
    "HealthFactorLowerThanLiquidationThreshold",
    "NotEnoughLiquidity",
    "NotEnoughAvailableUserBalance",
    "NoDebtOfSelectedType",
    "InvalidAmount",
    "HealthFactorNotBelowThreshold",
    "CollateralCannotBeLiquidated",
    "SpecifiedCurrencyNotBorrowedByUser",
}


def attempt(m: Market, fn: Any, sender: ChecksumAddress) -> TxReceipt | None:
    """Send ``fn`` if a call says it succeeds; an expected revert returns None."""
    try:
        fn.call({"from": sender})
    except Exception as exc:
        if not is_revert(exc):
            raise
        name = as_reverted(exc).error_name
        assert name in EXPECTED_REVERTS, name
        return None
    return m.tx(fn, sender)


def check_invariants(m: Market, accounts: list[ChecksumAddress]) -> dict[str, AccountData]:
    """Batch reads (getReservesData, getUserPositions) compared with Python; returns the
    pool's account data per account."""
    assets, raw = m.pool.functions.getReservesData().call()
    reserves = [Reserve(*r) for r in raw]
    ts = m.timestamp()
    prices = [m.price(m.symbol_of(a)) for a in assets]
    totals = [[0, 0] for _ in assets]
    data: dict[str, AccountData] = {}
    for holder in [*accounts, m.treasury]:
        _, supplies, debts, flags = m.pool.functions.getUserPositions(holder).call()
        for i in range(len(assets)):
            totals[i][0] += supplies[i]
            totals[i][1] += debts[i]
        if holder == m.treasury:
            continue
        rows = [
            (reserves[i], (supplies[i], debts[i], flags[i]), prices[i]) for i in range(len(assets))
        ]
        data[holder] = m.account(holder)
        assert data[holder] == account_from(rows, ts)
    for i, r in enumerate(reserves):
        assert (r.liquidity_rate, r.variable_borrow_rate) == r.expected_rates()
        assert r.cash == m.balance(m.symbol_of(assets[i]), m.pool.address)
        assert totals[i] == [r.total_scaled_supply, r.total_scaled_debt]
    return data


@pytest.mark.anvil
@pytest.mark.parametrize("seed", [3, 4])
def test_random_walk_matches_reference(anvil_w3: Web3, seed: int) -> None:
    """On anvil (fast calls); the same pool as on eth-tester."""
    m = deploy_market(anvil_w3)
    rng = random.Random(seed)
    users = m.users[:4]
    liquidator = m.users[5]
    symbols = list(m.tokens)
    for user in [*users, liquidator]:
        for symbol in symbols:
            m.fund(user, symbol, 10**9 * m.unit(symbol))
    for symbol in symbols:  # $1M of depth in every market
        m.supply(m.users[6], symbol, 10**14 // m.specs[symbol].price * m.unit(symbol))
    for user in users:  # $20k-$200k of collateral in one or two assets
        for symbol in rng.sample(symbols, rng.randint(1, 2)):
            usd = rng.randint(20_000, 200_000) * 10**8
            m.supply(user, symbol, usd * m.unit(symbol) // m.specs[symbol].price, fund=False)
    accounts = [*users, liquidator, m.users[6]]

    liquidations = 0
    pool = m.pool.functions
    data = check_invariants(m, accounts)
    for _ in range(40):
        action = rng.choice(["supply", "borrow", "borrow", "repay", "withdraw", "time", "price"])
        user = rng.choice(users)
        symbol = rng.choice(symbols)
        asset = m.addr(symbol)
        price = m.price(symbol)
        if action == "borrow":  # up to the limit, so that prices and time can bite
            usd = data[user].available_borrows * rng.randint(50, 97) // 100
        else:
            usd = rng.randint(100, 50_000) * 10**8
        amount = usd * m.unit(symbol) // price
        if action == "supply":
            attempt(m, pool.supply(asset, amount, user, 0), user)
        elif action == "borrow":
            attempt(m, pool.borrow(asset, amount, VARIABLE, 0, user), user)
        elif action == "repay":
            attempt(m, pool.repay(asset, rng.choice([amount, MAX_UINT]), VARIABLE, user), user)
        elif action == "withdraw":
            attempt(m, pool.withdraw(asset, rng.choice([amount, MAX_UINT]), user), user)
        elif action == "time":
            m.advance(rng.randint(1, 180 * 24 * 3600))
        else:
            m.set_price(symbol, max(1, price * rng.randint(65, 112) // 100))
        data = check_invariants(m, accounts)

        # Liquidate whoever is underwater, with a random collateral/debt pair they hold.
        for victim in users:
            if data[victim].health_factor >= WAD:
                continue
            held = [m.user_reserve(s, victim) for s in symbols]
            colls = [s for s, h in zip(symbols, held, strict=True) if h[0] and h[2]]
            debts = [s for s, h in zip(symbols, held, strict=True) if h[1]]
            assert colls and debts
            coll, debt = rng.choice(colls), rng.choice(debts)
            cover = rng.choice([MAX_UINT, m.owed(debt, victim) // 3 + 1])
            receive = rng.random() < 0.3
            before = m.balance(debt, liquidator)
            fn = pool.liquidationCall(m.addr(coll), m.addr(debt), victim, cover, receive)
            receipt = attempt(m, fn, liquidator)
            if receipt is None:
                # The collateral's cash is lent out: only receiving it as supply works.
                assert not receive
                receive = True
                fn = pool.liquidationCall(m.addr(coll), m.addr(debt), victim, cover, receive)
                receipt = attempt(m, fn, liquidator)
            assert receipt is not None
            x = expected_liquidation(m, coll, debt, victim, cover, receipt)
            received = x.to_liquidator if coll == debt and not receive else 0
            assert before - m.balance(debt, liquidator) == x.debt_covered - received
            (event,) = m.events(receipt, "LiquidationCall")
            assert event["debtToCover"] == x.debt_covered
            assert event["liquidatedCollateralAmount"] == x.to_liquidator
            liquidations += 1
            data = check_invariants(m, accounts)
    assert liquidations > 0
