"""Reference math for contracts/AUCTIONS.md and a shared auction deployment for the tests.

The functions below recompute AUCTIONS.md in plain Python, independently of the contracts,
so that tests compare the chain's answers with exact expectations. ``Env`` wraps one
deployment (market + auction market) on eth-tester or anvil with the helpers the tests use;
the eth-tester one is deployed once per process and every test runs inside a snapshot.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bot.chain.contracts import transact
from bot.chain.embedded import embedded_chain
from bot.deploy.auctions import AuctionMarket, deploy_auction_market, ilk_id
from bot.deploy.market import MAX_UINT, deploy_market
from bot.model.auction import (  # the model's exact arithmetic, shared with the contracts' tests
    RAY,
    WAD,
    ceil_div,
    collateral_price,
    rdiv,
    rmul,
    rpow,
    wmul,
)

TX_GAS = 1_500_000
DEPLOY_GAS = 8_000_000
"""Explicit gas skips eth_estimateGas, which re-executes each transaction many times."""
WETH, WBTC = "WETH-A", "WBTC-A"

# --------------------------------------------------------------------------- reference math


def linear_price(top: int, elapsed: int, duration: int) -> int:
    if elapsed >= duration:
        return 0
    return rmul(top, (duration - elapsed) * RAY // duration)


def stairstep_price(top: int, elapsed: int, step: int, cut: int) -> int:
    return rmul(top, rpow(cut, elapsed // step))


def next_rate(rate: int, fee: int, elapsed: int) -> int:
    """``drip``/``currentRate``: the rate ``elapsed`` seconds after the last drip."""
    return rate if elapsed == 0 else rmul(rpow(fee, elapsed), rate)


def spot_of(oracle_price: int, decimals: int, liquidation_ratio: int) -> int:
    return rdiv(collateral_price(oracle_price, decimals), liquidation_ratio)


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    fee_in = amount_in * 997
    return fee_in * reserve_out // (reserve_in * 1000 + fee_in)


@dataclass(frozen=True)
class BarkQuote:
    taken: int
    lot: int
    due: int
    tab: int
    reward: int


class ModelRevert(Exception):
    """The model predicts a revert with this reason."""


def bark_quote(
    *,
    collateral: int,
    normalized: int,
    rate: int,
    dust: int,
    room: int,
    penalty: int,
    tip: int,
    chip: int,
) -> BarkQuote:
    """AUCTIONS.md "Liquidation", steps 3-8."""
    if room == 0 or room < dust:
        raise ModelRevert("LiquidationLimitHit")
    taken = min(normalized, room * WAD * RAY // rate // penalty)
    if normalized > taken:
        if (normalized - taken) * rate < dust * RAY:
            taken = normalized
        elif taken * rate < dust * RAY:
            raise ModelRevert("DustyAuctionFromPartialLiquidation")
    lot = collateral * taken // normalized
    if lot == 0:
        raise ModelRevert("NullAuction")
    due = taken * rate
    tab = ceil_div(due * penalty, WAD * RAY)
    return BarkQuote(taken, lot, due, tab, tip + wmul(tab, chip))


@dataclass(frozen=True)
class TakeQuote:
    slice: int
    owe: int
    tab: int  # left after the take
    lot: int  # left after the take


def take_quote(*, tab: int, lot: int, price: int, amount: int, dust_tab: int) -> TakeQuote:
    """AUCTIONS.md "Dutch auction", take steps 2-4."""
    slice_ = min(lot, amount)
    owe = ceil_div(slice_ * price, RAY)
    if owe > tab:
        owe = tab
        slice_ = owe * RAY // price
    elif owe < tab and slice_ < lot and tab - owe < dust_tab:
        if tab <= dust_tab:
            raise ModelRevert("NoPartialPurchase")
        owe = tab - dust_tab
        slice_ = owe * RAY // price
    return TakeQuote(slice_, owe, tab - owe, lot - slice_)


# --------------------------------------------------------------------------- chains


class ChainControl(Protocol):
    """Snapshots and time. ``set_next_timestamp(ts)`` mines a block at ``ts - 1`` (so views,
    which run at the latest block, see ``ts - 1``) and makes ``ts`` the next block's time."""

    def snapshot(self) -> Any: ...

    def revert(self, snapshot_id: Any) -> None: ...

    def set_next_timestamp(self, timestamp: int) -> None: ...


