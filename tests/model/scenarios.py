"""Drive the deployed market into the states the differential tests need (tests only)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress
from hypothesis import HealthCheck, Phase, settings
from web3 import Web3

from bot.chain.contracts import transact
from bot.chain.embedded import EmbeddedChain
from bot.deploy.market import MAX_UINT, Market

GAS = 3_000_000  # explicit gas: skips eth_estimateGas, which re-runs every transaction


@dataclass
class Actors:
    deployer: ChecksumAddress
    liquidator_owner: ChecksumAddress
    borrower: ChecksumAddress
    liquidator: ChecksumAddress


def actors(w3: Web3) -> Actors:
    a = w3.eth.accounts
    return Actors(a[0], a[1], a[5], a[9])


def send(market: Market, fn: object, sender: ChecksumAddress) -> None:
    transact(market.w3, fn, sender, gas=GAS)


def mint(market: Market, symbol: str, to: ChecksumAddress, amount: int) -> None:
    deployer = market.w3.eth.accounts[0]
    send(market, market.token(symbol).functions.mint(to, amount), deployer)


def supply_for(market: Market, symbol: str, user: ChecksumAddress, amount: int) -> None:
    """The deployer mints and supplies ``amount`` on ``user``'s behalf."""
    deployer = market.w3.eth.accounts[0]
    mint(market, symbol, deployer, amount)
    token = market.deployment.token(symbol)
    send(market, market.pool.functions.supply(token, amount, user, 0), deployer)


def borrow(market: Market, symbol: str, user: ChecksumAddress, amount: int) -> None:
    token = market.deployment.token(symbol)
    send(market, market.pool.functions.borrow(token, amount, 2, 0, user), user)


def approve_all(market: Market, symbol: str, owner: ChecksumAddress, spender: str) -> None:
    send(market, market.token(symbol).functions.approve(spender, MAX_UINT), owner)


def set_price(market: Market, symbol: str, price8: int) -> None:
    """Both feeds of ``symbol`` answer ``price8`` (8-decimal USD) from now on."""
    deployer = market.w3.eth.accounts[0]
    decimals = market.specs[symbol].feed_decimals
    answer = price8 * 10 ** (decimals - 8) if decimals >= 8 else price8 // 10 ** (8 - decimals)
    send(market, market.feed(symbol).functions.updateAnswer(answer), deployer)
    send(market, market.fallback_feed(symbol).functions.updateAnswer(answer), deployer)


def advance(chain: EmbeddedChain, seconds: int) -> None:
    if seconds > 0:
        chain.advance_time(seconds)


CHAIN_SETTINGS = settings(
    deadline=None,
    # shrinking re-runs whole chain scenarios: too slow to be worth it; the failing example
    # is printed as generated
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Settings for the differential tests on eth-tester (combine with ``max_examples``)."""
