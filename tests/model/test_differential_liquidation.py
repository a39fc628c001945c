"""liquidationCall: the model's outcome equals the pool's state change, to the wei.

Random positions (tokens of 6, 8 and 18 decimals), prices pushed until the account is
liquidatable (or not, to check the reverts), any (collateral, debt) pair, debtToCover from
1 unit to type(uint256).max, with and without receiveAToken. Compared: debt covered,
collateral to the liquidator, fee to the treasury, the user's scaled balances and flags,
every reserve's stored state (indexes, rates, totals, cash) and the bad-debt write-offs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.logs import DISCARD

from bot.chain.contracts import bind, transact
from bot.chain.embedded import EmbeddedChain
from bot.deploy.market import MAX_UINT, Market
from bot.model.health import account_data
from bot.model.liquidation import LiquidationOutcome, LiquidationReverted, liquidate
from bot.model.types import Account, MarketState
from tests.helpers import reverts
from tests.model.chain_state import read_account, read_market
from tests.model.scenarios import CHAIN_SETTINGS, GAS, actors, approve_all, mint, set_price
from tests.model.test_differential_health import (
    SYMBOLS,
    Position,
    open_position,
    positions,
    spec_price,
)

SIZES = ("one", "dust", "share", "max")


@dataclass(frozen=True)
class Variant:
    collateral: str
    debt: str
    size: str
    share_bps: int
    receive_a_token: bool


@dataclass(frozen=True)
class Liquidation:
    position: Position
    target_hf_bps: int  # push the health factor to about this (>= 10000: leave healthy)
    variants: tuple[Variant, ...]  # tried one after the other from the same state


@st.composite
def liquidations(draw: st.DrawFn) -> Liquidation:
    p = draw(positions(min_debts=1, overlap=draw(st.integers(0, 4)) == 0))
    variants = []
    for _ in range(draw(st.integers(1, 3))):
        # mostly a pair the account holds; sometimes any pair, to see the reverts agree
        holds = draw(st.integers(0, 9)) > 0
        variants.append(
            Variant(
                collateral=draw(st.sampled_from(sorted(p.collateral) if holds else SYMBOLS)),
                debt=draw(st.sampled_from(sorted(p.debts) if holds else SYMBOLS)),
                size=draw(st.sampled_from(SIZES)),
                share_bps=draw(st.integers(1, 12_000)),
                receive_a_token=draw(st.booleans()),
            )
        )
    return Liquidation(
        position=p,
        target_hf_bps=draw(st.sampled_from([500, 3_000, 8_000, 9_400, 9_600, 9_990, 12_000])),
        variants=tuple(variants),
    )


def push_health(market: Market, who: str, p: Position, target_hf_bps: int) -> None:
    """Aim at the target health factor: lower collateral-only prices, raise debt-only ones.

    The new prices are found on the model (one read), then set on chain once.
    """
    if target_hf_bps >= 10_000:
        return
    token = market.deployment.token
    coll_only = [token(s) for s in p.collateral if s not in p.debts]
    debt_only = [token(s) for s in p.debts if s not in p.collateral]
    state, account = read_market(market), read_account(market, who)
    pending = int(market.w3.eth.get_block("pending")["timestamp"])
    ceiling = {token(s): spec_price(market, s) * 999 for s in p.debts}
    prices = dict(state.prices)
    for _ in range(6):
        data = account_data(state.with_prices(prices), account, pending)
        if data.total_debt_base == 0 or data.health_factor * 10_000 <= target_hf_bps * 10**18:
            break
        num, den = target_hf_bps * 10**18, 10_000 * data.health_factor
        for asset in coll_only:
            prices[asset] = max(2, prices[asset] * num // den)
        if not coll_only or data.health_factor > 50 * 10**18:
            for asset in debt_only:
                prices[asset] = min(ceiling[asset], prices[asset] * den // num)
    for symbol in market.specs:
        if prices.get(token(symbol), 0) != state.prices.get(token(symbol), 0):
            set_price(market, symbol, prices[token(symbol)])


def debt_to_cover(case: Variant, user_debt: int) -> int:
    if case.size == "one":
        return 1
    if case.size == "dust":
        return 1 + case.share_bps % 97
    if case.size == "share":
        return max(1, user_debt * case.share_bps // 10_000)
    return MAX_UINT


def erc20(market: Market, address: str) -> Contract:
    return bind(market.w3, "TestToken", address)


def scaled_supply(market: Market, asset: str, who: str) -> int:
    return int(market.pool.functions.getUserReserveData(asset, who).call()[0])


def positions_of(account: Account) -> dict[str, tuple[int, int, bool]]:
    return {
        p.asset: (p.scaled_supply, p.scaled_debt, p.using_as_collateral)
        for p in account.positions
        if p.scaled_supply or p.scaled_debt or p.using_as_collateral
    }


def check_outcome(
    market: Market,
    out: LiquidationOutcome,
    before: MarketState,
    receipt: dict,  # type: ignore[type-arg]
    who: str,
    liquidator: str,
    coll: str,
    debt: str,
    receive: bool,
    balances: tuple[int, int, int, int],
) -> None:
    pool = market.pool
    (event,) = pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["debtToCover"] == out.amounts.debt_covered
    assert event["args"]["liquidatedCollateralAmount"] == out.amounts.to_liquidator
    coll_bal, debt_bal, liq_supply, treasury_supply = balances
    if coll != debt:
        assert erc20(market, debt).functions.balanceOf(liquidator).call() == (
            debt_bal - out.amounts.debt_covered
        )
        expected_coll = coll_bal + (0 if receive else out.amounts.to_liquidator)
        assert erc20(market, coll).functions.balanceOf(liquidator).call() == expected_coll
    gained = scaled_supply(market, coll, liquidator) - liq_supply
    assert gained == (out.liquidator_scaled if receive else 0)
    assert scaled_supply(market, coll, before.treasury) - treasury_supply == out.fee_scaled
    after = read_market(market)
    assert after.reserves == out.market.reserves
    assert positions_of(read_account(market, who)) == positions_of(out.account)
    written = [
        (e["args"]["reserve"], e["args"]["amount"], e["args"]["newLiquidityIndex"])
        for e in pool.events.BadDebtWrittenOff().process_receipt(receipt, errors=DISCARD)
    ]
    assert written == [(w.asset, w.loss, w.new_liquidity_index) for w in out.bad_debt]


def run_variant(market: Market, who: str, v: Variant) -> None:
    w3 = market.w3
    liquidator = actors(w3).liquidator
    coll, debt = market.deployment.token(v.collateral), market.deployment.token(v.debt)
    before, account = read_market(market), read_account(market, who)
    size = debt_to_cover(v, 2 * account.position(debt).scaled_debt + 10)
    pending = int(w3.eth.get_block("pending")["timestamp"])
    call = market.pool.functions.liquidationCall(coll, debt, who, size, v.receive_a_token)
    try:
        out = liquidate(
            before, account, coll, debt, size, pending, receive_a_token=v.receive_a_token
        )
    except LiquidationReverted as exc:
        event(f"reverts {type(exc).__name__}")
        with reverts(type(exc).__name__):
            call.call({"from": liquidator}, block_identifier="pending")
        return
    balances = (
        erc20(market, coll).functions.balanceOf(liquidator).call(),
        erc20(market, debt).functions.balanceOf(liquidator).call(),
        scaled_supply(market, coll, liquidator),
        scaled_supply(market, coll, before.treasury),
    )
    event("capped by collateral" if out.amounts.capped_by_collateral else "uncapped")
    event(f"close factor {out.amounts.close_factor}")
    if out.bad_debt:
        event("bad debt written off")
    receipt = transact(w3, call, liquidator, gas=GAS)
    assert w3.eth.get_block(receipt["blockNumber"])["timestamp"] == pending
    check_outcome(
        market, out, before, receipt, who, liquidator, coll, debt, v.receive_a_token, balances
    )


@settings(CHAIN_SETTINGS, max_examples=20)
@given(case=liquidations())
def test_liquidation_matches_pool(
    deployed: tuple[EmbeddedChain, Market], case: Liquidation
) -> None:
    chain, market = deployed
    snapshot = chain.snapshot()
    try:
        who = open_position(chain, market, case.position)
        push_health(market, who, case.position, case.target_hf_bps)
        liquidator = actors(market.w3).liquidator
        for symbol in {v.debt for v in case.variants}:
            mint(market, symbol, liquidator, 10**30)
            approve_all(market, symbol, liquidator, market.pool.address)
        for v in case.variants:
            inner = chain.snapshot()
            try:
                run_variant(market, who, v)
            finally:
                chain.revert(inner)
    finally:
        chain.revert(snapshot)


def test_paused_liquidations_revert_alike(deployed: tuple[EmbeddedChain, Market]) -> None:
    chain, market = deployed
    snapshot = chain.snapshot()
    try:
        owner = market.w3.eth.accounts[0]
        transact(market.w3, market.pool.functions.setLiquidationsPaused(True), owner, gas=GAS)
        state = read_market(market)
        assert state.liquidations_paused
        weth, usdc = market.deployment.token("WETH"), market.deployment.token("USDC")
        who = actors(market.w3).borrower
        with pytest.raises(LiquidationReverted) as caught:
            liquidate(state, read_account(market, who), weth, usdc, 1, 0)
        with reverts(type(caught.value).__name__):
            market.pool.functions.liquidationCall(weth, usdc, who, 1, False).call()
    finally:
        chain.revert(snapshot)
