"""`liqbot reenact`: a price path replayed on anvil while the live bot runs, held to the backtest.

The backtest (:func:`bot.backtest.run_price_path`) says what the bot would do on a price path
over a documented book of borrowers, with no chain. This module plays the same path on a real
EVM and lets the real bot act, so that the two can be compared liquidation by liquidation:

1. the pure backtest runs first; its synthetic recording gives the exact starting market
   (reserve totals, AMM reserves) and the book of borrowers, which are then built on chain:
   the bundled contracts with the backtest's three reserves and two pairs, each borrower at
   the backtest's own address (anvil impersonation) with the same collateral and debt;
2. the live bot starts (watcher, :class:`~bot.run.loop.LiquidationLoop`, executor signing
   raw transactions with its own key), with the backtest's decision settings;
3. the path's blocks are mined one by one with the backtest's timestamps and base fee
   (:func:`bot.backtest.pricepath.price_path_blocks`, the schedule both runs share): the
   bot's transactions decided on the previous block come first (anvil orders transactions
   first in, first out), then the feeds publish the new price, an arbitrageur pulls both
   pairs back to the oracle with the model's swap (:func:`bot.model.amm.arbitrage_swap`, as
   the backtest's market does), and a filler brings the block to its gas target, so that
   EIP-1559 keeps the base fee where it is and the bot's prediction of it from the parent
   header is exact, as in the backtest's half-full headers;
4. the recorder records the chain; every ``LiquidationCall`` is valued from its receipt
   (token transfers to and from the bot, gas paid) and matched with the backtest's
   predictions. Each disagreement is listed with its kind and the reason found for it.

Both runs value a liquidation at the oracle prices before its block, in USD.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from rich.table import Table
from web3 import Web3
from web3.types import TxParams, Wei

from bot.backtest import (
    BacktestConfig,
    BacktestResult,
    PricePathConfig,
    run_price_path,
    write_report,
)
from bot.backtest.engine import BotLiquidation, reactive_amm
from bot.backtest.pricepath import (
    BASE_UNIT,
    PathBlock,
    load_price_path,
    price_path_blocks,
    price_path_specs,
    synthetic_book,
)
from bot.chain.anvil import Anvil
from bot.chain.contracts import transact
from bot.chain.rpc import RpcClient
from bot.deploy.market import MAX_UINT, AssetSpec, Market, PairSpec, deploy_market
from bot.execute import Executor, ExecutorConfig, FeeCaps, FeePolicy, StartupConfig
from bot.execute.keys import Signer
from bot.model.amm import arbitrage_swap
from bot.model.gas import GasTable
from bot.model.profit import NATIVE_UNIT
from bot.model.ranking import BidPolicy, DecisionConfig
from bot.model.types import PairReserves
from bot.protocols.aave_pool import AavePoolAdapter
from bot.record import record, schema
from bot.run.loop import BlockReport, LiquidationLoop, Strategy
from bot.watch.watcher import Watcher, WatcherConfig

GWEI = 10**9
WAD = 10**18
FEED_HEARTBEAT = 10 * 365 * 86_400
"""The backtest's feeds never go stale; neither do the re-enactment's."""
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")
DRIVER_GAS = {"feed": 120_000, "swap": 250_000}
SEED_GAS = {"supply": 300_000, "borrow": 600_000}
"""Gas limits of the driver's transactions (sent unmined, so they cannot be estimated)."""

KINDS: dict[str, str] = {
    "timing": "the bot and the backtest liquidated it, in different blocks",
    "size": "same block, different debt covered",
    "profit": "same liquidation, profit differs by more than the gas difference",
    "not_sent": "the backtest predicted it; the bot did not liquidate it",
    "reverted": "the bot sent it and it reverted on chain",
    "unpredicted": "the bot liquidated it; the backtest did not predict it",
}
"""Disagreement kinds, in the order the report lists them."""


class ReenactError(RuntimeError):
    """The re-enactment cannot run; the message names the problem and the fix."""


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LiveLiquidation:
    """A ``LiquidationCall`` on chain, valued from its receipt (what the bot's account got)."""

    chain_block: int
    block: int
    """The same block in the backtest's numbering."""
    tx_hash: str
    user: str
    liquidator: str
    collateral: str
    debt: str
    debt_covered: int
    collateral_seized: int
    gas_used: int
    effective_gas_price: int
    gain_usd: float
    """Net token transfers to the bot and its liquidator contract, at the oracle."""
    gas_usd: float
    by_bot: bool

    @property
    def profit_usd(self) -> float:
        return self.gain_usd - self.gas_usd


@dataclass(frozen=True)
class Agreement:
    user: str
    block: int
    debt_covered: int
    predicted_profit_usd: float
    live_profit_usd: float
    predicted_gas_usd: float
    live_gas_usd: float


@dataclass(frozen=True)
class Disagreement:
    kind: str
    """A key of :data:`KINDS`."""
    user: str
    predicted_block: int | None
    live_block: int | None
    reason: str
    """Why, as far as the chain and the backtest tell; empty when nothing explains it."""
    predicted_profit_usd: float | None = None
    live_profit_usd: float | None = None

    @property
    def explained(self) -> bool:
        return bool(self.reason)


