"""Dutch auction price curves: LinearDecrease and StairstepExponentialDecrease match
AUCTIONS.md exactly, alone and inside a running auction (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.chain.contracts import deploy_contract
from tests.contracts.auction_fixtures import (
    RAY,
    WAD,
    WBTC,
    WETH,
    Env,
    collateral_price,
    fresh_env,
    linear_price,
    model_curve_price,
    open_and_bark,
    reverts_call,
    rmul,
    rpow,
    stairstep_price,
)

TOPS = (3_600 * RAY, 72_000 * 10**14 * RAY + 12_345, 1, RAY - 1, 10**40 + 7)


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


def test_rpow_reference_is_exact_at_small_powers() -> None:
    x = RAY * 999 // 1000
    assert rpow(x, 0) == RAY
    assert rpow(x, 1) == x
    assert rpow(0, 0) == RAY
    assert rpow(0, 5) == 0
    assert rpow(RAY, 10**9) == RAY
    assert rpow(2 * RAY, 10) == 1024 * RAY


def scenario_curves(env: Env) -> None:
    """Both curves' views at chosen times equal the formulas, for several parameters."""
    sender = env.deployer
    linear = deploy_contract(env.w3, "LinearDecrease", 9_000, sender=sender)
    for top in TOPS:
        for elapsed in (0, 1, 2, 89, 4_500, 8_999, 9_000, 9_001, 10**9):
            assert linear.functions.price(top, elapsed).call() == linear_price(top, elapsed, 9_000)
    env.send(linear.functions.setDuration(7), sender)
    for elapsed in range(9):
        assert linear.functions.price(TOPS[1], elapsed).call() == linear_price(TOPS[1], elapsed, 7)

    cases = ((90, RAY * 99 // 100), (1, RAY - 10**18), (60, RAY // 2), (7, RAY), (5, 0))
    stairstep = deploy_contract(
        env.w3, "StairstepExponentialDecrease", cases[0][0], cases[0][1], sender=sender
    )
    for step, cut in cases:
        env.send(stairstep.functions.setStep(step), sender)
        env.send(stairstep.functions.setCut(cut), sender)
        for top in TOPS:
            for elapsed in (0, 1, step - 1, step, step + 1, 179, 180, 901, 7_200, 86_400, 10**6):
                expected = stairstep_price(top, elapsed, step, cut)
                assert stairstep.functions.price(top, elapsed).call() == expected


def test_curves_match_formulas(env: Env) -> None:
    scenario_curves(env)


def test_curve_parameters_are_owner_only_and_checked(env: Env) -> None:
    linear = env.am.linear_curve(WBTC)
    stairstep = env.am.stairstep_curve(WETH)
    user = env.users[0]
    reverts_call(linear.functions.setDuration(10), user, "NotOwner")
    reverts_call(linear.functions.setDuration(0), env.deployer, "InvalidParameter")
    reverts_call(stairstep.functions.setStep(10), user, "NotOwner")
    reverts_call(stairstep.functions.setCut(RAY), user, "NotOwner")
    reverts_call(stairstep.functions.setStep(0), env.deployer, "InvalidParameter")
    reverts_call(stairstep.functions.setCut(RAY + 1), env.deployer, "InvalidParameter")
    with pytest.raises(Exception, match=r"InvalidParameter|revert"):
        deploy_contract(env.w3, "StairstepExponentialDecrease", 0, RAY, sender=env.deployer)


@pytest.mark.parametrize("ilk", [WETH, WBTC])
def test_running_auction_price_follows_its_curve(env: Env, ilk: str) -> None:
    """An auction's start price is the oracle price times the buffer; its price at every
    checked moment is the curve's, and a take pays exactly that price."""
    owner, keeper, buyer = env.users[:3]
    collateral = env.am.units(ilk, "2" if ilk == WBTC else "40")
    barked = open_and_bark(env, ilk, owner, keeper, collateral=collateral)
    dutch = env.dutch(ilk)
    sale = env.sale(ilk, barked.auction_id)
    decimals = env.am.deployment.ilks[ilk].decimals
    buf = dutch.functions.startingPriceFactor().call()
    top = rmul(collateral_price(env.oracle_price(ilk), decimals), buf)
    assert sale["start_price"] == top
    assert sale["start_time"] == barked.timestamp

    for elapsed in (1, 89, 90, 91, 600, 1_799, 3_000):
        env.set_next_timestamp(barked.timestamp + elapsed + 1)  # views run at the latest block
        env.send(env.stable.functions.approve(dutch.address, 0), buyer)  # mine a block
        now = env.now()
        needs_redo, price, lot, tab = dutch.functions.getStatus(barked.auction_id).call()
        assert price == model_curve_price(env, ilk, top, now - barked.timestamp)
        assert not needs_redo
        assert (lot, tab) == (sale["lot"], sale["tab"])

    env.fund_stable(buyer, 10_000 * WAD)
    env.approve_stable(buyer, dutch.address)
    take_at = env.now() + 50
    env.set_next_timestamp(take_at)
    amount = sale["lot"] // 10
    receipt = env.send(dutch.functions.take(barked.auction_id, amount, 2**255, buyer, b""), buyer)
    (event,) = env.events(receipt, dutch, "Take")
    assert env.timestamp(receipt) == take_at
    assert event["price"] == model_curve_price(env, ilk, top, take_at - barked.timestamp)
