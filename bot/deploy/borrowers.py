"""Open varied borrower positions on a deployed market, for demos, tests and benchmarks.

Each borrower is a local key derived from a seed, so a run is reproducible. The provider
supplies collateral on the borrower's behalf (one transaction, the pool allows it) and the
borrower signs its own borrow, as a real user would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3.types import Wei

from bot.chain.contracts import send_signed, transact, wait_ok
from bot.deploy.market import MAX_UINT, Market

GAS_MONEY_WEI = 10**17


@dataclass(frozen=True)
class BorrowerPlan:
    index: int
    collateral: dict[str, int]  # symbol -> token units
    debt: dict[str, int]
    target_health: Decimal


def borrower_account(seed: int, index: int) -> LocalAccount:
    """A reproducible throwaway key for test borrowers (never for real funds)."""
    key = keccak(b"liqbot-test-borrower" + seed.to_bytes(8, "big") + index.to_bytes(8, "big"))
    account: LocalAccount = Account.from_key(key)
    return account


COLLATERAL_CHOICES = (("WETH",), ("WBTC",), ("WETH", "WBTC"), ("WETH",), ("WBTC", "DAI"))
DEBT_CHOICES = {
    ("WETH",): ("USDC", "DAI"),
    ("WBTC",): ("USDC", "WETH"),
    ("WETH", "WBTC"): ("USDC",),
    ("WBTC", "DAI"): ("USDC", "WETH"),
}


def plan_borrowers(
    market: Market,
    count: int,
    *,
    seed: int = 1,
    health_range: tuple[float, float] = (1.05, 1.6),
    size_usd: tuple[float, float] = (2_000, 150_000),
) -> list[BorrowerPlan]:
    """Varied positions: one or two collaterals, stable or volatile debt, log-uniform sizes."""
    rng = random.Random(seed)
    plans = []
    for index in range(count):
        collaterals = rng.choice(COLLATERAL_CHOICES)
        debt_symbol = rng.choice(DEBT_CHOICES[collaterals])
        total_usd = Decimal(
            str(round(size_usd[0] * (size_usd[1] / size_usd[0]) ** rng.random(), 2))
        )
        weights = [Decimal(str(rng.uniform(0.3, 1.0))) for _ in collaterals]
        weight_sum = sum(weights)
        collateral: dict[str, int] = {}
        threshold_usd = Decimal(0)
        borrow_power_usd = Decimal(0)
        for symbol, weight in zip(collaterals, weights, strict=True):
            spec = market.specs[symbol]
            usd = total_usd * weight / weight_sum
            collateral[symbol] = int(usd / spec.price_usd * 10**spec.decimals)
            threshold_usd += usd * spec.liquidation_threshold / 10_000
            borrow_power_usd += usd * spec.ltv / 10_000
        health = Decimal(str(round(rng.uniform(*health_range), 4)))
        debt_usd = min(threshold_usd / health, borrow_power_usd * Decimal("0.995"))
        debt_spec = market.specs[debt_symbol]
        debt = {debt_symbol: int(debt_usd / debt_spec.price_usd * 10**debt_spec.decimals)}
        plans.append(BorrowerPlan(index, collateral, debt, threshold_usd / debt_usd))
    return plans


def open_positions(
    market: Market,
    plans: list[BorrowerPlan],
    provider: ChecksumAddress,
    *,
    seed: int = 1,
) -> list[LocalAccount]:
    """Fund each borrower with gas money, supply its collateral, and let it borrow."""
    w3 = market.w3
    pool = market.pool
    for symbol in market.specs:
        needed = sum(plan.collateral.get(symbol, 0) for plan in plans)
        if needed:
            token = market.token(symbol)
            transact(w3, token.functions.mint(provider, needed), provider)
            transact(w3, token.functions.approve(pool.address, MAX_UINT), provider)
    accounts = []
    for plan in plans:
        account = borrower_account(seed, plan.index)
        wait_ok(
            w3,
            w3.eth.send_transaction(
                {"from": provider, "to": account.address, "value": Wei(GAS_MONEY_WEI)}
            ),
            "funding a borrower",
        )
        for symbol, amount in plan.collateral.items():
            transact(
                w3,
                pool.functions.supply(market.deployment.token(symbol), amount, account.address, 0),
                provider,
            )
        for symbol, amount in plan.debt.items():
            send_signed(
                w3,
                pool.functions.borrow(
                    market.deployment.token(symbol), amount, 2, 0, account.address
                ),
                account,
            )
        accounts.append(account)
    return accounts
