"""A market crash: dozens of vaults become unsafe at once; barking and taking in rounds under
the limits on debt under auction completes every auction and leaves no vault unsafe with
its collateral unsold (eth-tester; the bot will later drive this loop itself)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.deploy.auctions import OpenedVault, ilk_id, open_vaults
from tests.contracts.auction_fixtures import (
    RAY,
    WAD,
    WBTC,
    WETH,
    Env,
    fresh_env,
)

ILKS = (WETH, WBTC)


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


@dataclass
class CrashReport:
    vaults: int
    unsafe: int
    barks: int
    takes: int
    flash_takes: int
    redos: int
    rounds: int


def scenario_crash(env: Env, count: int, *, seed: int = 7, limit_share: int = 3) -> CrashReport:
    """Open ``count`` vaults 5-45% above their liquidation ratio, crash both collaterals by
    35% (all become unsafe), cap the debt under auction at 1/``limit_share`` of the total,
    then bark and take in rounds until nothing is unsafe and no auction runs."""
    engine, liquidator = env.engine, env.liquidator
    buyer, keeper = env.users[:2]
    opened = open_vaults(env.am, count, seed=seed, ratio_range=(1.05, 1.45))
    total_debt = sum(v.plan.debt for v in opened)
    for ilk in ILKS:
        env.scale_price(ilk, "0.65")

    def unsafe(vault: OpenedVault) -> bool:
        result: bool = engine.functions.isUnsafe(ilk_id(vault.plan.ilk), vault.owner).call()
        return result

    report = CrashReport(count, sum(map(unsafe, opened)), 0, 0, 0, 0, 0)
    ilk_params = {
        ilk: (env.ilk_state(ilk)["dust"], env.liquidator_ilk(ilk)["penalty"]) for ilk in ILKS
    }
    assert report.unsafe == count
    env.send(liquidator.functions.setGlobalLimit(total_debt // limit_share), env.deployer)
    env.fund_stable(buyer, total_debt * 2)
    for ilk in ILKS:
        env.approve_stable(buyer, env.dutch(ilk).address)

    # vaults not yet fully confiscated, with their collateral left (a partial bark keeps the
    # vault's ratio, so it stays unsafe until barked whole)
    pending = {vault.owner: vault.plan.collateral for vault in opened}
    while True:
        report.rounds += 1
        assert report.rounds <= 12, report
        full = set()
        for vault in opened:
            ilk = vault.plan.ilk
            if vault.owner not in pending or ilk in full:
                continue
            dust, penalty = ilk_params[ilk]
            if liquidator.functions.room(ilk_id(ilk)).call() * WAD < dust * penalty:
                full.add(ilk)  # a limit is (nearly) reached: wait for the next round
                continue
            receipt = env.bark(ilk, vault.owner, keeper)
            report.barks += 1
            (bark,) = env.events(receipt, liquidator, "Bark")
            pending[vault.owner] -= bark["collateralAmount"]
            if pending[vault.owner] == 0:
                del pending[vault.owner]
        env.advance(600)  # let the prices fall towards the market
        running = 0
        for ilk in ILKS:
            dutch = env.dutch(ilk)
            for auction_id in dutch.functions.list().call():
                running += 1
                needs_redo, price, lot, _ = dutch.functions.getStatus(auction_id).call()
                if needs_redo:
                    env.send(dutch.functions.redo(auction_id, keeper), keeper)
                    report.redos += 1
                    continue
                if report.flash_takes < len(ILKS) and report.rounds == 1:
                    before = env.stable_balance(env.bot)
                    env.send(
                        env.taker.functions.takeWithFlashSale(
                            dutch.address, auction_id, lot, price, env.am.pair(ilk).address, 1
                        ),
                        env.bot,
                    )
                    assert env.stable_balance(env.bot) > before
                    report.flash_takes += 1
                else:
                    env.send(dutch.functions.take(auction_id, lot, price, buyer, b""), buyer)
                report.takes += 1
        if running == 0 and not pending:
            break

    for vault in opened:
        assert not unsafe(vault)
    for ilk in ILKS:
        dutch = env.dutch(ilk)
        assert dutch.functions.count().call() == 0
        assert env.collateral_balance(ilk, dutch.address) == 0
        assert env.liquidator_ilk(ilk)["debt_under_auction"] == 0
    assert liquidator.functions.totalDebtUnderAuction().call() == 0
    assert report.takes >= report.barks >= count
    assert report.rounds >= 3  # the global limit forced several rounds
    env.check_invariant()
    # the system's books: every tab raised or written off as system debt
    surplus = engine.functions.systemSurplus().call()
    debt = engine.functions.systemDebt().call()
    assert surplus > 0 and debt > 0 and abs(surplus - debt) < total_debt * RAY
    return report


def test_crash_with_many_unsafe_vaults_is_fully_liquidated(env: Env) -> None:
    report = scenario_crash(env, 52)
    assert report.unsafe >= 50
    assert report.flash_takes == 2
    assert env.stable_balance(env.users[0]) > 0  # the buyer kept its change
