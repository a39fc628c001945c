"""The auction keeper's other duties on eth-tester, one shared deployment reset by snapshots:

- English auctions: it bids (tend), re-bids when a rival outbids it (dent), settles what it
  won (deal), every win worth more at the pair than it paid plus gas;
- the emergency switch: at each level it sends nothing that would revert, and none of the
  blocked kind, then finishes the job once the switch is off;
- a rival who takes first: the keeper's planned take is not sent (its simulation reverts).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3.logs import DISCARD

from bot.chain.embedded import embedded_chain
from bot.deploy.auctions import ilk_id
from bot.deploy.market import MAX_UINT
from bot.execute import Status
from bot.model.auction import flash_sale_proceeds, gas_in_stable, next_max_lot
from bot.run.keeper import TAKE, KeeperConfig
from tests.contracts import auction_fixtures
from tests.contracts.auction_fixtures import WAD, WETH, Env
from tests.run.keeper_harness import (
    arbitrage,
    auctions_running,
    build_keeper_env,
    crash_weth,
    first_take,
    start_keeper,
    unsafe,
)


@pytest.fixture(scope="module")
def shared() -> Env:
    chain = embedded_chain()
    env = build_keeper_env(chain.w3, auction_fixtures.TesterControl(chain))
    for token in (env.token(WETH), env.stable):
        env.send(token.functions.approve(env.am.router.address, MAX_UINT), env.deployer)
    return env


@pytest.fixture
def env(shared: Env) -> Iterator[Env]:
    snapshot = shared.control.snapshot()
    try:
        yield shared
    finally:
        shared.control.revert(snapshot)


def rounds(run: object, env: Env, n: int, seconds: int) -> None:
    for _ in range(n):
        run.reports += run.keeper.step()  # type: ignore[attr-defined]
        env.advance(seconds)
        arbitrage(env)


def test_english_auctions_bid_rebid_and_settle(env: Env) -> None:
    english = env.english(WETH)
    env.send(env.liquidator.functions.setAuction(ilk_id(WETH), english.address), env.deployer)
    # lots worth 16-21% more than their tab after the crash: room for a rival and a re-bid
    opened = crash_weth(env, 4, seed=21, ratio_range=(1.25, 1.3))
    env.fund_stable(env.bot, 3_000_000 * WAD)
    rival = env.users[5]
    env.fund_stable(rival, 3_000_000 * WAD)
    env.approve_stable(rival, english.address)
    start = env.w3.eth.block_number
    run = start_keeper(env, KeeperConfig(block_time=2))
    try:
        run.reports += run.keeper.step()  # approval, then bids
        env.advance(5)
        run.reports += run.keeper.step()
        ids = [int(i) for i in english.functions.list().call()]
        assert len(ids) >= len(opened)
        # the rival outbids the keeper once, in whichever phase each auction is
        outbid = 0
        for auction_id in ids:
            a = env.english_auction(WETH, auction_id)
            if a["bidder"] != env.bot:
                continue
            if a["bid"] == a["tab"]:
                env.send(
                    english.functions.dent(
                        auction_id, next_max_lot(a["lot"], 105 * WAD // 100), a["tab"]
                    ),
                    rival,
                )
                outbid += 1
        assert outbid > 0
        for _ in range(12):
            run.reports += run.keeper.step()
            for auction_id in english.functions.list().call():
                a = env.english_auction(WETH, int(auction_id))
                if a["bidder"] == rival and 0 < a["bid_expiry"] < env.now():
                    env.send(english.functions.deal(int(auction_id)), rival)  # the rival settles
            if auctions_running(env) == 0:
                break
            env.advance(300)
            arbitrage(env)
        run.reports += run.keeper.step()
        assert auctions_running(env) == 0, (
            [(s.kind, s.subject, s.reason) for r in run.reports[-3:] for s in r.skipped]
            + [env.english_auction(WETH, int(i)) for i in english.functions.list().call()]
            + [env.now()]
        )
        assert not any(unsafe(env, v) for v in opened)
        ledger = run.executor.ledger()
        assert all(e.outcome in ("liquidated", "approve") for e in ledger), [
            e.detail for e in ledger
        ]
        paths = [e.path for e in ledger]
        assert "auction_tend" in paths and "auction_deal" in paths
        # re-bids: a Dent of the keeper's after the rival's, on an auction the rival dented
        dents = english.events.Dent().get_logs(from_block=start)
        rebid = {
            d["args"]["id"]
            for d in dents
            if d["args"]["bidder"] == env.bot
            and any(
                r["args"]["id"] == d["args"]["id"]
                and r["args"]["bidder"] == rival
                and r["blockNumber"] < d["blockNumber"]
                for r in dents
            )
        }
        assert rebid
        deals = english.events.Deal().get_logs(from_block=start)
        won = [d for d in deals if d["args"]["winner"] == env.bot]
        assert won and {d["args"]["winner"] for d in deals} <= {env.bot, rival}
        pair = env.am.pair(WETH)
        r0, r1, _ = pair.functions.getReserves().call()
        stable_first = pair.functions.token0().call() == env.stable.address
        r_stable, r_coll = (r0, r1) if stable_first else (r1, r0)
        eth_price = env.oracle_price(WETH)
        gas = gas_in_stable(sum(e.gas_paid_wei for e in ledger), eth_price)
        for deal in won:
            value = flash_sale_proceeds(int(deal["args"]["lot"]), r_coll, r_stable)
            assert value > int(deal["args"]["bid"])
        worth = sum(flash_sale_proceeds(int(d["args"]["lot"]), r_coll, r_stable) for d in won)
        paid = sum(int(d["args"]["bid"]) for d in won)
        assert worth - paid > gas
    finally:
        run.close()


def test_emergency_switch_stops_the_keeper_from_sending_what_would_revert(env: Env) -> None:
    dutch = env.dutch(WETH)
    opened = crash_weth(env, 3, seed=31)
    # level 1 before the keeper starts: every vault is unsafe, and bark would revert
    env.send(dutch.functions.setStopped(1), env.deployer)
    run = start_keeper(env, KeeperConfig(block_time=2))
    try:
        ledger_kinds = lambda: [e.path for e in run.executor.ledger()]  # noqa: E731
        rounds(run, env, 2, 60)
        assert ledger_kinds() == []
        assert all(unsafe(env, v) for v in opened)
        blocked = [s for r in run.keeper.reports for s in r.skipped if s.kind == "bark"]
        assert len(blocked) >= 2 * len(opened)
        assert all(s.reason.startswith("blocked: the Dutch auction is stopped") for s in blocked)
        env.send(dutch.functions.setStopped(0), env.deployer)
        rounds(run, env, 2, 30)
        assert not any(unsafe(env, v) for v in opened)
        assert dutch.functions.count().call() > 0
        # level 3: no take, however cheap the auctions get
        env.send(dutch.functions.setStopped(3), env.deployer)
        n = len(run.executor.ledger())
        rounds(run, env, 6, 600)
        assert "auction_take" not in ledger_kinds()[n:]
        assert "auction_redo" not in ledger_kinds()[n:]  # level 3 includes level 2
        skipped = {s.reason.split(":")[0] for r in run.reports[-6:] for s in r.skipped}
        assert "blocked" in skipped
        # level 2 with stale auctions: takes allowed, redo not
        env.advance(7_200)
        env.send(dutch.functions.setStopped(2), env.deployer)
        n = len(run.executor.ledger())
        rounds(run, env, 2, 60)
        assert "auction_redo" not in ledger_kinds()[n:]
        env.send(dutch.functions.setStopped(0), env.deployer)
        for _ in range(30):
            run.reports += run.keeper.step()
            if dutch.functions.count().call() == 0:
                break
            env.advance(300)
            arbitrage(env)
        run.reports += run.keeper.step()
        assert dutch.functions.count().call() == 0
        kinds = ledger_kinds()
        assert "auction_redo" in kinds and "auction_take" in kinds
        # nothing the keeper sent reverted
        assert all(e.outcome == "liquidated" for e in run.executor.ledger())
    finally:
        run.close()


def test_a_rival_who_takes_first_leaves_the_keepers_take_unsent(env: Env) -> None:
    dutch = env.dutch(WETH)
    crash_weth(env, 2, seed=41)
    run = start_keeper(env, KeeperConfig(block_time=2))
    try:
        action, snapshot = first_take(run, env)
        rival = env.users[6]
        sale = env.sale(WETH, action.auction_id)
        env.fund_stable(rival, sale["tab"] * 2)
        env.approve_stable(rival, dutch.address)
        env.send(dutch.functions.take(action.auction_id, sale["lot"], 2**255, rival, b""), rival)
        nonce = env.w3.eth.get_transaction_count(env.bot)
        n = len(run.executor.ledger())
        result = run.executor.execute(run.keeper.request_for(action, snapshot))
        assert result.status is Status.SIMULATION_REVERTED, result
        assert "NotRunning" in result.detail
        assert env.w3.eth.get_transaction_count(env.bot) == nonce
        assert len(run.executor.ledger()) == n
        # and the keeper's next block no longer plans anything for that auction
        env.advance(2)
        (snapshot,) = run.keeper.watcher.poll()
        actions, _ = run.keeper.plan(snapshot)
        assert all(a.auction_id != action.auction_id for a in actions if a.kind == TAKE)
        receipts = [e for e in dutch.events.Take().get_logs(from_block=snapshot.block_number - 5)]
        assert any(t["args"]["taker"] == rival for t in receipts)
        _ = DISCARD
    finally:
        run.close()
