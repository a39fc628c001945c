"""Shared deployment and reference math for the LendingPool tests.

A ``Market`` is a LendingPool with three tokens of 6, 8 and 18 decimals priced by the real
PriceOracle over PriceFeeds. The reference functions below recompute PROTOCOL.md from the
raw on-chain state in plain Python, independently of the contract, so that tests can compare
the pool's answers with an exact expectation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bot.chain.contracts import deploy_contract, transact
from bot.chain.embedded import EmbeddedChain, embedded_chain

RAY = 10**27
WAD = 10**18
PCT = 10_000
SECONDS_PER_YEAR = 365 * 24 * 3600
MAX_UINT = 2**256 - 1
VARIABLE = 2
HUNDRED_YEARS = 100 * SECONDS_PER_YEAR
# Explicit gas skips eth_estimateGas, which re-executes each transaction a dozen times.
TX_GAS = 3_000_000
DEPLOY_GAS = 8_000_000


# --------------------------------------------------------------------------- reference math


def ray_mul(a: int, b: int) -> int:
    return (a * b + RAY // 2) // RAY


def ray_div(a: int, b: int) -> int:
    return (a * RAY + b // 2) // b


def wad_div(a: int, b: int) -> int:
    return (a * WAD + b // 2) // b


def pct_mul(v: int, p: int) -> int:
    return (v * p + PCT // 2) // PCT


def pct_div(v: int, p: int) -> int:
    return (v * PCT + p // 2) // p


def ceil_div(a: int, b: int) -> int:
    return (a + b - 1) // b


def compounded(rate: int, dt: int) -> int:
    if dt == 0:
        return RAY
    a = dt - 1
    b = dt - 2 if dt > 2 else 0
    p2 = ray_mul(rate, rate) // (SECONDS_PER_YEAR**2)
    p3 = ray_mul(p2, rate) // SECONDS_PER_YEAR
    return RAY + rate * dt // SECONDS_PER_YEAR + dt * a * p2 // 2 + dt * a * b * p3 // 6


def rates(debt: int, cash: int, base: int, s1: int, s2: int, opt: int, rf: int) -> tuple[int, int]:
    """(liquidityRate, variableBorrowRate)."""
    u = 0 if debt == 0 else ray_div(debt, cash + debt)
    if u <= opt:
        br = base + ray_mul(s1, ray_div(u, opt))
    else:
        br = base + s1 + ray_mul(s2, ray_div(u - opt, RAY - opt))
    return pct_mul(ray_mul(br, u), PCT - rf), br


@dataclass(frozen=True)
class Reserve:
    """``getReserveData`` decoded by field name."""

    decimals: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    liquidation_protocol_fee: int
    reserve_factor: int
    borrowing_enabled: bool
    base_rate: int
    slope1: int
    slope2: int
    optimal_utilization: int
    liquidity_index: int
    variable_borrow_index: int
    liquidity_rate: int
    variable_borrow_rate: int
    last_update_timestamp: int
    total_scaled_supply: int
    total_scaled_debt: int
    cash: int

    def income(self, ts: int) -> int:
        dt = ts - self.last_update_timestamp
        if dt == 0:
            return self.liquidity_index
        return ray_mul(RAY + self.liquidity_rate * dt // SECONDS_PER_YEAR, self.liquidity_index)

    def debt_index(self, ts: int) -> int:
        dt = ts - self.last_update_timestamp
        if dt == 0:
            return self.variable_borrow_index
        return ray_mul(compounded(self.variable_borrow_rate, dt), self.variable_borrow_index)

    def expected_rates(self) -> tuple[int, int]:
        debt = ray_mul(self.total_scaled_debt, self.variable_borrow_index)
        return rates(
            debt,
            self.cash,
            self.base_rate,
            self.slope1,
            self.slope2,
            self.optimal_utilization,
            self.reserve_factor,
        )


@dataclass(frozen=True)
class AccountData:
    total_collateral: int
    total_debt: int
    available_borrows: int
    liquidation_threshold: int
    ltv: int
    health_factor: int


def account_from(rows: list[tuple[Reserve, tuple[int, int, bool], int]], ts: int) -> AccountData:
    """PROTOCOL.md "Account data" from (reserve, (scaledSupply, scaledDebt, flag), price)
    rows in reserve-list order, evaluated at time ``ts``."""
    total_c = total_d = ltv_sum = lt_sum = 0
    for r, (scaled_supply, scaled_debt, flag), price in rows:
        unit = 10**r.decimals
        if flag and scaled_supply > 0 and r.liquidation_threshold != 0:
            c = ray_mul(scaled_supply, r.income(ts)) * price // unit
            total_c += c
            ltv_sum += c * r.ltv
            lt_sum += c * r.liquidation_threshold
        if scaled_debt:
            total_d += ceil_div(ray_mul(scaled_debt, r.debt_index(ts)) * price, unit)
    ltv = ltv_sum // total_c if total_c else 0
    lt = lt_sum // total_c if total_c else 0
    hf = MAX_UINT if total_d == 0 else wad_div(pct_mul(total_c, lt), total_d)
    available = max(0, pct_mul(total_c, ltv) - total_d)
    return AccountData(total_c, total_d, available, lt, ltv, hf)


# --------------------------------------------------------------------------- market


@dataclass(frozen=True)
class AssetSpec:
    symbol: str
    decimals: int
    price: int  # USD, 8 decimals
    ltv: int
    lt: int
    bonus: int
    fee: int
    reserve_factor: int
    base: int
    slope1: int
    slope2: int
    optimal: int


DEFAULT_ASSETS = (
    AssetSpec(
        "USDC",
        6,
        1_00000000,
        7700,
        8000,
        10450,
        1000,
        1000,
        0,
        4 * RAY // 100,
        60 * RAY // 100,
        90 * RAY // 100,
    ),
    AssetSpec(
        "WBTC",
        8,
        60_000_00000000,
        7000,
        7500,
        10650,
        1000,
        2000,
        0,
        4 * RAY // 100,
        300 * RAY // 100,
        45 * RAY // 100,
    ),
    AssetSpec(
        "WETH",
        18,
        3_000_00000000,
        8000,
        8250,
        10500,
        1000,
        1500,
        RAY // 100,
        33 * RAY // 1000,
        80 * RAY // 100,
        80 * RAY // 100,
    ),
)


@dataclass
class Market:
    w3: Web3
    pool: Contract
    oracle: Contract
    owner: ChecksumAddress
    treasury: ChecksumAddress
    tokens: dict[str, Contract]
    feeds: dict[str, Contract]
    specs: dict[str, AssetSpec]
    chain: EmbeddedChain | None = None
    users: list[ChecksumAddress] = field(default_factory=list)

    # ---- addresses and units
    def addr(self, symbol: str) -> ChecksumAddress:
        address: ChecksumAddress = self.tokens[symbol].address
        return address

    def unit(self, symbol: str) -> int:
        return int(10 ** self.specs[symbol].decimals)

    def symbol_of(self, asset: str) -> str:
        for symbol, token in self.tokens.items():
            if token.address == asset:
                return symbol
        raise KeyError(asset)

    # ---- actions (every one a transaction that must succeed)
    def tx(self, fn: Any, sender: ChecksumAddress) -> TxReceipt:
        return transact(self.w3, fn, sender, gas=TX_GAS)

    def set_price(self, symbol: str, price: int) -> TxReceipt:
        return self.tx(self.feeds[symbol].functions.updateAnswer(price), self.owner)

    def fund(self, user: ChecksumAddress, symbol: str, amount: int) -> None:
        token = self.tokens[symbol]
        self.tx(token.functions.mint(user, amount), self.owner)
        self.tx(token.functions.approve(self.pool.address, MAX_UINT), user)

    def supply(
        self, user: ChecksumAddress, symbol: str, amount: int, *, fund: bool = True
    ) -> TxReceipt:
        if fund:
            self.fund(user, symbol, amount)
        return self.tx(self.pool.functions.supply(self.addr(symbol), amount, user, 0), user)

    def borrow(self, user: ChecksumAddress, symbol: str, amount: int) -> TxReceipt:
        return self.tx(
            self.pool.functions.borrow(self.addr(symbol), amount, VARIABLE, 0, user), user
        )

    def repay(
        self, user: ChecksumAddress, symbol: str, amount: int, on_behalf: str = ""
    ) -> TxReceipt:
        target = on_behalf or user
        return self.tx(self.pool.functions.repay(self.addr(symbol), amount, VARIABLE, target), user)

    def withdraw(self, user: ChecksumAddress, symbol: str, amount: int) -> TxReceipt:
        return self.tx(self.pool.functions.withdraw(self.addr(symbol), amount, user), user)

    def liquidate(
        self,
        liquidator: ChecksumAddress,
        collateral: str,
        debt: str,
        user: str,
        amount: int,
        receive_a_token: bool = False,
    ) -> TxReceipt:
        fn = self.pool.functions.liquidationCall(
            self.addr(collateral), self.addr(debt), user, amount, receive_a_token
        )
        return self.tx(fn, liquidator)

    def advance(self, seconds: int) -> None:
        """Move the clock ``seconds`` forward and mine a block (eth-tester or anvil)."""
        if self.chain is not None:
            self.chain.advance_time(seconds)
            self.chain.mine()
        else:
            self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    # ---- reads
    def reserve(self, symbol: str, block: Any = "latest") -> Reserve:
        raw = self.pool.functions.getReserveData(self.addr(symbol)).call(block_identifier=block)
        return Reserve(*raw)

    def user_reserve(self, symbol: str, user: str, block: Any = "latest") -> tuple[int, int, bool]:
        fn = self.pool.functions.getUserReserveData(self.addr(symbol), user)
        scaled_supply, scaled_debt, flag = fn.call(block_identifier=block)
        return scaled_supply, scaled_debt, flag

    def supplied(self, symbol: str, user: str) -> int:
        """Current underlying supply balance (as the pool would compute it now)."""
        income = self.pool.functions.getReserveNormalizedIncome(self.addr(symbol)).call()
        return ray_mul(self.user_reserve(symbol, user)[0], income)

    def owed(self, symbol: str, user: str) -> int:
        index = self.pool.functions.getReserveNormalizedVariableDebt(self.addr(symbol)).call()
        return ray_mul(self.user_reserve(symbol, user)[1], index)

    def account(self, user: str, block: Any = "latest") -> AccountData:
        return AccountData(
            *self.pool.functions.getUserAccountData(user).call(block_identifier=block)
        )

    def balance(self, symbol: str, who: str) -> int:
        value: int = self.tokens[symbol].functions.balanceOf(who).call()
        return value

    def price(self, symbol: str) -> int:
        value: int = self.oracle.functions.getAssetPrice(self.addr(symbol)).call()
        return value

    def timestamp(self, block: Any = "latest") -> int:
        return int(self.w3.eth.get_block(block)["timestamp"])

    def expected_account(
        self, user: str, block: Any = "latest", ts: int | None = None
    ) -> AccountData:
        """PROTOCOL.md "Account data", recomputed in Python from raw state at ``block``.

        ``ts`` is the time the pool would evaluate at (default: that block's timestamp).
        """
        if ts is None:
            ts = self.timestamp(block)
        rows = []
        for symbol in self.tokens:
            r = self.reserve(symbol, block)
            position = self.user_reserve(symbol, user, block)
            needs_price = (position[0] and position[2] and r.liquidation_threshold) or position[1]
            price = (
                self.oracle.functions.getAssetPrice(self.addr(symbol)).call(block_identifier=block)
                if needs_price
                else 0
            )
            rows.append((r, position, price))
        return account_from(rows, ts)

    def events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        event = getattr(self.pool.events, name)()
        return [dict(log["args"]) for log in event.process_receipt(receipt, errors=DISCARD)]


def deploy_market(
    w3: Web3,
    *,
    assets: tuple[AssetSpec, ...] = DEFAULT_ASSETS,
    heartbeat: int = HUNDRED_YEARS,
    chain: EmbeddedChain | None = None,
) -> Market:
    accounts: list[ChecksumAddress] = list(w3.eth.accounts)
    owner, treasury = accounts[0], accounts[1]
    oracle = deploy_contract(w3, "PriceOracle", sender=owner, gas=DEPLOY_GAS)
    pool = deploy_contract(
        w3, "LendingPool", oracle.address, treasury, sender=owner, gas=DEPLOY_GAS
    )
    tokens: dict[str, Contract] = {}
    feeds: dict[str, Contract] = {}
    for spec in assets:
        token = deploy_contract(
            w3, "TestToken", spec.symbol, spec.symbol, spec.decimals, sender=owner, gas=DEPLOY_GAS
        )
        feed = deploy_contract(
            w3,
            "PriceFeed",
            8,
            f"{spec.symbol} / USD",
            spec.price,
            1,
            10**20,
            sender=owner,
            gas=DEPLOY_GAS,
        )
        transact(
            w3,
            oracle.functions.setAssetSource(
                token.address, feed.address, heartbeat, "0x" + "00" * 20, 0, 0
            ),
            owner,
            gas=TX_GAS,
        )
        transact(
            w3,
            pool.functions.initReserve(
                token.address,
                spec.ltv,
                spec.lt,
                spec.bonus,
                spec.fee,
                spec.reserve_factor,
                spec.base,
                spec.slope1,
                spec.slope2,
                spec.optimal,
            ),
            owner,
            gas=TX_GAS,
        )
        tokens[spec.symbol] = token
        feeds[spec.symbol] = feed
    return Market(
        w3=w3,
        pool=pool,
        oracle=oracle,
        owner=owner,
        treasury=treasury,
        tokens=tokens,
        feeds=feeds,
        specs={s.symbol: s for s in assets},
        chain=chain,
        users=list(accounts[2:]),
    )


def module_market(**kwargs: Any) -> Iterator[Market]:
    """Body of a module-scoped fixture: one embedded chain and one market per module."""
    chain = embedded_chain()
    yield deploy_market(chain.w3, chain=chain, **kwargs)


def isolated(market: Market) -> Iterator[Market]:
    """Body of a function-scoped fixture: run the test inside a snapshot of the market."""
    assert market.chain is not None
    snapshot = market.chain.snapshot()
    try:
        yield market
    finally:
        market.chain.revert(snapshot)


@dataclass(frozen=True)
class Liquidation:
    health_factor: int
    user_collateral: int
    user_debt: int
    actual_debt: int
    collateral_amount: int
    debt_covered: int
    protocol_fee: int
    to_liquidator: int
    liquidity_index: int
    borrow_index: int


def expected_liquidation(
    m: Market, collateral: str, debt: str, user: str, debt_to_cover: int, receipt: TxReceipt
) -> Liquidation:
    """PROTOCOL.md "Liquidation" steps 2-5 for the liquidation mined in ``receipt``,
    recomputed from the state of the block before it at the liquidation's timestamp."""
    block = receipt["blockNumber"] - 1
    ts = m.timestamp(receipt["blockNumber"])
    hf = m.expected_account(user, block, ts).health_factor
    cr, dr = m.reserve(collateral, block), m.reserve(debt, block)
    li, bi = cr.income(ts), dr.debt_index(ts)
    user_collateral = ray_mul(m.user_reserve(collateral, user, block)[0], li)
    user_debt = ray_mul(m.user_reserve(debt, user, block)[1], bi)
    close_factor = 5000 if hf > 95 * WAD // 100 else PCT
    actual = min(debt_to_cover, pct_mul(user_debt, close_factor))
    cp = m.oracle.functions.getAssetPrice(m.addr(collateral)).call(block_identifier=block)
    dp = m.oracle.functions.getAssetPrice(m.addr(debt)).call(block_identifier=block)
    cu, du = 10**cr.decimals, 10**dr.decimals
    max_collateral = pct_mul(dp * actual * cu // (cp * du), cr.liquidation_bonus)
    if max_collateral > user_collateral:
        amount = user_collateral
        covered = pct_div(cp * amount * du // (dp * cu), cr.liquidation_bonus)
    else:
        amount, covered = max_collateral, actual
    bonus_part = amount - pct_div(amount, cr.liquidation_bonus)
    fee = pct_mul(bonus_part, cr.liquidation_protocol_fee)
    return Liquidation(
        health_factor=hf,
        user_collateral=user_collateral,
        user_debt=user_debt,
        actual_debt=actual,
        collateral_amount=amount,
        debt_covered=covered,
        protocol_fee=fee,
        to_liquidator=amount - fee,
        liquidity_index=li,
        borrow_index=bi,
    )
