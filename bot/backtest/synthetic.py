"""Write a recording of a market simulated with the model, no chain involved.

Used by the price-path mode (a real price series, a documented synthetic book) and by the
speed benchmark (100,000 blocks, 10,000 accounts). The file is an ordinary recording
(:mod:`bot.record.schema`): logs are ABI-encoded exactly as the bundled pool, feeds and
pairs emit them, so the backtest reads it through the same adapter and book as a recording
taken from a node. Every pool action is computed by the model (interest accrual, rates,
``liquidate`` with its bad-debt write-off), so the events and state reads agree.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from bot.chain.artifacts import abi_of
from bot.chain.rpc import LogEntry, checksum_address
from bot.deploy.market import DEFAULT_ASSETS, AssetSpec
from bot.model.amm import arbitrage_swap
from bot.model.fixed_point import ray_div, ray_mul
from bot.model.gas import next_base_fee
from bot.model.health import AccountData, account_data
from bot.model.interest import update_rates, update_state
from bot.model.liquidation import LiquidationOutcome, liquidate
from bot.model.types import (
    Account,
    InterestRateStrategy,
    MarketState,
    PairReserves,
    Reserve,
    ReserveConfig,
    ReserveState,
    UserReserve,
)
from bot.protocols.base import AbiEvent, FeedInfo, MarketLayout, PairInfo, PriceStatus
from bot.record import schema
from bot.record.schema import (
    RecordedBadDebt,
    RecordedBlock,
    RecordedLiquidation,
    RecordedTransaction,
)

_POOL = abi_of("LendingPool")
_FEED = abi_of("PriceFeed")
_PAIR = abi_of("AmmPair")
USER_RESERVE_UPDATED = AbiEvent.from_abi(_POOL, "UserReserveUpdated")
RESERVE_DATA_UPDATED = AbiEvent.from_abi(_POOL, "ReserveDataUpdated")
LIQUIDATION_CALL = AbiEvent.from_abi(_POOL, "LiquidationCall")
BAD_DEBT = AbiEvent.from_abi(_POOL, "BadDebtWrittenOff")
ANSWER_UPDATED = AbiEvent.from_abi(_FEED, "AnswerUpdated")
SYNC = AbiEvent.from_abi(_PAIR, "Sync")
FEED_HEARTBEAT = 10 * 365 * 86_400
"""Synthetic feeds never go stale: staleness is not what these runs are about."""


def address(label: str) -> str:
    """A deterministic address for a synthetic contract or account."""
    return checksum_address("0x" + keccak(b"liqbot synthetic " + label.encode())[-20:].hex())


def _word(kind: str, value: Any) -> bytes:
    return abi_encode([kind], [value])


def encode_log(
    event: AbiEvent,
    emitter: str,
    values: Mapping[str, Any],
    *,
    block: int,
    log_index: int,
    tx_hash: str,
    block_hash: str = "",
) -> LogEntry:
    """The log the contract would emit for ``values`` (indexed ones become topics)."""
    topics = (event.topic0, *(_word(kind, values[name]) for name, kind in event.indexed))
    data = abi_encode([kind for _, kind in event.data], [values[name] for name, _ in event.data])
    return LogEntry(emitter, topics, data, block, block_hash, log_index, tx_hash)


def _hash(*parts: object) -> str:
    return "0x" + keccak("/".join(str(p) for p in parts).encode()).hex()


@dataclass(frozen=True)
class SyntheticPair:
    base: str
    quote: str
    depth_usd: int
    """Value of each side at the starting prices."""


class SyntheticRecording:
    """A market driven by code, written as a recording. Call :meth:`open_account` for the
    book, :meth:`begin` before the first block, then per block :meth:`block` followed by
    actions, and :meth:`close` at the end."""

    def __init__(
        self,
        path: Path,
        assets: Sequence[AssetSpec],
        pairs: Sequence[SyntheticPair],
        *,
        prices: Mapping[str, int],
        base_block: int,
        base_timestamp: int,
        kind: str = "synthetic",
        checkpoint_every: int = 0,
        utilization_bps: Mapping[str, int] | None = None,
        extra_meta: Mapping[str, Any] | None = None,
    ) -> None:
        if path.exists():
            path.unlink()
        self.path = path
        self.conn = schema.connect(path, create=True)
        self.conn.execute("PRAGMA synchronous=OFF")
        self.kind = kind
        self.checkpoint_every = checkpoint_every
        self.base_block = base_block
        self.pool = address("pool")
        self.oracle = address("oracle")
        self.treasury = address("treasury")
        self.specs = {a.symbol: a for a in assets}
        self.tokens = {a.symbol: address("token " + a.symbol) for a in assets}
        self.feeds = {a.symbol: address("feed " + a.symbol) for a in assets}
        self.symbols = {t: s for s, t in self.tokens.items()}
        self.rounds = dict.fromkeys(self.tokens, 1)
        self.feed_times = {f: base_timestamp for f in self.feeds.values()}
        reserves = []
        utilization = utilization_bps or {}
        self._utilization = dict(utilization)
        for spec in assets:
            config = ReserveConfig(
                self.tokens[spec.symbol],
                spec.decimals,
                spec.ltv,
                spec.liquidation_threshold,
                spec.liquidation_bonus,
                spec.protocol_fee,
                spec.reserve_factor,
                InterestRateStrategy(
                    spec.base_rate, spec.slope1, spec.slope2, spec.optimal_utilization
                ),
            )
            # Supply and debt sized for the requested utilisation: they set the rates.
            price = prices[spec.symbol]
            supply = spec.pool_liquidity_usd * 10**8 * 10**spec.decimals // price
            u = utilization.get(spec.symbol, 5_000)
            debt = supply * u // 10_000
            state = ReserveState(
                last_update_timestamp=base_timestamp,
                total_scaled_supply=supply,
                total_scaled_debt=debt,
                cash=supply - debt,
            )
            reserves.append(update_rates(Reserve(config, state)))
        self.market = MarketState(
            tuple(reserves),
            {self.tokens[s]: prices[s] for s in self.specs},
            treasury=self.treasury,
        )
        self.pairs: dict[str, PairReserves] = {}
        self.pair_info: list[PairInfo] = []
        for p in pairs:
            a, b = self.tokens[p.base], self.tokens[p.quote]
            token0, token1 = sorted((a, b), key=lambda t: int(t, 16))
            pair_address = address(f"pair {p.base}/{p.quote}")
            r = {
                s: p.depth_usd * 10**8 * 10 ** self.specs[s].decimals // prices[s]
                for s in (p.base, p.quote)
            }
            self.pairs[pair_address] = PairReserves(
                pair_address, token0, token1, r[self.symbols[token0]], r[self.symbols[token1]]
            )
            self.pair_info.append(PairInfo(pair_address, token0, token1))
        self.layout = MarketLayout(
            assets=tuple(self.tokens.values()),
            symbols={t: s for t, s in self.symbols.items()},
            feeds={self.tokens[s]: (FeedInfo(self.feeds[s], FEED_HEARTBEAT),) for s in self.specs},
            pairs=tuple(self.pair_info),
            treasury=self.treasury,
        )
        self.accounts: dict[str, Account] = {}
        self.touched: set[str] = set()
        self.header = RecordedBlock(
            base_block, _hash("block", base_block), _hash("block", base_block - 1),
            base_timestamp, 0, 15_000_000, 30_000_000,
        )  # fmt: skip
        self._logs: list[LogEntry] = []
        self._blocks: list[RecordedBlock] = []
        self._reserve_rows: dict[tuple[int, str], Reserve] = {}
        self._price_rows: list[tuple[int, PriceStatus]] = []
        self._feed_rows: list[tuple[int, str, int]] = []
        self._liquidations: list[RecordedLiquidation] = []
        self._bad_debt: list[RecordedBadDebt] = []
        self._txs: list[RecordedTransaction] = []
        self._log_index = 0
        self._tx_index = 0
        self._began = False
        schema.write_meta(
            self.conn,
            {
                "source": kind,
                "protocol": "aave-pool",
                "chain_id": "0",
                "pool": self.pool,
                "base_block": str(base_block),
                "first_block": str(base_block + 1),
                "checkpoint_every": str(checkpoint_every),
                "adapter": json.dumps(
                    {
                        "kind": "aave-pool",
                        "pool": self.pool,
                        "multicall": address("multicall"),
                        "oracle": self.oracle,
                        "pairs": [[p.address, p.token0, p.token1] for p in self.pair_info],
                        "flash_liquidator": address("liquidator"),
                        "deployment_block": 0,
                    },
                    sort_keys=True,
                ),
                "recorder": "liqbot synthetic",
                **{
                    k: v if isinstance(v, str) else json.dumps(v)
                    for k, v in (extra_meta or {}).items()
                },
            },
        )

    # ------------------------------------------------------------------ state

    def token(self, symbol: str) -> str:
        return self.tokens[symbol]

    def price(self, symbol: str) -> int:
        return self.market.price(self.tokens[symbol])

    def reserve(self, symbol: str) -> Reserve:
        return self.market.reserve(self.tokens[symbol])

    def account_data(self, user: str) -> AccountData:
        return account_data(self.market, self.accounts[user], self.header.timestamp)

    @property
    def timestamp(self) -> int:
        return self.header.timestamp

    # ------------------------------------------------------------------ the book

    def open_account(
        self, user: str, supplies: Mapping[str, int], debts: Mapping[str, int]
    ) -> None:
        """A borrower in the base state (token units); indexes are those of the base block."""
        if self._began:
            raise RuntimeError("open accounts before the first block")
        positions = []
        for symbol in dict.fromkeys([*supplies, *debts]):
            reserve = self.reserve(symbol)
            scaled_supply = ray_div(supplies.get(symbol, 0), reserve.state.liquidity_index)
            scaled_debt = ray_div(debts.get(symbol, 0), reserve.state.variable_borrow_index)
            positions.append(
                UserReserve(self.tokens[symbol], scaled_supply, scaled_debt, scaled_supply > 0)
            )
            st = reserve.state
            state = replace(
                st,
                total_scaled_supply=st.total_scaled_supply + scaled_supply,
                total_scaled_debt=st.total_scaled_debt + scaled_debt,
                cash=st.cash + supplies.get(symbol, 0) - debts.get(symbol, 0),
            )
            self.market = self.market.with_reserve(replace(reserve, state=state))
        self.accounts[user] = Account(user, tuple(positions))

    def begin(self) -> None:
        """Write the base block: layout, market, every account (the base checkpoint)."""
        self._began = True
        n = self.base_block
        conn = self.conn
        for reserve in self.market.reserves:
            # Lenders top the reserve up to the target utilisation (the book borrowed it).
            st = reserve.state
            debt = ray_mul(st.total_scaled_debt, st.variable_borrow_index)
            target = self._utilization.get(self.symbols[reserve.asset], 5_000)
            needed = debt * 10_000 // target - debt - st.cash if target else 0
            if needed > 0:
                st = replace(
                    st,
                    cash=st.cash + needed,
                    total_scaled_supply=st.total_scaled_supply
                    + ray_div(needed, st.liquidity_index),
                )
            self.market = self.market.with_reserve(update_rates(replace(reserve, state=st)))
        schema.insert_blocks(conn, [self.header])
        schema.insert_layout(conn, n, self.layout, oracle=self.oracle)
        self._market_rows(n, "checkpoint")
        self._checkpoint(n, "base", self.accounts)
        self.touched = set()

    def _market_rows(self, n: int, reason: str) -> None:
        conn = self.conn
        schema.insert_reserves(conn, n, self.market.reserves, reason)
        schema.insert_prices(
            conn,
            n,
            [
                PriceStatus(a, p, True, True, False, self.timestamp)
                for a, p in self.market.prices.items()
            ],
            reason,
        )
        schema.insert_feeds(conn, n, self.feed_times)
        schema.insert_pairs(conn, n, self.pairs.values())
        schema.insert_paused(conn, n, False)

    def _checkpoint(self, n: int, kind: str, users: Iterable[str]) -> None:
        rows: dict[str, tuple[Account | None, AccountData | None]] = {}
        for user in users:
            account = self.accounts[user]
            rows[user] = (account, account_data(self.market, account, self.timestamp))
        schema.insert_checkpoint(self.conn, n, self.timestamp, kind, rows)

    # ------------------------------------------------------------------ blocks

    def block(self, number: int, timestamp: int, base_fee: int, gas_used: int = 15_000_000) -> None:
        """Start block ``number`` (the previous one is finished)."""
        if not self._began:
            self.begin()
        self._end_block()
        self.header = RecordedBlock(
            number, _hash("block", number), self.header.hash, timestamp, base_fee, gas_used,
            30_000_000,
        )  # fmt: skip
        self._blocks.append(self.header)
        self._log_index = 0
        self._tx_index = 0

    def _end_block(self) -> None:
        n = self.header.number
        if n == self.base_block:
            return
        if self.checkpoint_every and (n - self.base_block) % self.checkpoint_every == 0:
            self._flush()
            self._market_rows(n, "checkpoint")
            self._checkpoint(n, "periodic", sorted(self.touched))
            self.touched = set()
        if len(self._blocks) >= 5_000:
            self._flush()

    def _tx(self) -> str:
        self._tx_index += 1
        return _hash("tx", self.header.number, self._tx_index)

    def _emit(self, event: AbiEvent, emitter: str, tx: str, **values: Any) -> None:
        self._logs.append(
            encode_log(
                event,
                emitter,
                values,
                block=self.header.number,
                log_index=self._log_index,
                tx_hash=tx,
                block_hash=self.header.hash,
            )
        )
        self._log_index += 1

    def _reserve_changed(self, reserve: Reserve, tx: str) -> None:
        s = reserve.state
        self._emit(
            RESERVE_DATA_UPDATED,
            self.pool,
            tx,
            reserve=reserve.asset,
            liquidityRate=s.liquidity_rate,
            stableBorrowRate=0,
            variableBorrowRate=s.variable_borrow_rate,
            liquidityIndex=s.liquidity_index,
            variableBorrowIndex=s.variable_borrow_index,
        )
        self._reserve_rows[(self.header.number, reserve.asset)] = reserve

    def _position_changed(self, user: str, position: UserReserve, tx: str) -> None:
        self._emit(
            USER_RESERVE_UPDATED,
            self.pool,
            tx,
            reserve=position.asset,
            user=user,
            scaledSupply=position.scaled_supply,
            scaledDebt=position.scaled_debt,
            usingAsCollateral=position.using_as_collateral,
        )
        self.touched.add(user)

    # ------------------------------------------------------------------ actions

    def set_price(self, symbol: str, price: int) -> None:
        """A feed publishes (``AnswerUpdated``); the oracle's price follows."""
        asset = self.tokens[symbol]
        self.market = self.market.with_prices({asset: price})
        tx = self._tx()
        self.rounds[symbol] += 1
        self._emit(
            ANSWER_UPDATED,
            self.feeds[symbol],
            tx,
            current=price,
            roundId=self.rounds[symbol],
            updatedAt=self.timestamp,
        )
        self._price_rows.append(
            (self.header.number, PriceStatus(asset, price, True, True, False, self.timestamp))
        )
        self._feed_rows.append((self.header.number, self.feeds[symbol], self.timestamp))
        self.feed_times[self.feeds[symbol]] = self.timestamp

    def arbitrage(self) -> None:
        """Every pair traded back to the oracle's relative price by one router swap that pays
        the pair's fee (:func:`~bot.model.amm.arbitrage_swap`, the same swap the
        re-enactment's arbitrageur sends on chain); the pair's ``Sync`` follows."""
        prices = self.market.prices
        for address_, pair in list(self.pairs.items()):
            u0 = 10 ** self.specs[self.symbols[pair.token0]].decimals
            u1 = 10 ** self.specs[self.symbols[pair.token1]].decimals
            swap = arbitrage_swap(pair, prices[pair.token0] * u1, prices[pair.token1] * u0)
            if swap is None:
                continue
            self.pairs[address_] = after = swap.after
            self._emit(SYNC, address_, self._tx(), reserve0=after.reserve0, reserve1=after.reserve1)

    def _accrued(self, asset: str) -> Reserve:
        reserve = self.market.reserve(asset)
        return replace(reserve, state=update_state(reserve.state, self.timestamp))

    def change_debt(self, user: str, symbol: str, amount: int) -> None:
        """Borrow (``amount`` > 0) or repay (< 0) token units, as the pool would."""
        asset = self.tokens[symbol]
        tx = self._tx()
        reserve = self._accrued(asset)
        s = reserve.state
        account = self.accounts[user]
        position = account.position(asset)
        delta = ray_div(abs(amount), s.variable_borrow_index)
        if amount < 0:
            delta = -min(delta, position.scaled_debt)
        cash = s.cash - ray_mul(delta, s.variable_borrow_index)
        reserve = update_rates(
            replace(
                reserve,
                state=replace(s, total_scaled_debt=s.total_scaled_debt + delta, cash=max(cash, 0)),
            )
        )
        self.market = self.market.with_reserve(reserve)
        position = replace(position, scaled_debt=position.scaled_debt + delta)
        self.accounts[user] = account.with_position(position)
        self._reserve_changed(reserve, tx)
        self._position_changed(user, position, tx)

    def liquidate(
        self,
        user: str,
        collateral: str,
        debt: str,
        debt_to_cover: int,
        *,
        liquidator: str,
        gas_used: int,
        gas_price: int,
    ) -> LiquidationOutcome:
        """A competitor's ``liquidationCall`` (symbols), with its receipt."""
        c, d = self.tokens[collateral], self.tokens[debt]
        outcome = liquidate(self.market, self.accounts[user], c, d, debt_to_cover, self.timestamp)
        tx = self._tx()
        self.market = outcome.market
        self.accounts[user] = outcome.account
        written = {w.asset for w in outcome.bad_debt}
        for asset in dict.fromkeys([c, d, *written]):
            self._reserve_changed(self.market.reserve(asset), tx)
            self._position_changed(user, outcome.account.position(asset), tx)
        for w in outcome.bad_debt:
            index = self._log_index
            self._emit(
                BAD_DEBT, self.pool, tx, user=user, reserve=w.asset, amount=w.loss,
                newLiquidityIndex=w.new_liquidity_index,
            )  # fmt: skip
            self._bad_debt.append(
                RecordedBadDebt(
                    self.header.number, index, tx, user, w.asset, w.loss, w.new_liquidity_index
                )
            )
        index = self._log_index
        self._emit(
            LIQUIDATION_CALL,
            self.pool,
            tx,
            collateralAsset=c,
            debtAsset=d,
            user=user,
            debtToCover=outcome.debt_covered,
            liquidatedCollateralAmount=outcome.to_liquidator,
            liquidator=liquidator,
            receiveAToken=False,
        )
        self._liquidations.append(
            RecordedLiquidation(
                self.header.number, index, tx, user, c, d, outcome.debt_covered,
                outcome.to_liquidator, liquidator, False,
            )
        )  # fmt: skip
        self._txs.append(
            RecordedTransaction(
                tx, self.header.number, self._tx_index, liquidator, liquidator, gas_used,
                gas_price, 1,
            )
        )  # fmt: skip
        return outcome

    # ------------------------------------------------------------------ writing

    def _flush(self) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        schema.insert_blocks(conn, self._blocks)
        schema.insert_logs(conn, self._logs)
        rows: dict[int, list[Reserve]] = {}
        for (n, _), reserve in self._reserve_rows.items():
            rows.setdefault(n, []).append(reserve)
        for n, reserves in rows.items():
            schema.insert_reserves(conn, n, reserves, "event")
        for n, status in self._price_rows:
            schema.insert_prices(conn, n, [status], "event")
        for n, feed, t in self._feed_rows:
            schema.insert_feeds(conn, n, {feed: t})
        schema.insert_liquidations(conn, self._liquidations)
        schema.insert_bad_debt(conn, self._bad_debt)
        schema.insert_transactions(conn, self._txs)
        conn.execute("COMMIT")
        self._blocks, self._logs, self._price_rows, self._feed_rows = [], [], [], []
        self._reserve_rows = {}
        self._liquidations, self._bad_debt, self._txs = [], [], []

    def close(self) -> Path:
        """Finish the last block and the file; returns its path."""
        if not self._began:
            self.begin()
        self._end_block()
        self._flush()
        last = self.header.number
        schema.write_meta(
            self.conn,
            {"last_block": str(last), "recorded_through": str(last), "complete": "1"},
        )
        self.conn.close()
        return self.path