@dataclass
class ReenactResult:
    source: str
    config: BacktestConfig
    prediction: BacktestResult
    live: list[LiveLiquidation]
    agreements: list[Agreement]
    disagreements: list[Disagreement]
    reverted: int = 0
    """Bot transactions that were mined and reverted."""
    unmined: int = 0
    """Bot transactions still pending after the last block (the backtest drops them too)."""
    borrowers: int = 0
    blocks: int = 0
    first_chain_block: int = 0
    last_chain_block: int = 0
    block_map: dict[int, int] = field(default_factory=dict)
    """Chain block -> backtest block."""
    recording: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def bot_live(self) -> list[LiveLiquidation]:
        return [x for x in self.live if x.by_bot]

    @property
    def unexplained(self) -> list[Disagreement]:
        return [d for d in self.disagreements if not d.explained]

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for d in self.disagreements:
            counts[d.kind] += 1
        return {k: counts[k] for k in KINDS if counts[k]}

    def as_json(self) -> dict[str, Any]:
        predicted = self.prediction.bot_liquidations
        return {
            "source": self.source,
            "borrowers": self.borrowers,
            "blocks": self.blocks,
            "chain_blocks": [self.first_chain_block, self.last_chain_block],
            "recording": self.recording,
            "summary": {
                "bot_liquidations": len(self.bot_live),
                "predicted_liquidations": len(predicted),
                "agreements": len(self.agreements),
                "disagreements": len(self.disagreements),
                "disagreements_by_kind": self.by_kind(),
                "unexplained": len(self.unexplained),
                "reverted": self.reverted,
                "unmined_at_end": self.unmined,
                "live_profit_usd": round(sum(x.profit_usd for x in self.bot_live), 2),
                "predicted_profit_usd": round(sum(b.profit_usd for b in predicted), 2),
                "live_gas_usd": round(sum(x.gas_usd for x in self.bot_live), 2),
                "predicted_gas_usd": round(sum(b.gas_usd for b in predicted), 2),
                "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            },
            "kinds": KINDS,
            "live": [
                {
                    "block": x.block,
                    "chain_block": x.chain_block,
                    "user": x.user,
                    "liquidator": x.liquidator,
                    "by_bot": x.by_bot,
                    "collateral": x.collateral,
                    "debt": x.debt,
                    "debt_covered": str(x.debt_covered),
                    "collateral_seized": str(x.collateral_seized),
                    "gas_used": x.gas_used,
                    "effective_gas_price": x.effective_gas_price,
                    "profit_usd": round(x.profit_usd, 4),
                    "gas_usd": round(x.gas_usd, 4),
                    "tx_hash": x.tx_hash,
                }
                for x in self.live
            ],
            "predicted": [
                {
                    "decided_block": b.decided_block,
                    "block": b.block,
                    "user": b.user,
                    "collateral": b.collateral,
                    "debt": b.debt,
                    "debt_covered": str(b.debt_covered),
                    "profit_usd": round(b.profit_usd, 4),
                    "gas_usd": round(b.gas_usd, 4),
                }
                for b in predicted
            ],
            "agreements": [
                {
                    "block": a.block,
                    "user": a.user,
                    "debt_covered": str(a.debt_covered),
                    "predicted_profit_usd": round(a.predicted_profit_usd, 4),
                    "live_profit_usd": round(a.live_profit_usd, 4),
                    "predicted_gas_usd": round(a.predicted_gas_usd, 4),
                    "live_gas_usd": round(a.live_gas_usd, 4),
                }
                for a in self.agreements
            ],
            "disagreements": [
                {
                    "kind": d.kind,
                    "user": d.user,
                    "predicted_block": d.predicted_block,
                    "live_block": d.live_block,
                    "reason": d.reason,
                    "explained": d.explained,
                    "predicted_profit_usd": d.predicted_profit_usd,
                    "live_profit_usd": d.live_profit_usd,
                }
                for d in self.disagreements
            ],
        }


# ----------------------------------------------------------------------------- price paths


def price_csv_from_recording(recording: Path, out: Path, symbol: str = "WETH") -> Path:
    """The oracle price of ``symbol`` at every block of a recording where it changed, as a CSV
    in the columns ``--price-csv`` reads by default (``block_number``, ``block_timestamp``,
    ``ETH Price (OSM)``)."""
    try:
        conn = schema.connect(recording)
    except Exception as exc:
        raise ReenactError(f"{recording}: not a recording ({exc})") from None
    try:
        row = conn.execute("SELECT asset FROM assets WHERE symbol = ?", (symbol,)).fetchone()
        if row is None:
            known = [r[0] for r in conn.execute("SELECT symbol FROM assets ORDER BY symbol")]
            raise ReenactError(
                f"{recording}: no {symbol} in the recording (assets: {', '.join(known)})"
            )
        rows = conn.execute(
            "SELECT p.block_number, b.timestamp, p.price FROM prices p "
            "JOIN blocks b ON b.number = p.block_number WHERE p.asset = ? "
            "ORDER BY p.block_number",
            (row[0],),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise ReenactError(f"{recording}: not a recording ({exc})") from None
    finally:
        conn.close()
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["block_number", "block_timestamp", "ETH Price (OSM)"])
        last = None
        for block, timestamp, price in rows:
            if price != last:
                writer.writerow([block, timestamp, str(Decimal(int(price)) / BASE_UNIT)])
                last = price
    return out


# ----------------------------------------------------------------------------- the chain


def reenact_bot_account() -> LocalAccount:
    """A throwaway key for the re-enactment's own chain (it guards nothing)."""
    account: LocalAccount = Account.from_key(keccak(b"liqbot-reenact-bot"))
    return account


class _Node:
    """Anvil's extra methods, with errors that say what went wrong."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def call(self, method: str, *params: Any) -> Any:
        reply = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in reply:
            raise ReenactError(
                f"the node refused {method} ({reply['error']}): re-enactment needs anvil "
                "(started by liqbot, or yours with --order fifo)"
            )
        return reply.get("result")

    def send(self, tx: TxParams) -> str:
        """Send from an unlocked account without waiting for a block."""
        return "0x" + bytes(self.w3.eth.send_transaction(tx)).hex()


@dataclass
class _Chain:
    w3: Web3
    node: _Node
    url: str
    market: Market
    deployer: ChecksumAddress
    bot: LocalAccount


@contextmanager
def _anvil_or(rpc_url: str | None, genesis: int) -> Iterator[str]:
    if rpc_url is not None:
        yield rpc_url
        return
    with Anvil(
        gas_limit=1_000_000_000,
        balance_eth=10**9,
        extra_args=["--order", "fifo", "--timestamp", str(genesis)],
    ) as node:
        yield node.url


def _base_rows(path: Path, base_block: int) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(path)
    try:
        reserves = conn.execute(
            "SELECT * FROM reserves WHERE block_number = ?", (base_block,)
        ).fetchall()
        pairs = conn.execute("SELECT * FROM pairs WHERE block_number = ?", (base_block,)).fetchall()
    finally:
        conn.close()
    return [schema.reserve_from_row(r) for r in reserves], [schema.pair_from_row(p) for p in pairs]


def _build_market(
    w3: Web3,
    node: _Node,
    deployer: ChecksumAddress,
    bot: LocalAccount,
    specs: dict[str, AssetSpec],
    synthetic: Path,
    base_block: int,
    book: Sequence[Any],
    at: int,
    progress: Callable[[str, int, int], None],
) -> Market:
    """The backtest's starting market on chain: same reserves, pairs, book and totals."""
    assets = tuple(replace(spec, heartbeat=FEED_HEARTBEAT) for spec in specs.values())
    pairs = (PairSpec("WETH", "USDC", 0), PairSpec("WETH", "DAI", 0))
    market = deploy_market(
        w3, deployer, assets=assets, pairs=pairs, liquidator_owner=bot.address, seed_liquidity=False
    )
    reserves, pair_rows = _base_rows(synthetic, base_block)
    if len(reserves) != 3 or len(pair_rows) != 2:
        raise ReenactError(f"{synthetic}: the backtest's base block has no market to copy")
    # The backtest's addresses are synthetic; map them by symbol.
    conn = sqlite3.connect(synthetic)
    try:
        symbol_of = dict(conn.execute("SELECT asset, symbol FROM assets").fetchall())
    finally:
        conn.close()
    supply = {symbol_of[r.asset]: r.state.total_scaled_supply for r in reserves}
    debt = {symbol_of[r.asset]: r.state.total_scaled_debt for r in reserves}
    book_supply: dict[str, int] = defaultdict(int)
    book_debt: dict[str, int] = defaultdict(int)
    for b in book:
        book_supply["WETH"] += b.collateral_weth
        book_debt[b.debt_symbol] += b.debt
    pool = market.pool
    dep = market.deployment
    pair_amounts: dict[str, int] = defaultdict(int)
    for p in pair_rows:
        pair_amounts[symbol_of[p.token0]] += p.reserve0
        pair_amounts[symbol_of[p.token1]] += p.reserve1
    for symbol in specs:
        token = market.token(symbol)
        # the pool's lenders, the pairs, and a stock for the arbitrageur's trades
        total = supply[symbol] + 3 * pair_amounts[symbol]
        transact(w3, token.functions.mint(deployer, total), deployer)
        transact(w3, token.functions.approve(pool.address, MAX_UINT), deployer)
        transact(w3, token.functions.approve(market.router.address, MAX_UINT), deployer)
        own = supply[symbol] - book_supply[symbol]
        if own > 0:
            transact(w3, pool.functions.supply(token.address, own, deployer, 0), deployer)
    for p in pair_rows:
        a, b = symbol_of[p.token0], symbol_of[p.token1]
        transact(
            w3,
            market.router.functions.addLiquidity(
                dep.token(a), dep.token(b), p.reserve0, p.reserve1, 0, 0, deployer, 2**40
            ),
            deployer,
        )
    # The book and the rest of each reserve's debt (the backtest's other borrowers, here the
    # deployer's) in as few blocks as the gas limit allows, the last one at the backtest's
    # base time: interest then runs from the same instant on the same totals in both runs.
    txs: list[TxParams] = []
    for borrower in book:
        user = Web3.to_checksum_address(borrower.user)
        node.call("anvil_impersonateAccount", user)
        node.call("anvil_setBalance", user, hex(NATIVE_UNIT))
        fn = pool.functions.supply(dep.token("WETH"), borrower.collateral_weth, user, 0)
        txs.append(fn.build_transaction({"from": deployer, "gas": SEED_GAS["supply"]}))
    for borrower in book:
        user = Web3.to_checksum_address(borrower.user)
        fn = pool.functions.borrow(dep.token(borrower.debt_symbol), borrower.debt, 2, 0, user)
        txs.append(fn.build_transaction({"from": user, "gas": SEED_GAS["borrow"]}))
    for symbol in specs:
        own = debt[symbol] - book_debt[symbol]
        if own > 0:
            fn = pool.functions.borrow(dep.token(symbol), own, 2, 0, deployer)
            txs.append(fn.build_transaction({"from": deployer, "gas": SEED_GAS["borrow"]}))
    _mine_batches(w3, node, txs, at, progress)
    for borrower in book:
        node.call("anvil_stopImpersonatingAccount", Web3.to_checksum_address(borrower.user))
    node.call("anvil_setBalance", bot.address, hex(1_000 * NATIVE_UNIT))
    return market


def _mine_batches(
    w3: Web3,
    node: _Node,
    txs: Sequence[TxParams],
    at: int,
    progress: Callable[[str, int, int], None],
) -> None:
    """Mine ``txs`` in order, as many per block as the gas limit holds, the last block at
    ``at`` (or as soon after the chain's head as timestamps allow); every one must succeed."""
    limit = int(w3.eth.get_block("latest")["gasLimit"]) * 9 // 10
    batches: list[list[TxParams]] = [[]]
    for tx in txs:
        if sum(int(t["gas"]) for t in batches[-1]) + int(tx["gas"]) > limit:
            batches.append([])
        batches[-1].append(tx)
    head = int(w3.eth.get_block("latest")["timestamp"])
    first = max(head + 1, at - len(batches) + 1)
    node.call("evm_setAutomine", False)
    try:
        done = 0
        for i, batch in enumerate(batches):
            hashes = [node.send(tx) for tx in batch]
            node.call("evm_mine", first + i)
            for tx_hash in hashes:
                receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                if receipt["status"] != 1:
                    raise ReenactError(f"seeding the book: transaction {tx_hash} reverted")
            done += len(batch)
            progress("opening the book's positions", done, len(txs))
    finally:
        node.call("evm_setAutomine", True)


class _Arbitrageur:
    """Pulls each pair to the oracle's price with one router swap (no tolerance), unmined:
    the model's :func:`~bot.model.amm.arbitrage_swap`, as the backtest's market applies it."""

    def __init__(self, chain: _Chain) -> None:
        self.chain = chain
        self.market = chain.market

    def align(self, prices: dict[str, int]) -> list[tuple[str, PairReserves]]:
        """Send the swaps; returns (pair, the reserves the model says it ends with)."""
        sent: list[tuple[str, PairReserves]] = []
        m = self.market
        for name in m.deployment.pairs:
            base, quote = name.split("/")
            pair = m.pair(base, quote)
            # After the bot's transactions already in the pool (they come first in the block):
            # the block ends with the pair at the oracle price, as the backtest assumes.
            r0, r1, _ = pair.functions.getReserves().call(block_identifier="pending")
            t0 = Web3.to_checksum_address(pair.functions.token0().call())
            t1 = m.deployment.token(quote if t0 == m.deployment.token(base) else base)
            s0, s1 = m.deployment.symbol_of(t0), m.deployment.symbol_of(t1)
            u0, u1 = 10 ** m.specs[s0].decimals, 10 ** m.specs[s1].decimals
            swap = arbitrage_swap(
                PairReserves(pair.address, t0, t1, r0, r1), prices[s0] * u1, prices[s1] * u0
            )
            if swap is None:
                continue
            token_out = t1 if swap.token_in == t0 else t0
            fn = m.router.functions.swapExactTokensForTokens(
                swap.amount_in, swap.amount_out, [swap.token_in, token_out], self.chain.deployer,
                2**40,
            )  # fmt: skip
            self.chain.node.send(
                fn.build_transaction({"from": self.chain.deployer, "gas": DRIVER_GAS["swap"]})
            )
            sent.append((name, swap.after))
        return sent

    def check(self, block: int, expected: Sequence[tuple[str, PairReserves]]) -> None:
        """Each pair ends ``block`` exactly where the model put it (the backtest's arbitrage)."""
        for name, after in expected:
            r0, r1, _ = (
                self.market.pair(*name.split("/"))
                .functions.getReserves()
                .call(block_identifier=block)
            )
            if (r0, r1) != (after.reserve0, after.reserve1):
                raise ReenactError(
                    f"block {block}: the {name} pair holds {r0}/{r1} after the arbitrage, the "
                    f"model says {after.reserve0}/{after.reserve1}; a transaction landed out of "
                    "order (is the node ordering transactions first in, first out?)"
                )


FILLER = Web3.to_checksum_address("0x" + keccak(b"liqbot-reenact-filler").hex()[-40:])
"""Sends the transaction that fills each block to its gas target (from an impersonated
account the replay funds); it calls :data:`BURNER`, whose code is a single INVALID opcode, so
it uses exactly the gas it is given."""
BURNER = Web3.to_checksum_address("0x" + keccak(b"liqbot-reenact-burner").hex()[-40:])


def _fill_to_target(chain: _Chain, base_fee: int) -> int:
    """Fill the pending block to half its gas limit (the EIP-1559 target), so that its base
    fee carries over unchanged: the live bot's next-base-fee prediction from the parent
    header then meets the fee the block really charges, as with the backtest's half-full
    headers. Returns the filler's gas (0 when the block is at or past its target already)."""
    pending = chain.node.call("eth_getBlockByNumber", "pending", False)
    room = int(pending["gasLimit"], 16) // 2 - int(pending["gasUsed"], 16)
    if room < 21_000:
        return 0
    chain.node.send(
        {
            "from": FILLER,
            "to": BURNER,
            "gas": room,
            "maxFeePerGas": Wei(base_fee),
            "maxPriorityFeePerGas": Wei(0),
        }
    )
    return room


def _publish(chain: _Chain, price: int) -> None:
    """Both WETH feeds publish ``price`` (the oracle's answer, 8 decimals), unmined."""
    m = chain.market
    for feed in (m.feed("WETH"), m.fallback_feed("WETH")):
        fn = feed.functions.updateAnswer(price)
        chain.node.send(fn.build_transaction({"from": chain.deployer, "gas": DRIVER_GAS["feed"]}))


# ----------------------------------------------------------------------------- the run


def reenact(
    price_csv: Path,
    config: BacktestConfig,
    out_dir: Path,
    *,
    rpc_url: str | None = None,
    profit_tolerance_usd: float = 1.0,
    progress: Callable[[str, int, int], None] = lambda what, done, total: None,
) -> ReenactResult:
    """Replay ``price_csv`` on a chain with the live bot and compare it with the backtest.

    Writes into ``out_dir``: ``reenact.json`` (the comparison), ``backtest.json`` and
    ``backtest.html`` (the prediction's own report), ``backtest.sqlite`` (its synthetic
    recording), ``chain.sqlite`` (the recorder's recording of the chain) and
    ``deployment.json``.
    """
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    pp = config.price_path
    points = load_price_path(price_csv, pp)
    schedule = price_path_blocks(points, config)
    specs = price_path_specs(points)
    book = synthetic_book(pp, points[0].price, specs)

    progress("backtest", 0, 1)
    synthetic = out_dir / "backtest.sqlite"
    prediction = run_price_path(price_csv, config, keep=synthetic)
    seconds = {"backtest": time.monotonic() - started}
    base_block = points[0].block - 1
    base_timestamp = points[0].timestamp - pp.block_time

    # Start the chain an hour before the path, so that the book is opened at the path's
    # base time and every block keeps the backtest's timestamp (on a node of yours they are
    # shifted by a constant: interest only sees differences).
    genesis = base_timestamp - 3_600
    with _anvil_or(rpc_url, genesis) as url:
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        node = _Node(w3)
        node.call("evm_setAutomine", True)
        deployer = w3.eth.accounts[0]
        bot = reenact_bot_account()
        chain_started = time.monotonic()
        progress("deploying the market", 0, 1)
        market = _build_market(
            w3, node, deployer, bot, specs, synthetic, base_block, book, base_timestamp, progress
        )
        market.deployment.save(out_dir / "deployment.json")
        chain = _Chain(w3, node, url, market, deployer, bot)
        seconds["setup"] = time.monotonic() - chain_started
        with tempfile.TemporaryDirectory(prefix="liqbot-reenact-") as tmp:
            loop, executor = _start_bot(chain, config, Path(tmp))
            try:
                replay_started = time.monotonic()
                block_map = _replay(
                    chain, loop, schedule, base_timestamp, int(pp.base_fee_gwei * GWEI), progress
                )
                seconds["replay"] = time.monotonic() - replay_started
                ledger = executor.ledger()
                unmined = len(executor.in_flight())
            finally:
                node.call("evm_setAutomine", True)
                executor.close()
        first, last = min(block_map), max(block_map)
        progress("recording the chain", 0, 1)
        recording = out_dir / "chain.sqlite"
        if recording.exists():
            recording.unlink()
        record_started = time.monotonic()
        record(
            RpcClient([url]),
            market.deployment,
            first,
            last,
            recording,
            checkpoint_every=max(1, last - first + 1),
            progress=False,
        )
        seconds["record"] = time.monotonic() - record_started
        live = _live_liquidations(chain, recording, block_map)
        reverted = sum(
            1 for e in ledger if e.kind == "liquidation" and e.outcome.startswith("reverted")
        )
        agreements, disagreements = compare(
            prediction,
            live,
            loop.reports,
            block_map,
            chain,
            ledger=[(e.tx_hash, e.outcome, e.detail) for e in ledger if e.kind == "liquidation"],
            tolerance_usd=profit_tolerance_usd,
            synthetic=synthetic,
        )
    seconds["total"] = time.monotonic() - started
    result = ReenactResult(
        source=str(price_csv),
        config=config,
        prediction=prediction,
        live=live,
        agreements=agreements,
        disagreements=disagreements,
        reverted=reverted,
        unmined=unmined,
        borrowers=len(book),
        blocks=len(schedule),
        first_chain_block=first,
        last_chain_block=last,
        block_map=block_map,
        recording=str(recording),
        seconds=seconds,
    )
    write_json(result, out_dir / "reenact.json")
    write_report(prediction, out_dir / "backtest.json", out_dir / "backtest.html")
    return result


def _start_bot(
    chain: _Chain, config: BacktestConfig, directory: Path
) -> tuple[LiquidationLoop, Executor]:
    """The live bot with the backtest's decision settings (gas table, bid, limits)."""
    dep = chain.market.deployment
    max_fee = config.max_fee_per_gas
    executor = Executor.open(
        chain.w3,
        ExecutorConfig(
            startup=StartupConfig(dep.chain_id, dep.pool, dep.oracle, dep.flash_liquidator),
            fees=FeePolicy(
                FeeCaps(max_fee_per_gas=max_fee, max_priority_fee_per_gas=max_fee),
                min_priority_fee_per_gas=config.min_priority_fee_per_gas,
            ),
            journal_path=directory / "journal.sqlite",
            confirmations=1,
            lock_dir=directory,
            max_in_flight=max(64, 2 * (config.max_per_block or 32)),
        ),
        Signer(chain.bot, "re-enactment key"),
        out=lambda line: None,
    )
    protocol = AavePoolAdapter.from_deployment(dep)
    watcher = Watcher(RpcClient([chain.url]), protocol, WatcherConfig())
    usdc = 10 ** dep.assets["USDC"].decimals
    strategy = Strategy(
        decision=DecisionConfig(
            min_profit=int(config.min_profit_usd * usdc),
            bid=BidPolicy(
                profit_share_bps=config.profit_share_bps,
                max_fee_per_gas=max_fee,
                min_priority_fee_per_gas=config.min_priority_fee_per_gas,
            ),
            paths=config.paths,
        ),
        numeraire_symbol="USDC",
        native_symbol=config.native_symbol,
        gas_table=GasTable(gas=dict(config.gas)),
        max_per_block=config.max_per_block,
    )
    loop = LiquidationLoop(chain.w3, watcher, protocol, executor, dep, strategy)
    loop.on_snapshot(watcher.sync())
    return loop, executor


def _replay(
    chain: _Chain,
    loop: LiquidationLoop,
    schedule: Sequence[PathBlock],
    base_timestamp: int,
    base_fee: int,
    progress: Callable[[str, int, int], None],
) -> dict[int, int]:
    """Mine the schedule's blocks one by one; the bot follows each. Chain block -> path block."""
    node = chain.node
    latest = chain.w3.eth.get_block("latest")
    offset = int(latest["timestamp"]) - base_timestamp
    fixed_fee = hex(base_fee)
    arbitrageur = _Arbitrageur(chain)
    prices = {"WETH": schedule[0].price, "USDC": BASE_UNIT, "DAI": BASE_UNIT}
    node.call("anvil_setCode", BURNER, "0xfe")
    node.call("anvil_setBalance", FILLER, hex(2**200))
    node.call("anvil_impersonateAccount", FILLER)
    node.call("evm_setAutomine", False)
    block_map: dict[int, int] = {}
    for i, block in enumerate(schedule):
        # The pending block gets its timestamp first: the filler sizes itself on the pending
        # block's gas, which (interest accrual) depends on it.
        node.call("evm_setNextBlockTimestamp", block.timestamp + offset)
        if block.new_price is not None:
            _publish(chain, block.new_price)
            prices["WETH"] = block.new_price
        swaps = arbitrageur.align(prices)
        node.call("anvil_setNextBlockBaseFeePerGas", fixed_fee)
        _fill_to_target(chain, base_fee)
        node.call("evm_mine")
        number = chain.w3.eth.block_number
        block_map[number] = block.number
        arbitrageur.check(number, swaps)
        if block.new_price is not None:
            _check_published(chain, number, block.new_price)
        for snapshot in loop.watcher.poll():
            loop.on_snapshot(snapshot)
        progress("replaying the price path", i + 1, len(schedule))
    return block_map


def _check_published(chain: _Chain, block: int, price: int) -> None:
    answer = chain.market.oracle.functions.getAssetPrice(chain.market.deployment.token("WETH"))
    got = int(answer.call(block_identifier=block))
    if got != price:
        raise ReenactError(
            f"block {block}: the oracle answers {got}, not the path's {price}; a driver "
            "transaction did not land (is the node ordering transactions first in, first out?)"
        )


# ----------------------------------------------------------------------------- reading back


def _live_liquidations(
    chain: _Chain, recording: Path, block_map: dict[int, int]
) -> list[LiveLiquidation]:
    """Every ``LiquidationCall`` of the recording, valued from its receipt."""
    m = chain.market
    dep = m.deployment
    conn = sqlite3.connect(recording)
    try:
        rows = conn.execute(
            "SELECT block_number, log_index, tx_hash, user, collateral_asset, debt_asset, "
            "debt_covered, collateral_to_liquidator, liquidator FROM liquidations "
            "ORDER BY block_number, log_index"
        ).fetchall()
        gas = {
            h: (g, p)
            for h, g, p in conn.execute(
                "SELECT hash, gas_used, effective_gas_price FROM transactions"
            )
        }
    finally:
        conn.close()
    ours = {chain.bot.address.lower(), dep.flash_liquidator.lower()}
    tokens = {a.token.lower(): s for s, a in dep.assets.items()}
    out = []
    for block, _log, tx_hash, user, collateral, debt, covered, seized, liquidator in rows:
        receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
        if tx_hash in gas:
            gas_used, price = gas[tx_hash]
        else:
            gas_used, price = int(receipt["gasUsed"]), int(receipt["effectiveGasPrice"])
        prices = _oracle_prices(m, block - 1)
        net: dict[str, int] = defaultdict(int)
        for entry in receipt["logs"]:
            topics = entry["topics"]
            token = str(entry["address"]).lower()
            if token not in tokens or len(topics) != 3 or bytes(topics[0]) != TRANSFER_TOPIC:
                continue
            sender = "0x" + bytes(topics[1])[-20:].hex()
            to = "0x" + bytes(topics[2])[-20:].hex()
            amount = int.from_bytes(bytes(entry["data"]), "big")
            if to in ours and sender not in ours:
                net[tokens[token]] += amount
            elif sender in ours and to not in ours:
                net[tokens[token]] -= amount
        gain = sum(
            amount * prices[s] / 10 ** dep.assets[s].decimals / BASE_UNIT
            for s, amount in net.items()
        )
        native = prices["WETH"]
        out.append(
            LiveLiquidation(
                chain_block=block,
                block=block_map.get(block, -1),
                tx_hash=tx_hash,
                user=Web3.to_checksum_address(user),
                liquidator=Web3.to_checksum_address(liquidator),
                collateral=dep.symbol_of(collateral),
                debt=dep.symbol_of(debt),
                debt_covered=int(covered),
                collateral_seized=int(seized),
                gas_used=gas_used,
                effective_gas_price=price,
                gain_usd=gain,
                gas_usd=gas_used * price * native / NATIVE_UNIT / BASE_UNIT,
                by_bot=liquidator.lower() in ours,
            )
        )
    return out


def _oracle_prices(market: Market, block: int) -> dict[str, int]:
    return {
        s: int(
            market.oracle.functions.getAssetPrice(market.deployment.token(s)).call(
                block_identifier=block
            )
        )
        for s in market.deployment.assets
    }


# ----------------------------------------------------------------------------- comparing


def compare(
    prediction: BacktestResult,
    live: Sequence[LiveLiquidation],
    reports: Sequence[BlockReport],
    block_map: dict[int, int],
    chain: _Chain,
    *,
    ledger: Sequence[tuple[str, str, str]] = (),
    tolerance_usd: float = 1.0,
    synthetic: Path | None = None,
) -> tuple[list[Agreement], list[Disagreement]]:
    """Match the bot's liquidations with the backtest's, one by one, per borrower.

    Same borrower and block: an agreement, unless the debt covered or the profit (beyond the
    gas difference plus ``tolerance_usd``) differ. What is left pairs up in block order as
    *timing*; the rest is *not_sent* or *unpredicted*, each with the reason found for it.
    """
    to_chain = {v: k for k, v in block_map.items()}
    reports_at = {r.block: r for r in reports}
    predicted: dict[str, list[BotLiquidation]] = defaultdict(list)
    for b in prediction.bot_liquidations:
        predicted[Web3.to_checksum_address(b.user)].append(b)
    done: dict[str, list[LiveLiquidation]] = defaultdict(list)
    for x in live:
        if x.by_bot:
            done[x.user].append(x)
    agreements: list[Agreement] = []
    disagreements: list[Disagreement] = []
    for user in sorted(set(predicted) | set(done)):
        ps = sorted(predicted[user], key=lambda b: b.block)
        ls = sorted(done[user], key=lambda x: x.block)
        for p in list(ps):
            same = next((x for x in ls if x.block == p.block), None)
            if same is None:
                continue
            ps.remove(p)
            ls.remove(same)
            gas_diff = abs(same.gas_usd - p.gas_usd)
            diff = same.profit_usd - p.profit_usd
            if not same_size(same.debt_covered, p.debt_covered):
                disagreements.append(
                    Disagreement(
                        "size", user, p.block, same.block,
                        f"debt covered {same.debt_covered} on chain, {p.debt_covered} predicted"
                        f" ({_pct(same.debt_covered, p.debt_covered)}); the flash size is the "
                        "most profitable one on the pair it meets: "
                        + _amm_note(same, p, live, prediction, chain, synthetic),
                        p.profit_usd, same.profit_usd,
                    )
                )  # fmt: skip
            elif abs(diff) > gas_diff + tolerance_usd:
                disagreements.append(
                    Disagreement(
                        "profit", user, p.block, same.block,
                        f"profit differs beyond gas by {abs(diff) - gas_diff:,.2f} USD "
                        f"(live {same.profit_usd:,.2f}, predicted {p.profit_usd:,.2f}, gas "
                        f"difference {gas_diff:,.2f}): "
                        + _amm_note(same, p, live, prediction, chain, synthetic),
                        p.profit_usd, same.profit_usd,
                    )
                )  # fmt: skip
            else:
                agreements.append(
                    Agreement(
                        user, p.block, p.debt_covered, p.profit_usd, same.profit_usd,
                        p.gas_usd, same.gas_usd,
                    )
                )  # fmt: skip
        # What is left pairs up nearest block first: the same liquidation, at another time.
        candidates = sorted(
            ((abs(p.block - x.block), i, k) for i, p in enumerate(ps) for k, x in enumerate(ls)),
        )
        used_p: set[int] = set()
        used_x: set[int] = set()
        for _distance, i, k in candidates:
            if i in used_p or k in used_x:
                continue
            used_p.add(i)
            used_x.add(k)
            p, x = ps[i], ls[k]
            why = _why_not_then(user, p.decided_block, to_chain, reports_at, chain)
            if why and x.block < p.block:
                earlier = _why_unpredicted(prediction, user, x, nearby=False) or _planned_note(
                    user, x, reports_at, prediction
                )
                why += f"; the bot went first: {earlier}" if earlier else ""
            disagreements.append(
                Disagreement(
                    "timing", user, p.block, x.block,
                    f"landed in block {x.block}, predicted {p.block} (at the predicted decision "
                    f"block the bot {why})" if why else "",
                    p.profit_usd, x.profit_usd,
                )
            )  # fmt: skip
        for i, p in enumerate(ps):
            if i in used_p:
                continue
            reason = _why_not_then(user, p.decided_block, to_chain, reports_at, chain, ledger)
            disagreements.append(
                Disagreement(
                    "reverted" if reason.startswith("sent it; it reverted") else "not_sent",
                    user, p.block, None, f"the bot {reason}" if reason else "", p.profit_usd,
                )
            )  # fmt: skip
        for k, x in enumerate(ls):
            if k in used_x:
                continue
            disagreements.append(
                Disagreement(
                    "unpredicted", user, None, x.block,
                    _why_unpredicted(prediction, user, x)
                    or _planned_note(user, x, reports_at, prediction),
                    None, x.profit_usd,
                )
            )  # fmt: skip
    return agreements, disagreements


SIZE_TOLERANCE = 100_000
"""Debt covered counts as the same within one part in this (10 ppm). Interest makes the two
runs drift by less: the backtest keeps each reserve's totals from its recording, so its own
liquidations do not lower utilisation and rates as the chain's do (about 0.1 ppm a day)."""


def same_size(live: int, predicted: int) -> bool:
    return abs(live - predicted) * SIZE_TOLERANCE <= max(live, predicted)


def _pct(a: int, b: int) -> str:
    return f"{(a - b) / b:+.4%}" if b else "n/a"


def _why_not_then(
    user: str,
    decided_block: int,
    to_chain: dict[int, int],
    reports_at: dict[int, BlockReport],
    chain: _Chain,
    ledger: Sequence[tuple[str, str, str]] = (),
) -> str:
    """What the live bot did with ``user`` at the backtest's decision block, in words."""
    block = to_chain.get(decided_block)
    report = reports_at.get(block) if block is not None else None
    if report is None:
        return ""
    key = user.lower()
    planned = [o for o in report.planned if o.user.lower() == key]
    left = [x for x in report.left if x.user.lower() == key]
    if planned:
        sent = [r for r in report.results if r.sent]
        for result in sent:
            for tx_hash, outcome, detail in ledger:
                if tx_hash and tx_hash == result.tx_hash and outcome.startswith("reverted"):
                    return f"sent it; it reverted on chain ({outcome}: {detail})"
        if left:
            return f"planned it but did not send it ({left[0].reason})"
        return "planned and sent it"
    if left:
        return f"left it alone ({left[0].reason})"
    data = chain.market.pool.functions.getUserAccountData(user).call(block_identifier=block)
    health = Decimal(data[5]) / WAD
    if data[5] >= WAD:
        return f"saw it healthy on chain (health factor {health:.6f})"
    return f"did not see it among liquidatable accounts (health factor {health:.6f})"


def _amm_note(
    x: LiveLiquidation,
    p: BotLiquidation,
    live: Sequence[LiveLiquidation],
    prediction: BacktestResult,
    chain: _Chain,
    synthetic: Path | None,
) -> str:
    """Why the flash swap met another AMM state: other liquidations through the same pair
    earlier in the block, or a pair of another depth (the chain's arbitrage pays fees)."""
    pair = {x.collateral, x.debt}
    before_live = [
        y.user
        for y in live
        if y.by_bot and y.chain_block == x.chain_block and {y.collateral, y.debt} == pair
    ]
    before_live = before_live[: before_live.index(x.user)] if x.user in before_live else []
    before_predicted = [
        b.user
        for b in prediction.bot_liquidations
        if b.block == p.block and {b.collateral, b.debt} == pair
    ]
    index = next((i for i, b in enumerate(before_predicted) if b.lower() == x.user.lower()), 0)
    before_predicted = before_predicted[:index]
    if [u.lower() for u in before_live] != [u.lower() for u in before_predicted]:
        return (
            f"other liquidations through the {'/'.join(sorted(pair))} pair came first in the "
            f"block ({len(before_live)} on chain, {len(before_predicted)} predicted)"
        )
    depth = _depth_ratio(chain, synthetic, x, p, prediction)
    if depth is None:
        return "the AMM state the flash swap met differs"
    swaps = [
        y
        for y in live
        if y.by_bot and y.chain_block < x.chain_block and {y.collateral, y.debt} == pair
    ]
    if reactive_amm(prediction.config, "price-path"):
        if depth == 1:
            return ""  # the same pair, the same liquidations ahead: nothing found
        return (
            f"the same liquidations came first, but the {'/'.join(sorted(pair))} pair was "
            f"{depth - 1:+.6%} deeper on chain than the backtest's own pair (which carries the "
            "bot's swaps and the arbitrage after each)"
        )
    if depth > 1 and swaps:
        return (
            f"the same liquidations came first; the {'/'.join(sorted(pair))} pair was "
            f"{depth - 1:+.4%} deeper on chain: the bot's {len(swaps)} earlier flash swaps "
            "through it, each traded back by the arbitrageur in its block, left their fees in "
            "the pair, and the backtest's pairs follow its recording, which does not carry the "
            "bot's own trades"
        )
    return ""  # same pair, same liquidations ahead: nothing found to explain it


def _depth_ratio(
    chain: _Chain,
    synthetic: Path | None,
    x: LiveLiquidation,
    p: BotLiquidation,
    prediction: BacktestResult | None = None,
) -> float | None:
    """sqrt(k) on chain over the backtest's, for the liquidation's pair before its block:
    the backtest's own pair as its first swap through it in the block met it (reactive
    AMM), else its recording's last ``Sync`` of the pair before the block. Exactly 1 when
    the products are equal."""
    name = next(
        (n for n in chain.market.deployment.pairs if set(n.split("/")) == {x.collateral, x.debt}),
        None,
    )
    if name is None:
        return None
    r0, r1, _ = (
        chain.market.pair(*name.split("/"))
        .functions.getReserves()
        .call(block_identifier=x.chain_block - 1)
    )
    if prediction is not None and reactive_amm(prediction.config, "price-path"):
        met = next(
            (
                b.pair_reserves
                for b in prediction.bot_liquidations
                if b.block == p.block
                and {b.collateral, b.debt} == {x.collateral, x.debt}
                and b.pair_reserves is not None
            ),
            None,
        )
        if met is None:
            return None
        if r0 * r1 == met[0] * met[1]:
            return 1.0
        return float((Decimal(r0) * Decimal(r1) / (Decimal(met[0]) * Decimal(met[1]))).sqrt())
    if synthetic is None:
        return None
    conn = sqlite3.connect(synthetic)
    try:
        symbols = dict(conn.execute("SELECT asset, symbol FROM assets").fetchall())
        rows = conn.execute(
            "SELECT pair, token0, token1, reserve0, reserve1 FROM pairs WHERE block_number < ? "
            "ORDER BY block_number DESC",
            (p.block,),
        ).fetchall()
        for address, t0, t1, s0, s1 in rows:
            if {symbols.get(t0), symbols.get(t1)} != {x.collateral, x.debt}:
                continue
            sync = conn.execute(
                "SELECT data FROM logs WHERE event = 'Sync' AND address = ? AND block_number < ? "
                "ORDER BY block_number DESC, log_index DESC LIMIT 1",
                (address, p.block),
            ).fetchone()
            if sync is not None:
                raw = bytes.fromhex(str(sync[0]).removeprefix("0x"))
                s0, s1 = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
            return float((Decimal(r0) * Decimal(r1) / (Decimal(s0) * Decimal(s1))).sqrt())
    finally:
        conn.close()
    return None


def _planned_note(
    user: str, x: LiveLiquidation, reports_at: dict[int, BlockReport], prediction: BacktestResult
) -> str:
    """What the bot expected when it decided a liquidation the backtest made later, and what
    the backtest planned in that block instead."""
    for block in (x.chain_block - 1, x.chain_block - 2):
        report = reports_at.get(block)
        if report is None:
            continue
        for opp in report.planned:
            if opp.user.lower() != user.lower():
                continue
            usdc = 10**6  # the loop's numeraire in a re-enactment
            decided = x.block - (x.chain_block - block)
            bt_fee = int(prediction.config.price_path.base_fee_gwei * GWEI)
            note = (
                f"it planned it in block {decided} expecting {opp.net_profit / usdc:,.2f} USD "
                f"after gas at a predicted base fee of {opp.base_fee / GWEI:.1f} gwei"
            )
            if opp.base_fee != bt_fee:
                return note + f"; the backtest predicts {bt_fee / GWEI:.1f} gwei there"
            taken = [b for b in prediction.bot_liquidations if b.decided_block == decided]
            limit = prediction.config.max_per_block
            if limit is not None and len(taken) >= limit:
                return note + (
                    f" (the backtest's too); the backtest's plan for that block was full "
                    f"({len(taken)} liquidations, max_per_block) with others it ranked higher, "
                    "on pairs without the bot's earlier trades"
                )
            return ""
    return ""


def _why_unpredicted(
    prediction: BacktestResult, user: str, x: LiveLiquidation, *, nearby: bool = True
) -> str:
    """What the backtest did with ``user`` around the block the bot liquidated it in."""
    key = user.lower()
    for f in prediction.failed_attempts:
        if f.user.lower() == key and abs(f.block - x.block) <= 2:
            return f"the backtest's attempt in block {f.block} failed: {f.reason} ({f.detail})"
    for m in prediction.missed:
        if m.user.lower() == key and m.first_block <= x.block <= m.last_block + 2:
            return f"the backtest left it: {m.reason} ({m.detail})"
    if nearby:
        own = [b for b in prediction.bot_liquidations if b.user.lower() == key]
        if own:
            b = min(own, key=lambda b: abs(b.block - x.block))
            return (
                f"the backtest liquidated this borrower in block {b.block} "
                f"({b.debt_covered} {b.debt} covered); the bot took it in one more liquidation "
                f"({x.debt_covered} {x.debt}) after sizes differed"
            )
    return ""


def write_json(result: ReenactResult, path: Path) -> Path:
    path.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")
    return path


CRASH_WINDOW = (12_461_000, 12_468_200)
"""2021-05-19 in mainnet blocks: ETH from 3,451 to 2,091 and back to 2,885 USD."""


def slice_price_csv(
    source: Path,
    out: Path,
    config: PricePathConfig,
    *,
    rows: int | None = None,
    every: int = 1,
) -> Path:
    """The CSV's rows inside ``config``'s window, every ``every``-th, at most ``rows`` of them,
    written to ``out`` with the same columns (what both runs then read)."""
    if every < 1:
        raise ReenactError("--every must be at least 1")
    if rows is not None and rows < 2:
        raise ReenactError("--rows must be at least 2 (a path needs two prices)")
    points = load_price_path(source, config)  # validates columns and the window
    keep = {p.block for p in points[::every][:rows]}
    with source.open(newline="") as handle, out.open("w", newline="") as target:
        reader = csv.DictReader(handle)
        writer = csv.DictWriter(target, fieldnames=[c for c in reader.fieldnames or [] if c])
        writer.writeheader()
        seen: set[int] = set()
        for row in reader:
            try:
                block = int(row[config.block_column])
            except (TypeError, ValueError):
                continue
            if block in keep and block not in seen:
                seen.add(block)
                writer.writerow({k: v for k, v in row.items() if k})
    return out


def default_window(source: Path, config: PricePathConfig) -> PricePathConfig:
    """The crash of 2021-05-19 when the CSV covers it and no window was asked for."""
    if config.from_block is not None or config.to_block is not None:
        return config
    crash = replace(config, from_block=CRASH_WINDOW[0], to_block=CRASH_WINDOW[1])
    try:
        load_price_path(source, crash)
    except ValueError:
        return config
    return crash


# ----------------------------------------------------------------------------- tables


def summary_table(result: ReenactResult) -> Table:
    """What the bot did on chain against what the backtest predicted, in one table."""
    j = result.as_json()["summary"]
    table = Table(title=f"Re-enactment of {Path(result.source).name} on anvil")
    table.add_column("", style="bold")
    table.add_column("live bot", justify="right")
    table.add_column("backtest", justify="right")
    table.add_row("borrowers / blocks", f"{result.borrowers:,}", f"{result.blocks:,}")
    table.add_row("liquidations", f"{j['bot_liquidations']:,}", f"{j['predicted_liquidations']:,}")
    table.add_row(
        "profit after gas (USD)",
        f"{j['live_profit_usd']:,.2f}",
        f"{j['predicted_profit_usd']:,.2f}",
    )
    table.add_row("gas (USD)", f"{j['live_gas_usd']:,.2f}", f"{j['predicted_gas_usd']:,.2f}")
    table.add_row("agreements", f"{j['agreements']:,}", "")
    kinds = ", ".join(f"{n} {k}" for k, n in j["disagreements_by_kind"].items()) or "none"
    table.add_row("disagreements", f"{j['disagreements']:,}", kinds)
    table.add_row("  unexplained", f"{j['unexplained']:,}", "")
    table.add_row("reverted on chain", f"{result.reverted:,}", "")
    table.add_row("pending after the last block", f"{result.unmined:,}", "")
    seconds = j["seconds"]
    table.add_row(
        "time (s)",
        f"{seconds.get('total', 0):.1f}",
        f"backtest {seconds.get('backtest', 0):.1f}, replay {seconds.get('replay', 0):.1f}",
    )
    return table


def disagreement_table(result: ReenactResult, limit: int = 60) -> Table:
    """Every disagreement (up to ``limit`` rows; the JSON report has them all)."""
    table = Table(title="Disagreements (the JSON report lists every one)")
    for column in ("kind", "borrower", "predicted", "live", "reason"):
        table.add_column(column, overflow="fold")
    for d in result.disagreements[:limit]:
        table.add_row(
            d.kind,
            d.user[:10] + "…",
            "" if d.predicted_block is None else str(d.predicted_block),
            "" if d.live_block is None else str(d.live_block),
            d.reason or "[red]unexplained[/red]",
        )
    if len(result.disagreements) > limit:
        table.add_row("…", f"{len(result.disagreements) - limit} more", "", "", "")
    return table


__all__ = [
    "KINDS",
    "Agreement",
    "Disagreement",
    "LiveLiquidation",
    "ReenactError",
    "ReenactResult",
    "compare",
    "default_window",
    "disagreement_table",
    "price_csv_from_recording",
    "reenact",
    "slice_price_csv",
    "summary_table",
    "write_json",
]
