"""The health index never misses an account: after any sequence of price moves, every account
whose exact health (the model's, recomputed for everyone) is below the line has been popped
for recomputation, and only a small share of far-away accounts is recomputed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model.fixed_point import BASE_UNIT, RAY, WAD
from bot.model.health import AccountData, account_data
from bot.model.types import Account, MarketState, ReserveState, UserReserve
from bot.watch.index import HealthIndex, health_factor_bound
from bot.watch.watcher import _levels
from tests.model.factories import USDC, WBTC, WETH, reserve

DECIMALS = {WETH: 18, WBTC: 8, USDC: 6}
START = {WETH: 3000 * BASE_UNIT, WBTC: 60_000 * BASE_UNIT, USDC: BASE_UNIT}
LINE = WAD * 105 // 100 * 102 // 100  # the watcher's default watch line
NOW = 2_000_000


def _market(prices: dict[str, int], jumps: dict[str, tuple[int, int]] | None = None) -> MarketState:
    """``jumps``: asset -> (liquidity index, borrow index) in millionths above RAY."""
    return MarketState(
        tuple(
            reserve(a, DECIMALS[a], threshold=t, state=_state(*(jumps or {}).get(a, (0, 0))))
            for a, t in ((WETH, 8250), (WBTC, 7800), (USDC, 8000))
        ),
        prices,
    )


def _state(income_ppm: int, debt_ppm: int) -> ReserveState:
    return ReserveState(
        liquidity_index=RAY + RAY // 40 + RAY * income_ppm // 10**6,
        variable_borrow_index=RAY + RAY // 25 + RAY * debt_ppm // 10**6,
        liquidity_rate=RAY // 50,
        variable_borrow_rate=RAY // 20,
        last_update_timestamp=NOW - 3_600,
        total_scaled_supply=10**30,
        total_scaled_debt=10**20,
        cash=10**30,
    )


amounts = st.one_of(
    st.integers(1, 10**3),  # dust: kept aside by the index
    st.integers(10**3, 10**12),
    st.integers(10**12, 10**26),
)


@st.composite
def accounts(draw: st.DrawFn, user: str) -> Account:
    positions = []
    for asset in (WETH, WBTC, USDC):
        supply = draw(st.one_of(st.just(0), amounts))
        debt = draw(st.one_of(st.just(0), amounts))
        collateral = draw(st.booleans())
        if supply or debt or collateral:
            positions.append(UserReserve(asset, supply, debt, collateral))
    return Account(user, tuple(positions))


moves = st.lists(
    st.tuples(
        st.fixed_dictionaries(
            {
                WETH: st.integers(60, 140),
                WBTC: st.sampled_from([100, 100, 85, 97, 103, 120]),
                USDC: st.sampled_from([100, 100, 100, 99, 101, 50]),
            }
        ),
        # index jumps (a liquidation, a write-off) and interest: up or down, small or not
        st.dictionaries(
            st.sampled_from([WETH, WBTC, USDC]),
            st.tuples(st.sampled_from([0, 3, -2, 40_000]), st.sampled_from([0, 5, -1, 60_000])),
        ),
        st.sampled_from([0, 0, 12, 86_400 * 30]),
    ),
    min_size=1,
    max_size=8,
)


def _health(market: MarketState, account: Account, now: int = NOW) -> AccountData:
    return account_data(market, account, now)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=40), st.data(), moves)
def test_index_never_misses_an_account_the_full_recompute_finds(
    ids: list[int],
    data: st.DataObject,
    steps: list[tuple[dict[str, int], dict[str, tuple[int, int]], int]],
) -> None:
    book = [data.draw(accounts(f"0x{i:040x}")) for i in sorted(set(ids))]
    book = [a for a in book if any(p.scaled_debt for p in a.positions)]
    prices = dict(START)
    market = _market(prices)
    index = HealthIndex()
    index.reset(_levels(market, NOW))
    watch: set[str] = set()
    for account in book:
        h = _health(market, account)
        if h.health_factor < LINE:
            watch.add(account.user)
        else:
            index.add(account.user, h)
    by_user = {a.user: a for a in book}
    now = NOW
    for step, jumps, elapsed in steps:
        prices = {a: max(1, prices[a] * step[a] // 100) for a in prices}
        market = _market(prices, jumps)
        now += elapsed
        popped = index.reprice(_levels(market, now), LINE)
        assert not popped & watch
        # What the full recompute finds below the line must be in the watch set or popped.
        for account in book:
            if _health(market, account, now).health_factor < LINE:
                assert account.user in watch | popped, account
        for user in popped | watch:  # the watcher recomputes these exactly
            h = _health(market, by_user[user], now)
            if h.health_factor < LINE:
                watch.add(user)
            else:
                watch.discard(user)
                index.add(user, h)
        assert set(index) | watch == set(by_user)


def test_a_small_move_recomputes_only_accounts_near_the_line() -> None:
    """10,000 WETH-collateral accounts with health spread from 1.0 to 3.0: a 1% WETH drop
    pops only those within about 1% (plus slack) of the line, not the holders of WETH."""
    prices = dict(START)
    index = HealthIndex()
    index.reset(_levels(_market(prices), NOW))
    for i in range(10_000):
        health = WAD + 2 * WAD * i // 10_000
        index.add(
            f"0x{i:040x}",
            AccountData(10**12, 10**12 * 8250 // 10_000 * WAD // health, 0, 8250, 8000, health),
        )
    lowered = {**prices, WETH: prices[WETH] * 99 // 100}
    popped = index.reprice(_levels(_market(lowered), NOW), LINE)
    # bound: health * 0.99 * (1 - 1e-3) < 1.0710 <=> health < 1.0829: the lowest 4.1%
    assert 400 < len(popped) < 430
    assert index.reprice(_levels(_market(lowered), NOW), LINE) == set()  # nothing moved
    # A rise counts too (the asset may be someone's debt): 1% up pops the next ~1%
    # (those popped above are being recomputed by the caller, no longer in the index).
    risen = {**lowered, WETH: lowered[WETH] * 101 // 100}
    assert 40 < len(index.reprice(_levels(_market(risen), NOW), LINE)) < 70
    # Twelve seconds of interest is a move too, a tiny one: nothing that far from the line.
    assert index.reprice(_levels(_market(risen), NOW + 12), LINE) == set()


def test_health_factor_bound() -> None:
    one = (100, RAY, RAY)
    assert health_factor_bound({WETH: one}, {WETH: one}) == 1.0
    assert health_factor_bound({WETH: one}, {WETH: (90, RAY, RAY)}) == 0.9
    assert health_factor_bound({USDC: one}, {USDC: (110, RAY, RAY)}) == 1 / 1.1  # as debt
    # a price drop and a liquidity index jump down compound on a collateral
    assert health_factor_bound({WETH: one}, {WETH: (90, RAY // 2, RAY)}) == 0.45
    # debt interest alone: only the debt side moves
    assert health_factor_bound({USDC: one}, {USDC: (100, RAY, RAY * 2)}) == 0.5
    assert health_factor_bound({WETH: one}, {WETH: one, WBTC: one}) == 0.0  # a new asset
    assert health_factor_bound({WETH: one}, {WETH: (0, RAY, RAY)}) == 0.0
