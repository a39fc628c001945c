"""How fast does the bot react to a crash, and what does a block cost, as the book grows?

    python scripts/bench.py [--accounts 10000] [--liquidatable 1000] [--crashes 3]
                            [--baseline-sample 2000] [--out FILE.json] [--json] [--seed 7]

Not a timed test: a benchmark of the real bot against a real node. What it does:

1. starts anvil (a 2e9 block gas limit so that a block holds a thousand liquidations),
   deploys the bundled market and opens ``--accounts`` borrowers through BulkBorrowers.sol
   (minimal proxies that borrow through the real pool: the protocol's own accounting and
   events). Most of the book is healthy (health 1.5-3.0, mixed collateral and debt);
   ``--liquidatable`` WETH-collateral, USDC-debt positions per crash step sit in bands of
   health that the step's WETH price drop (4% a step) carries below 1, so that each crash
   block makes about that many positions liquidatable at once;
2. runs the bot's real components in this process — Watcher (start-up from events, then
   following heads), LiquidationLoop and Executor (simulation by ``eth_call``, real
   signing, SQLite journal, raw transactions) — speaking HTTP to anvil through a counting
   proxy (a separate process) that counts JSON-RPC requests and bytes per block;
3. mines a few idle blocks, then ``--crashes`` crash blocks (automine off: each block is
   mined by the script, the bot's transactions of the previous block land in the next);
4. times a naive bot that asks ``getUserAccountData`` of every borrower, one ``eth_call``
   per account over sequential HTTP, straight to anvil (above ``--baseline-sample``
   accounts, a sample is timed and the figure extrapolated linearly: said so in the output).

What is timed, per block, from "block available" = the moment the bot's own
``eth_getBlockByNumber("latest")`` returns the new head (the polling delay before it is not
counted: with a websocket the head is pushed): *detection* = the watcher's snapshot with the
list of liquidatable accounts (logs, market reads, exact health: the model's list, which
``liqbot run`` acts on by default, ``[watch] confirm = "after_send"``; every send is
simulated on chain before it is signed, and the pool's confirmation of every liquidatable
account follows the block's sends, timed as *confirmed*); *first broadcast* = the first
signed liquidation accepted by the node; *all broadcast* = the last liquidation of the
block's plan accepted by the node; with it, the CPU the bot's processes and anvil used from
the head to that moment, the bot's split into the loop's thread, its other threads and the
plan worker (on two cores, their sum over the wall time says how busy the machine was).
All RPC of the bot goes through the proxy (one extra loopback hop per request, included in
the times). The bot's executor is configured for a benchmark only in what caps throughput:
``max_in_flight`` is unlimited (the default 4 caps broadcasts per block) and the node's gas
estimate is skipped (``estimate_gas=False``, the model's gas plus margin is used).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from eth_abi.abi import encode as abi_encode
from eth_account import Account as EthAccount
from eth_typing import ChecksumAddress
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.types import Wei

from bot.chain.anvil import Anvil
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import BorrowerPlan, plan_borrowers
from bot.deploy.bulk import deploy_bulk, open_bulk
from bot.deploy.market import Market, deploy_market
from bot.execute import Executor, ExecutorConfig, FeeCaps, FeePolicy, StartupConfig
from bot.execute.keys import Signer
from bot.model.ranking import BidPolicy, DecisionConfig
from bot.protocols.aave_pool import AavePoolAdapter
from bot.run.loop import BlockReport, LiquidationLoop, Strategy, following_heads
from bot.watch import Watcher, WatcherConfig

GWEI = 10**9
GAS_LIMIT = 2_000_000_000
STEP = Decimal("0.96")
"""WETH price ratio per crash block (the oracle's circuit breaker allows 5% moves)."""
BANDS_MARGIN = Decimal("0.002")
"""Health kept this far from a band's edges, so that interest cannot move a position into the
neighbouring band while the book is seeded."""
UPDATE_ANSWER = function_signature_to_4byte_selector("updateAnswer(int256)")
GET_ACCOUNT_DATA = function_signature_to_4byte_selector("getUserAccountData(address)")
BID = BidPolicy(profit_share_bps=2_000, max_fee_per_gas=500 * GWEI)

TARGETS: dict[str, tuple[str, float]] = {
    "detect_ms": ("<=", 100.0),
    "first_broadcast_ms": ("<=", 150.0),
    "all_broadcast_ms": ("<=", 500.0),
    "speedup": (">=", 100.0),
    "startup_s": ("<=", 60.0),
    "rss_mib": ("<", 1024.0),
}


# ----------------------------------------------------------------------------- counting proxy


def _serve_proxy(upstream: str, port_out: Any) -> None:
    """A loopback JSON-RPC proxy that counts requests per method and bytes both ways.

    ``GET /stats`` answers the counts since the last ``GET /reset``. Runs in its own process
    so that forwarding does not compete with the bot for the interpreter lock."""
    target = urlparse(upstream)
    host, port = target.hostname or "127.0.0.1", target.port
    lock = threading.Lock()
    counts: Counter[str] = Counter()
    totals = {"http": 0, "bytes_in": 0, "bytes_out": 0}
    local = threading.local()

    def upstream_post(body: bytes) -> bytes:
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        for attempt in range(2):
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, port, timeout=300)
            try:
                conn.request("POST", "/", body, {"Content-Type": "application/json"})
                return conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to every request
        wbufsize = 1 << 16  # headers and body leave in one write (flushed per request)

        def _reply(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with lock:
                if self.path == "/reset":
                    counts.clear()
                    totals.update(http=0, bytes_in=0, bytes_out=0)
                data = json.dumps({"methods": dict(counts), **totals}).encode()
            self._reply(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parsed = json.loads(body)
            methods = [r.get("method") for r in (parsed if isinstance(parsed, list) else [parsed])]
            reply = upstream_post(body)
            with lock:
                totals["http"] += 1
                totals["bytes_in"] += len(body)
                totals["bytes_out"] += len(reply)
                counts.update(str(m) for m in methods)
            self._reply(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_address[1])
    server.serve_forever()


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve_proxy, args=(upstream, child), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{parent.recv()}"
        self._session = requests.Session()

    def reset(self) -> None:
        self._session.get(self.url + "/reset", timeout=10)

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self._session.get(self.url + "/stats", timeout=10).json()
        data["requests"] = sum(data["methods"].values())
        return data

    def close(self) -> None:
        self.process.terminate()
        self.process.join(5)


# ----------------------------------------------------------------------------- the book


def risky_plans(market: Market, per_crash: int, crashes: int, seed: int) -> list[BorrowerPlan]:
    """``per_crash`` WETH/USDC positions per crash step, in the band of health that step k's
    price (STEP**k of the start) carries below 1 and step k-1's does not."""
    rng = random.Random(seed)
    weth, usdc = market.specs["WETH"], market.specs["USDC"]
    lt = Decimal(weth.liquidation_threshold) / 10_000
    # The pool lends at most LTV: health cannot start below LT / LTV (1.031 for WETH).
    floor = lt / (Decimal(weth.ltv) / 10_000)
    plans: list[BorrowerPlan] = []
    for k in range(1, crashes + 1):
        low, high = max(1 / STEP ** (k - 1), floor), 1 / STEP**k
        for _ in range(per_crash):
            health = Decimal(
                str(rng.uniform(float(low + BANDS_MARGIN), float(high - BANDS_MARGIN)))
            )
            usd = Decimal(str(round(rng.uniform(3_000, 20_000), 2)))
            debt_usd = usd * lt / health
            plans.append(
                BorrowerPlan(
                    len(plans),
                    {"WETH": int(usd / weth.price_usd * 10**weth.decimals)},
                    {"USDC": int(debt_usd / usdc.price_usd * 10**usdc.decimals)},
                    health,
                )
            )
    return plans


@dataclass
class Chain:
    anvil: Anvil
    w3: Web3
    market: Market
    borrowers: list[str]
    seed_s: float
    weth_price: Decimal = field(default=Decimal(0))

    def rpc(self, method: str, *params: Any) -> Any:
        return self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]

    def mine(self) -> None:
        self.rpc("evm_mine")

    def post_weth(self, price: Decimal) -> None:
        """Send both WETH feeds the new price (unmined: the next ``mine`` includes them)."""
        deployer = self.market.deployment.deployer
        answer = self.market.specs["WETH"].price_answer(price)
        data = UPDATE_ANSWER + abi_encode(["int256"], [answer])
        asset = self.market.deployment.assets["WETH"]
        for feed in (asset.feed, asset.fallback_feed):
            self.w3.eth.send_transaction({"from": deployer, "to": feed, "data": data})
        self.weth_price = price


def seed_chain(
    anvil: Anvil,
    accounts: int,
    per_crash: int,
    crashes: int,
    seed: int,
    bot: ChecksumAddress,
    say: Any,
) -> Chain:
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 600}))
    deployer = w3.eth.accounts[0]
    w3.eth.send_transaction({"from": deployer, "to": bot, "value": Wei(100_000 * 10**18)})
    market = deploy_market(w3, deployer, liquidator_owner=bot)
    bulk = deploy_bulk(market)
    risky = risky_plans(market, per_crash, crashes, seed)
    healthy = plan_borrowers(
        market,
        max(0, accounts - len(risky)),
        seed=seed,
        health_range=(1.5, 3.0),
        size_usd=(1_000, 60_000),
    )
    mixed = healthy + risky
    random.Random(seed).shuffle(mixed)
    t0 = time.perf_counter()
    for start in range(0, len(mixed), 20_000):
        open_bulk(bulk, mixed[start : start + 20_000], per_tx=1_000, gas_limit=GAS_LIMIT)
        say(f"seeded {min(start + 20_000, len(mixed)):,} of {len(mixed):,} borrowers")
    seed_s = time.perf_counter() - t0
    # Inventory for the bot's liquidator: enough USDC to repay every risky position's close
    # factor share, so that liquidations the AMM's depth cannot carry still pay.
    usdc_needed = sum(p.debt["USDC"] for p in risky)
    usdc = market.token("USDC")
    liquidator = market.deployment.flash_liquidator
    w3.eth.send_transaction(
        {
            "from": deployer,
            "to": usdc.address,
            "data": usdc.functions.mint(liquidator, usdc_needed)._encode_transaction_data(),
        }
    )
    borrowers = bulk.borrowers()
    chain = Chain(anvil, w3, market, borrowers, seed_s, market.specs["WETH"].price_usd)
    chain.rpc("evm_setAutomine", False)
    return chain


