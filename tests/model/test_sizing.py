from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.model.amm import Curve
from bot.model.fixed_point import BASE_UNIT
from bot.model.sizing import (
    PairBook,
    SeizeTerms,
    SizedPath,
    WalkMemo,
    evaluate,
    flash_curve_ceiling,
    flash_optimum,
    flash_reach,
    flash_start,
    flash_value_ceiling,
    seize_terms,
    size_account,
    size_path,
    swap_optimum,
)
from bot.model.types import ExecutionPath, PairReserves
from tests.model.factories import USDC, WETH, borrower, pair, two_asset_market

FLASH, INV, SWAP = ExecutionPath.FLASH, ExecutionPath.INVENTORY, ExecutionPath.INVENTORY_SWAP
COLL, DEBT = "0xC011", "0xDEB7"


@st.composite
def small_cases(draw: st.DrawFn) -> tuple[SeizeTerms, PairReserves, int]:
    """Tiny markets where every integer size can be tried."""
    cd, dd = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    cp, dp = draw(st.integers(1, 10**6)), draw(st.integers(1, 10**6))
    terms = SeizeTerms(
        collateral=COLL,
        debt=DEBT,
        user_collateral=draw(st.integers(1, 10**6)),
        user_debt=draw(st.integers(1, 6_000)),
        close_factor=draw(st.sampled_from([5000, 10_000])),
        collateral_price=cp,
        debt_price=dp,
        collateral_unit=10**cd,
        debt_unit=10**dd,
        liquidation_bonus=draw(st.integers(10_001, 12_500)),
        protocol_fee=draw(st.integers(0, 5_000)),
    )
    r_coll = draw(st.integers(10, 10**7))
    # keep the pool's price near the oracle's so that some sizes pay
    fair = r_coll * cp * 10**dd // (dp * 10**cd)
    r_debt = max(10, fair * draw(st.integers(85, 115)) // 100)
    balance = draw(st.integers(1, 8_000))
    return terms, PairReserves("0xPA1", COLL, DEBT, r_coll, r_debt), balance


def top_of_search(terms: SeizeTerms, p: PairReserves) -> int:
    """Largest size the brute force would need to try (the flash free tail included)."""
    last = terms.max_debt
    if terms.x_cap < terms.max_debt:
        last = max(terms.x_cap + 1, terms.amounts(terms.x_cap + 1).debt_covered)
    r_coll, r_debt = p.reserves_for(COLL)
    if last >= r_debt:
        return last
    owed = r_coll * last * 1000 // ((r_debt - last) * 997) + 1
    return (owed * 997 * r_debt - 1) // (r_coll * 1000 + owed * 997)


def brute_force(
    terms: SeizeTerms, path: ExecutionPath, p: PairReserves, balance: int | None
) -> SizedPath | None:
    """Every size the pool uses in full, the capped candidate, and the flash "free tail".

    Flash-borrowing more than the pool will use is an AMM trade, not a liquidation: its
    "gain" is debt tokens bought at the pair's price and valued at the oracle's, which the
    model deliberately never does, except where it costs nothing (the pair is owed the
    same whole collateral units as at the last size the pool uses).
    """
    x_c = 0
    last = terms.max_debt
    if terms.x_cap < terms.max_debt:
        x_c = max(terms.x_cap + 1, terms.amounts(terms.x_cap + 1).debt_covered)
        last = x_c
    r_coll, r_debt = p.reserves_for(COLL)
    free_owed = r_coll * last * 1000 // ((r_debt - last) * 997) + 1 if last < r_debt else -1
    top = max(terms.max_debt, x_c) + 2
    if path is FLASH and free_owed > 0:  # far enough to cover the whole free tail
        top = max(top, (free_owed * 997 * r_debt - 1) // (r_coll * 1000 + free_owed * 997) + 2)
    best = None
    for x in range(1, min(top, 200_000) + 1):
        r = evaluate(terms, path, x, pair=p, balance=balance)
        if r is None:
            continue
        if path is FLASH and r.debt_gain > 0 and x != x_c and r.repay != free_owed:
            continue
        if best is None or r.value_key > best.value_key:
            best = r
    return best


def eps_key(terms: SeizeTerms, path: ExecutionPath, p: PairReserves) -> int:
    r_coll, r_debt = p.reserves_for(COLL)
    curve = Curve.hop(r_coll, r_debt)
    if path is FLASH:
        return 2 * terms.collateral_key(terms.eps_seize + 1)
    if path is SWAP:
        return 2 * terms.debt_key(-(-curve.a * terms.eps_seize // curve.b) + 1)
    return 2 * terms.collateral_key(terms.eps_seize)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cases(), st.sampled_from([FLASH, SWAP, INV]))
def test_search_matches_brute_force(
    case: tuple[SeizeTerms, PairReserves, int], path: ExecutionPath
) -> None:
    terms, p, balance = case
    bal = None if path is FLASH else balance
    found = size_path(terms, path, pair=p, balance=bal, max_steps=10_000)
    best = brute_force(terms, path, p, bal)
    if best is None:
        assert found is None
        return
    if found is None:
        # only allowed when the best is within the proven tolerance of zero profit
        assert best.value_key <= eps_key(terms, path, p)
        return
    # what the search reports is what running that size gives
    again = evaluate(terms, path, found.debt_to_cover, pair=p, balance=bal)
    assert again == replace(found, exact=True, evaluations=1)
    if found.exact:
        assert found.value_key >= best.value_key  # > only where the brute force was cut short
        assert found.value_key == best.value_key or top_of_search(terms, p) > 200_000
    else:
        assert found.value_key >= best.value_key - eps_key(terms, path, p)


@settings(max_examples=60, deadline=None)
@given(small_cases(), st.integers(1, 10**6))
def test_relaxation_error_is_bounded(case: tuple[SeizeTerms, PairReserves, int], x: int) -> None:
    """|f - F| <= eps: the premise of the search's stopping rule."""
    terms, p, _ = case
    x = x % max(1, min(terms.x_cap, terms.max_debt)) + 1
    assume(x <= min(terms.x_cap, terms.max_debt))
    kn, kd = terms.rate
    k = Fraction(kn, kd)
    seized = terms.to_liquidator(terms.seized(x))
    assert abs(seized - k * x) <= terms.eps_seize
    r_coll, r_debt = p.reserves_for(COLL)
    curve = Curve.hop(r_coll, r_debt)
    if x < r_debt:
        owed = r_coll * x * 1000 // ((r_debt - x) * 997) + 1
        relaxed = Fraction(curve.b * x, curve.a - curve.c * x)
        assert abs((seized - owed) - (k * x - relaxed)) <= terms.eps_seize + 1
    out = seized * 997 * r_debt // (r_coll * 1000 + seized * 997)
    relaxed_out = Fraction(curve.a * k * x, curve.b + curve.c * k * x)
    assert abs(out - relaxed_out) <= Fraction(curve.a * terms.eps_seize, curve.b) + 1


@settings(max_examples=80, deadline=None)
@given(small_cases())
def test_cap_and_edges(case: tuple[SeizeTerms, PairReserves, int]) -> None:
    terms, _, _ = case
    # x_cap is the last uncapped size
    if terms.x_cap >= 1:
        assert terms.seized(terms.x_cap) <= terms.user_collateral
    assert terms.seized(terms.x_cap + 1) > terms.user_collateral
    # x_for(c) is the first size seizing at least c
    for c in (1, 2, terms.user_collateral // 3 + 1, terms.user_collateral):
        x = terms.x_for(c)
        assert terms.seized(x) >= c
        assert x == 0 or terms.seized(x - 1) < c


def test_thin_pool_optimum_is_interior() -> None:
    """Profit is not monotonic: in a thin pool the best size is well below the maximum."""
    market = two_asset_market()
    account = borrower(100 * 10**18, 290_000 * 10**6)  # HF < 0.95: all 290k may be repaid
    terms = seize_terms(market, account, WETH, USDC, 0)
    thin = pair(20 * 10**18, 60_000 * 10**6)  # $120k of depth
    best = size_path(terms, FLASH, pair=thin)
    assert best is not None
    assert 0 < best.debt_to_cover < terms.max_debt // 10
    for x in (best.debt_to_cover // 2, best.debt_to_cover * 3 // 2, terms.max_debt // 5):
        other = evaluate(terms, FLASH, x, pair=thin)
        assert other is None or other.value_key <= best.value_key
    # the closed form lands near the answer
    x_star = flash_optimum(terms, Curve.hop(20 * 10**18, 60_000 * 10**6))
    assert abs(x_star - best.debt_to_cover) <= best.debt_to_cover // 10**6 + 10


def test_realistic_sizes_against_dense_sampling() -> None:
    """$4M pool, a $100k position: the search beats every one of 4,001 sampled sizes."""
    market = two_asset_market()
    account = borrower(40 * 10**18, 100_000 * 10**6)
    terms = seize_terms(market, account, WETH, USDC, 0)
    deep = pair(666 * 10**18, 2_000_000 * 10**6)
    for path, balance in ((FLASH, None), (SWAP, 10**12), (INV, 10**12)):
        best = size_path(terms, path, pair=deep, balance=balance)
        assert best is not None
        top = terms.max_debt
        for i in range(0, 4001):
            x = max(1, top * i // 4000)
            other = evaluate(terms, path, x, pair=deep, balance=balance)
            assert other is None or other.value_key <= best.value_key, (path, x)
    # a swap path's closed form agrees with the flash one when the pool is deep
    assert swap_optimum(terms, Curve.hop(666 * 10**18, 2_000_000 * 10**6)) > 0


def test_capped_candidate_when_collateral_runs_out() -> None:
    # collateral worth less than the debt plus bonus: the seize is capped above x_cap
    market = two_asset_market(coll_price=2000 * 10**8)
    account = borrower(10 * 10**18, 25_000 * 10**6)
    terms = seize_terms(market, account, WETH, USDC, 0)
    assert terms.x_cap < terms.max_debt
    capped = terms.amounts(terms.x_cap + 1)
    assert capped.capped_by_collateral and capped.collateral_amount == terms.user_collateral
    x_c = max(terms.x_cap + 1, capped.debt_covered)
    at_cap = evaluate(terms, INV, x_c, balance=10**12)
    assert at_cap is not None
    best = size_path(terms, INV, balance=10**12)
    assert best is not None
    # the capped outcome's covered debt is rounded half-up from the collateral's value, so
    # the last uncapped size can be worth a little more: the model takes whichever is better
    assert best.value_key >= at_cap.value_key
    assert best.debt_to_cover in (terms.x_cap, x_c)
    # with no inventory to spare, a size the pool would pull more than allowed is refused
    assert evaluate(terms, INV, terms.x_cap + 1, balance=10**12) is None or (
        capped.debt_covered <= terms.x_cap + 1
    )


def test_size_account_covers_every_pair_and_respects_inventory() -> None:
    market = two_asset_market()
    account = borrower(10 * 10**18, 28_000 * 10**6)
    book = PairBook.of([pair(1_000 * 10**18, 3_000_000 * 10**6)])
    results = size_account(market, account, 0, pairs=book, paths=(FLASH, SWAP, INV))
    assert {r.path for r in results} == {FLASH}  # no inventory: no inventory paths
    results = size_account(
        market, account, 0, pairs=book, paths=(FLASH, SWAP, INV), inventory={USDC: 5_000 * 10**6}
    )
    assert {r.path for r in results} == {FLASH, SWAP, INV}
    for r in results:
        if r.path is not FLASH:
            assert r.amounts.debt_covered <= 5_000 * 10**6
    healthy = borrower(10 * 10**18, 1_000 * 10**6)
    assert size_account(market, healthy, 0, pairs=book) == []
    # prices at extremes: collateral crashes to $1 -> bad debt, flash cannot pay back
    crashed = market.with_prices({WETH: BASE_UNIT})
    for r in size_account(crashed, account, 0, pairs=book, paths=(FLASH,)):
        assert r.collateral_gain >= 0


@st.composite
def wide_cases(draw: st.DrawFn) -> tuple[SeizeTerms, PairReserves]:
    """Token-sized markets (up to 18 decimals), pairs far off the oracle either way."""
    cd, dd = draw(st.sampled_from([6, 8, 18])), draw(st.sampled_from([6, 8, 18]))
    cp, dp = draw(st.integers(10**6, 10**12)), draw(st.integers(10**6, 10**12))
    terms = SeizeTerms(
        collateral=COLL,
        debt=DEBT,
        user_collateral=draw(st.integers(1, 10**6)) * 10**cd // 100,
        user_debt=draw(st.integers(1, 10**6)) * 10**dd // 100,
        close_factor=draw(st.sampled_from([5000, 10_000])),
        collateral_price=cp,
        debt_price=dp,
        collateral_unit=10**cd,
        debt_unit=10**dd,
        liquidation_bonus=draw(st.integers(10_001, 12_500)),
        protocol_fee=draw(st.integers(0, 5_000)),
    )
    r_coll = draw(st.integers(1, 10**7)) * 10**cd // 10
    fair = r_coll * cp * 10**dd // (dp * 10**cd)
    r_debt = max(10, fair * draw(st.integers(50, 200)) // 100)
    return terms, PairReserves("0xPA1", COLL, DEBT, r_coll, r_debt)


@settings(max_examples=300, deadline=None)
@given(st.one_of(small_cases().map(lambda c: (c[0], c[1])), wide_cases()))
def test_flash_value_ceiling_bounds_the_sized_flash(case: tuple[SeizeTerms, PairReserves]) -> None:
    """The planner's cheap re-bound is never below what sizing finds (exactly or not)."""
    terms, p = case
    found = size_path(terms, FLASH, pair=p, max_steps=10_000)
    ceiling = flash_value_ceiling(terms, p)
    if found is not None:
        assert ceiling >= found.value_key
        # and it is a bound, not a guess: within the relaxation's error of the optimum
        # where the optimum is exact and uncapped
        if found.exact and found.amounts.debt_covered == found.debt_to_cover <= terms.x_cap:
            assert ceiling - found.value_key <= 4 * terms.collateral_key(terms.eps_seize + 2) + (
                terms.collateral_key(terms.rate[0] // terms.rate[1] + 1)
            )


def on_the_curve(terms: SeizeTerms, others: list[tuple[int, int, int]]) -> list[SeizeTerms]:
    """Accounts on the curve of ``terms``: other debts, collaterals and close factors."""
    return [
        replace(
            terms,
            user_debt=max(1, terms.user_debt * d // 10**4),
            user_collateral=max(1, terms.user_collateral * c // 10**4),
            close_factor=cf,
        )
        for d, c, cf in others
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(small_cases().map(lambda c: (c[0], c[1])), wide_cases()),
    st.lists(
        st.tuples(
            st.integers(1, 2 * 10**4), st.integers(1, 2 * 10**4), st.sampled_from([5000, 10_000])
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_a_curve_ceiling_bounds_every_account_on_the_curve_that_reaches_no_further(
    case: tuple[SeizeTerms, PairReserves], others: list[tuple[int, int, int]]
) -> None:
    """The planner queues a curve's accounts under the bound of the one reaching furthest:
    that bound must hold for every one of them, capped, free-tailed or walked. (It may dip
    as the reach grows, by the relaxation's rounding, which it carries as slack.)"""
    terms, p = case
    accounts = [terms, *on_the_curve(terms, others)]
    reaches = sorted({flash_reach(t) for t in accounts})
    ceilings = [flash_curve_ceiling(terms, p, r) for r in reaches]
    for t in accounts:
        found = size_path(t, FLASH, pair=p, max_steps=10_000)
        if found is None:
            continue
        for r, ceiling in zip(reaches, ceilings, strict=True):
            if r >= flash_reach(t):
                assert ceiling >= found.value_key, (r, flash_reach(t))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cases())
def test_a_curve_ceiling_bounds_every_size_the_brute_force_tries(
    case: tuple[SeizeTerms, PairReserves, int],
) -> None:
    """Not only what the search picks: every size a flash sizing may choose (walked,
    capped or free tail), tried one by one on tiny markets."""
    terms, p, _ = case
    best = brute_force(terms, FLASH, p, None)
    if best is not None:
        assert flash_curve_ceiling(terms, p, flash_reach(terms)) >= best.value_key


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(small_cases().map(lambda c: (c[0], c[1])), wide_cases()),
    st.lists(st.tuples(st.integers(1, 10**6), st.sampled_from([5000, 10_000])), max_size=6),
    st.sampled_from([FLASH, SWAP, INV]),
)
def test_a_shared_walk_memo_sizes_every_account_as_alone(
    case: tuple[SeizeTerms, PairReserves], others: list[tuple[int, int]], path: ExecutionPath
) -> None:
    """Accounts on one curve and pair differ in how much may be covered (debt, collateral,
    close factor): with one memo across them, and across repeats, each is sized exactly as
    without it, even where a walk found for one account would run past another's range."""
    terms, p = case
    accounts = (
        [terms]
        + [
            replace(terms, user_debt=max(1, terms.user_debt * k // 10**4), close_factor=cf)
            for k, cf in others
        ]
        + [
            replace(terms, user_collateral=max(1, terms.user_collateral * k // 10**4))
            for k, _ in others
        ]
    )
    memo = WalkMemo()
    balance = None if path is FLASH else 10**40
    for t in accounts + accounts[::-1]:
        alone = size_path(t, path, pair=p, balance=balance)
        shared = size_path(t, path, pair=p, balance=balance, memo=memo)
        assert shared == alone
    r_debt = p.reserves_for(COLL)[1]
    walked = [
        t
        for t in accounts
        if min(t.max_debt, t.x_cap, r_debt - 1 if path is FLASH else t.x_cap) >= 1
    ]
    if walked:
        assert memo.hits >= len(walked)  # the repeats at least are shared


@settings(max_examples=300, deadline=None)
@given(st.one_of(small_cases().map(lambda c: (c[0], c[1])), wide_cases()))
def test_the_flash_start_is_never_worth_more_than_the_sized_flash(
    case: tuple[SeizeTerms, PairReserves],
) -> None:
    """The planner's proof that a flash liquidation pays, unsized: sizing never picks a
    size worth less than the one it starts from."""
    terms, p = case
    start = flash_start(terms, p)
    found = size_path(terms, FLASH, pair=p)
    if start is not None:
        assert found is not None and found.value_key >= start.value_key