class TesterControl:
    def __init__(self, chain: Any) -> None:
        self.chain = chain

    def snapshot(self) -> Any:
        return self.chain.snapshot()

    def revert(self, snapshot_id: Any) -> None:
        self.chain.revert(snapshot_id)

    def set_next_timestamp(self, timestamp: int) -> None:
        self.chain.tester.time_travel(timestamp)  # mines a block at timestamp - 1


class AnvilControl:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def _rpc(self, method: str, params: list[Any]) -> Any:
        reply = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def snapshot(self) -> Any:
        return self._rpc("evm_snapshot", [])

    def revert(self, snapshot_id: Any) -> None:
        assert self._rpc("evm_revert", [snapshot_id])

    def set_next_timestamp(self, timestamp: int) -> None:
        self._rpc("evm_setNextBlockTimestamp", [timestamp - 1])
        self._rpc("evm_mine", [])
        self._rpc("evm_setNextBlockTimestamp", [timestamp])


# --------------------------------------------------------------------------- environment


@dataclass
class Env:
    """A market and an auction market on one chain, with the accounts tests play."""

    w3: Web3
    control: ChainControl
    am: AuctionMarket
    deployer: ChecksumAddress
    bot: ChecksumAddress  # owns the AuctionTaker
    users: list[ChecksumAddress] = field(default_factory=list)

    # ---------------------------------------------------------------- contracts

    @property
    def engine(self) -> Contract:
        return self.am.engine

    @property
    def liquidator(self) -> Contract:
        return self.am.liquidator

    @property
    def stable(self) -> Contract:
        return self.am.stablecoin

    @property
    def taker(self) -> Contract:
        return self.am.taker

    def dutch(self, ilk: str) -> Contract:
        return self.am.dutch(ilk)

    def english(self, ilk: str) -> Contract:
        return self.am.english(ilk)

    def token(self, ilk: str) -> Contract:
        return self.am.collateral(ilk)

    # ---------------------------------------------------------------- transactions

    def send(self, fn: Any, sender: ChecksumAddress, gas: int = TX_GAS) -> TxReceipt:
        return transact(self.w3, fn, sender, gas=gas)

    def timestamp(self, receipt: TxReceipt) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def events(self, receipt: TxReceipt, contract: Contract, name: str) -> list[Any]:
        return [e["args"] for e in contract.events[name]().process_receipt(receipt, DISCARD)]

    def set_next_timestamp(self, timestamp: int) -> None:
        self.control.set_next_timestamp(timestamp)

    def advance(self, seconds: int, *, refresh_prices: bool = True) -> None:
        """Move the clock; re-push the collateral prices so the oracle is not stale."""
        prices = {ilk: self.oracle_price(ilk) for ilk in (WETH, WBTC)}
        self.set_next_timestamp(self.now() + seconds)
        if refresh_prices:
            for ilk, price in prices.items():
                self.set_price(ilk, price)

    def oracle_price(self, ilk: str) -> int:
        return self.am.oracle_price(ilk)

    def set_price(self, ilk: str, price: int) -> None:
        """Set a collateral's USD price (8 decimals) on both of its feeds."""
        symbol = self.am.deployment.ilks[ilk].symbol
        market = self.am.market
        for feed in (market.feed(symbol), market.fallback_feed(symbol)):
            self.send(feed.functions.updateAnswer(price), self.deployer, gas=200_000)

    def scale_price(self, ilk: str, factor: Decimal | str) -> int:
        price = int(self.oracle_price(ilk) * Decimal(factor))
        self.set_price(ilk, price)
        return price

    def mint_collateral(self, ilk: str, to: ChecksumAddress, amount: int) -> None:
        self.send(self.token(ilk).functions.mint(to, amount), self.deployer)

    def open_vault(self, owner: ChecksumAddress, ilk: str, collateral: int, debt: int) -> None:
        """Mint ``collateral`` to ``owner``, deposit it and draw ``debt`` (if any)."""
        self.mint_collateral(ilk, owner, collateral)
        self.send(self.token(ilk).functions.approve(self.engine.address, MAX_UINT), owner)
        self.send(self.engine.functions.deposit(ilk_id(ilk), collateral), owner)
        if debt:
            self.send(self.engine.functions.draw(ilk_id(ilk), debt), owner)

    def open_at_ratio(self, owner: ChecksumAddress, ilk: str, collateral: int, ratio: str) -> int:
        """Open a vault whose collateral value is ``ratio`` times its debt; return the debt."""
        decimals = self.am.deployment.ilks[ilk].decimals
        value = collateral * self.oracle_price(ilk) * WAD // (10**decimals * 10**8)
        debt = int(value / Decimal(ratio))
        self.open_vault(owner, ilk, collateral, debt)
        return debt

    def fund_stable(self, to: ChecksumAddress, amount: int) -> None:
        """Give ``to`` stablecoin, drawn from a fat WBTC vault of the deployer's."""
        price = self.oracle_price(WBTC)
        collateral = ceil_div(amount * 10 * 10**8 * 10**8, price * WAD)
        self.mint_collateral(WBTC, self.deployer, collateral)
        self.send(self.token(WBTC).functions.approve(self.engine.address, MAX_UINT), self.deployer)
        self.send(self.engine.functions.deposit(ilk_id(WBTC), collateral), self.deployer)
        self.send(self.engine.functions.draw(ilk_id(WBTC), amount), self.deployer)
        self.send(self.stable.functions.transfer(to, amount), self.deployer)

    def approve_stable(self, owner: ChecksumAddress, spender: str) -> None:
        self.send(self.stable.functions.approve(spender, MAX_UINT), owner)

    def bark(self, ilk: str, owner: ChecksumAddress, keeper: ChecksumAddress) -> TxReceipt:
        return self.send(self.liquidator.functions.bark(ilk_id(ilk), owner, keeper), keeper)

    # ---------------------------------------------------------------- state

    def vault(self, ilk: str, owner: ChecksumAddress) -> tuple[int, int]:
        collateral, normalized = self.engine.functions.vault(ilk_id(ilk), owner).call()
        return int(collateral), int(normalized)

    def ilk_state(self, ilk: str) -> dict[str, Any]:
        names = (
            "collateral",
            "collateral_decimals",
            "total_normalized_debt",
            "rate",
            "stability_fee",
            "last_drip",
            "liquidation_ratio",
            "debt_ceiling",
            "dust",
        )
        return dict(zip(names, self.engine.functions.ilks(ilk_id(ilk)).call(), strict=True))

    def liquidator_ilk(self, ilk: str) -> dict[str, Any]:
        names = ("auction", "penalty", "limit", "debt_under_auction", "tip", "chip")
        return dict(zip(names, self.liquidator.functions.ilks(ilk_id(ilk)).call(), strict=True))

    def sale(self, ilk: str, auction_id: int) -> dict[str, Any]:
        names = ("position", "tab", "lot", "owner", "start_time", "start_price")
        return dict(zip(names, self.dutch(ilk).functions.sales(auction_id).call(), strict=True))

    def english_auction(self, ilk: str, auction_id: int) -> dict[str, Any]:
        names = ("position", "bid", "lot", "bidder", "bid_expiry", "end", "owner", "tab")
        return dict(
            zip(names, self.english(ilk).functions.auctions(auction_id).call(), strict=True)
        )

    def stable_balance(self, who: str) -> int:
        return int(self.stable.functions.balanceOf(who).call())

    def collateral_balance(self, ilk: str, who: str) -> int:
        return int(self.token(ilk).functions.balanceOf(who).call())

    def spot(self, ilk: str) -> int:
        state = self.ilk_state(ilk)
        return spot_of(
            self.oracle_price(ilk), state["collateral_decimals"], state["liquidation_ratio"]
        )

    def check_invariant(self) -> None:
        """AUCTIONS.md: sum(Art * rate) + systemDebt == supply * RAY + systemSurplus."""
        debt = sum(
            s["total_normalized_debt"] * s["rate"] for s in map(self.ilk_state, (WETH, WBTC))
        )
        system_debt = self.engine.functions.systemDebt().call()
        surplus = self.engine.functions.systemSurplus().call()
        supply = self.stable.functions.totalSupply().call()
        assert debt + system_debt == supply * RAY + surplus


