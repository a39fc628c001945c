"""The planner's lazy greedy: its bounds are bounds, and its plan is the eager one's.

:func:`gross_ceiling` must be at least the gross profit of every liquidation of the account
at every size and on every path, with the AMM pairs priced above, at or below the oracle;
the lazy queue in :func:`iter_plan` must then give exactly the plan of the brute-force
greedy (re-ranking every account after every liquidation), here on crowded books: many
accounts sharing one or two pairs, scarce inventory, pairs away from the oracle.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.model import ranking, sizing
from bot.model.fixed_point import BASE_UNIT
from bot.model.health import account_data, reserve_levels
from bot.model.profit import Valuation
from bot.model.ranking import (
    ALL_PATHS,
    DecisionConfig,
    gross_ceiling,
    plan_block,
    price_opportunity,
)
from bot.model.sizing import evaluate, liquidation_pairs, seize_terms
from bot.model.types import Account, ExecutionPath, MarketState, PairReserves, UserReserve
from tests.model.factories import USDC, WBTC, WETH, reserve
from tests.model.test_plan_incremental import (
    DECIMALS,
    GAS,
    NOW,
    PRICES,
    _run,
    _state,
    drawn_account,
    reference_plan,
)


@st.composite
def crowded(draw: st.DrawFn) -> dict[str, object]:
    reserves = tuple(
        reserve(
            asset,
            DECIMALS[asset],
            bonus=draw(st.sampled_from([10500, 10800, 11500])),
            state=_state(draw(st.integers(1, 20)), 10**30),
        )
        for asset in (WETH, WBTC, USDC)
    )
    prices = {**PRICES, WETH: PRICES[WETH] * draw(st.integers(70, 100)) // 100}
    market = MarketState(reserves, prices)
    accounts = [
        drawn_account(
            draw,
            i,
            [(WETH,), (WETH,), (WBTC,), (WETH, WBTC)],
            (USDC, USDC, WETH),
            400_000,
            (70, 101),
        )
        for i in range(draw(st.integers(2, 30)))
    ]
    pairs = []
    for a, b, address in ((WETH, USDC, "0xA1"), (WBTC, USDC, "0xA2"), (WBTC, WETH, "0xA3")):
        if draw(st.booleans()):
            usd = draw(st.sampled_from([5_000, 30_000, 100_000, 1_000_000, 10_000_000]))
            # The pair away from the oracle either way (a lagging AMM after a move).
            skew = draw(st.integers(85, 115))
            pairs.append(
                PairReserves(
                    address,
                    a,
                    b,
                    usd * 10 ** DECIMALS[a] * BASE_UNIT // prices[a] * 100 // skew,
                    usd * 10 ** DECIMALS[b] * BASE_UNIT // prices[b],
                )
            )
    inventory = {
        asset: draw(st.sampled_from([0, 5_000, 50_000, 10**9]))
        * 10 ** DECIMALS[asset]
        * BASE_UNIT
        // prices[asset]
        for asset in (WETH, USDC)
    }
    return {
        "market": market,
        "accounts": accounts,
        "pairs": pairs,
        "inventory": inventory,
        "max_liquidations": draw(st.sampled_from([None, None, 5])),
        "config": DecisionConfig(
            inventory_only_without_flash=draw(st.booleans()),
            min_profit=draw(st.sampled_from([0, 20 * 10**18])),
        ),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded())
def test_lazy_plan_equals_the_brute_force_greedy_on_crowded_books(case: dict[str, object]) -> None:
    assert _run(plan_block, case) == _run(reference_plan, case)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded(), st.lists(st.integers(1, 10**6), min_size=1, max_size=8))
def test_gross_ceiling_is_above_every_size_on_every_path(
    case: dict[str, object], sizes_permille: list[int]
) -> None:
    market = case["market"]
    assert isinstance(market, MarketState)
    pairs = {frozenset((p.token0, p.token1)): p for p in case["pairs"]}  # type: ignore[attr-defined]
    valuation = Valuation(market, native_price=market.price(WETH))
    levels = {level.asset: level for level in reserve_levels(market, NOW)}

    for account in case["accounts"]:  # type: ignore[attr-defined]
        data = account_data(market, account, NOW)
        ceiling = gross_ceiling(market, account, NOW, pairs=pairs, valuation=valuation, data=data)
        # the same bound from the reserves' levels computed once (the plan's first pass)
        shared = gross_ceiling(
            market, account, NOW, pairs=pairs, valuation=valuation, data=data, levels=levels
        )
        assert shared == ceiling
        if not data.liquidatable:
            assert ceiling == 0
            continue
        assert ceiling is not None
        checked = 0
        for collateral, debt in liquidation_pairs(market, account):
            terms = seize_terms(market, account, collateral, debt, NOW, data)
            pair = pairs.get(frozenset((collateral, debt)))
            for permille in sizes_permille:
                # sizes across the whole range, past the close factor and the pair's depth
                x = max(1, terms.max_debt * permille // 500_000)
                for path in ALL_PATHS:
                    sized = evaluate(terms, path, x, pair=pair, balance=None)
                    if sized is None:
                        continue
                    opp = price_opportunity(
                        account.user, data.health_factor, sized, valuation, GAS, 10**9,
                        DecisionConfig().bid,
                    )  # fmt: skip
                    if opp is None:
                        continue
                    checked += 1
                    assert opp.gross_profit <= ceiling, (path, x, opp.gross_profit, ceiling)
        # the inventory path runs at every size the close factor allows: never vacuous
        assert checked or not liquidation_pairs(market, account)


def test_an_account_whose_flash_stops_paying_is_ranked_by_its_other_paths() -> None:
    """Eleven accounts prefer the flash path on a thin pair; the first flash liquidation
    spends the pair, and each account falls back to inventory, worth more than its flash
    liquidation was. The lazy queue must not keep the old flash value as a bound (the
    account worth a little more, 0x..0a, is taken right after the flash, not last)."""
    reserves = tuple(
        reserve(asset, DECIMALS[asset], bonus=10500, state=_state(1, 10**30))
        for asset in (WETH, WBTC, USDC)
    )
    market = MarketState(reserves, {**PRICES, WETH: 2_100 * BASE_UNIT})
    same = (
        UserReserve(WETH, scaled_supply=166_666_666_666_666_666, using_as_collateral=True),
        UserReserve(USDC, scaled_debt=571_428_571),
    )
    accounts = [Account(f"0x{i:040x}", same) for i in range(10)]
    accounts.append(
        Account(
            f"0x{10:040x}",
            (
                UserReserve(WETH, scaled_supply=167 * 10**15, using_as_collateral=True),
                UserReserve(USDC, scaled_debt=564_507_042),
            ),
        )
    )
    case: dict[str, object] = {
        "market": market,
        "accounts": accounts,
        "pairs": [PairReserves("0xA1", WETH, USDC, 2_405_002_405_002_405_002, 5_000_000_000)],
        "inventory": {WETH: 0, USDC: 5_000 * 10**6},
        "max_liquidations": None,
        "config": DecisionConfig(),
    }
    fast, slow = _run(plan_block, case), _run(reference_plan, case)
    assert isinstance(fast, list) and fast == slow
    assert [(o.user[-2:], str(o.path)) for o in fast[:2]] == [("00", "flash"), ("0a", "inventory")]


def _planned_counting(
    monkeypatch: pytest.MonkeyPatch, case: dict[str, object], module: Any, name: str
) -> tuple[list[Any], int]:
    """The lazy plan of ``case``, held equal to the brute-force greedy's, and how many times
    it called ``module.name``."""
    calls = 0
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    fast = _run(plan_block, case)
    monkeypatch.undo()
    slow = _run(reference_plan, case)
    assert isinstance(fast, list) and fast == slow
    return fast, calls


def crash_on_one_pair(count: int, seed: int = 8) -> dict[str, object]:
    """The bench's shape: WETH falls 20% at the oracle, its pair still trades at the old
    price, and ``count`` accounts of different sizes prefer the flash path through it."""
    rng = random.Random(seed)
    reserves = tuple(
        reserve(asset, DECIMALS[asset], state=_state(5, 10**30)) for asset in (WETH, WBTC, USDC)
    )
    market = MarketState(reserves, {**PRICES, WETH: PRICES[WETH] * 80 // 100})
    accounts = []
    for i in range(count):
        weth = rng.randrange(2 * 10**18, 40 * 10**18)
        debt = weth * rng.randrange(1_930, 2_150) // 10**18 * 10**6
        accounts.append(
            Account(
                f"0x{i:040x}",
                (
                    UserReserve(WETH, scaled_supply=weth, using_as_collateral=True),
                    UserReserve(USDC, scaled_debt=debt),
                ),
            )
        )
    return {
        "market": market,
        "accounts": accounts,
        "pairs": [PairReserves("0xA1", WETH, USDC, 2_000 * 10**18, 6_000_000 * 10**6)],
        "inventory": {USDC: 10**9 * 10**6},
        "max_liquidations": None,
        "config": DecisionConfig(),
    }


def test_a_crash_on_one_lagging_pair_is_planned_exactly_and_sizes_each_account_a_few_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On :func:`crash_on_one_pair`'s 150 accounts, every flash liquidation moves the pair
    and lowers every other account's flash value; the planner re-bounds them from the pair's
    move (:func:`flash_value_ceiling`) instead of sizing each again, and must still give the
    brute-force greedy's plan."""
    case = crash_on_one_pair(150)
    accounts = case["accounts"]
    assert isinstance(accounts, list)
    fast, sizings = _planned_counting(monkeypatch, case, sizing, "size_path")
    flashes = sum(o.path is ExecutionPath.FLASH for o in fast)
    assert 5 <= flashes < len(fast)  # the pair is spent, then inventory
    # Each size search counted (an inventory decision runs two: the swap and the plain
    # path). An account whose flash liquidation surely pays at the search's start is bounded
    # by its flash ceiling unsized, one whose ceiling is below the minimum is never sized for
    # flash: 275 searches (546 when each account reaching the top of the queue was sized
    # whole).
    assert sizings <= 2 * len(accounts), sizings


