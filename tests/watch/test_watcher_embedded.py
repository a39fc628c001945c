"""The watcher on the in-process eth-tester chain: book, prices, oracle trouble, pause,
interest, reconciliation, confirmation and a reorg made with eth-tester's snapshots."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pytest
from eth_utils.abi import function_signature_to_4byte_selector

from bot.chain.contracts import transact
from bot.chain.embedded import EmbeddedChain
from bot.chain.multicall import Call, CallResult, Multicall
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import plan_borrowers
from bot.deploy.bulk import BulkBorrowers, deploy_bulk, open_bulk, random_steps, run_steps
from bot.deploy.market import Market
from bot.model.types import UserReserve
from bot.protocols import AavePoolAdapter
from bot.watch import MarketSnapshot, PollingHeads, Watcher, WatcherConfig
from tests.watch.support import assert_book_matches_chain, assert_health_matches_chain


@dataclass
class Base:
    bulk: BulkBorrowers
    borrowers: list[str]


@dataclass
class Seeded:
    market: Market
    chain: EmbeddedChain
    bulk: BulkBorrowers
    borrowers: list[str]
    rpc: RpcClient
    watcher: Watcher


@pytest.fixture(scope="module")
def base(_deployed_market: tuple[EmbeddedChain, Market]) -> Iterator[Base]:
    """16 borrowers on the session's market, seeded once for this module (and removed after:
    each test's ``market`` fixture reverts to this state, the module to the bare market)."""
    chain, market = _deployed_market
    bare = chain.snapshot()
    bulk = deploy_bulk(market)
    plans = plan_borrowers(market, 16, seed=11, health_range=(1.02, 1.4), size_usd=(2_000, 30_000))
    borrowers = open_bulk(bulk, plans)
    yield Base(bulk, borrowers)
    chain.revert(bare)


@pytest.fixture
def seeded(base: Base, market: Market, market_chain: EmbeddedChain) -> Seeded:
    rpc = RpcClient.for_web3(market.w3)
    watcher = Watcher(rpc, AavePoolAdapter.from_deployment(market.deployment))
    watcher.sync()
    return Seeded(market, market_chain, base.bulk, base.borrowers, rpc, watcher)


def test_sync_then_follow_activity_and_prices(seeded: Seeded) -> None:
    s = seeded
    deployer = s.market.w3.eth.accounts[0]
    assert assert_book_matches_chain(s.watcher, s.market, s.borrowers) == 17  # + the LP
    run_steps(s.bulk, random_steps(s.market, random.Random(3), len(s.borrowers), 16))
    s.market.set_price("WETH", Decimal("2400"), deployer)
    (snapshot,) = s.watcher.poll()
    assert snapshot.block_number == s.market.w3.eth.block_number
    assert_book_matches_chain(s.watcher, s.market, s.borrowers)
    assert_health_matches_chain(s.watcher, s.market)
    weth = s.market.deployment.token("WETH")
    assert snapshot.prices[weth] == 2400 * 10**8
    assert snapshot.liquidatable, "a 20% WETH drop leaves someone below 1"
    for risky in snapshot.at_risk:
        assert risky.confirmed and risky.chain_health_factor == risky.health_factor
        assert risky.health_factor < 10**18 + s.watcher.config.margin
    lows = [a.health_factor for a in snapshot.at_risk]
    assert lows == sorted(lows)
    assert snapshot.symbols[weth] == "WETH"
    assert {p.pair for p in snapshot.pairs} == {
        p.address for p in s.market.deployment.pairs.values()
    }


def test_pause_breaker_and_staleness_are_visible(seeded: Seeded) -> None:
    s = seeded
    w3 = s.market.w3
    deployer = w3.eth.accounts[0]
    weth = s.market.deployment.token("WETH")
    s.market.set_price("WETH", Decimal("2400"), deployer)
    (snapshot,) = s.watcher.poll()
    assert snapshot.liquidatable and not snapshot.liquidations_paused

    transact(w3, s.market.pool.functions.setLiquidationsPaused(True), deployer)
    (snapshot,) = s.watcher.poll()
    assert snapshot.liquidations_paused
    assert snapshot.at_risk and not snapshot.liquidatable
    assert all("liquidations paused" in a.blocked_by for a in snapshot.at_risk)
    transact(w3, s.market.pool.functions.setLiquidationsPaused(False), deployer)

    # The primary feed alone moves 10%: the oracle's circuit breaker trips.
    transact(w3, s.market.feed("WETH").functions.updateAnswer(2160 * 10**8), deployer)
    (snapshot,) = s.watcher.poll()
    assert not snapshot.liquidations_paused
    assert snapshot.oracle[weth].breaker_tripped
    assert weth not in snapshot.prices and snapshot.unpriced_assets == (weth,)
    holders = [a for a in snapshot.at_risk if a.account.position(weth).scaled_supply]
    assert holders
    for risky in holders:
        assert any("circuit breaker" in reason for reason in risky.blocked_by)
        assert risky.chain_health_factor is None  # the pool's own view reverts
    s.market.set_price("WETH", Decimal("2400"), deployer)

    # Time alone makes every feed stale: no event, yet the next block shows it.
    s.watcher.poll()
    s.chain.advance_time(86_400 + 60)
    s.chain.mine()
    before = s.rpc.stats.copy()
    (snapshot,) = s.watcher.poll()
    spent = s.rpc.stats.since(before)
    assert snapshot.unpriced_assets == tuple(snapshot.oracle)
    assert not snapshot.liquidatable
    assert spent.by_method["eth_call"] >= 1  # the price re-read