def build_env(w3: Web3, control: ChainControl) -> Env:
    accounts = [Web3.to_checksum_address(a) for a in w3.eth.accounts]
    deployer, bot = accounts[0], accounts[1]
    market = deploy_market(w3, deployer)
    am = deploy_auction_market(w3, deployer, market, taker_owner=bot, gas=DEPLOY_GAS)
    return Env(w3=w3, control=control, am=am, deployer=deployer, bot=bot, users=accounts[2:])


@functools.cache
def embedded_env() -> Env:
    """One eth-tester deployment per process; tests run inside snapshots of it."""
    chain = embedded_chain()
    return build_env(chain.w3, TesterControl(chain))


def fresh_env() -> Iterator[Env]:
    """Body of a per-test fixture: the shared deployment, reverted after the test."""
    env = embedded_env()
    snapshot = env.control.snapshot()
    try:
        yield env
    finally:
        env.control.revert(snapshot)


# --------------------------------------------------------------------------- auction helpers


def reverts_call(fn: Any, sender: ChecksumAddress, error: str) -> None:
    """Assert that ``fn`` reverts with ``error`` (checked with eth_call, on any chain)."""
    from tests.helpers import reverts

    with reverts(error):
        fn.call({"from": sender})


def model_curve_price(env: Env, ilk: str, top: int, elapsed: int) -> int:
    """The ilk's Dutch curve price from AUCTIONS.md, with the curve's on-chain parameters."""
    curve = env.dutch(ilk).functions.curve().call()
    deployed = env.am.deployment.ilks[ilk]
    if curve == deployed.linear_curve:
        duration = env.am.linear_curve(ilk).functions.duration().call()
        return linear_price(top, elapsed, duration)
    assert curve == deployed.stairstep_curve
    stairstep = env.am.stairstep_curve(ilk)
    step = stairstep.functions.step().call()
    cut = stairstep.functions.cut().call()
    return stairstep_price(top, elapsed, step, cut)


