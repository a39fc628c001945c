"""Read the bundled contracts' state into the model's plain types (tests only).

Deliberately independent of the watcher (bot/watch, bot/protocols): a differential test of
the model should not trust another reader of the same chain.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from bot.chain.reverts import is_revert
from bot.deploy.market import Market
from bot.model.types import (
    Account,
    InterestRateStrategy,
    MarketState,
    PairReserves,
    Reserve,
    ReserveConfig,
    ReserveState,
    UserReserve,
)


def _reserve(asset: str, d: Any) -> Reserve:
    (
        decimals, ltv, threshold, bonus, fee, reserve_factor, _borrowing,
        base_rate, slope1, slope2, optimal,
        liquidity_index, borrow_index, liquidity_rate, borrow_rate, last_update,
        total_supply, total_debt, cash,
    ) = d  # fmt: skip
    return Reserve(
        ReserveConfig(
            asset, decimals, ltv, threshold, bonus, fee, reserve_factor,
            InterestRateStrategy(base_rate, slope1, slope2, optimal),
        ),
        ReserveState(
            liquidity_index, borrow_index, liquidity_rate, borrow_rate, last_update,
            total_supply, total_debt, cash,
        ),
    )  # fmt: skip


def read_market(market: Market) -> MarketState:
    """Reserves, usable oracle prices and the pause flag, as of the latest block."""
    pool = market.pool
    assets, data = pool.functions.getReservesData().call()
    prices: dict[str, int] = {}
    for asset in assets:
        try:
            prices[Web3.to_checksum_address(asset)] = market.oracle.functions.getAssetPrice(
                asset
            ).call()
        except Exception as exc:  # a stale or broken feed: the asset has no usable price
            if not is_revert(exc):
                raise
    return MarketState(
        reserves=tuple(
            _reserve(Web3.to_checksum_address(a), d) for a, d in zip(assets, data, strict=True)
        ),
        prices=prices,
        liquidations_paused=pool.functions.liquidationsPaused().call(),
        treasury=Web3.to_checksum_address(pool.functions.treasury().call()),
    )


def read_account(market: Market, user: str) -> Account:
    assets, supply, debt, flags = market.pool.functions.getUserPositions(user).call()
    return Account(
        Web3.to_checksum_address(user),
        tuple(
            UserReserve(Web3.to_checksum_address(a), s, d, f)
            for a, s, d, f in zip(assets, supply, debt, flags, strict=True)
            if s or d or f
        ),
    )


def read_pair(market: Market, a: str, b: str) -> PairReserves:
    pair = market.pair(a, b)
    r0, r1, _ = pair.functions.getReserves().call()
    dep = market.deployment.pair_for(a, b)
    assert dep is not None
    return PairReserves(pair.address, dep.token0, dep.token1, r0, r1)


def latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])