# ----------------------------------------------------------------------------- measurements


def rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_cpu_s(stat: Path) -> float:
    """User + system CPU seconds from a ``/proc`` ``stat`` file (10 ms ticks)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_s(pid: int | str = "self") -> float:
    """CPU seconds (user + system) a process has used, every thread."""
    return _stat_cpu_s(Path(f"/proc/{pid}/stat"))


def thread_cpu_s(pid: int) -> float:
    """CPU seconds the thread ``pid`` (a process's first thread: the loop's) has used: the
    scheduler's nanoseconds, where the kernel keeps them, else its 10 ms ticks."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return _stat_cpu_s(Path(f"/proc/{pid}/task/{pid}/stat"))


CPU_PARTS = ("loop_thread", "loop_other_threads", "plan_worker", "anvil")
"""What :class:`CpuSampler` tells apart: the loop's thread (detection, the plan's intake,
signing, the journal); the loop's process's other threads (the simulations' and
broadcasts' round trips); the plan worker's process; anvil."""


def _cpu_parts(loop: int, worker: int | None, anvil: int) -> tuple[float, ...]:
    """CPU seconds so far of each of :data:`CPU_PARTS` (the loop's other threads: its
    process's total, in 10 ms ticks, less its thread's; so within ~10 ms)."""
    thread = thread_cpu_s(loop)
    return (
        thread,
        max(0.0, cpu_s(loop) - thread),
        cpu_s(worker) if worker is not None else 0.0,
        cpu_s(anvil),
    )