def test_interest_alone_is_tracked_exactly(seeded: Seeded) -> None:
    s = seeded
    config = WatcherConfig(watch_buffer_bps=1)  # any accrual trips the bound
    watcher = Watcher(s.rpc, AavePoolAdapter.from_deployment(s.market.deployment), config)
    watcher.sync()
    full = watcher.stats.full_recomputes
    for hours in (6, 12):
        s.chain.advance_time(hours * 3_600)
        s.chain.mine()
        watcher.poll()
        assert_health_matches_chain(watcher, s.market)
    assert watcher.stats.full_recomputes > full
    assert_book_matches_chain(watcher, s.market, s.borrowers)


def test_reconcile_finds_and_corrects_what_events_missed(seeded: Seeded) -> None:
    s = seeded
    victim, other = s.borrowers[0], s.borrowers[1]
    asset = s.watcher.book.account(victim).positions[0].asset
    book = s.watcher.book.at(s.watcher.book.head.number)  # type: ignore[union-attr]
    book.set_position(victim, UserReserve(asset, 1, 0, True))
    for p in s.watcher.book.account(other).positions:
        book.set_position(other, UserReserve(p.asset))  # forget the account entirely
    report = s.watcher.reconcile()
    assert report.accounts == 16  # the forgotten one is not in the book any more
    assert {m.key for m in report.mismatches} == {victim}
    assert s.watcher.stats.reconcile_mismatches == 1
    # The forgotten account is back at the next discovery only; the victim is fixed now.
    assert s.watcher.book.account(victim) == s.watcher.book.account(victim)
    assert_book_matches_chain(s.watcher, s.market, [victim])


def test_a_wrong_candidate_is_repaired_on_confirmation(seeded: Seeded) -> None:
    s = seeded
    deployer = s.market.w3.eth.accounts[0]
    s.market.set_price("WETH", Decimal("2400"), deployer)
    (snapshot,) = s.watcher.poll()
    risky = snapshot.at_risk[0]
    book = s.watcher.book.at(snapshot.block_number)
    debt = next(p for p in risky.account.positions if p.scaled_debt)
    book.set_position(risky.user, UserReserve(debt.asset, 0, debt.scaled_debt * 2, False))
    s.chain.mine()
    (snapshot,) = s.watcher.poll()
    assert s.watcher.stats.confirm_mismatches >= 1
    assert_book_matches_chain(s.watcher, s.market, s.borrowers)
    fixed = next(a for a in snapshot.at_risk if a.user == risky.user)
    assert fixed.confirmed


def test_a_reorg_rolls_the_book_back(seeded: Seeded) -> None:
    s = seeded
    rng = random.Random(8)
    fork = s.chain.snapshot()
    run_steps(s.bulk, random_steps(s.market, rng, len(s.borrowers), 12))
    s.market.set_price("WBTC", Decimal("50000"), s.market.w3.eth.accounts[0])
    s.watcher.poll()
    old_head = s.watcher.book.head
    s.chain.revert(fork)
    run_steps(s.bulk, random_steps(s.market, rng, len(s.borrowers), 12))
    s.market.set_price("WETH", Decimal("2700"), s.market.w3.eth.accounts[0])
    s.chain.mine(2)
    (snapshot,) = s.watcher.poll()
    assert s.watcher.stats.reorgs == 1
    assert old_head is not None and snapshot.reorg_depth == old_head.number - (
        s.market.w3.eth.block_number - 5
    )
    assert_book_matches_chain(s.watcher, s.market, s.borrowers)
    assert_health_matches_chain(s.watcher, s.market)
    wbtc = s.market.deployment.token("WBTC")
    assert snapshot.prices[wbtc] == 60_000 * 10**8


def test_run_follows_polled_heads_and_reconciles_periodically(seeded: Seeded) -> None:
    s = seeded
    config = WatcherConfig(reconcile_every=2)
    watcher = Watcher(s.rpc, AavePoolAdapter.from_deployment(s.market.deployment), config)
    seen: list[MarketSnapshot] = []
    stop = threading.Event()
    heads = PollingHeads(s.rpc, interval=0.02)
    runner = threading.Thread(
        target=watcher.run, args=(heads,), kwargs={"stop": stop, "on_snapshot": seen.append}
    )
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        s.chain.mine()
        s.market.set_price("WBTC", Decimal("59000"), s.market.w3.eth.accounts[0])
        target = s.market.w3.eth.block_number
        while seen[-1].block_number < target and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert seen[0].block_number < target == seen[-1].block_number
    assert seen[-1].prices[s.market.deployment.token("WBTC")] == 59_000 * 10**8
    assert watcher.stats.reconciliations >= 1 and watcher.stats.reconcile_mismatches == 0