def crash_on_a_deep_pair(count: int) -> dict[str, object]:
    """:func:`crash_on_one_pair` with a pair four times deeper: it drains over ~50 flash
    liquidations instead of ~10."""
    case = crash_on_one_pair(count)
    (pair,) = case["pairs"]  # type: ignore[misc]
    case["pairs"] = [
        PairReserves(pair.pair, pair.token0, pair.token1, pair.reserve0 * 4, pair.reserve1 * 4)
    ]
    return case


def test_accounts_on_one_curve_are_re_bounded_under_one_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over ~50 flash liquidations through one pair, each lowers every other account's flash
    value, and hundreds of their stale bounds stay above the next best. Queued one by one,
    each would reach the top and be re-bounded alone: 1,082 re-bounds here. Parked under
    their curve's entry, only the account reaching furthest comes out each time the entry
    reaches the top: 350. The plan stays the brute-force greedy's."""
    case = crash_on_a_deep_pair(150)
    fast, rebounds = _planned_counting(monkeypatch, case, ranking, "flash_value_ceiling")
    assert sum(o.path is ExecutionPath.FLASH for o in fast) >= 40
    assert rebounds <= 500, rebounds


def test_a_flash_liquidation_priced_again_becomes_the_witness_later_moves_are_tested_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On :func:`crash_on_a_deep_pair`'s pair, drained over ~50 flash liquidations: once
    the one-comparison test (is the pair owed no more than the witness allows?) fails for
    an account, its liquidation is priced again at the same size; where it still pays,
    that price is the new witness. Tested from the first price instead, the
    comparison keeps failing once it has, and each move prices it again: 440 re-pricings
    here against 208. The plan stays the brute-force greedy's."""
    case = crash_on_a_deep_pair(150)
    fast, repriced = _planned_counting(monkeypatch, case, ranking, "flash_on")
    assert sum(o.path is ExecutionPath.FLASH for o in fast) >= 40
    assert repriced <= 300, repriced


