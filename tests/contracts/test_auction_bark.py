"""Liquidator.bark: only unsafe vaults, the keeper reward, the limits on debt under auction
(partial liquidations, dust rules) and configuration checks (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.deploy.auctions import ilk_id
from tests.contracts.auction_fixtures import (
    RAY,
    WAD,
    WBTC,
    WETH,
    Env,
    ModelRevert,
    bark_quote,
    collateral_price,
    expected_bark,
    fresh_env,
    reverts_call,
    rmul,
    take_all,
)


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


def scenario_bark_pays_keeper(env: Env) -> None:
    """A safe vault cannot be barked; once unsafe, bark confiscates it whole, starts a Dutch
    auction for debt * penalty and pays the keeper tip + chip * tab, all as the model says."""
    owner, keeper = env.users[:2]
    liquidator, engine, dutch = env.liquidator, env.engine, env.dutch(WETH)
    ilk = ilk_id(WETH)
    env.open_at_ratio(owner, WETH, 10 * WAD, "1.8")
    reverts_call(liquidator.functions.bark(ilk, owner, keeper), keeper, "NotUnsafe")
    env.scale_price(WETH, "0.8")
    assert engine.functions.isUnsafe(ilk, owner).call()

    at = env.now() + 7
    env.set_next_timestamp(at)
    quote = expected_bark(env, WETH, owner, at)
    system_debt = engine.functions.systemDebt().call()
    receipt = env.bark(WETH, owner, keeper)
    assert env.timestamp(receipt) == at
    (bark,) = env.events(receipt, liquidator, "Bark")
    assert bark["collateralAmount"] == quote.lot == 10 * WAD
    assert bark["normalizedDebt"] == quote.taken
    assert (bark["due"], bark["tab"], bark["reward"]) == (quote.due, quote.tab, quote.reward)
    assert (bark["auction"], bark["keeper"], bark["id"]) == (dutch.address, keeper, 1)
    assert quote.reward == 50 * WAD + quote.tab // 1000

    assert env.stable_balance(keeper) == quote.reward
    assert env.vault(WETH, owner) == (0, 0)
    assert env.collateral_balance(WETH, dutch.address) == quote.lot
    sale = env.sale(WETH, 1)
    top = rmul(
        collateral_price(env.oracle_price(WETH), 18), dutch.functions.startingPriceFactor().call()
    )
    assert (sale["tab"], sale["lot"], sale["owner"]) == (quote.tab, quote.lot, owner)
    assert (sale["start_time"], sale["start_price"]) == (at, top)
    (kick,) = env.events(receipt, dutch, "Kick")
    assert (kick["id"], kick["startPrice"], kick["tab"], kick["lot"]) == (
        1,
        top,
        quote.tab,
        quote.lot,
    )
    assert dutch.functions.list().call() == [1]
    assert liquidator.functions.totalDebtUnderAuction().call() == quote.tab
    assert env.liquidator_ilk(WETH)["debt_under_auction"] == quote.tab
    assert engine.functions.systemDebt().call() == system_debt + quote.due + quote.reward * RAY
    env.check_invariant()
    reverts_call(liquidator.functions.bark(ilk, owner, keeper), keeper, "NotUnsafe")


def test_bark_only_unsafe_and_pays_keeper(env: Env) -> None:
    scenario_bark_pays_keeper(env)


def test_ilk_and_global_limits_on_debt_under_auction(env: Env) -> None:
    owner, keeper, buyer, other = env.users[:4]
    liquidator = env.liquidator
    ilk = ilk_id(WETH)
    env.send(liquidator.functions.setLimit(ilk, 50_000 * WAD), env.deployer)
    debt = env.open_at_ratio(owner, WETH, 100 * WAD, "1.8")
    assert debt > 150_000 * WAD
    env.scale_price(WETH, "0.8")

    at = env.now() + 3
    env.set_next_timestamp(at)
    quote = expected_bark(env, WETH, owner, at)
    collateral, normalized = env.vault(WETH, owner)
    assert quote.taken < normalized  # a partial liquidation
    first = env.bark(WETH, owner, keeper)
    (bark,) = env.events(first, liquidator, "Bark")
    assert (bark["normalizedDebt"], bark["collateralAmount"], bark["tab"]) == (
        quote.taken,
        quote.lot,
        quote.tab,
    )
    assert quote.tab <= 50_000 * WAD
    assert env.vault(WETH, owner) == (collateral - quote.lot, normalized - quote.taken)
    assert env.engine.functions.isUnsafe(ilk, owner).call()
    assert liquidator.functions.room(ilk).call() == 50_000 * WAD - quote.tab
    reverts_call(liquidator.functions.bark(ilk, owner, keeper), keeper, "LiquidationLimitHit")

    # buying the auction frees the room: the next bark goes through
    receipt = take_all(env, WETH, bark["id"], buyer)
    (removed,) = env.events(receipt, liquidator, "DebtUnderAuctionRemoved")
    assert removed["amount"] == quote.tab
    assert liquidator.functions.room(ilk).call() == 50_000 * WAD
    env.bark(WETH, owner, keeper)

    # the global limit applies across ilks
    total = liquidator.functions.totalDebtUnderAuction().call()
    env.send(liquidator.functions.setGlobalLimit(total + 400 * WAD), env.deployer)
    env.open_at_ratio(other, WBTC, 10**8, "1.8")
    env.scale_price(WBTC, "0.8")
    assert liquidator.functions.room(ilk_id(WBTC)).call() == 400 * WAD
    reverts_call(
        liquidator.functions.bark(ilk_id(WBTC), other, keeper), keeper, "LiquidationLimitHit"
    )
    env.send(liquidator.functions.setGlobalLimit(total + 10_000 * WAD), env.deployer)
    receipt = env.bark(WBTC, other, keeper)
    (bark,) = env.events(receipt, liquidator, "Bark")
    assert bark["tab"] <= 10_000 * WAD
    assert liquidator.functions.totalDebtUnderAuction().call() == total + bark["tab"]


def test_dust_rules_of_partial_liquidations(env: Env) -> None:
    owner, keeper = env.users[:2]
    liquidator = env.liquidator
    ilk = ilk_id(WETH)
    dust = env.ilk_state(WETH)["dust"]
    env.open_at_ratio(owner, WETH, 50 * WAD, "1.8")
    env.scale_price(WETH, "0.8")
    full = expected_bark(env, WETH, owner, env.now() + 1)

    # a room that is at least the dust but whose partial auction would be dusty
    env.send(liquidator.functions.setLimit(ilk, dust), env.deployer)
    with pytest.raises(ModelRevert, match="DustyAuctionFromPartialLiquidation"):
        expected_bark(env, WETH, owner, env.now() + 1)
    reverts_call(
        liquidator.functions.bark(ilk, owner, keeper),
        keeper,
        "DustyAuctionFromPartialLiquidation",
    )
    env.send(liquidator.functions.setLimit(ilk, dust - 1), env.deployer)
    reverts_call(liquidator.functions.bark(ilk, owner, keeper), keeper, "LiquidationLimitHit")

    # a room just short of the whole tab: the remainder would be dust, so all is taken
    limit = full.tab - dust // 2
    env.send(liquidator.functions.setLimit(ilk, limit), env.deployer)
    at = env.now() + 2
    env.set_next_timestamp(at)
    quote = expected_bark(env, WETH, owner, at)
    _, normalized = env.vault(WETH, owner)
    assert quote.taken == normalized and quote.tab > limit
    receipt = env.bark(WETH, owner, keeper)
    (bark,) = env.events(receipt, liquidator, "Bark")
    assert (bark["normalizedDebt"], bark["tab"]) == (normalized, quote.tab)
    assert env.vault(WETH, owner) == (0, 0)
    assert env.liquidator_ilk(WETH)["debt_under_auction"] == quote.tab > limit
    assert liquidator.functions.room(ilk).call() == 0


def test_bark_quote_reference_cases() -> None:
    """The model's own edge cases, with round numbers."""
    base = {"collateral": 10 * WAD, "normalized": 1_000 * WAD, "rate": RAY, "dust": 100 * WAD}
    cfg = {"penalty": WAD * 11 // 10, "tip": 0, "chip": 0}
    whole = bark_quote(**base, room=10**6 * WAD, **cfg)
    assert (whole.taken, whole.lot, whole.tab) == (1_000 * WAD, 10 * WAD, 1_100 * WAD)
    part = bark_quote(**base, room=550 * WAD, **cfg)
    assert (part.taken, part.lot, part.tab) == (500 * WAD, 5 * WAD, 550 * WAD)
    with pytest.raises(ModelRevert, match="LiquidationLimitHit"):
        bark_quote(**base, room=99 * WAD, **cfg)


def test_liquidator_configuration_is_checked(env: Env) -> None:
    user, keeper = env.users[:2]
    liquidator = env.liquidator
    ilk = ilk_id(WETH)
    reverts_call(
        liquidator.functions.bark(ilk_id("NOPE"), user, keeper), keeper, "IlkNotConfigured"
    )
    reverts_call(liquidator.functions.bark(ilk, user, "0x" + "00" * 20), keeper, "ZeroAddress")
    for fn in (
        liquidator.functions.setGlobalLimit(0),
        liquidator.functions.setAuction(ilk, env.dutch(WETH).address),
        liquidator.functions.setPenalty(ilk, WAD),
        liquidator.functions.setLimit(ilk, 0),
        liquidator.functions.setKeeperReward(ilk, 0, 0),
        liquidator.functions.transferOwnership(user),
    ):
        reverts_call(fn, user, "NotOwner")
    deployer = env.deployer
    reverts_call(
        liquidator.functions.setAuction(ilk, env.dutch(WBTC).address), deployer, "InvalidParameter"
    )
    reverts_call(liquidator.functions.setPenalty(ilk, WAD - 1), deployer, "InvalidParameter")
    reverts_call(liquidator.functions.setGlobalLimit(10**32 + 1), deployer, "InvalidParameter")
    reverts_call(liquidator.functions.removeDebtUnderAuction(ilk, 0), user, "NotAuction")
    reverts_call(env.dutch(WETH).functions.kick(1, 1, user, user), user, "NotLiquidator")
    reverts_call(env.english(WETH).functions.kick(1, 1, user, user), user, "NotLiquidator")
