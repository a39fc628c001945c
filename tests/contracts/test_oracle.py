from __future__ import annotations

from dataclasses import dataclass

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from bot.chain.contracts import deploy_contract, transact
from tests.helpers import reverts

ZERO = "0x" + "00" * 20
HOUR = 3600
VALID, NON_POSITIVE, OUT_OF_BOUNDS, STALE, UNAVAILABLE = range(5)


@dataclass
class Env:
    w3: Web3
    owner: str
    oracle: Contract
    asset: str

    def feed(self, decimals: int, answer: int, lo: int = 1, hi: int | None = None) -> Contract:
        hi = hi if hi is not None else 10 ** (decimals + 12)
        return deploy_contract(
            self.w3, "PriceFeed", decimals, "X / USD", answer, lo, hi, sender=self.owner
        )

    def configure(
        self, primary: Contract, fallback: Contract | None = None, bps: int = 500
    ) -> None:
        fb = fallback.address if fallback is not None else ZERO
        fn = self.oracle.functions.setAssetSource(self.asset, primary.address, HOUR, fb, HOUR, bps)
        transact(self.w3, fn, self.owner)

    def latest(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def make_stale(self, feed: Contract, answer: int) -> None:
        fn = feed.functions.updateAnswerAt(answer, self.latest() - 2 * HOUR)
        transact(self.w3, fn, self.owner)

    def price(self) -> int:
        return int(self.oracle.functions.getAssetPrice(self.asset).call())

    def status(self) -> list:
        return list(self.oracle.functions.priceStatus(self.asset).call())


def _env(w3: Web3) -> Env:
    owner = w3.eth.accounts[0]
    oracle = deploy_contract(w3, "PriceOracle", sender=owner)
    asset = deploy_contract(w3, "TestToken", "Wrapped Ether", "WETH", 18, sender=owner)
    return Env(w3, owner, oracle, asset.address)


@pytest.fixture
def env(w3: Web3) -> Env:
    return _env(w3)


@pytest.mark.parametrize(
    ("decimals", "answer", "expected"),
    [
        (8, 2000_12345678, 2000_12345678),
        (18, 2000_123456789012345678, 2000_12345678),  # truncated to 8 decimals
        (6, 2000_123456, 2000_12345600),
        (0, 2000, 2000_00000000),
    ],
)
def test_fresh_price_scaled_to_8_decimals(
    env: Env, decimals: int, answer: int, expected: int
) -> None:
    feed = env.feed(decimals, answer)
    env.configure(feed)
    assert env.oracle.functions.BASE_CURRENCY_UNIT().call() == 10**8
    assert env.price() == expected
    assert env.oracle.functions.getAssetsPrices([env.asset, env.asset]).call() == [expected] * 2
    price, primary_ok, fallback_ok, tripped, updated_at = env.status()
    assert (price, primary_ok, fallback_ok, tripped) == (expected, True, False, False)
    assert updated_at == feed.functions.latestTimestamp().call() > 0


def test_stale_primary_uses_fallback(env: Env) -> None:
    primary = env.feed(8, 2000 * 10**8)
    fallback = env.feed(18, 1990 * 10**18)
    env.configure(primary, fallback)
    assert env.price() == 2000 * 10**8  # 0.5% apart, bound 5%: primary
    env.make_stale(primary, 2000 * 10**8)
    assert env.price() == 1990 * 10**8
    assert env.status()[:4] == [1990 * 10**8, False, True, False]
    env.make_stale(fallback, 1990 * 10**18)
    with reverts("StalePrice"):
        env.price()
    assert env.status()[:4] == [0, False, False, False]


def test_primary_without_fallback_stale_reverts(env: Env) -> None:
    primary = env.feed(8, 2000 * 10**8)
    env.configure(primary)
    env.make_stale(primary, 2000 * 10**8)
    with reverts("StalePrice"):
        env.price()
    transact(env.w3, primary.functions.updateAnswerAt(2000 * 10**8, 0), env.owner)
    with reverts("StalePrice"):  # updatedAt == 0 is never valid
        env.price()


def test_heartbeat_boundary(env: Env) -> None:
    feed = env.feed(8, 2000 * 10**8)
    transact(env.w3, feed.functions.updateAnswerAt(2000 * 10**8, env.latest() - 500), env.owner)
    age = env.latest() - feed.functions.latestTimestamp().call()
    state = env.oracle.functions.feedState
    assert state(feed.address, age).call() == [VALID, 2000 * 10**8, env.latest() - age]
    assert state(feed.address, age - 1).call()[0] == STALE


def test_non_positive_price_reverts(env: Env) -> None:
    primary = env.feed(8, 0, lo=-(10**8))
    env.configure(primary)
    with reverts("NonPositivePrice"):
        env.price()
    transact(env.w3, primary.functions.updateAnswer(-5), env.owner)
    with reverts("NonPositivePrice"):
        env.price()
    assert env.status() == [0, False, False, False, env.latest()]


def test_answer_pinned_at_a_bound_is_rejected(env: Env) -> None:
    lo, hi = 10**6, 10**14
    primary = env.feed(8, 2000 * 10**8, lo=lo, hi=hi)
    env.configure(primary)
    transact(env.w3, primary.functions.updateAnswer(1), env.owner)  # crash: clamped to floor
    assert primary.functions.latestAnswer().call() == lo
    with reverts("PriceOutOfBounds"):
        env.price()
    transact(env.w3, primary.functions.updateAnswer(lo + 1), env.owner)
    assert env.price() == lo + 1
    transact(env.w3, primary.functions.updateAnswer(10**20), env.owner)  # clamped to ceiling
    with reverts("PriceOutOfBounds"):
        env.price()
    transact(env.w3, primary.functions.updateAnswer(hi - 1), env.owner)
    assert env.price() == hi - 1


def test_pinned_primary_falls_back(env: Env) -> None:
    primary = env.feed(8, 2000 * 10**8, lo=10**6)
    fallback = env.feed(8, 2000 * 10**8)
    env.configure(primary, fallback)
    transact(env.w3, primary.functions.updateAnswer(0), env.owner)
    assert env.price() == 2000 * 10**8
    assert env.status()[:4] == [2000 * 10**8, False, True, False]


def test_deviation_trips_breaker(env: Env) -> None:
    primary = env.feed(8, 2000 * 10**8)
    fallback = env.feed(8, 2000 * 10**8)
    env.configure(primary, fallback, bps=500)
    # Exactly at the bound: |p - f| * 10000 == 500 * min(p, f) -> not tripped, primary wins.
    transact(env.w3, primary.functions.updateAnswer(2100 * 10**8), env.owner)
    assert env.price() == 2100 * 10**8
    assert not env.oracle.functions.isBreakerTripped(env.asset).call()
    # One unit further: tripped.
    transact(env.w3, primary.functions.updateAnswer(2100 * 10**8 + 1), env.owner)
    with reverts(f"CircuitBreakerTripped({env.asset.lower()})"):
        env.price()
    with reverts("CircuitBreakerTripped"):
        env.oracle.functions.getAssetsPrices([env.asset]).call()
    assert env.oracle.functions.isBreakerTripped(env.asset).call()
    assert env.status()[:4] == [0, True, True, True]
    # Same bound measured against the lower of the two when the primary is the low one.
    transact(env.w3, primary.functions.updateAnswer(1905 * 10**8), env.owner)
    assert env.price() == 1905 * 10**8  # 95 * 10000 = 950000 <= 500 * 1905
    transact(env.w3, primary.functions.updateAnswer(1904 * 10**8), env.owner)
    assert env.oracle.functions.isBreakerTripped(env.asset).call()  # 960000 > 500 * 1904
    # A stale fallback cannot trip the breaker.
    env.make_stale(fallback, 2000 * 10**8)
    assert env.price() == 1904 * 10**8
    assert not env.oracle.functions.isBreakerTripped(env.asset).call()


def test_deviation_across_decimals(env: Env) -> None:
    primary = env.feed(8, 2000 * 10**8)
    fallback = env.feed(18, 2010 * 10**18)
    env.configure(primary, fallback, bps=40)  # 10 * 10000 = 100000 > 40 * 2000 = 80000
    assert env.oracle.functions.isBreakerTripped(env.asset).call()
    env.configure(primary, fallback, bps=50)  # 100000 <= 100000
    assert env.price() == 2000 * 10**8


def test_price_status_never_reverts(env: Env) -> None:
    w3, oracle = env.w3, env.oracle
    # Unconfigured asset.
    assert oracle.functions.priceStatus(env.asset).call() == [0, False, False, False, 0]
    assert not oracle.functions.isBreakerTripped(env.asset).call()
    with reverts(f"NoPriceSource({env.asset.lower()})"):
        env.price()
    # A "feed" that has decimals() but nothing else: calls fail, the views do not.
    bogus = deploy_contract(w3, "TestToken", "Not a feed", "NAF", 8, sender=env.owner)
    env.configure(bogus)
    assert env.status() == [0, False, False, False, 0]
    with reverts(f"FeedUnavailable({bogus.address.lower()})"):
        env.price()
    # Garbage primary, healthy fallback: the fallback answers.
    fallback = env.feed(8, 7 * 10**8)
    env.configure(bogus, fallback)
    assert env.price() == 7 * 10**8
    assert env.status() == [7 * 10**8, False, True, False, 0]
    assert oracle.functions.feedState(env.owner, HOUR).call() == [UNAVAILABLE, 0, 0]


def test_configuration_and_access_control(env: Env) -> None:
    w3, oracle, owner = env.w3, env.oracle, env.owner
    mallory, heir = w3.eth.accounts[1], w3.eth.accounts[2]
    primary = env.feed(8, 2000 * 10**8)
    fallback = env.feed(18, 2000 * 10**18)
    fn = oracle.functions.setAssetSource(
        env.asset, primary.address, HOUR, fallback.address, 60, 300
    )
    with reverts("NotOwner"):
        fn.call({"from": mallory})
    receipt = transact(w3, fn, owner)
    (event,) = oracle.events.AssetSourceUpdated().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {
        "asset": env.asset,
        "primaryFeed": primary.address,
        "primaryHeartbeat": HOUR,
        "fallbackFeed": fallback.address,
        "fallbackHeartbeat": 60,
        "maxDeviationBps": 300,
    }
    assert oracle.functions.getSourceOfAsset(env.asset).call() == primary.address
    assert oracle.functions.getAssetSourceConfig(env.asset).call() == [
        primary.address,
        HOUR,
        fallback.address,
        60,
        300,
    ]
    with reverts("ZeroAddress"):
        oracle.functions.setAssetSource(env.asset, ZERO, HOUR, ZERO, 0, 0).call({"from": owner})
    with reverts("InvalidHeartbeat"):
        oracle.functions.setAssetSource(env.asset, primary.address, 0, ZERO, 0, 0).call(
            {"from": owner}
        )
    with reverts("InvalidHeartbeat"):
        oracle.functions.setAssetSource(
            env.asset, primary.address, HOUR, fallback.address, 0, 0
        ).call({"from": owner})
    with reverts("SameFeed"):
        oracle.functions.setAssetSource(
            env.asset, primary.address, HOUR, primary.address, HOUR, 0
        ).call({"from": owner})
    wide = deploy_contract(w3, "PriceFeed", 40, "wide", 1, 0, 10**50, sender=owner)
    with reverts("UnsupportedFeedDecimals"):
        oracle.functions.setAssetSource(env.asset, wide.address, HOUR, ZERO, 0, 0).call(
            {"from": owner}
        )

    with reverts("NotOwner"):
        oracle.functions.removeAssetSource(env.asset).call({"from": mallory})
    receipt = transact(w3, oracle.functions.removeAssetSource(env.asset), owner)
    assert oracle.events.AssetSourceRemoved().process_receipt(receipt, errors=DISCARD)
    assert oracle.functions.getSourceOfAsset(env.asset).call() == ZERO
    with reverts("NoPriceSource"):
        env.price()

    with reverts("NotOwner"):
        oracle.functions.transferOwnership(mallory).call({"from": mallory})
    transact(w3, oracle.functions.transferOwnership(heir), owner)
    assert oracle.functions.owner().call() == heir
    with reverts("NotOwner"):
        env.configure(primary)
    transact(
        w3, oracle.functions.setAssetSource(env.asset, primary.address, HOUR, ZERO, 0, 0), heir
    )
    assert env.price() == 2000 * 10**8


@pytest.mark.anvil
def test_oracle_on_anvil(anvil_w3: Web3) -> None:
    env = _env(anvil_w3)
    primary = env.feed(8, 2000 * 10**8)
    fallback = env.feed(18, 2500 * 10**18)
    env.configure(primary, fallback, bps=500)
    with reverts("CircuitBreakerTripped"):
        env.price()
    assert env.status()[:4] == [0, True, True, True]
    env.make_stale(primary, 2000 * 10**8)
    assert env.price() == 2500 * 10**8
    env.make_stale(fallback, 2500 * 10**18)
    with reverts("StalePrice"):
        env.price()