def _sample_cpu(loop: int, worker: int | None, anvil: int, every: float, conn: Any) -> None:
    """The sampler process: (time, CPU of each of :data:`CPU_PARTS`) every ``every``
    seconds, kept until asked for ("get") or dropped ("reset"); "stop" ends it."""
    samples: list[tuple[float, tuple[float, ...]]] = []
    conn.send("ready")
    while True:
        if conn.poll(every):
            what = conn.recv()
            if what == "stop":
                return
            if what == "get":
                conn.send(samples)
            samples = []
            continue
        try:
            samples.append((time.monotonic(), _cpu_parts(loop, worker, anvil)))
        except OSError:
            return


class CpuSampler:
    """CPU used by the bot's processes and by anvil, sampled every few milliseconds by a
    process of its own (a thread here would take the bot's interpreter lock 100 times a
    second), to say what a crash block costs each of them up to its last broadcast."""

    def __init__(
        self, loop_pid: int, worker_pid: int | None, anvil_pid: int, every: float = 0.01
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_sample_cpu, args=(loop_pid, worker_pid, anvil_pid, every, child), daemon=True
        )
        self._process.start()
        assert self._conn.recv() == "ready"

    def reset(self) -> None:
        self._conn.send("reset")

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds of each of :data:`CPU_PARTS` from the last sample at or before
        ``start`` to the first at or after ``end`` (so a little over the span, never under);
        then reset."""
        self._conn.send("get")
        samples: list[tuple[float, tuple[float, ...]]] = self._conn.recv()
        if not samples:
            return dict.fromkeys(CPU_PARTS, 0.0)
        before = [x for x in samples if x[0] <= start] or samples[:1]
        after = [x for x in samples if x[0] >= end] or samples[-1:]
        a, b = before[-1][1], after[0][1]
        return {part: b[k] - a[k] for k, part in enumerate(CPU_PARTS)}

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(5)


@dataclass
class BlockFigures:
    kind: str
    block: int
    liquidatable: int
    planned: int
    sent: int
    transactions: int
    """Distinct transactions the sends went out in (fewer than ``sent`` with bundles)."""
    detect_ms: float
    first_broadcast_ms: float | None
    all_broadcast_ms: float | None
    requests: int
    bytes: int
    methods: dict[str, int]
    recomputed: int
    """Accounts whose health the watcher recomputed exactly for this block."""
    confirmed_ms: float | None = None
    """When the pool's confirmation (after the sends) came back."""
    handled_ms: float | None = None
    """When the loop was done with the block (sends, confirmation, tracking what is in
    flight: the previous block's receipts) and ready for the next."""
    mismatched: int = 0
    cpu_bot_ms: float | None = None
    """CPU the bot's processes used from the head to the last broadcast (every thread of
    the loop's, and the plan worker)."""
    cpu_anvil_ms: float | None = None
    """CPU anvil used over the same span."""
    cpu_parts_ms: dict[str, float] | None = None
    """``cpu_bot_ms`` and ``cpu_anvil_ms`` by :data:`CPU_PARTS`."""


