"""getUserAccountData: the model equals the pool to the wei, on random states.

Tokens of 6 (USDC), 8 (WBTC) and 18 (WETH, DAI) decimals; one or two collaterals, zero to two
debts, interest accrued over up to a month, and prices moved from 1/1000x to 999x.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chain.embedded import EmbeddedChain
from bot.deploy.market import Market
from bot.model.health import account_data
from tests.model.chain_state import latest_timestamp, read_account, read_market
from tests.model.scenarios import (
    CHAIN_SETTINGS,
    actors,
    advance,
    borrow,
    send,
    set_price,
    supply_for,
)

SYMBOLS = ("WETH", "WBTC", "USDC", "DAI")
PRICE_STEPS = (1, 10, 100, 500, 1000, 1500, 2000, 5000, 10_000, 90_000, 999_000)
"""Price multipliers in thousandths: 0.001x to 999x (feeds accept up to 1000x exclusive)."""


@dataclass(frozen=True)
class Position:
    collateral: dict[str, int]  # symbol -> USD cents of collateral
    dust: dict[str, int]  # extra units on top, so amounts are not round
    debts: dict[str, int]  # symbol -> share of borrowing power in bps
    disable_second: bool
    dt: int
    prices: dict[str, int]  # symbol -> multiplier in thousandths


@st.composite
def positions(draw: st.DrawFn, min_debts: int = 0, overlap: bool = True) -> Position:
    """``overlap=False``: never borrow what is supplied (prices can then sink any account)."""
    colls = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=2, unique=True))
    owed = SYMBOLS if overlap else tuple(s for s in SYMBOLS if s not in colls)
    debts = draw(st.lists(st.sampled_from(owed), min_size=min_debts, max_size=2, unique=True))
    return Position(
        collateral={s: draw(st.integers(1, 100_000_000)) for s in colls},
        dust={s: draw(st.integers(0, 10**6)) for s in colls},
        debts={s: draw(st.integers(1, 4_800)) for s in debts},
        disable_second=draw(st.booleans()),
        dt=draw(st.sampled_from([0, 1, 59, 3_600, 86_399, 7 * 86_400, 30 * 86_400])),
        prices={s: draw(st.sampled_from(PRICE_STEPS)) for s in SYMBOLS},
    )


def spec_price(market: Market, symbol: str) -> int:
    """The deployment's price of ``symbol`` (8-decimal USD)."""
    return int(market.specs[symbol].price_usd * 10**8)


def open_position(chain: EmbeddedChain, market: Market, p: Position) -> str:
    """Build ``p`` on chain for the test borrower; returns its address."""
    w3 = market.w3
    who = actors(w3).borrower
    amounts: dict[str, int] = {}
    for symbol, cents in p.collateral.items():
        spec = market.specs[symbol]
        amount = int(cents * 10**spec.decimals / (spec.price_usd * 100)) + p.dust[symbol]
        amounts[symbol] = max(amount, 1)
        supply_for(market, symbol, who, amounts[symbol])
    # borrow a share of the borrowing power at the deployment's prices (computed here, not
    # read back: fewer calls), with half a percent of margin for the pool's own rounding
    power = sum(
        amounts[s] * spec_price(market, s) // 10 ** market.specs[s].decimals
        * market.specs[s].ltv // 10_000
        for s in amounts
    )  # fmt: skip
    for symbol, share_bps in p.debts.items():
        unit = 10 ** market.specs[symbol].decimals
        amount = power * share_bps // 10_000 * unit // spec_price(market, symbol) * 995 // 1000
        if amount > 0:
            borrow(market, symbol, who, amount)
    colls = list(p.collateral)
    if p.disable_second and len(colls) == 2:
        token = market.deployment.token(colls[1])
        # the pool refuses when it would make the account unhealthy: then it stays enabled
        with contextlib.suppress(Exception):
            send(market, market.pool.functions.setUserUseReserveAsCollateral(token, False), who)
    advance(chain, p.dt)
    touched = set(p.collateral) | set(p.debts)
    for symbol, milli in p.prices.items():
        if symbol not in touched:  # the pool prices only what the account holds
            continue
        set_price(market, symbol, max(2, spec_price(market, symbol) * milli // 1000))
    return who


@settings(CHAIN_SETTINGS, max_examples=30)
@given(p=positions())
def test_account_data_matches_pool(deployed: tuple[EmbeddedChain, Market], p: Position) -> None:
    chain, market = deployed
    snapshot = chain.snapshot()
    try:
        who = open_position(chain, market, p)
        state, account = read_market(market), read_account(market, who)
        expected = account_data(state, account, latest_timestamp(market.w3))
        assert tuple(market.pool.functions.getUserAccountData(who).call()) == expected.as_tuple()
        # and a block later, with one more second of interest, without touching the pool
        pending = int(market.w3.eth.get_block("pending")["timestamp"])
        on_chain = market.pool.functions.getUserAccountData(who).call(block_identifier="pending")
        assert tuple(on_chain) == account_data(state, account, pending).as_tuple()
    finally:
        chain.revert(snapshot)


def test_zero_debt_and_no_position(deployed: tuple[EmbeddedChain, Market]) -> None:
    chain, market = deployed
    snapshot = chain.snapshot()
    try:
        who = actors(market.w3).borrower
        state, ts = read_market(market), latest_timestamp(market.w3)
        empty = market.pool.functions.getUserAccountData(who).call()
        assert tuple(empty) == account_data(state, read_account(market, who), ts).as_tuple()
        supply_for(market, "WBTC", who, 12_345)
        state, ts = read_market(market), latest_timestamp(market.w3)
        only = market.pool.functions.getUserAccountData(who).call()
        assert tuple(only) == account_data(state, read_account(market, who), ts).as_tuple()
        assert only[5] == 2**256 - 1
    finally:
        chain.revert(snapshot)
