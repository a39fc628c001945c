from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.model.amm import after_swap
from bot.model.fixed_point import BASE_UNIT
from bot.model.gas import GasTable
from bot.model.profit import Numeraire, Valuation
from bot.model.ranking import (
    BidPolicy,
    DecisionConfig,
    best_for_account,
    net_ceiling,
    plan_block,
    price_opportunity,
    priority_fee,
    rank_accounts,
)
from bot.model.sizing import PairBook, evaluate, seize_terms, size_path
from bot.model.types import Account, ExecutionPath, MarketState, UserReserve
from tests.model.factories import USDC, WETH, borrower, pair, two_asset_market

GWEI = 10**9
FLASH, INV, SWAP = ExecutionPath.FLASH, ExecutionPath.INVENTORY, ExecutionPath.INVENTORY_SWAP
ETH_PRICE = 3000 * BASE_UNIT
GAS = GasTable({FLASH: 400_000, INV: 300_000, SWAP: 380_000})
DEEP = pair(1_000 * 10**18, 3_000_000 * 10**6)


def valuation(numeraire: Numeraire | None = None, market: MarketState | None = None) -> Valuation:
    return Valuation(
        market or two_asset_market(), native_price=ETH_PRICE, numeraire=numeraire or Numeraire()
    )


def test_priority_fee_policy() -> None:
    policy = BidPolicy(profit_share_bps=2_000, max_fee_per_gas=100 * GWEI)
    # 1 ETH of surplus, 20% of it over 400k gas = 500 gwei per gas, capped at 100 - 30
    assert priority_fee(10**18, 400_000, 30 * GWEI, policy) == 70 * GWEI
    # 0.01 ETH: 20% / 400k gas = 5 gwei
    assert priority_fee(10**16, 400_000, 30 * GWEI, policy) == 5 * GWEI
    # no surplus: the floor
    floor = replace(policy, min_priority_fee_per_gas=GWEI)
    assert priority_fee(-5, 400_000, 30 * GWEI, floor) == GWEI
    # base fee above the cap: cannot bid at all
    assert priority_fee(10**18, 400_000, 101 * GWEI, policy) is None