def follow_block(
    kind: str,
    watcher: Watcher,
    loop: LiquidationLoop,
    proxy: CountingProxy,
    cpu: CpuSampler | None = None,
) -> BlockFigures:
    """Let the bot handle the newest block, timed from the moment it knows the head."""
    proxy.reset()
    if cpu is not None:
        cpu.reset()
        time.sleep(0.025)  # a sample or two before the head is read (not timed)
    recomputed = watcher.stats.recomputed
    header = watcher.rpc.get_block("latest")
    seen = time.monotonic()
    snapshots = watcher.on_head(header)
    detected = time.monotonic()
    report: BlockReport | None = None
    for snapshot in snapshots:
        report = loop.on_snapshot(snapshot, seen_at=seen)
    handled = time.monotonic()
    stats = proxy.stats()
    assert report is not None, "the bot did not produce a snapshot for a new block"

    def ms(at: float | None) -> float | None:
        return None if at is None else (at - seen) * 1000

    cpu_bot = cpu_anvil = None
    parts: dict[str, float] | None = None
    if cpu is not None and report.last_broadcast_at is not None:
        parts = {k: v * 1000 for k, v in cpu.between(seen, report.last_broadcast_at).items()}
        cpu_anvil = parts["anvil"]
        cpu_bot = sum(v for k, v in parts.items() if k != "anvil")
    return BlockFigures(
        kind=kind,
        block=header.number,
        liquidatable=report.liquidatable,
        planned=len(report.planned),
        sent=len(report.sent),
        transactions=len({r.tx_hash for r in report.sent}),
        detect_ms=(detected - seen) * 1000,
        first_broadcast_ms=ms(report.first_broadcast_at),
        all_broadcast_ms=ms(report.last_broadcast_at),
        requests=int(stats["requests"]),
        bytes=int(stats["bytes_in"]) + int(stats["bytes_out"]),
        methods=dict(stats["methods"]),
        recomputed=watcher.stats.recomputed - recomputed,
        confirmed_ms=ms(report.confirmed_at),
        handled_ms=ms(handled),
        mismatched=len(report.mismatched),
        cpu_bot_ms=cpu_bot,
        cpu_anvil_ms=cpu_anvil,
        cpu_parts_ms=parts,
    )


