"""VaultEngine: vault accounting, the safety, ceiling and dust checks, stability fee accrual
and system accounting, all against AUCTIONS.md (eth-tester)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.chain.artifacts import load_artifact
from bot.deploy.auctions import (
    AuctionDeployment,
    bind_auction_market,
    ilk_id,
    per_second_rate,
)
from bot.deploy.market import MAX_UINT
from bot.model.auction import is_unsafe
from tests.contracts.auction_fixtures import (
    RAY,
    WAD,
    WBTC,
    WETH,
    Env,
    ceil_div,
    fresh_env,
    next_rate,
    reverts_call,
    rpow,
)

DAY = 86_400


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


def scenario_vault_accounting(env: Env) -> None:
    """Deposit, draw, repay part, withdraw part, repay all, withdraw all: every balance and
    normalised debt as AUCTIONS.md computes it, and the system invariant after each step."""
    user = env.users[0]
    engine = env.engine
    ilk = ilk_id(WETH)
    fee = env.ilk_state(WETH)["stability_fee"]
    env.mint_collateral(WETH, user, 10 * WAD)
    env.send(env.token(WETH).functions.approve(engine.address, MAX_UINT), user)
    env.send(env.stable.functions.approve(engine.address, MAX_UINT), user)

    receipt = env.send(engine.functions.deposit(ilk, 10 * WAD), user)
    assert env.vault(WETH, user) == (10 * WAD, 0)
    (updated,) = env.events(receipt, engine, "VaultUpdated")
    assert (updated["collateral"], updated["normalizedDebt"]) == (10 * WAD, 0)
    assert env.collateral_balance(WETH, engine.address) >= 10 * WAD

    def rate_after(receipt_: object, before: dict[str, int]) -> int:
        state = env.ilk_state(WETH)
        ts = env.timestamp(receipt_)  # type: ignore[arg-type]
        expected = next_rate(before["rate"], fee, ts - before["last_drip"])
        assert state["rate"] == expected
        assert state["last_drip"] == ts
        return expected

    before = env.ilk_state(WETH)
    receipt = env.send(engine.functions.draw(ilk, 12_000 * WAD), user)
    rate = rate_after(receipt, before)
    normalized = ceil_div(12_000 * WAD * RAY, rate)
    assert env.vault(WETH, user) == (10 * WAD, normalized)
    assert env.stable_balance(user) == 12_000 * WAD
    (draw,) = env.events(receipt, engine, "Draw")
    assert (draw["amount"], draw["normalizedDebt"]) == (12_000 * WAD, normalized)
    env.check_invariant()

    state = env.ilk_state(WETH)
    current = next_rate(state["rate"], fee, env.now() - state["last_drip"])
    assert engine.functions.currentRate(ilk).call() == current
    assert engine.functions.debtOf(ilk, user).call() == ceil_div(normalized * current, RAY)

    before = env.ilk_state(WETH)
    receipt = env.send(engine.functions.repay(ilk, 2_000 * WAD), user)
    rate = rate_after(receipt, before)
    normalized -= 2_000 * WAD * RAY // rate
    assert env.vault(WETH, user) == (10 * WAD, normalized)
    assert env.stable_balance(user) == 10_000 * WAD
    env.check_invariant()

    env.send(engine.functions.withdraw(ilk, 2 * WAD), user)
    assert env.vault(WETH, user) == (8 * WAD, normalized)
    assert env.collateral_balance(WETH, user) == 2 * WAD

    env.advance(3_600)
    env.fund_stable(user, 100 * WAD)  # the fee accrued since the draw
    balance = env.stable_balance(user)
    before = env.ilk_state(WETH)
    receipt = env.send(engine.functions.repay(ilk, MAX_UINT), user)
    rate = rate_after(receipt, before)
    paid = ceil_div(normalized * rate, RAY)
    assert paid > 10_000 * WAD
    (repay,) = env.events(receipt, engine, "Repay")
    assert (repay["amount"], repay["normalizedDebt"]) == (paid, normalized)
    assert env.stable_balance(user) == balance - paid
    assert env.vault(WETH, user) == (8 * WAD, 0)
    env.send(engine.functions.withdraw(ilk, 8 * WAD), user)
    assert env.vault(WETH, user) == (0, 0)
    assert env.collateral_balance(WETH, user) == 10 * WAD
    env.check_invariant()


def test_vault_accounting(env: Env) -> None:
    scenario_vault_accounting(env)


def test_draw_and_withdraw_stop_exactly_at_the_liquidation_ratio(env: Env) -> None:
    user = env.users[0]
    engine = env.engine
    ilk = ilk_id(WBTC)
    env.send(engine.functions.setStabilityFee(ilk, RAY), env.deployer)  # freeze the rate
    rate = env.ilk_state(WBTC)["rate"]
    ink = 3 * 10**8 + 12_345
    env.open_vault(user, WBTC, ink, 0)
    spot = env.spot(WBTC)
    assert engine.functions.spot(ilk).call() == spot
    max_normalized = ink * spot // rate
    max_amount = max_normalized * rate // RAY

    reverts_call(engine.functions.draw(ilk, max_amount + WAD), user, "VaultNotSafe")
    env.send(engine.functions.draw(ilk, max_amount), user)
    _, art = env.vault(WBTC, user)
    assert art == ceil_div(max_amount * RAY, rate) <= max_normalized
    assert not engine.functions.isUnsafe(ilk, user).call()

    for amount in (1, 10**9, 10**12, 10**15):
        added = ceil_div(amount * RAY, rate)
        if (art + added) * rate > ink * spot:
            reverts_call(engine.functions.draw(ilk, amount), user, "VaultNotSafe")
        else:
            assert engine.functions.draw(ilk, amount).call({"from": user}) == []
    for amount in (1, 2, 1_000):
        if art * rate > (ink - amount) * spot:
            reverts_call(engine.functions.withdraw(ilk, amount), user, "VaultNotSafe")
        else:
            assert engine.functions.withdraw(ilk, amount).call({"from": user}) == []
    reverts_call(engine.functions.withdraw(ilk, ink + 1), user, "InsufficientCollateral")

    # a 1% price fall makes it unsafe, exactly when the model says so
    env.scale_price(WBTC, "0.99")
    spot = env.spot(WBTC)
    assert engine.functions.isUnsafe(ilk, user).call() == is_unsafe(ink, art, spot, rate)
    assert engine.functions.isUnsafe(ilk, user).call()


def test_dust_ceiling_and_argument_checks(env: Env) -> None:
    user, other = env.users[:2]
    engine = env.engine
    ilk = ilk_id(WETH)
    dust = env.ilk_state(WETH)["dust"]
    env.open_vault(user, WETH, 10 * WAD, 0)
    reverts_call(engine.functions.draw(ilk, dust - WAD), user, "DustyVault")
    reverts_call(engine.functions.draw(ilk, 0), user, "InvalidAmount")
    reverts_call(engine.functions.repay(ilk, WAD), user, "NoDebt")
    reverts_call(engine.functions.deposit(ilk_id("NOPE"), 1), user, "UnknownIlk")
    reverts_call(engine.functions.withdraw(ilk, 0), user, "InvalidAmount")
    env.send(engine.functions.draw(ilk, dust + 10 * WAD), user)
    env.approve_stable(user, engine.address)
    reverts_call(engine.functions.repay(ilk, 20 * WAD), user, "DustyVault")
    assert engine.functions.repay(ilk, 5 * WAD).call({"from": user}) == 5 * WAD

    state = env.ilk_state(WETH)
    total = ceil_div(state["total_normalized_debt"] * state["rate"], RAY)
    env.send(engine.functions.setDebtCeiling(ilk, total + 1_000 * WAD), env.deployer)
    env.open_vault(other, WETH, 10 * WAD, 0)
    reverts_call(engine.functions.draw(ilk, 1_001 * WAD), other, "DebtCeilingExceeded")
    env.send(engine.functions.draw(ilk, 990 * WAD), other)


def scenario_fee_makes_vault_unsafe(env: Env) -> None:
    """A vault opened 4% above the liquidation ratio becomes unsafe after 90 days at a 50%
    yearly fee; currentRate, debtOf, isUnsafe and drip all follow the model."""
    user = env.users[0]
    engine = env.engine
    ilk = ilk_id(WETH)
    fee = per_second_rate(50)
    env.send(engine.functions.setStabilityFee(ilk, fee), env.deployer)
    env.open_at_ratio(user, WETH, 20 * WAD, "1.56")
    ink, art = env.vault(WETH, user)
    assert not engine.functions.isUnsafe(ilk, user).call()

    env.advance(90 * DAY)
    state = env.ilk_state(WETH)
    elapsed = env.now() - state["last_drip"]
    assert elapsed >= 90 * DAY
    rate = next_rate(state["rate"], fee, elapsed)
    assert engine.functions.currentRate(ilk).call() == rate
    assert engine.functions.debtOf(ilk, user).call() == ceil_div(art * rate, RAY)
    assert is_unsafe(ink, art, env.spot(WETH), rate)
    assert engine.functions.isUnsafe(ilk, user).call()

    surplus = engine.functions.systemSurplus().call()
    receipt = env.send(engine.functions.drip(ilk), env.users[1])
    rate = next_rate(state["rate"], fee, env.timestamp(receipt) - state["last_drip"])
    (drip,) = env.events(receipt, engine, "Drip")
    assert drip["rate"] == rate == env.ilk_state(WETH)["rate"]
    assert drip["feeRad"] == state["total_normalized_debt"] * (rate - state["rate"])
    assert engine.functions.systemSurplus().call() == surplus + drip["feeRad"]
    env.check_invariant()


def test_stability_fee_makes_a_vault_unsafe(env: Env) -> None:
    scenario_fee_makes_vault_unsafe(env)


def test_admin_and_module_functions_are_restricted(env: Env) -> None:
    user = env.users[0]
    engine = env.engine
    ilk = ilk_id(WETH)
    for fn in (
        engine.functions.setModule(user, True),
        engine.functions.addIlk(ilk_id("X"), env.token(WETH).address, RAY, RAY, 0, 0),
        engine.functions.setLiquidationRatio(ilk, 2 * RAY),
        engine.functions.setStabilityFee(ilk, RAY),
        engine.functions.setDebtCeiling(ilk, 0),
        engine.functions.setDust(ilk, 0),
        engine.functions.transferOwnership(user),
    ):
        reverts_call(fn, user, "NotOwner")
    for fn in (
        engine.functions.confiscate(ilk, user, 0, 0, user),
        engine.functions.mintUnbacked(user, 1),
        engine.functions.recordProceeds(0),
    ):
        reverts_call(fn, user, "NotModule")
    deployer = env.deployer
    reverts_call(
        engine.functions.addIlk(ilk, env.token(WETH).address, RAY, RAY, 0, 0), deployer, "IlkExists"
    )
    reverts_call(engine.functions.setLiquidationRatio(ilk, RAY - 1), deployer, "InvalidParameter")
    reverts_call(engine.functions.setStabilityFee(ilk, RAY - 1), deployer, "InvalidParameter")
    reverts_call(env.stable.functions.mint(user, 1), user, "NotMinter")
    reverts_call(env.stable.functions.burn(user, 0), user, "NotMinter")
    reverts_call(env.stable.functions.setMinter(user, True), user, "NotOwner")


def test_heal_nets_surplus_against_system_debt(env: Env) -> None:
    owner, keeper = env.users[:2]
    engine = env.engine
    env.open_at_ratio(owner, WETH, 10 * WAD, "1.8")
    env.scale_price(WETH, "0.8")
    env.bark(WETH, owner, keeper)
    debt = engine.functions.systemDebt().call()
    surplus = engine.functions.systemSurplus().call()
    assert debt > 0 and surplus > 0
    receipt = env.send(engine.functions.heal(), keeper)
    (healed,) = env.events(receipt, engine, "Healed")
    # heal drips nothing, so nothing moves between the read and the transaction
    assert healed["rad"] == min(debt, surplus)
    assert engine.functions.systemDebt().call() == debt - healed["rad"]
    assert engine.functions.systemSurplus().call() == surplus - healed["rad"]
    env.check_invariant()


def test_deployment_round_trips_and_rates(env: Env) -> None:
    deployment = env.am.deployment
    again = AuctionDeployment.from_dict(json.loads(deployment.to_json()))
    assert again == deployment
    bound = bind_auction_market(env.w3, again, env.am.market)
    assert bound.engine.address == env.engine.address
    assert set(bound.specs) == {WETH, WBTC}
    for name, ilk in deployment.ilks.items():
        assert env.liquidator.functions.ilks(ilk_id(name)).call()[0] == ilk.auction_address
        assert env.dutch(name).functions.curve().call() == ilk.curve_address
        assert env.engine.functions.collateralOf(ilk_id(name)).call() == ilk.collateral
        assert {ilk.pair_token0, ilk.pair_token1} == {ilk.collateral, deployment.stablecoin}
    assert env.taker.functions.owner().call() == deployment.taker_owner == env.bot
    assert env.engine.functions.ilkNames().call() == [ilk_id(WETH), ilk_id(WBTC)]
    year = 365 * DAY
    for percent in (0, 5, 8, 50):
        grown = rpow(per_second_rate(percent), year)
        assert abs(grown - RAY * (100 + percent) // 100) < RAY // 10**9
    for name in ("VaultEngine", "Liquidator", "DutchAuction", "EnglishAuction", "AuctionTaker"):
        assert len(load_artifact(name).deployed_bytecode) // 2 - 1 <= 24_576
