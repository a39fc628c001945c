"""The watcher on anvil with 2,000 borrowers: exactness after random activity, the cost of a
block in RPC requests, a real reorg, websocket heads, and a faulty RPC.

One anvil node and one seeded market serve the whole module (seeding 2,000 positions through
BulkBorrowers takes a few seconds); each test builds its own watcher from the chain.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import Web3

from bot.chain.anvil import Anvil, free_port
from bot.chain.logs import LogReader
from bot.chain.multicall import Multicall
from bot.chain.rpc import LogEntry, RetryPolicy, RpcClient
from bot.deploy.borrowers import plan_borrowers
from bot.deploy.bulk import (
    Action,
    BulkBorrowers,
    Step,
    deploy_bulk,
    liquidation_step,
    open_bulk,
    random_steps,
    run_steps,
)
from bot.deploy.market import Market, deploy_market
from bot.model.fixed_point import WAD
from bot.protocols import AavePoolAdapter
from bot.protocols.base import balance_read
from bot.watch import MarketSnapshot, Watcher, WatcherConfig, WebSocketHeads
from tests.chain.rpc_proxy import RpcProxy

pytestmark = pytest.mark.anvil

ACCOUNTS = 2_000
POSITIONS_OUT = ["address[]", "uint256[]", "uint256[]", "bool[]"]
ACCOUNT_DATA_OUT = ["uint256"] * 6
AGGREGATE3 = function_signature_to_4byte_selector("aggregate3((address,bool,bytes)[])")
UPDATE_ANSWER = function_signature_to_4byte_selector("updateAnswer(int256)")


@dataclass
class Seeded:
    anvil: Anvil
    w3: Web3
    market: Market
    bulk: BulkBorrowers
    borrowers: list[str]
    index: dict[str, int] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)

    def rpc(self, w3_method: str, *params: Any) -> Any:
        return self.w3.provider.make_request(w3_method, list(params))  # type: ignore[arg-type]

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")

    def watcher(self, url: str | None = None, **config: Any) -> tuple[RpcClient, Watcher]:
        rpc = RpcClient([url or self.anvil.url])
        adapter = AavePoolAdapter.from_deployment(self.market.deployment)
        return rpc, Watcher(rpc, adapter, WatcherConfig(**config))

    def post_prices(self, moves: dict[str, Decimal] | None = None) -> None:
        """Publish every price again to both feeds (keeps them fresh), moving some."""
        deployer = self.market.deployment.deployer
        self.prices.update(moves or {})
        sent = []
        for symbol, price in self.prices.items():
            answer = self.market.specs[symbol].price_answer(price)
            data = UPDATE_ANSWER + encode(["int256"], [answer])
            for feed in (
                self.market.deployment.assets[symbol].feed,
                self.market.deployment.assets[symbol].fallback_feed,
            ):
                sent.append(
                    self.w3.eth.send_transaction({"from": deployer, "to": feed, "data": data})
                )
        for tx_hash in sent:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
            assert receipt["status"] == 1


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        deployer, owner = w3.eth.accounts[:2]
        market = deploy_market(w3, deployer, liquidator_owner=owner)
        bulk = deploy_bulk(market)
        plans = plan_borrowers(market, ACCOUNTS, seed=21, health_range=(1.03, 1.5))
        borrowers = open_bulk(bulk, plans)
        for symbol, spec in market.specs.items():  # inventory for repayments and liquidations
            bulk.fund(symbol, int(Decimal(20_000_000) / spec.price_usd * 10**spec.decimals))
        prices = {s: spec.price_usd for s, spec in market.specs.items()}
        yield Seeded(
            node, w3, market, bulk, borrowers, {a: i for i, a in enumerate(borrowers)}, prices
        )


# ----------------------------------------------------------------------------- independent checks


def _aggregate(seeded: Seeded, calls: list[tuple[str, bytes]], block: int) -> list[bytes]:
    """Plain eth_abi and web3 through the chain's Multicall3 (not the watcher's client or
    adapter), 400 calls a time."""
    out: list[bytes] = []
    multicall = seeded.market.deployment.multicall3
    for start in range(0, len(calls), 400):
        chunk = [(target, False, data) for target, data in calls[start : start + 400]]
        payload = AGGREGATE3 + encode(["(address,bool,bytes)[]"], [chunk])
        raw = seeded.w3.eth.call({"to": multicall, "data": payload}, block)
        (results,) = decode(["(bool,bytes)[]"], bytes(raw))
        out.extend(bytes(data) for _, data in results)
    return out


def _calls(seeded: Seeded, signature: str, users: list[str]) -> list[tuple[str, bytes]]:
    selector = function_signature_to_4byte_selector(signature)
    pool = seeded.market.deployment.pool
    return [(pool, selector + encode(["address"], [u])) for u in users]


def assert_book_equals_chain(seeded: Seeded, watcher: Watcher) -> int:
    head = watcher.book.head
    assert head is not None
    treasury = seeded.market.deployment.treasury
    users = sorted(set(seeded.borrowers) | set(watcher.book.users()) | {treasury})
    raw = _aggregate(seeded, _calls(seeded, "getUserPositions(address)", users), head.number)
    wrong = []
    for user, data in zip(users, raw, strict=True):
        assets, supply, debt, flags = decode(POSITIONS_OUT, data)
        chain = tuple(
            (Web3.to_checksum_address(a), s, d, f)
            for a, s, d, f in zip(assets, supply, debt, flags, strict=True)
            if s or d or f
        )
        book = tuple(
            (p.asset, p.scaled_supply, p.scaled_debt, p.using_as_collateral)
            for p in watcher.book.account(user).positions
        )
        if book != chain:
            wrong.append((user, book, chain))
    assert not wrong, f"{len(wrong)} accounts differ, e.g. {wrong[0]}"
    return len(users)


def assert_health_equals_chain(seeded: Seeded, watcher: Watcher) -> int:
    head = watcher.book.head
    assert head is not None
    users = sorted(watcher.book.borrowers)
    raw = _aggregate(seeded, _calls(seeded, "getUserAccountData(address)", users), head.number)
    for user, data in zip(users, raw, strict=True):
        assert watcher.account_data(user).as_tuple() == decode(ACCOUNT_DATA_OUT, data), user
    return len(users)


def _liquidations(seeded: Seeded, snapshot: MarketSnapshot, limit: int) -> list[Step]:
    steps = []
    for risky in snapshot.liquidatable[:limit]:
        index = seeded.index.get(risky.user)
        collateral = [p.asset for p in risky.account.positions if p.scaled_supply]
        debt = [p.asset for p in risky.account.positions if p.scaled_debt]
        if index is None or not collateral or not debt:
            continue
        steps.append(liquidation_step(index, collateral[0], debt[0]))
    return steps


def assert_candidates_equal_full_recompute(watcher: Watcher, snapshot: MarketSnapshot) -> None:
    """The watcher recomputes only the accounts a move may have brought near the line (its
    health index): its at-risk list must be exactly what recomputing every borrower gives."""
    line = WAD + watcher.config.margin
    everyone = {u: watcher.account_data(u) for u in watcher.book.borrowers}
    expected = {u for u, d in everyone.items() if d.health_factor < line}
    assert {a.user for a in snapshot.at_risk} == expected
    for risky in snapshot.at_risk:
        assert risky.data == everyone[risky.user]


# ----------------------------------------------------------------------------- tests


def test_book_equals_chain_after_random_activity_by_2000_accounts(seeded: Seeded) -> None:
    rng = random.Random(2024)
    _, watcher = seeded.watcher()
    first = watcher.sync()
    assert first.accounts >= ACCOUNTS and first.borrowers >= ACCOUNTS - 10
    liquidated = 0
    for round_ in range(6):
        ok, _ = run_steps(seeded.bulk, random_steps(seeded.market, rng, ACCOUNTS, 240))
        assert ok > 40
        drift = {
            s: (seeded.prices[s] * Decimal(str(rng.uniform(0.9, 1.06)))).quantize(Decimal("0.01"))
            for s in ("WETH", "WBTC")
        }
        seeded.rpc("evm_increaseTime", rng.randrange(1_800, 7_200))  # interest
        seeded.post_prices(drift)
        snapshots = watcher.poll()
        assert snapshots and snapshots[-1].block_number == seeded.w3.eth.block_number
        assert_candidates_equal_full_recompute(watcher, snapshots[-1])
        steps = _liquidations(seeded, snapshots[-1], 60)
        if steps:
            ok, _ = run_steps(seeded.bulk, steps)
            liquidated += ok
        if round_ % 2:
            watcher.poll()
    watcher.poll()
    assert liquidated > 0, "the price path should have made some accounts liquidatable"
    assert assert_book_equals_chain(seeded, watcher) > ACCOUNTS
    assert assert_health_equals_chain(seeded, watcher) > ACCOUNTS // 2
    snapshot = watcher.snapshot
    assert snapshot is not None
    # Only what the exact model calls liquidatable is confirmed with the pool (to the wei);
    # the other candidates are not read.
    for risky in snapshot.at_risk:
        if risky.data.liquidatable:
            assert risky.confirmed, risky.user
        else:
            assert risky.chain_health_factor is None, risky.user
    report = watcher.reconcile()
    assert report.accounts == len(watcher.book) > ACCOUNTS * 9 // 10
    assert report.mismatches == ()
    assert watcher.stats.confirm_mismatches == 0


def test_requests_per_block_do_not_grow_with_the_book(seeded: Seeded) -> None:
    """Counted at a real HTTP proxy: an idle block costs its header (plus the candidates'
    confirmation); a block that touches k accounts adds its logs and one batched read,
    whatever k is, and nothing here depends on the 2,000 accounts in the book."""
    with RpcProxy(seeded.anvil.url) as proxy:
        rpc, watcher = seeded.watcher(proxy.url, multicall_batch=50)
        watcher.sync()

        def cost(action: Any) -> tuple[int, MarketSnapshot]:
            action()
            proxy.reset_counts()
            (snapshot,) = watcher.poll()
            assert rpc.stats.requests >= proxy.total
            return proxy.total, snapshot

        def supply(k: int) -> Any:
            token = seeded.market.deployment.token("DAI")
            steps = [Step(Action.SUPPLY, i, token, 10**18) for i in range(k)]
            return lambda: run_steps(seeded.bulk, steps)

        cost(supply(1))  # a block with logs: the header bloom is checked and trusted
        figures: dict[str, int] = {}
        for name, action in [("idle", seeded.mine), *((f"k={k}", supply(k)) for k in (1, 10, 100))]:
            total, snapshot = cost(action)
            confirm = math.ceil(sum(a.data.liquidatable for a in snapshot.at_risk) / 50)
            figures[name] = total - confirm
            assert proxy.counts["eth_call"] >= confirm
        assert figures == {"idle": 1, "k=1": 3, "k=10": 3, "k=100": 3}, figures
        assert watcher.stats.bloom_skips >= 1


def test_a_reorg_on_anvil_leaves_the_book_equal_to_the_new_chain(seeded: Seeded) -> None:
    rng = random.Random(7)
    _, watcher = seeded.watcher()
    watcher.sync()
    for depth_b in (6, 2):  # a longer branch, then a shorter one than the branch it replaces
        fork = seeded.rpc("evm_snapshot")["result"]
        run_steps(seeded.bulk, random_steps(seeded.market, rng, ACCOUNTS, 150))
        seeded.post_prices({"WETH": seeded.prices["WETH"] * Decimal("0.93")})
        seeded.mine(3)
        watcher.poll()
        abandoned = watcher.book.head
        assert abandoned is not None
        seeded.rpc("evm_revert", fork)
        run_steps(seeded.bulk, random_steps(seeded.market, rng, ACCOUNTS, 100))
        seeded.mine(depth_b)
        before = watcher.stats.reorgs
        snapshots = watcher.poll()
        assert watcher.stats.reorgs == before + 1
        assert (
            snapshots[-1].block_hash
            == "0x" + bytes(seeded.w3.eth.get_block("latest")["hash"]).hex()
        )
        assert snapshots[-1].reorg_depth > 0
        assert watcher.book.hash_at(abandoned.number) != abandoned.hash
        assert_book_equals_chain(seeded, watcher)
    assert watcher.stats.resyncs == 0
    assert_health_equals_chain(seeded, watcher)


def test_new_heads_over_a_websocket(seeded: Seeded) -> None:
    rpc, watcher = seeded.watcher()
    watcher.sync()
    heads = WebSocketHeads(seeded.anvil.ws_url)
    assert heads.wait_subscribed()
    seen: list[MarketSnapshot] = []
    stop = threading.Event()
    runner = threading.Thread(
        target=watcher.run, args=(heads,), kwargs={"stop": stop, "on_snapshot": seen.append}
    )
    before = rpc.stats.copy()
    runner.start()
    try:
        rng = random.Random(3)
        for _ in range(3):
            run_steps(seeded.bulk, random_steps(seeded.market, rng, ACCOUNTS, 30))
            seeded.mine()
            time.sleep(0.2)
        target = seeded.w3.eth.block_number
        deadline = time.monotonic() + 20
        while (not seen or seen[-1].block_number < target) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        runner.join(timeout=10)
        heads.close()
    assert seen and seen[-1].block_number == target
    assert heads.connections == 1
    spent = rpc.stats.since(before)
    assert spent.by_method["eth_getBlockByNumber"] == 0  # headers come with the notifications
    assert_book_equals_chain(seeded, watcher)


def test_sync_through_a_range_limit_a_timeout_and_a_dead_url(seeded: Seeded) -> None:
    _, reference = seeded.watcher()
    head = seeded.w3.eth.block_number
    reference.sync(head)
    with RpcProxy(seeded.anvil.url) as proxy:
        proxy.faults.max_log_range = 25
        proxy.faults.delays["eth_call"] = (2.0, 1)  # the first read hangs past the timeout
        dead = f"http://127.0.0.1:{free_port()}/key/SECRET"
        policy = RetryPolicy(timeout=1.0, base_delay=0.01, cooldown=30)
        rpc = RpcClient([dead, proxy.url], policy=policy)
        watcher = Watcher(rpc, AavePoolAdapter.from_deployment(seeded.market.deployment))
        snapshot = watcher.sync(head)
    assert snapshot.block_hash == reference.snapshot.block_hash  # type: ignore[union-attr]
    assert watcher.book.positions == reference.book.positions
    assert watcher.book.reserves == reference.book.reserves
    assert watcher.book.prices == reference.book.prices
    assert watcher.logs.stats.refusals > 0 and watcher.logs.chunk <= 50
    assert rpc.stats.failovers >= 1 and rpc.stats.timeouts == 1
    assert rpc.stats.by_endpoint[dead.split("/key")[0] + "/…"] <= 2  # avoided while cooling
    assert proxy.counts["eth_getLogs"] > head // 25
    assert_book_equals_chain(seeded, watcher)


# ----------------------------------------------------------------------------- polled state

RESERVE_DATA_UPDATED = Web3.keccak(
    text="ReserveDataUpdated(address,uint256,uint256,uint256,uint256,uint256)"
)
USER_RESERVE_UPDATED = Web3.keccak(text="UserReserveUpdated(address,address,uint256,uint256,bool)")
SYNC = Web3.keccak(text="Sync(uint112,uint112)")


def _in_one_block(seeded: Seeded, txs: list[dict[str, Any]]) -> int:
    """Send ``txs`` with automine off and mine them in one block; returns its number."""
    seeded.rpc("evm_setAutomine", False)
    try:
        hashes = [seeded.w3.eth.send_transaction(tx) for tx in txs]  # type: ignore[arg-type]
        seeded.mine()
    finally:
        seeded.rpc("evm_setAutomine", True)
    receipts = [seeded.w3.eth.wait_for_transaction_receipt(h, poll_latency=0.01) for h in hashes]
    assert all(r["status"] == 1 for r in receipts)
    assert len({r["blockNumber"] for r in receipts}) == 1
    return int(receipts[0]["blockNumber"])


def _steps_tx(seeded: Seeded, steps: list[Step]) -> dict[str, Any]:
    call = seeded.bulk.contract.functions.run([s.as_tuple() for s in steps])
    return {
        "from": seeded.bulk.owner,
        "to": seeded.bulk.address,
        "data": call._encode_transaction_data(),
        "gas": 1_000_000 + 300_000 * len(steps),
    }


def _pair_sync_txs(seeded: Seeded, a: str, b: str) -> list[dict[str, Any]]:
    """A donation to a pair and its ``sync()``: the pair's reserves move, with a ``Sync``."""
    market, deployer = seeded.market, seeded.market.deployment.deployer
    pair = market.pair(a, b)
    mint = market.token(a).functions.mint(pair.address, market.units(a, 3))
    return [
        {"from": deployer, "to": market.token(a).address, "data": mint._encode_transaction_data()},
        {
            "from": deployer,
            "to": pair.address,
            "data": pair.functions.sync()._encode_transaction_data(),
        },
    ]