def naive_baseline(url: str, pool: str, users: list[str], sample: int) -> tuple[float, int]:
    """Milliseconds for one ``getUserAccountData`` eth_call per user over sequential HTTP
    (extrapolated from the first ``sample`` users); returns (ms, users actually timed)."""
    session = requests.Session()
    timed = users[: min(sample, len(users))]
    bodies = [
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_call",
                "params": [
                    {
                        "to": pool,
                        "data": "0x" + (GET_ACCOUNT_DATA + abi_encode(["address"], [u])).hex(),
                    },
                    "latest",
                ],
            }
        )
        for i, u in enumerate(timed)
    ]
    headers = {"Content-Type": "application/json"}
    t0 = time.perf_counter()
    for body in bodies:
        reply = session.post(url, data=body, headers=headers, timeout=60).json()
        if "result" not in reply:
            raise RuntimeError(f"getUserAccountData failed: {reply}")
    elapsed = time.perf_counter() - t0
    return elapsed * 1000 * len(users) / len(timed), len(timed)


def bot_key() -> Any:
    """A throwaway key for the benchmark's private anvil chain (it guards nothing)."""
    return EthAccount.from_key(keccak(b"liqbot-bench-bot"))


def run(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    bot = bot_key()
    with Anvil(gas_limit=GAS_LIMIT, balance_eth=1_000_000) as anvil:
        t_all = time.perf_counter()
        chain = seed_chain(
            anvil, args.accounts, args.liquidatable, args.crashes, args.seed, bot.address, say
        )
        chain.mine()
        say(f"book seeded in {chain.seed_s:.1f}s; starting the bot")
        gc.collect()
        rss_before = rss_mib()
        proxy = CountingProxy(anvil.url)
        try:
            return measure(args, chain, proxy, bot, rss_before, t_all, say)
        finally:
            proxy.close()


def measure(
    args: argparse.Namespace,
    chain: Chain,
    proxy: CountingProxy,
    bot: Any,
    rss_before: float,
    t_all: float,
    say: Any,
) -> dict[str, Any]:
    dep = chain.market.deployment
    w3 = Web3(Web3.HTTPProvider(proxy.url, request_kwargs={"timeout": 120}))
    protocol = AavePoolAdapter.from_deployment(dep)
    proxy.reset()
    t0 = time.perf_counter()
    watcher = Watcher(
        RpcClient([proxy.url]), protocol, WatcherConfig(reconcile_every=0, defer_confirm=True)
    )
    first = watcher.sync()
    startup_s = time.perf_counter() - t0
    startup_rpc = proxy.stats()
    say(
        f"start-up: {first.accounts:,} accounts ({first.borrowers:,} borrowers) from events in "
        f"{startup_s:.1f}s, {startup_rpc['requests']} requests"
    )
    with tempfile.TemporaryDirectory(prefix="liqbot-bench-") as tmp:
        executor = Executor.open(
            w3,
            ExecutorConfig(
                startup=StartupConfig(dep.chain_id, dep.pool, dep.oracle, dep.flash_liquidator),
                fees=FeePolicy(
                    FeeCaps(
                        max_fee_per_gas=BID.max_fee_per_gas, max_priority_fee_per_gas=200 * GWEI
                    )
                ),
                journal_path=Path(tmp) / "journal.sqlite",
                confirmations=1,
                estimate_gas=False,
                max_in_flight=1_000_000,
                bundle_size=args.bundle_size,
                lock_dir=Path(tmp),
            ),
            Signer(bot, "bench key"),
            out=lambda line: None,
        )
        cpu: CpuSampler | None = None
        loop: LiquidationLoop | None = None
        try:
            assert chain.anvil.pid is not None
            with following_heads() as collector:  # as LiquidationLoop.run does
                loop = LiquidationLoop(
                    w3, watcher, protocol, executor, dep, Strategy(decision=DecisionConfig(bid=BID))
                )
                # as LiquidationLoop.run does, where it starts while the book is built
                worker = loop.start_plan_worker() if args.plan_process else None
                if worker is not None and not worker.wait_ready(60):
                    why = worker.why_lost or "it did not come up within 60 s"
                    raise RuntimeError(
                        f"the plan worker is not running: {why} "
                        "(--no-plan-process plans in the loop's process instead)"
                    )
                worker_pid = worker.pid if worker is not None else None
                bot_pids = (os.getpid(),) + ((worker_pid,) if worker_pid else ())
                cpu = CpuSampler(os.getpid(), worker_pid, chain.anvil.pid)
                loop.on_snapshot(first)
                collector.after_block()  # as LiquidationLoop.run does after each block
                blocks: list[BlockFigures] = []
                for _ in range(args.idle):
                    chain.mine()
                    blocks.append(follow_block("idle", watcher, loop, proxy))
                    collector.after_block()  # between blocks, while it awaits a head
                price = chain.weth_price
                for k in range(args.crashes):
                    price = (price * STEP).quantize(Decimal("0.01"))
                    chain.post_weth(price)
                    chain.mine()
                    if args.profile is not None:
                        profiler = cProfile.Profile()
                        figures = profiler.runcall(
                            follow_block, f"crash {k + 1}", watcher, loop, proxy, cpu
                        )
                        profiler.dump_stats(f"{args.profile}.crash{k + 1}")
                    else:
                        figures = follow_block(f"crash {k + 1}", watcher, loop, proxy, cpu)
                    collector.after_block()
                    blocks.append(figures)
                    say(
                        f"crash {k + 1}: WETH {price}, {figures.liquidatable} liquidatable, "
                        f"{figures.sent} sent in {figures.transactions} transactions, "
                        f"detect {figures.detect_ms:.0f} ms, all sent "
                        f"{figures.all_broadcast_ms or 0:.0f} ms"
                    )
                chain.mine()  # the last crash's liquidations
                settle = follow_block("settle", watcher, loop, proxy)
                collector.after_block()
                chain.mine()
                follow_block("settle", watcher, loop, proxy)
                ledger = [e for e in executor.ledger() if e.kind == "liquidation"]
                mined_ok = sum(1 for e in ledger if e.outcome == "liquidated")
                outcomes = Counter(e.outcome for e in ledger)
                rss_after = sum(rss_mib(pid) for pid in bot_pids)
                # What the previous rule (every holder of a moved asset) cost on this book: the
                # same exact recompute, timed for the holders of WETH.
                holders = watcher.book.holders_of({dep.token("WETH")})
                head = watcher.book.head
                assert head is not None
                t0 = time.perf_counter()
                watcher._recompute(holders, head.timestamp)
                holders_ms = (time.perf_counter() - t0) * 1000
        finally:
            if cpu is not None:
                cpu.stop()
            if loop is not None:
                loop.close()
            executor.close()
    sample_users = [u for u in chain.borrowers]
    baseline_ms, timed = naive_baseline(
        chain.anvil.url, dep.pool, sample_users, args.baseline_sample
    )
    idle = [b for b in blocks if b.kind == "idle"]
    crash = [b for b in blocks if b.kind.startswith("crash")]

    def worst(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return max(present) if present else None

    detect = worst([b.detect_ms for b in crash])
    assert detect is not None
    slowest = max(crash, key=lambda b: b.all_broadcast_ms or 0.0)
    out: dict[str, Any] = {
        "accounts": args.accounts,
        "borrowers_in_book": first.borrowers,
        "liquidatable_per_crash": [b.liquidatable for b in crash],
        "sent_per_crash": [b.sent for b in crash],
        "bundle_size": args.bundle_size,
        "plan_process": args.plan_process,
        "transactions_per_crash": [b.transactions for b in crash],
        "planned_per_crash": [b.planned for b in crash],
        "detect_ms": round(detect, 1),
        "first_broadcast_ms": _round(worst([b.first_broadcast_ms for b in crash])),
        "all_broadcast_ms": _round(worst([b.all_broadcast_ms for b in crash])),
        "all_broadcast_cpu_bot_ms": _round(slowest.cpu_bot_ms),
        "all_broadcast_cpu_anvil_ms": _round(slowest.cpu_anvil_ms),
        **{
            f"all_broadcast_cpu_{part}_ms": _round((slowest.cpu_parts_ms or {}).get(part))
            for part in CPU_PARTS[:3]
        },
        "confirmed_ms": _round(worst([b.confirmed_ms for b in crash])),
        "confirm_mismatches": sum(b.mismatched for b in crash),
        "handled_ms": _round(worst([b.handled_ms for b in crash])),
        "idle_detect_ms": round(statistics.median(b.detect_ms for b in idle), 1) if idle else None,
        "baseline_detect_ms": round(baseline_ms, 1),
        "baseline_timed_accounts": timed,
        "baseline_extrapolated": timed < len(sample_users),
        "speedup": round(baseline_ms / detect, 1),
        "idle_rpc_requests": max(b.requests for b in idle) if idle else None,
        "idle_rpc_bytes": max(b.bytes for b in idle) if idle else None,
        "crash_rpc_requests": max(b.requests for b in crash),
        "crash_rpc_bytes": max(b.bytes for b in crash),
        "recomputed_per_crash": [b.recomputed for b in crash],
        "weth_holders": len(holders),
        "holders_recompute_ms": round(holders_ms, 1),
        "startup_s": round(startup_s, 2),
        "startup_rpc_requests": startup_rpc["requests"],
        "startup_rpc_bytes": startup_rpc["bytes_in"] + startup_rpc["bytes_out"],
        "rss_mib": round(rss_after, 1),
        "rss_before_bot_mib": round(rss_before, 1),
        "rss_bot_mib": round(rss_after - rss_before, 1),
        "liquidations_mined_ok": mined_ok,
        "liquidation_outcomes": dict(outcomes),
        "seed_s": round(chain.seed_s, 1),
        "total_s": round(time.perf_counter() - t_all, 1),
        "settle_block_liquidatable": settle.liquidatable,
        "blocks": [b.__dict__ for b in blocks],
    }
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def table(out: dict[str, Any]) -> Table:
    t = Table(title=f"liqbot at {out['accounts']:,} accounts (worst crash block)")
    t.add_column("figure")
    t.add_column("measured", justify="right")
    t.add_column("target", justify="right")
    t.add_column("", justify="center")
    rows = [
        ("detect_ms", "detection (ms)"),
        ("first_broadcast_ms", "first broadcast (ms)"),
        ("all_broadcast_ms", "all profitable broadcast (ms)"),
        ("all_broadcast_cpu_bot_ms", "  CPU by then: the bot's processes, every thread (ms)"),
        ("all_broadcast_cpu_loop_thread_ms", "    of which the loop's thread (ms)"),
        ("all_broadcast_cpu_loop_other_threads_ms", "    of which its other threads (ms)"),
        ("all_broadcast_cpu_plan_worker_ms", "    of which the plan worker (ms)"),
        ("all_broadcast_cpu_anvil_ms", "  CPU by then: anvil (ms)"),
        ("confirmed_ms", "pool's confirmation back, after the sends (ms)"),
        ("handled_ms", "block handled, ready for the next (ms)"),
        ("baseline_detect_ms", "naive baseline detection (ms)"),
        ("speedup", "speed-up over the baseline"),
        ("idle_rpc_requests", "RPC requests, idle block"),
        ("idle_rpc_bytes", "RPC bytes, idle block"),
        ("crash_rpc_requests", "RPC requests, crash block"),
        ("crash_rpc_bytes", "RPC bytes, crash block"),
        ("holders_recompute_ms", "previous rule: recompute every WETH holder (ms)"),
        ("startup_s", "start-up from events (s)"),
        ("rss_mib", "resident memory (MiB)"),
    ]
    for key, label in rows:
        value = out.get(key)
        target = TARGETS.get(key)
        verdict = ""
        target_text = ""
        if target is not None and value is not None:
            op, bound = target
            ok = value <= bound if op == "<=" else value >= bound if op == ">=" else value < bound
            verdict = "[green]pass[/]" if ok else "[red]miss[/]"
            target_text = f"{op} {bound:g}"
        if key == "idle_rpc_requests":
            target_text = "constant in N"
        if key == "baseline_detect_ms" and out.get("baseline_extrapolated"):
            label += f" (from {out['baseline_timed_accounts']:,}, extrapolated)"
        shown = (
            "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
        )
        t.add_row(label, shown, target_text, verdict)
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--liquidatable", type=int, default=1_000, help="per crash block")
    parser.add_argument("--crashes", type=int, default=3)
    parser.add_argument("--idle", type=int, default=3, help="idle blocks measured")
    parser.add_argument("--baseline-sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--bundle-size",
        type=int,
        default=1,
        help="liquidations per transaction (the executor's bundle_size; 1: one each)",
    )
    parser.add_argument(
        "--plan-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="plan in a process of its own, as `liqbot run` does for a plan of 256 accounts "
        "or more (--no-plan-process: in the loop's process)",
    )
    parser.add_argument(
        "--profile",
        help="cProfile each crash block into PREFIX.crashK (pstats format; the loop's thread "
        "only: batches after the first run on the sender thread)",
    )
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.accounts < args.liquidatable * args.crashes:
        parser.error(
            f"--accounts {args.accounts} is smaller than --liquidatable x --crashes "
            f"({args.liquidatable * args.crashes}): raise --accounts or lower the others"
        )
    console = Console(stderr=True)
    out = run(args, lambda text: console.print(f"[dim]{text}[/]"))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        Console().print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
