"""Drive a bundled market on a chain you control: price paths, arbitrage, a competitor.

Used by ``liqbot demo`` (eth-tester), ``liqbot scenario`` (anvil) and the tests. The
"market" here is everything that is not the bot: oracles that move, arbitrageurs who pull
AMM prices after them, and a rival liquidator.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from eth_typing import ChecksumAddress
from web3 import Web3

from bot.chain.contracts import transact
from bot.chain.reverts import is_revert
from bot.deploy.market import MAX_UINT, Market
from bot.model.amm import arbitrage_swap
from bot.model.types import PairReserves

ALIGN_TOLERANCE_BPS = 20
"""Pairs whose price is within 0.2% of the oracle's are left alone (about 0.1% off in each
reserve): not worth an arbitrageur's gas."""


@dataclass(frozen=True, slots=True)
class PriceStep:
    """New oracle prices (USD) for some assets, ``seconds`` after the previous step."""

    prices: dict[str, Decimal]
    seconds: int = 3600


CRASH: tuple[PriceStep, ...] = (
    PriceStep({"WETH": Decimal("2850"), "WBTC": Decimal("57000")}, 3600),
    PriceStep({"WETH": Decimal("2650"), "WBTC": Decimal("54000")}, 3600),
    PriceStep({"WETH": Decimal("2450"), "WBTC": Decimal("50500")}, 3600),
    PriceStep({"WETH": Decimal("2250"), "WBTC": Decimal("47000")}, 3600),
    PriceStep({"WETH": Decimal("2050"), "WBTC": Decimal("43000")}, 3600),
    PriceStep({"WETH": Decimal("1850"), "WBTC": Decimal("40000")}, 3600),
    PriceStep({"WETH": Decimal("1800"), "WBTC": Decimal("39000")}, 86_400),
)
"""A 40% fall of ETH and 35% of BTC over six hours, then a day of interest."""


def price_steps_from_csv(path: Path, symbol: str = "WETH", every: int = 1) -> list[PriceStep]:
    """A price path from a CSV with a timestamp column and a price column.

    Column names are matched loosely (``timestamp``/``time``/``ts`` and
    ``price``/``eth_usd``/``value``/``answer``) so that recorded oracle dumps load as they are.
    """
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path} has no rows")
    columns = {c.lower(): c for c in rows[0]}
    time_col = next(
        (columns[c] for c in ("timestamp", "time", "ts", "updated_at") if c in columns), None
    )
    price_col = next(
        (columns[c] for c in ("price", "eth_usd", "value", "answer", "price_usd") if c in columns),
        None,
    )
    if time_col is None or price_col is None:
        raise ValueError(
            f"{path}: need a timestamp column and a price column, found {list(rows[0])}"
        )
    steps: list[PriceStep] = []
    previous: int | None = None
    for row in rows[::every]:
        stamp = int(float(row[time_col]))
        price = Decimal(row[price_col])
        gap = 0 if previous is None else max(1, stamp - previous)
        steps.append(PriceStep({symbol: price}, gap))
        previous = stamp
    return steps


