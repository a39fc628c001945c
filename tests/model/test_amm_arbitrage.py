"""The arbitrageur's swap to a target price (``arbitrage_swap``): pure properties, and the
pair on eth-tester ending exactly where the model says after the router executes it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chain.embedded import EmbeddedChain
from bot.deploy.market import Market
from bot.model.amm import (
    InsufficientLiquidity,
    arbitrage_amount_in,
    arbitrage_swap,
    get_amount_out,
)
from bot.model.types import PairReserves
from tests.model.chain_state import read_pair
from tests.model.scenarios import CHAIN_SETTINGS, approve_all, mint, send

A, B = "0xA", "0xB"
reserves = st.integers(min_value=10**3, max_value=10**30)
weights = st.integers(min_value=1, max_value=10**24)


def short(x: int, r_in: int, r_out: int, w_in: int, w_out: int) -> bool:
    """Still on the dear side of the target after selling ``x`` (the function's condition)."""
    out = get_amount_out(x, r_in, r_out) if x else 0
    return (r_in + x) * w_in <= (r_out - out) * w_out


def test_hand_computed_swap() -> None:
    # 1,000 WETH / 3,000,000 USDC, oracle at 2,700 USD: the pair's WETH is dear (3,000).
    # In WETH, the USDC side is worth 3e6 / 2700 = 1111.1 at the oracle; selling x WETH with
    # the fee meets it when (1000 + x)(1000 + 0.997 x) = 1000 * 1111.1: x = 54.1738 WETH.
    x = (-1997 + math.sqrt(1997**2 + 4 * 0.997 * (1000 * 3e6 / 2700 - 1e6))) / 1.994
    assert abs(x - 54.1738) < 1e-4
    pair = PairReserves("0xP", A, B, 10**21, 3 * 10**12)
    swap = arbitrage_swap(pair, 2700 * 10**8 * 10**6, 10**8 * 10**18)
    assert swap is not None and swap.token_in == A
    assert abs(swap.amount_in / 10**18 - x) < 1e-9
    assert swap.amount_out == get_amount_out(swap.amount_in, 10**21, 3 * 10**12)
    assert swap.after == PairReserves(
        "0xP", A, B, 10**21 + swap.amount_in, 3 * 10**12 - swap.amount_out
    )
    # the fee stays in the pair: it ends deeper than the fee-free pull that keeps k
    assert swap.after.reserve0 * swap.after.reserve1 > pair.reserve0 * pair.reserve1


@given(r_in=reserves, r_out=reserves, w_in=weights, w_out=weights)
def test_largest_amount_that_stays_on_the_dear_side(
    r_in: int, r_out: int, w_in: int, w_out: int
) -> None:
    x = arbitrage_amount_in(r_in, r_out, w_in, w_out)
    assert x >= 0
    if r_in * w_in >= r_out * w_out:
        assert x == 0  # not the dear side: nothing to sell
        return
    assert short(x, r_in, r_out, w_in, w_out)
    assert not short(x + 1, r_in, r_out, w_in, w_out)


@given(r0=reserves, r1=reserves, w0=weights, w1=weights)
def test_swap_lands_on_the_target_within_one_unit(r0: int, r1: int, w0: int, w1: int) -> None:
    pair = PairReserves("0xP", A, B, r0, r1)
    swap = arbitrage_swap(pair, w0, w1)
    v0, v1 = r0 * w0, r1 * w1
    if swap is None:
        # aligned, or the pair cannot be moved by a whole unit that pays anything out
        if v0 != v1:
            dear = (r0, r1, w0, w1) if v0 < v1 else (r1, r0, w1, w0)
            x = arbitrage_amount_in(*dear)
            assert x == 0 or get_amount_out(x, dear[0], dear[1]) == 0
        return
    token_in = swap.token_in
    w_in, w_out = (w0, w1) if token_in == A else (w1, w0)
    r_in, r_out = pair.reserves_for(token_in)
    a_in, a_out = swap.after.reserves_for(token_in)
    assert (a_in, a_out) == (r_in + swap.amount_in, r_out - swap.amount_out)
    assert swap.amount_out == get_amount_out(swap.amount_in, r_in, r_out) > 0
    # sold the dear token, and stopped at the target: one unit more crosses it
    assert r_in * w_in < r_out * w_out
    assert a_in * w_in <= a_out * w_out
    over = get_amount_out(swap.amount_in + 1, r_in, r_out)
    assert (a_in + 1) * w_in > (r_out - over) * w_out


def test_tolerance_leaves_a_nearly_aligned_pair_alone() -> None:
    pair = PairReserves("0xP", A, B, 10**21, 3 * 10**12)
    at_2994 = 2994 * 10**8 * 10**6  # the pair's price is 3,000: 0.2% off
    weight_usdc = 10**8 * 10**18
    assert arbitrage_swap(pair, at_2994, weight_usdc, tolerance_bps=25) is None
    assert arbitrage_swap(pair, at_2994, weight_usdc, tolerance_bps=15) is not None
    assert arbitrage_swap(pair, 3000 * 10**8 * 10**6, weight_usdc) is None  # exactly there
    swap = arbitrage_swap(pair, 3100 * 10**8 * 10**6, weight_usdc)  # the pair's WETH is cheap
    assert swap is not None and swap.token_in == B
    with pytest.raises(ValueError, match="tolerance_bps"):
        arbitrage_swap(pair, 1, 1, tolerance_bps=-1)
    with pytest.raises(InsufficientLiquidity):
        arbitrage_amount_in(0, 10, 1, 1)


def test_arbitrage_after_arbitrage_is_nothing() -> None:
    """Once the pair is at the target, the same target asks for no swap (so the
    re-enactment's every-block arbitrageur and the backtest's per-update one agree)."""
    pair = PairReserves("0xP", A, B, 10**21, 3 * 10**12)
    w_weth, w_usdc = 2_091 * 10**8 * 10**6, 10**8 * 10**18
    first = arbitrage_swap(pair, w_weth, w_usdc)
    assert first is not None
    assert arbitrage_swap(first.after, w_weth, w_usdc) is None


# ----------------------------------------------------------------------------- on eth-tester

PAIRS = (("WETH", "USDC"), ("WETH", "DAI"), ("WBTC", "USDC"), ("WBTC", "WETH"))
DEADLINE = 2**40


@settings(CHAIN_SETTINGS, max_examples=20)
@given(
    names=st.sampled_from(PAIRS),
    move_bps=st.integers(-4_000, 4_000),
    push_ppm=st.integers(0, 200_000),
    push_base=st.booleans(),
)
def test_router_swap_ends_where_the_model_says(
    deployed: tuple[EmbeddedChain, Market],
    names: tuple[str, str],
    move_bps: int,
    push_ppm: int,
    push_base: bool,
) -> None:
    """Someone trades the pair off balance, the oracle moves; the model's arbitrage swap, sent
    through the router, leaves the pair at the model's reserves to the wei and at the target
    price within one unit of the sold token."""
    chain, market = deployed
    snapshot = chain.snapshot()
    try:
        trader = list(market.w3.eth.accounts)[7]
        base, quote = names
        router = market.router.functions
        before = read_pair(market, base, quote)
        if push_ppm:
            sell, buy = (base, quote) if push_base else (quote, base)
            amount = before.reserves_for(market.deployment.token(sell))[0] * push_ppm // 10**6 + 1
            mint(market, sell, trader, amount)
            approve_all(market, sell, trader, market.router.address)
            path = [market.deployment.token(sell), market.deployment.token(buy)]
            send(market, router.swapExactTokensForTokens(amount, 0, path, trader, DEADLINE), trader)
        pair = read_pair(market, base, quote)
        symbol: dict[str, str] = {market.deployment.token(s): s for s in names}
        prices = {s: int(market.specs[s].price_usd * 10**8) for s in names}
        prices[base] = prices[base] * (10_000 + move_bps) // 10_000
        s0, s1 = symbol[pair.token0], symbol[pair.token1]
        u0, u1 = 10 ** market.specs[s0].decimals, 10 ** market.specs[s1].decimals
        w0, w1 = prices[s0] * u1, prices[s1] * u0
        swap = arbitrage_swap(pair, w0, w1)
        assert swap is not None or move_bps == 0
        if swap is None:
            return
        sold = symbol[swap.token_in]
        mint(market, sold, trader, swap.amount_in)
        approve_all(market, sold, trader, market.router.address)
        out_token = pair.other(swap.token_in)
        got = market.token(symbol[out_token]).functions.balanceOf(trader).call()
        fn = router.swapExactTokensForTokens(
            swap.amount_in, swap.amount_out, [swap.token_in, out_token], trader, DEADLINE
        )
        send(market, fn, trader)
        after = read_pair(market, base, quote)
        assert (after.reserve0, after.reserve1) == (swap.after.reserve0, swap.after.reserve1)
        received = market.token(symbol[out_token]).functions.balanceOf(trader).call() - got
        assert received == swap.amount_out
        # at the target within one unit of the sold token
        w_in, w_out = (w0, w1) if swap.token_in == pair.token0 else (w1, w0)
        a_in, a_out = after.reserves_for(swap.token_in)
        r_in, r_out = pair.reserves_for(swap.token_in)
        assert a_in * w_in <= a_out * w_out
        assert (a_in + 1) * w_in > (r_out - get_amount_out(swap.amount_in + 1, r_in, r_out)) * w_out
    finally:
        chain.revert(snapshot)