class RecordingLogReader(LogReader):
    """The real reader, keeping what each answer held."""

    def __init__(self, rpc: RpcClient) -> None:
        super().__init__(rpc)
        self.seen: list[LogEntry] = []

    def chunks(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[Sequence[bytes] | bytes | None] = (),
    ) -> Iterator[tuple[int, int, list[LogEntry]]]:
        for first, last, logs in super().chunks(from_block, to_block, addresses, topics):
            self.seen.extend(logs)
            yield first, last, logs


def _followed_logs(seeded: Seeded, first: int, last: int) -> Counter[bytes]:
    """Per first topic, the logs of ``first..last`` the pool and the pairs emitted that the
    full follow filter asks for (independently of the watcher: plain web3)."""
    dep = seeded.market.deployment
    adapter = AavePoolAdapter.from_deployment(dep)
    _, topics = adapter.follow_filter(
        adapter.load_layout(Multicall(RpcClient([seeded.anvil.url]), dep.multicall3), last)
    )
    sources = [dep.pool, *(p.address for p in dep.pairs.values())]
    entries = seeded.w3.eth.get_logs({"fromBlock": first, "toBlock": last, "address": sources})
    return Counter(bytes(e["topics"][0]) for e in entries if bytes(e["topics"][0]) in topics)