def test_opportunity_adds_up_in_any_numeraire() -> None:
    market = two_asset_market()
    account = borrower(10 * 10**18, 28_000 * 10**6)
    terms = seize_terms(market, account, WETH, USDC, 0)
    sized = size_path(terms, FLASH, pair=DEEP)
    assert sized is not None
    for numeraire in (Numeraire(), Numeraire(USDC, 6), Numeraire(WETH, 18)):
        opp = price_opportunity(
            account.user, 0, sized, valuation(numeraire), GAS, 20 * GWEI, BidPolicy()
        )
        assert opp is not None
        assert opp.seized_value - opp.debt_value - opp.swap_cost == opp.gross_profit
        assert opp.net_profit == opp.gross_profit - opp.gas_cost
        assert opp.swap_cost > 0  # the flash swap's fee and slippage
        assert opp.gas_units == 400_000
        assert opp.base_fee + opp.priority_fee_per_gas <= opp.max_fee_per_gas
        assert 0 < opp.min_profit_guard <= sized.contract_profit
    native = price_opportunity(account.user, 0, sized, valuation(), GAS, 20 * GWEI, BidPolicy())
    usd = price_opportunity(
        account.user, 0, sized, valuation(Numeraire(USDC, 6)), GAS, 20 * GWEI, BidPolicy()
    )
    assert native is not None and usd is not None
    # the same liquidation: ETH profit times $3000 is the USDC profit (up to rounding)
    assert abs(native.net_profit * 3000 // 10**12 - usd.net_profit) <= 3


def test_min_profit_and_gas_make_small_ones_skip() -> None:
    market = two_asset_market()
    dust = borrower(10**15, 2_900_000)  # $3 of collateral, $2.9 of debt
    book = PairBook.of([DEEP])
    kwargs = dict(pairs=book, valuation=valuation(), gas_table=GAS, base_fee=20 * GWEI)
    assert best_for_account(market, dust, 0, **kwargs) is None  # gas eats it
    big = borrower(10 * 10**18, 28_000 * 10**6)
    found = best_for_account(market, big, 0, **kwargs)
    assert found is not None and found.net_profit > 0
    strict = DecisionConfig(min_profit=found.net_profit + 1)
    assert best_for_account(market, big, 0, config=strict, **kwargs) is None


def test_inventory_only_when_flash_is_unavailable() -> None:
    market = two_asset_market()
    account = borrower(10 * 10**18, 28_000 * 10**6)
    common = dict(valuation=valuation(), gas_table=GAS, base_fee=20 * GWEI)
    stock = {USDC: 10**12}
    flash = best_for_account(
        market, account, 0, pairs=PairBook.of([DEEP]), inventory=stock, **common
    )
    assert flash is not None and flash.path is FLASH
    no_pair = best_for_account(market, account, 0, pairs=PairBook.of([]), inventory=stock, **common)
    assert no_pair is not None and no_pair.path is INV
    assert no_pair.sized.amounts.debt_covered <= stock[USDC]
    nothing = best_for_account(market, account, 0, pairs=PairBook.of([]), **common)
    assert nothing is None  # no pair, no inventory
    # when allowed to compare everything, holding the collateral (no slippage) wins
    free = DecisionConfig(inventory_only_without_flash=False)
    best = best_for_account(
        market, account, 0, pairs=PairBook.of([DEEP]), inventory=stock, config=free, **common
    )
    assert best is not None and best.path is INV
    assert best.net_profit >= flash.net_profit


def test_rank_across_accounts() -> None:
    market = two_asset_market()
    accounts = [
        replace(borrower(10 * 10**18, 28_000 * 10**6), user="0xA"),
        replace(borrower(20 * 10**18, 56_000 * 10**6), user="0xB"),
        replace(borrower(10 * 10**18, 1_000 * 10**6), user="0xC"),  # healthy
    ]
    ranked = rank_accounts(
        market, accounts, 0, pairs=[DEEP], valuation=valuation(), gas_table=GAS, base_fee=GWEI
    )
    assert [o.user for o in ranked] == ["0xB", "0xA"]
    assert ranked[0].net_profit > ranked[1].net_profit


def test_plan_block_prices_later_liquidations_on_the_moved_pool() -> None:
    market = two_asset_market()
    thin = DEEP  # deep enough that each takes all it may, so both still pay
    a = replace(borrower(10 * 10**18, 28_000 * 10**6), user="0xA")
    b = replace(borrower(10 * 10**18, 28_000 * 10**6), user="0xB")
    plan = plan_block(
        market, [a, b], 0, pairs=[thin], valuation=valuation(), gas_table=GAS, base_fee=GWEI
    )
    assert [o.user for o in plan] == ["0xA", "0xB"]  # equal: ties go by user
    first, second = plan
    moved = after_swap(thin, WETH, first.sized.repay, first.sized.debt_to_cover)
    again = size_path(seize_terms(market, b, WETH, USDC, 0), FLASH, pair=moved)
    assert again is not None
    assert second.sized == again
    assert second.net_profit < first.net_profit  # the pool moved against the second one
    # in a thin pool the first liquidation takes the pool to where the next one cannot pay
    thin = pair(200 * 10**18, 600_000 * 10**6)
    plan = plan_block(
        market, [a, b], 0, pairs=[thin], valuation=valuation(), gas_table=GAS, base_fee=GWEI
    )
    assert [o.user for o in plan] == ["0xA"]
    assert plan[0].sized.debt_to_cover < 28_000 * 10**6 // 2  # an interior optimum


def test_positions_without_a_pair_or_price_extremes() -> None:
    market = two_asset_market(coll_price=BASE_UNIT // 100)  # WETH at $0.01: all bad debt
    account = Account(
        "0xD",
        (
            UserReserve(WETH, scaled_supply=10**18, using_as_collateral=True),
            UserReserve(USDC, scaled_debt=10**6),
        ),
    )
    opp = best_for_account(
        market, account, 0, pairs=PairBook.of([DEEP]), valuation=valuation(market=market),
        gas_table=GAS, base_fee=GWEI,
    )  # fmt: skip
    assert opp is None  # a cent of collateral cannot pay for gas


@settings(max_examples=300, deadline=None)
@given(
    st.integers(10**15, 10**21),
    st.integers(2_550, 2_990),
    st.integers(1, 10**6),
    st.integers(0, 3),
    st.integers(0, 10_000),
    st.integers(0, 3 * GWEI),
    st.integers(1, 300),
    st.integers(1, 10**8),
    st.sampled_from([FLASH, INV, SWAP]),
)
def test_net_ceiling_bounds_the_net_of_any_lower_gross(
    collateral: int,
    debt_per_eth: int,
    x_permille: int,
    numeraire_pick: int,
    share: int,
    min_priority: int,
    base_gwei: int,
    extra: int,
    path: ExecutionPath,
) -> None:
    """What the planner queues for a re-bounded flash account: the net of any liquidation
    whose value is at most the bound's never exceeds :func:`net_ceiling` of the bound (net
    rises with gross only up to a priority-fee wei per gas and two floors)."""
    market = two_asset_market()
    account = borrower(collateral, collateral * debt_per_eth // 10**12)
    numeraire = (Numeraire(), Numeraire(USDC, 6), Numeraire(WETH, 18), Numeraire())[numeraire_pick]
    priced = valuation(numeraire)
    policy = BidPolicy(profit_share_bps=share, min_priority_fee_per_gas=min_priority)
    base_fee = base_gwei * GWEI
    terms = seize_terms(market, account, WETH, USDC, 0)
    x = max(1, terms.max_debt * x_permille // 10**6)
    sized = evaluate(terms, path, x, pair=DEEP)
    assume(sized is not None)
    assert sized is not None
    opp = price_opportunity(account.user, 0, sized, priced, GAS, base_fee, policy)
    ceiling = net_ceiling(sized.value_key, path, priced, GAS, base_fee, policy)
    assert (opp is None) == (ceiling is None)
    if opp is None or ceiling is None:
        return
    assert opp.net_profit <= ceiling
    # and for any bound above the value (what the planner really has)
    above = net_ceiling(sized.value_key + extra * 10**30, path, priced, GAS, base_fee, policy)
    assert above is not None and opp.net_profit <= above
    # a bound, not a guess: within the slack of the exact net at the exact value
    assert ceiling - opp.net_profit <= priced.gas_value(opp.gas_units + 1) + 4


@given(st.integers(0, 10**30), st.integers(0, 3), st.sampled_from([WETH, USDC]))
def test_amount_within_is_the_largest_amount_worth_at_most_the_value(
    value: int, numeraire_pick: int, asset: str
) -> None:
    numeraire = (Numeraire(), Numeraire(USDC, 6), Numeraire(WETH, 18), Numeraire())[numeraire_pick]
    priced = valuation(numeraire)
    amount = priced.amount_within(value, asset)
    assert priced.value(amount, asset) <= value < priced.value(amount + 1, asset)