GET_USER_ACCOUNT_DATA = function_signature_to_4byte_selector("getUserAccountData(address)")


class CountingMulticall(Multicall):
    """Counts the ``getUserAccountData`` calls that go out in batches (the real multicall)."""

    health_reads = 0

    def aggregate3(self, calls: Sequence[Call], block: int | str = "latest") -> list[CallResult]:
        self.health_reads += sum(c.data[:4] == GET_USER_ACCOUNT_DATA for c in calls)
        return super().aggregate3(calls, block)


def _deferred(s: Seeded) -> tuple[Watcher, CountingMulticall]:
    protocol = AavePoolAdapter.from_deployment(s.market.deployment)
    multicall = CountingMulticall(s.rpc, protocol.multicall_address)
    watcher = Watcher(s.rpc, protocol, WatcherConfig(defer_confirm=True), multicall=multicall)
    watcher.sync()
    return watcher, multicall


def test_deferred_confirmation_repairs_a_wrong_book_after_the_snapshot(seeded: Seeded) -> None:
    s = seeded
    watcher, multicall = _deferred(s)
    s.market.set_price("WETH", Decimal("2400"), s.market.w3.eth.accounts[0])
    (snapshot,) = watcher.poll()
    risky = snapshot.at_risk[0]
    book = watcher.book.at(snapshot.block_number)
    debt = next(p for p in risky.account.positions if p.scaled_debt)
    book.set_position(risky.user, UserReserve(debt.asset, 0, debt.scaled_debt * 2, False))
    s.chain.mine()
    (snapshot,) = watcher.poll()
    # Detection alone: straight from the (wrong) model, not one read of the pool's view.
    assert multicall.health_reads == 0 and watcher.stats.confirmed == 0
    assert snapshot.liquidatable and risky.user in {a.user for a in snapshot.liquidatable}
    assert all(a.chain_health_factor is None for a in snapshot.at_risk)
    confirmed = watcher.confirm(snapshot)
    assert multicall.health_reads == watcher.stats.confirmed == len(snapshot.liquidatable)
    assert watcher.stats.confirm_mismatches >= 1 and watcher.stats.confirm_skips == 0
    assert_book_matches_chain(watcher, s.market, s.borrowers)
    wrong = next(a for a in snapshot.at_risk if a.user == risky.user)
    fixed = next(a for a in confirmed.at_risk if a.user == risky.user)
    assert fixed.confirmed and fixed.data != wrong.data and fixed.account != wrong.account
    assert all(a.confirmed for a in confirmed.liquidatable)
    assert watcher.snapshot is confirmed


def test_a_deferred_confirmation_reads_the_snapshots_own_block(seeded: Seeded) -> None:
    s = seeded
    watcher, multicall = _deferred(s)
    deployer = s.market.w3.eth.accounts[0]
    s.market.set_price("WETH", Decimal("2400"), deployer)
    (older,) = watcher.poll()
    s.market.set_price("WETH", Decimal("2300"), deployer)
    (newer,) = watcher.poll()
    assert newer.block_number > older.block_number
    moved = {a.user: a.health_factor for a in newer.at_risk}
    assert any(moved.get(a.user) != a.health_factor for a in older.liquidatable)
    confirmed = watcher.confirm(older)  # the chain moved on: confirmed where it was
    assert multicall.health_reads == len(older.liquidatable) > 0
    assert watcher.stats.confirm_mismatches == 0 and watcher.stats.confirm_skips == 0
    assert all(a.confirmed for a in confirmed.liquidatable)
    assert [a.data for a in confirmed.at_risk] == [a.data for a in older.at_risk]
    assert watcher.snapshot is newer  # the head's snapshot is not replaced by an older one


def test_a_deferred_confirmation_of_a_lost_block_is_skipped(seeded: Seeded) -> None:
    s = seeded
    watcher, multicall = _deferred(s)
    deployer = s.market.w3.eth.accounts[0]
    fork = s.chain.snapshot()
    s.market.set_price("WETH", Decimal("2400"), deployer)
    (lost,) = watcher.poll()
    assert lost.liquidatable
    s.chain.revert(fork)
    s.market.set_price("WETH", Decimal("2500"), deployer)
    s.chain.mine(2)
    watcher.poll()
    assert watcher.stats.reorgs == 1
    assert watcher.confirm(lost) is lost  # reorged away: nothing to confirm
    assert watcher.stats.confirm_skips == 1 and multicall.health_reads == 0
    head = watcher.book.head
    assert head is not None
    unserved = dataclasses.replace(
        lost, block_number=head.number + 1_000, block_hash="0x" + "ee" * 32
    )
    assert watcher.confirm(unserved) is unserved  # the node has no such block: no raise
    assert watcher.stats.confirm_skips == 2 and watcher.stats.confirmed == 0