def test_once_the_pair_is_spent_one_bound_of_the_curve_keeps_its_accounts_off_flash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On :func:`crash_on_one_pair`, ~10 flash liquidations spend the pair; the other
    accounts then reach the top one by one for their inventory paths. Each was bounded on
    its own for a flash liquidation first (:func:`flash_value_ceiling`: 280 bounds here);
    one bound of their whole curve at the pair as it stands now says none pays: 147. The
    plan stays the brute-force greedy's."""
    case = crash_on_one_pair(150)
    fast, bounds = _planned_counting(monkeypatch, case, ranking, "flash_value_ceiling")
    flashes = sum(o.path is ExecutionPath.FLASH for o in fast)
    assert flashes >= 5 and len(fast) - flashes >= 100
    assert bounds <= 200, bounds


def test_accounts_whose_flash_stops_paying_keep_their_seize_terms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the spent pair's flash liquidations stop paying, only the pair moved: the
    accounts are bounded again for their other paths on the account data and seize terms
    they had: each account's terms are taken once (142 times for its 142 liquidations,
    against 272 when the accounts whose flash stopped paying took theirs again). The plan
    stays the brute-force greedy's."""
    case = crash_on_one_pair(150)
    fast, terms = _planned_counting(monkeypatch, case, ranking, "seize_terms")
    assert terms <= len(fast) + 10, terms