@dataclass(frozen=True)
class Barked:
    """A vault liquidated in a test: the bark's receipt, event and auction id."""

    ilk: str
    owner: ChecksumAddress
    keeper: ChecksumAddress
    receipt: TxReceipt
    event: Any
    auction_id: int
    timestamp: int


def open_and_bark(
    env: Env,
    ilk: str,
    owner: ChecksumAddress,
    keeper: ChecksumAddress,
    *,
    collateral: int,
    ratio: str = "1.8",
    crash: str = "0.8",
) -> Barked:
    """Open a vault at ``ratio`` (value / debt), scale the price by ``crash`` and bark it."""
    env.open_at_ratio(owner, ilk, collateral, ratio)
    env.scale_price(ilk, crash)
    assert env.engine.functions.isUnsafe(ilk_id(ilk), owner).call()
    receipt = env.bark(ilk, owner, keeper)
    (event,) = env.events(receipt, env.liquidator, "Bark")
    return Barked(ilk, owner, keeper, receipt, event, int(event["id"]), env.timestamp(receipt))


def take_all(env: Env, ilk: str, auction_id: int, buyer: ChecksumAddress) -> TxReceipt:
    """Buy a whole Dutch auction at its current price, funding ``buyer`` with its tab."""
    dutch = env.dutch(ilk)
    sale = env.sale(ilk, auction_id)
    if env.stable_balance(buyer) < sale["tab"]:
        env.fund_stable(buyer, sale["tab"])
    if env.stable.functions.allowance(buyer, dutch.address).call() < sale["tab"]:
        env.approve_stable(buyer, dutch.address)
    return env.send(dutch.functions.take(auction_id, sale["lot"], 2**255, buyer, b""), buyer)


def bark_inputs(env: Env, ilk: str, owner: ChecksumAddress, rate: int) -> dict[str, int]:
    """The on-chain values ``bark_quote`` needs, read before a bark (``rate`` is given)."""
    collateral, normalized = env.vault(ilk, owner)
    cfg = env.liquidator_ilk(ilk)
    return {
        "collateral": collateral,
        "normalized": normalized,
        "rate": rate,
        "dust": env.ilk_state(ilk)["dust"],
        "room": env.liquidator.functions.room(ilk_id(ilk)).call(),
        "penalty": cfg["penalty"],
        "tip": cfg["tip"],
        "chip": cfg["chip"],
    }


def expected_bark(env: Env, ilk: str, owner: ChecksumAddress, at: int) -> BarkQuote:
    """The model's bark of ``owner``'s vault in a block mined at ``at``."""
    state = env.ilk_state(ilk)
    rate = next_rate(state["rate"], state["stability_fee"], at - state["last_drip"])
    return bark_quote(**bark_inputs(env, ilk, owner, rate))