def _fetched(reader: RecordingLogReader, first: int, last: int) -> Counter[bytes]:
    return Counter(e.topics[0] for e in reader.seen if first <= e.block_number <= last)


def assert_market_equals_chain(seeded: Seeded, watcher: Watcher) -> None:
    """Reserves as a fresh sync reads them at the same block; pairs through plain web3."""
    head = watcher.book.head
    assert head is not None
    _, reference = seeded.watcher()
    reference.sync(head.number)
    assert watcher.book.reserves == reference.book.reserves
    for name, info in seeded.market.deployment.pairs.items():
        r0, r1, _ = (
            seeded.market.pair(*name.split("/"))
            .functions.getReserves()
            .call(block_identifier=head.number)
        )
        held = watcher.book.pairs[info.address]
        assert (held.reserve0, held.reserve1) == (r0, r1), name


def test_reserves_and_pairs_are_read_not_fetched_as_logs(seeded: Seeded) -> None:
    """A block of borrows, repayments, liquidations and a pair's sync: the watcher's
    ``eth_getLogs`` answer carries its ``UserReserveUpdated`` logs only (no
    ``ReserveDataUpdated`` nor ``Sync``), and its reserves and pairs still equal the chain's."""
    rng = random.Random(99)
    rpc = RpcClient([seeded.anvil.url])
    reader = RecordingLogReader(rpc)
    watcher = Watcher(
        rpc,
        AavePoolAdapter.from_deployment(seeded.market.deployment),
        WatcherConfig(defer_confirm=True),  # one eth_call a block: the batch
        logs=reader,
    )
    watcher.sync()
    token = seeded.market.deployment.token("DAI")
    _in_one_block(seeded, [_steps_tx(seeded, [Step(Action.SUPPLY, 1, token, 10**18)])])
    watcher.poll()  # a single block with logs: its bloom is checked and trusted from now on
    seeded.post_prices({"WETH": seeded.prices["WETH"] * Decimal("0.9")})
    (snapshot,) = watcher.poll()
    steps = _liquidations(seeded, snapshot, 30) + random_steps(seeded.market, rng, ACCOUNTS, 60)
    assert len(steps) > 60, "the drop should have made some accounts liquidatable"
    before = rpc.stats.copy()
    block = _in_one_block(
        seeded, [_steps_tx(seeded, steps), *_pair_sync_txs(seeded, "WETH", "USDC")]
    )
    (snapshot,) = watcher.poll()
    assert snapshot.block_number == block
    emitted = _followed_logs(seeded, block, block)
    assert emitted[RESERVE_DATA_UPDATED] >= 60 and emitted[SYNC] == 1
    assert emitted[USER_RESERVE_UPDATED] > 60
    del emitted[RESERVE_DATA_UPDATED], emitted[SYNC]
    assert _fetched(reader, block, block) == emitted
    spent = rpc.stats.since(before)
    assert spent.by_method["eth_getLogs"] == 1 and spent.by_method["eth_call"] == 1
    assert_market_equals_chain(seeded, watcher)
    assert_book_equals_chain(seeded, watcher)

    # A block where only a pair moved: no eth_getLogs at all, the pair read in the batch.
    skips, before = watcher.stats.bloom_skips, rpc.stats.copy()
    _in_one_block(seeded, _pair_sync_txs(seeded, "WBTC", "USDC"))
    watcher.poll()
    spent = rpc.stats.since(before)
    assert watcher.stats.bloom_skips == skips + 1
    assert spent.by_method["eth_getLogs"] == 0 and spent.by_method["eth_call"] == 1
    assert_market_equals_chain(seeded, watcher)

    # A range of blocks in one step: every reserve and pair is read (no bloom covers it).
    first = seeded.w3.eth.block_number + 1
    run_steps(seeded.bulk, random_steps(seeded.market, rng, ACCOUNTS, 40))
    _in_one_block(seeded, _pair_sync_txs(seeded, "DAI", "USDC"))
    seeded.mine(2)
    (snapshot,) = watcher.poll()
    assert snapshot.block_number > first
    emitted = _followed_logs(seeded, first, snapshot.block_number)
    assert emitted[RESERVE_DATA_UPDATED] > 0 and emitted[SYNC] == 1
    del emitted[RESERVE_DATA_UPDATED], emitted[SYNC]
    assert _fetched(reader, first, snapshot.block_number) == emitted
    assert_market_equals_chain(seeded, watcher)
    assert_book_equals_chain(seeded, watcher)