class MarketDriver:
    """Moves a deployed market. ``operator`` owns the feeds and the tokens (the deployer)."""

    def __init__(self, market: Market, operator: ChecksumAddress) -> None:
        self.market = market
        self.operator = operator
        self.prices: dict[str, Decimal] = {s: spec.price_usd for s, spec in market.specs.items()}
        self._approved: set[tuple[str, str]] = set()

    def set_prices(self, prices: dict[str, Decimal]) -> None:
        for symbol, price in prices.items():
            self.market.set_price(symbol, price, self.operator)
            self.prices[symbol] = price

    def arbitrage(self) -> None:
        """Trade every AMM pair back to the oracle's price (the arbitrageurs of a real market)."""
        for name in self.market.deployment.pairs:
            base, quote = name.split("/")
            self._align(base, quote)

    def _align(self, base: str, quote: str) -> None:
        """One router swap to the oracle's price (the model's :func:`arbitrage_swap`, the
        same trade the backtest's market and the re-enactment make), unless the pair's price
        is within :data:`ALIGN_TOLERANCE_BPS` of it already."""
        m = self.market
        pair = m.pair(base, quote)
        r0, r1, _ = pair.functions.getReserves().call()
        t0 = Web3.to_checksum_address(pair.functions.token0().call())
        s0, s1 = (base, quote) if t0 == m.deployment.token(base) else (quote, base)
        if r0 == 0 or r1 == 0:
            return
        u0, u1 = 10 ** m.specs[s0].decimals, 10 ** m.specs[s1].decimals
        # USD prices at the oracle's 8 decimals (whatever each feed's own decimals)
        p0, p1 = int(self.prices[s0] * 10**8), int(self.prices[s1] * 10**8)
        swap = arbitrage_swap(
            PairReserves(pair.address, t0, m.deployment.token(s1), r0, r1),
            p0 * u1,
            p1 * u0,
            tolerance_bps=ALIGN_TOLERANCE_BPS,
        )
        if swap is None:
            return
        sell, buy = (s0, s1) if swap.token_in == t0 else (s1, s0)
        self._swap(sell, buy, swap.amount_in)

    def _swap(self, sell: str, buy: str, amount_in: int) -> None:
        m = self.market
        token = m.token(sell)
        transact(m.w3, token.functions.mint(self.operator, amount_in), self.operator)
        key = (sell, m.router.address)
        if key not in self._approved:
            transact(m.w3, token.functions.approve(m.router.address, MAX_UINT), self.operator)
            self._approved.add(key)
        transact(
            m.w3,
            m.router.functions.swapExactTokensForTokens(
                amount_in,
                0,
                [m.deployment.token(sell), m.deployment.token(buy)],
                self.operator,
                2**40,
            ),
            self.operator,
        )

    def steps(self, path: Sequence[PriceStep], advance: bool = True) -> Iterator[PriceStep]:
        """Apply each step (time, prices, arbitrage); yields after each so the caller can act."""
        for step in path:
            if advance and step.seconds:
                advance_time(self.market, step.seconds)
            # Feeds post on a heartbeat even when the price holds, as Chainlink's do.
            self.set_prices({**self.prices, **step.prices})
            self.arbitrage()
            yield step


def advance_time(market: Market, seconds: int) -> None:
    """Move the chain's clock forward: anvil's evm_increaseTime or eth-tester's time travel."""
    w3 = market.w3
    provider = w3.provider
    tester = getattr(provider, "ethereum_tester", None)
    if tester is not None:
        latest = w3.eth.get_block("latest")
        tester.time_travel(int(latest["timestamp"]) + seconds)
        return
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


class Competitor:
    """A rival liquidator that repays from its own inventory with direct liquidationCalls."""

    def __init__(self, market: Market, account: ChecksumAddress, operator: ChecksumAddress) -> None:
        self.market = market
        self.account = account
        self.operator = operator
        self.liquidations = 0

    def fund(self, usd_per_asset: int = 2_000_000) -> None:
        m = self.market
        for symbol, spec in m.specs.items():
            amount = int(Decimal(usd_per_asset) / spec.price_usd * 10**spec.decimals)
            transact(m.w3, m.token(symbol).functions.mint(self.account, amount), self.operator)
            transact(
                m.w3, m.token(symbol).functions.approve(m.pool.address, MAX_UINT), self.account
            )

    def liquidate(self, user: str, collateral: str, debt: str) -> bool:
        """Half the debt (the close factor's share) of ``user``; False if it would revert."""
        m = self.market
        fn = m.pool.functions.liquidationCall(
            m.deployment.token(collateral), m.deployment.token(debt), user, MAX_UINT, False
        )
        try:
            fn.call({"from": self.account})
        except Exception as exc:
            if is_revert(exc):
                return False
            raise
        transact(m.w3, fn, self.account)
        self.liquidations += 1
        return True