def prices_of(specs: Iterable[AssetSpec]) -> dict[str, int]:
    """The specs' prices in the oracle's 8 decimals."""
    return {s.symbol: int(s.price_usd * 10**8) for s in specs}


# ----------------------------------------------------------------------------- a busy market

BLOCK_TIME = 12
GWEI = 10**9
BASE = 10**8
PAIRS = (
    SyntheticPair("WETH", "USDC", 60_000_000),
    SyntheticPair("WBTC", "USDC", 30_000_000),
    SyntheticPair("WETH", "DAI", 30_000_000),
    SyntheticPair("WBTC", "WETH", 30_000_000),
    SyntheticPair("DAI", "USDC", 30_000_000),
)
COLLATERALS = (("WETH",), ("WETH",), ("WBTC",), ("WETH", "WBTC"))
DEBTS = {("WETH",): ("USDC", "DAI"), ("WBTC",): ("USDC", "WETH"), ("WETH", "WBTC"): ("USDC",)}
COMPETITOR = address("competitor")


def busy_market(
    path: Path, *, blocks: int, accounts: int, seed: int = 7, checkpoint_every: int = 1_000
) -> dict[str, int]:
    """A busy market over ``blocks`` blocks with ``accounts`` borrowers, written at ``path``
    (see :mod:`scripts.backtest_speed` for what happens in it); returns counts of what it
    holds. Reproducible from ``seed``."""
    rng = random.Random(seed)
    specs = {s.symbol: s for s in DEFAULT_ASSETS}
    prices = {s: int(spec.price_usd * BASE) for s, spec in specs.items()}
    base_block = 15_000_000
    rec = SyntheticRecording(
        path,
        list(specs.values()),
        PAIRS,
        prices=prices,
        base_block=base_block,
        base_timestamp=1_660_000_000,
        checkpoint_every=checkpoint_every,
        utilization_bps={"USDC": 7_000, "DAI": 6_500, "WETH": 3_000, "WBTC": 2_000},
        extra_meta={"benchmark": {"blocks": blocks, "accounts": accounts, "seed": seed}},
    )
    users = [address(f"borrower {i}") for i in range(accounts)]
    debt_of: dict[str, str] = {}
    for user in users:
        collaterals = rng.choice(COLLATERALS)
        debt_symbol = rng.choice(DEBTS[collaterals])
        total = 10 ** rng.uniform(3, 6.3)  # USD, log-uniform from 1k to 2M
        weights = [rng.uniform(0.3, 1.0) for _ in collaterals]
        supplies: dict[str, int] = {}
        threshold_usd = 0.0
        for symbol, weight in zip(collaterals, weights, strict=True):
            usd = total * weight / sum(weights)
            supplies[symbol] = int(usd * BASE) * 10 ** specs[symbol].decimals // prices[symbol]
            threshold_usd += usd * specs[symbol].liquidation_threshold / 10_000
        health = math.exp(rng.uniform(math.log(1.08), math.log(3.0)))
        max_debt = sum(
            total * w / sum(weights) * specs[s].ltv / 10_000
            for s, w in zip(collaterals, weights, strict=True)
        )
        debt_usd = min(threshold_usd / health, max_debt * 0.995)
        amount = int(debt_usd * BASE) * 10 ** specs[debt_symbol].decimals // prices[debt_symbol]
        rec.open_account(user, supplies, {debt_symbol: amount})
        debt_of[user] = debt_symbol
    rec.begin()

    market_price = {"WETH": float(prices["WETH"]), "WBTC": float(prices["WBTC"])}
    published = dict(market_price)
    last_publish = dict.fromkeys(market_price, 0)
    vol = {"WETH": 0.04 / math.sqrt(7200), "WBTC": 0.035 / math.sqrt(7200)}
    crash_start, crash_len = blocks * 2 // 5, 600
    crash = {"WETH": 0.65, "WBTC": 0.70}
    recovery_len = 7200
    base_fee = 20 * GWEI
    timestamp = 1_660_000_000
    candidates: set[str] = set(users)
    due: dict[int, list[str]] = {}
    queued: set[str] = set()
    counts = {"liquidations": 0, "actions": 0, "price_updates": 0}
    for i in range(1, blocks + 1):
        number = base_block + i
        timestamp += BLOCK_TIME
        gas_used = int(min(30_000_000, max(0, rng.gauss(15_000_000, 6_000_000))))
        rec.block(number, timestamp, base_fee, gas_used)
        base_fee = next_base_fee(base_fee, gas_used, 30_000_000)
        # prices: random walk, plus the crash and half a recovery
        moved: list[str] = []
        for symbol in market_price:
            drift = 0.0
            if crash_start <= i < crash_start + crash_len:
                drift = math.log(crash[symbol]) / crash_len
            elif crash_start + crash_len <= i < crash_start + crash_len + recovery_len:
                drift = -0.5 * math.log(crash[symbol]) / recovery_len
            market_price[symbol] *= math.exp(drift + rng.gauss(0, vol[symbol]))
            deviation = abs(market_price[symbol] / published[symbol] - 1)
            if deviation >= 0.005 or i - last_publish[symbol] >= 300:
                published[symbol] = market_price[symbol]
                last_publish[symbol] = i
                rec.set_price(symbol, int(market_price[symbol]))
                counts["price_updates"] += 1
                moved.append(symbol)
        if moved:
            rec.arbitrage()
        # borrowers
        if rng.random() < 0.5:
            user = rng.choice(users)
            data = rec.account_data(user)
            symbol = debt_of[user]
            debt = rec.accounts[user].position(rec.token(symbol)).scaled_debt
            if debt and data.health_factor < 10**18 * 11 // 10:
                rec.change_debt(user, symbol, -(debt // rng.randint(5, 20)))
            elif debt and data.health_factor > 10**18 * 13 // 10:
                rec.change_debt(user, symbol, debt // rng.randint(20, 60))
            candidates.add(user)
            counts["actions"] += 1
        # the competitor looks at the accounts near the line after every price update, and
        # at everything every 2,000 blocks
        if moved or i % 2_000 == 0:
            pool = users if i % 2_000 == 0 else sorted(candidates)
            near: set[str] = set()
            for user in pool:
                if user in queued:
                    continue
                hf = rec.account_data(user).health_factor
                if hf < 10**18:
                    delay = rng.choice((1, 1, 2, 3))
                    due.setdefault(i + delay, []).append(user)
                    queued.add(user)
                if hf < 10**18 * 125 // 100:
                    near.add(user)
            candidates = near | (candidates if i % 2_000 else set())
        for user in due.pop(i, []):
            queued.discard(user)
            counts["liquidations"] += _competitor(rec, rng, user, base_fee)
    rec.close()
    return counts


def _competitor(rec: SyntheticRecording, rng: random.Random, user: str, base_fee: int) -> int:
    """The competitor's liquidation of ``user``, if it pays for its gas; 1 if it happened."""
    account = rec.accounts[user]
    data = account_data(rec.market, account, rec.timestamp)
    if not data.liquidatable:
        return 0
    symbols = {t: s for s, t in rec.tokens.items()}
    collateral = max(
        (p for p in account.positions if p.scaled_supply and p.using_as_collateral),
        key=lambda p: (
            p.scaled_supply
            * rec.market.price(p.asset)
            // 10 ** rec.specs[symbols[p.asset]].decimals
        ),
        default=None,
    )
    debt = max(
        (p for p in account.positions if p.scaled_debt), key=lambda p: p.scaled_debt, default=None
    )
    if collateral is None or debt is None:
        return 0
    tip = rng.randint(1, 60) * GWEI
    gas = 350_000
    gas_usd = gas * (base_fee + tip) * rec.price("WETH") / 10**18 / BASE
    bonus_usd = data.total_debt_base / BASE * 0.5 * 0.04  # roughly half the debt at ~4% net
    if bonus_usd < gas_usd:
        return 0  # dust: not worth the competitor's gas
    rec.liquidate(
        user,
        symbols[collateral.asset],
        symbols[debt.asset],
        2**256 - 1,
        liquidator=COMPETITOR,
        gas_used=gas,
        gas_price=base_fee + tip,
    )
    return 1