def test_reads_along_come_with_the_block_whose_state_is_read(seeded: Seeded) -> None:
    """A caller's reads ride the watcher's own multicall of a block whose state moved (no
    request of their own) and hold that block's values; a block that reads no state makes
    none of them."""
    with RpcProxy(seeded.anvil.url) as proxy:
        _, watcher = seeded.watcher(proxy.url, confirm=False)  # only the step's own reads
        watcher.sync()
        holder = seeded.bulk.address
        tokens = [a.token for a in seeded.market.deployment.assets.values()]
        watcher.along = tuple(balance_read(t, holder) for t in tokens)
        seeded.mine()
        proxy.reset_counts()
        (idle,) = watcher.poll()
        assert idle.along is None
        assert proxy.counts["eth_call"] == 0
        seeded.post_prices({"WETH": seeded.prices["WETH"] * Decimal("0.999")})
        proxy.reset_counts()
        (moved,) = watcher.poll()
        assert proxy.counts["eth_call"] == 1  # the watcher's one batched read, reads along in it
        assert moved.along is not None
        expected = [
            seeded.market.token(symbol)
            .functions.balanceOf(holder)
            .call(block_identifier=moved.block_number)
            for symbol in seeded.market.deployment.assets
        ]
        assert list(moved.along) == expected
        assert any(expected)
