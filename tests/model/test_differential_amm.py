"""AMM amounts: the model equals the router and the pairs, including multi-hop and thin pools."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from hypothesis import event, given, settings
from hypothesis import strategies as st

from bot.chain.contracts import bind
from bot.chain.embedded import EmbeddedChain
from bot.deploy.market import Market
from bot.model.amm import (
    InsufficientInputAmount,
    InsufficientLiquidity,
    InsufficientOutputAmount,
    get_amounts_in,
    get_amounts_out,
    swap_exact_in,
    swap_exact_out,
)
from bot.model.types import PairReserves
from tests.helpers import reverts
from tests.model.chain_state import read_pair
from tests.model.scenarios import CHAIN_SETTINGS, approve_all, mint, send

ROUTES = (
    ("WETH", "USDC"),
    ("USDC", "WETH"),
    ("WBTC", "USDC"),
    ("DAI", "WETH"),
    ("WBTC", "WETH"),
    ("USDC", "DAI"),
    ("WBTC", "WETH", "DAI"),
    ("DAI", "USDC", "WBTC"),
    ("USDC", "WETH", "WBTC"),
    ("WBTC", "USDC", "DAI", "WETH"),
)
DEADLINE = 2**40

Quote = Callable[[int, Sequence[str], Sequence[PairReserves]], list[int]]


def route_state(market: Market, symbols: tuple[str, ...]) -> tuple[list[str], list[PairReserves]]:
    path = [market.deployment.token(s) for s in symbols]
    pairs = [read_pair(market, a, b) for a, b in itertools.pairwise(symbols)]
    return path, pairs


def model_or_error(
    fn: Quote, amount: int, path: Sequence[str], pairs: Sequence[PairReserves]
) -> tuple[list[int] | None, str | None]:
    try:
        return fn(amount, path, pairs), None
    except (InsufficientLiquidity, InsufficientInputAmount, InsufficientOutputAmount) as exc:
        return None, type(exc).__name__


@settings(CHAIN_SETTINGS, max_examples=60)
@given(
    route=st.sampled_from(ROUTES),
    units=st.integers(0, 2_000),
    ppm=st.integers(0, 10**7),
    absolute=st.booleans(),
)
def test_quotes_match_router(
    deployed: tuple[EmbeddedChain, Market],
    route: tuple[str, ...],
    units: int,
    ppm: int,
    absolute: bool,
) -> None:
    """getAmountsOut / getAmountsIn for sizes from zero and dust to 10x the reserve."""
    _, market = deployed
    path, pairs = route_state(market, route)
    r_in = pairs[0].reserves_for(path[0])[0]
    r_out = pairs[-1].reserves_for(path[-1])[0]
    router = market.router.functions
    for fn, quote, amount in (
        (get_amounts_out, router.getAmountsOut, units if absolute else r_in * ppm // 10**6),
        (get_amounts_in, router.getAmountsIn, units if absolute else r_out * ppm // (9 * 10**6)),
    ):
        expected, error = model_or_error(fn, amount, path, pairs)
        if error:
            event(f"{fn.__name__} reverts {error}")
            with reverts(error):
                quote(amount, path).call()
        else:
            event(f"{fn.__name__} quoted")
            assert quote(amount, path).call() == expected


@settings(CHAIN_SETTINGS, max_examples=25)
@given(route=st.sampled_from(ROUTES), share_ppm=st.integers(1, 900_000), exact_out=st.booleans())
def test_swaps_match_pairs(
    deployed: tuple[EmbeddedChain, Market], route: tuple[str, ...], share_ppm: int, exact_out: bool
) -> None:
    """Executed swaps: what the trader receives and pays, and every pair's reserves after."""
    chain, market = deployed
    snapshot = chain.snapshot()
    try:
        trader = market.w3.eth.accounts[7]
        path, pairs = route_state(market, route)
        mint(market, route[0], trader, 10**40)
        approve_all(market, route[0], trader, market.router.address)
        source, target = market.token(route[0]), market.token(route[-1])
        got_before = target.functions.balanceOf(trader).call()
        had_before = source.functions.balanceOf(trader).call()
        router = market.router.functions
        if exact_out:
            received = pairs[-1].reserves_for(path[-1])[0] * share_ppm // 10**6
            fn = router.swapTokensForExactTokens(received, 2**255, path, trader, DEADLINE)
            try:
                paid, after = swap_exact_out(received, path, pairs)
            except InsufficientLiquidity:  # an earlier hop cannot supply what the next needs
                event("exact out reverts InsufficientLiquidity")
                with reverts("InsufficientLiquidity"):
                    fn.call({"from": trader})
                return
            send(market, fn, trader)
        else:
            paid = pairs[0].reserves_for(path[0])[0] * share_ppm // 10**6 + 1
            received, after = swap_exact_in(paid, path, pairs)
            send(market, router.swapExactTokensForTokens(paid, 0, path, trader, DEADLINE), trader)
        assert target.functions.balanceOf(trader).call() - got_before == received
        assert had_before - source.functions.balanceOf(trader).call() == paid
        _, now = route_state(market, route)
        assert [(p.reserve0, p.reserve1) for p in now] == [(p.reserve0, p.reserve1) for p in after]
    finally:
        chain.revert(snapshot)


def test_almost_empty_pool(deployed: tuple[EmbeddedChain, Market]) -> None:
    """A fresh pair with next to no liquidity: tiny and huge trades quote and swap alike."""
    chain, market = deployed
    snapshot = chain.snapshot()
    try:
        lp = market.w3.eth.accounts[7]
        for symbol in ("WBTC", "DAI"):
            mint(market, symbol, lp, 10**30)
            approve_all(market, symbol, lp, market.router.address)
        wbtc, dai = market.deployment.token("WBTC"), market.deployment.token("DAI")
        # sqrt(1500 * 1500) = 1500 > MINIMUM_LIQUIDITY (1000): about the smallest pool there is
        router = market.router.functions
        send(market, router.addLiquidity(wbtc, dai, 1500, 1500, 0, 0, lp, DEADLINE), lp)
        factory = bind(market.w3, "AmmFactory", market.deployment.amm_factory)
        contract = bind(market.w3, "AmmPair", factory.functions.getPair(wbtc, dai).call())
        r0, r1, _ = contract.functions.getReserves().call()
        t0, t1 = contract.functions.token0().call(), contract.functions.token1().call()
        pair = PairReserves(contract.address, t0, t1, r0, r1)
        for amount in (1, 2, 3, 100, 1499, 1500, 10**6, 10**24):
            expected, error = model_or_error(get_amounts_out, amount, [wbtc, dai], [pair])
            assert error is None
            assert router.getAmountsOut(amount, [wbtc, dai]).call() == expected
        for out in (1, 2, 1000, 1499):
            expected, error = model_or_error(get_amounts_in, out, [wbtc, dai], [pair])
            assert error is None
            assert router.getAmountsIn(out, [wbtc, dai]).call() == expected
        with reverts("InsufficientLiquidity"):
            router.getAmountsIn(1500, [wbtc, dai]).call()
        received, after = swap_exact_in(10**24, [wbtc, dai], [pair])
        send(market, router.swapExactTokensForTokens(10**24, 0, [wbtc, dai], lp, DEADLINE), lp)
        r0, r1, _ = contract.functions.getReserves().call()
        assert (r0, r1) == (after[0].reserve0, after[0].reserve1)
        assert received == 1499  # everything but one unit
    finally:
        chain.revert(snapshot)
