"""The bundled pool's adapter against the real contracts on eth-tester: events, reads, the
exact model and the encoded liquidations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from bot.chain.contracts import transact, wait_ok
from bot.chain.embedded import EmbeddedChain
from bot.chain.multicall import Multicall, Read, ReadFailed
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import BorrowerPlan, open_positions
from bot.deploy.market import Market
from bot.model.health import AccountData
from bot.model.types import Account, ExecutionPath, MarketState, UserReserve
from bot.protocols import AavePoolAdapter, LiquidationRequest
from bot.protocols.base import (
    LiquidationsPausedChanged,
    MarketLayout,
    PairSynced,
    PositionChanged,
    PriceChanged,
    PriceStatus,
    ReserveChanged,
)


def _setup(market: Market) -> tuple[RpcClient, Multicall, AavePoolAdapter, MarketLayout]:
    rpc = RpcClient.for_web3(market.w3)
    adapter = AavePoolAdapter.from_deployment(market.deployment)
    multicall = Multicall(rpc, adapter.multicall_address)
    return rpc, multicall, adapter, adapter.load_layout(multicall, "latest")


def _borrower(market: Market, index: int = 0, weth: int = 10, usdc: int = 22_000) -> LocalAccount:
    plan = BorrowerPlan(
        index,
        {"WETH": market.units("WETH", weth)},
        {"USDC": market.units("USDC", usdc)},
        Decimal("1.125"),
    )
    (account,) = open_positions(market, [plan], market.w3.eth.accounts[0], seed=77)
    return account


def test_layout_follows_the_pool(market: Market) -> None:
    _, _, adapter, layout = _setup(market)
    dep = market.deployment
    assert list(layout.assets) == [dep.token(s) for s in ("WETH", "WBTC", "USDC", "DAI")]
    assert [layout.symbols[a] for a in layout.assets] == ["WETH", "WBTC", "USDC", "DAI"]
    weth = dep.token("WETH")
    assert [f.address for f in layout.feeds[weth]] == [
        dep.assets["WETH"].feed,
        dep.assets["WETH"].fallback_feed,
    ]
    assert all(f.heartbeat == 86_400 for f in layout.feeds[weth])
    assert {p.address for p in layout.pairs} == {p.address for p in dep.pairs.values()}
    assert layout.treasury == dep.treasury
    assert adapter.oracle == dep.oracle


def test_events_decode_to_the_chain_state(market: Market) -> None:
    rpc, _, adapter, layout = _setup(market)
    start = rpc.block_number() + 1
    borrower = _borrower(market)
    deployer = market.w3.eth.accounts[0]
    market.set_price("WETH", Decimal("2900"), deployer)
    transact(market.w3, market.pool.functions.setLiquidationsPaused(True), deployer)
    addresses, topics = adapter.follow_filter(layout)
    entries = rpc.get_logs(start, rpc.block_number(), addresses, [topics])
    events = [adapter.decode_log(e, layout) for e in entries]

    positions = {
        (e.user, e.position.asset): e.position for e in events if isinstance(e, PositionChanged)
    }
    for (user, asset), position in positions.items():
        chain = market.pool.functions.getUserReserveData(asset, user).call()
        assert (position.scaled_supply, position.scaled_debt, position.using_as_collateral) == (
            chain[0],
            chain[1],
            chain[2],
        )
    dep = market.deployment
    assert (borrower.address, dep.token("WETH")) in positions
    assert (borrower.address, dep.token("USDC")) in positions
    touched = {e.asset for e in events if isinstance(e, ReserveChanged)}
    assert {dep.token("WETH"), dep.token("USDC")} <= touched
    prices = [e for e in events if isinstance(e, PriceChanged)]
    assert {p.feed for p in prices} == {dep.assets["WETH"].feed, dep.assets["WETH"].fallback_feed}
    assert all(p.assets == (dep.token("WETH"),) for p in prices)
    assert events[-1] == LiquidationsPausedChanged(True)


def test_pair_syncs_carry_the_reserves(market: Market) -> None:
    rpc, _, adapter, layout = _setup(market)
    addresses, topics = adapter.follow_filter(layout)
    entries = rpc.get_logs(
        market.deployment.deployment_block, rpc.block_number(), addresses, [topics]
    )
    last: dict[str, PairSynced] = {}
    for entry in entries:
        event = adapter.decode_log(entry, layout)
        if isinstance(event, PairSynced):
            last[event.pair] = event
    assert set(last) == {p.address for p in layout.pairs}
    for pair, event in last.items():
        r0, r1, _ = market.pair(*_symbols(market, pair)).functions.getReserves().call()
        assert (event.reserve0, event.reserve1) == (r0, r1)


def test_the_lean_filter_leaves_out_only_what_is_read_instead(market: Market) -> None:
    """``ReserveDataUpdated`` and ``Sync`` are read as state (PolledState), not fetched:
    every other followed topic and source is still in the lean filter."""
    _, _, adapter, layout = _setup(market)
    addresses, topics = adapter.follow_filter(layout)
    lean_addresses, lean_topics = adapter.lean_follow_filter(layout)
    polled = {p.kind: p for p in adapter.polled_state(layout)}
    assert set(polled) == {"reserves", "pairs"}
    reserve_data_updated = Web3.keccak(
        text="ReserveDataUpdated(address,uint256,uint256,uint256,uint256,uint256)"
    )
    sync = Web3.keccak(text="Sync(uint112,uint112)")
    assert polled["reserves"].addresses == (adapter.pool,)
    assert polled["reserves"].topics == (reserve_data_updated,)
    assert set(polled["pairs"].addresses) == {p.address for p in layout.pairs}
    assert polled["pairs"].topics == (sync,)
    assert set(lean_topics) == set(topics) - {reserve_data_updated, sync}
    assert set(lean_addresses) == set(addresses) - {p.address for p in layout.pairs}
    assert adapter.pool in lean_addresses and adapter.oracle in lean_addresses


def _symbols(market: Market, pair: str) -> tuple[str, str]:
    for name, p in market.deployment.pairs.items():
        if p.address == pair:
            a, b = name.split("/")
            return a, b
    raise KeyError(pair)


def test_reads_and_the_model_agree_with_the_pool(
    market: Market, market_chain: EmbeddedChain
) -> None:
    _, multicall, adapter, layout = _setup(market)
    borrower = _borrower(market).address
    market_chain.advance_time(20 * 3_600)  # interest accrues (prices stay fresh)
    market_chain.mine()
    block = market.w3.eth.block_number
    timestamp = market.w3.eth.get_block(block)["timestamp"]
    reads: list[Read[Any]] = [
        adapter.account_read(borrower),
        adapter.health_read(borrower),
        adapter.reserves_read(),
        adapter.paused_read(),
        *[adapter.price_read(a) for a in layout.assets],
    ]
    account, health, reserves, paused, *prices = multicall.read_all(reads, block)
    dep = market.deployment
    assert isinstance(account, Account)
    assert [p.asset for p in account.positions] == [dep.token("WETH"), dep.token("USDC")]
    assert account.position(dep.token("USDC")).scaled_debt > 0
    chain = market.pool.functions.getUserAccountData(borrower).call(block_identifier=block)
    assert isinstance(health, AccountData)
    assert health.as_tuple() == tuple(chain)
    assert paused is False
    assert [r.asset for r in reserves] == list(layout.assets)
    assert all(isinstance(p, PriceStatus) and p.usable and p.primary_valid for p in prices)
    state = MarketState(reserves, {p.asset: p.price for p in prices})
    assert adapter.account_health(state, account, timestamp) == health


def test_price_status_shows_a_tripped_breaker_and_stale_feeds(
    market: Market, market_chain: EmbeddedChain
) -> None:
    _, multicall, adapter, _ = _setup(market)
    deployer = market.w3.eth.accounts[0]
    weth = market.deployment.token("WETH")
    transact(market.w3, market.feed("WETH").functions.updateAnswer(2_000 * 10**8), deployer)
    (status,) = multicall.read_all([adapter.price_read(weth)])
    assert status.breaker_tripped and not status.usable
    assert "breaker" in status.reason
    market_chain.advance_time(86_400 + 60)
    market_chain.mine()
    (status,) = multicall.read_all([adapter.price_read(weth)])
    assert not status.primary_valid and not status.fallback_valid and status.price == 0
    # The pool's own view reverts then: the health read fails instead of the batch.
    borrower = market.w3.eth.accounts[0]
    (health,) = multicall.read_all([adapter.health_read(borrower)])
    assert isinstance(health, ReadFailed)


def test_encoded_liquidations_are_accepted_by_the_pool(market: Market) -> None:
    w3 = market.w3
    deployer, owner, keeper = w3.eth.accounts[:3]
    _, multicall, adapter, _ = _setup(market)
    borrower = _borrower(market).address
    market.set_price("WETH", Decimal("2250"), deployer)
    weth, usdc = market.deployment.token("WETH"), market.deployment.token("USDC")
    (health,) = multicall.read_all([adapter.health_read(borrower)])
    assert health.liquidatable

    # Straight to the pool from a keeper holding USDC.
    transact(w3, market.token("USDC").functions.mint(keeper, market.units("USDC", 5_000)), deployer)
    transact(w3, market.token("USDC").functions.approve(market.deployment.pool, 2**256 - 1), keeper)
    direct = adapter.encode_liquidation(
        LiquidationRequest(weth, usdc, borrower, market.units("USDC", 2_000))
    )
    assert direct.to == market.deployment.pool
    tx = w3.eth.send_transaction({"from": keeper, "to": direct.to, "data": direct.data})
    receipt = wait_ok(w3, tx, "direct liquidation")
    (event,) = market.pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["user"] == borrower
    assert event["args"]["debtToCover"] == market.units("USDC", 2_000)

    # Through the flash liquidator, its pair found by the adapter.
    flash = adapter.encode_liquidation(
        LiquidationRequest(
            weth, usdc, borrower, market.units("USDC", 1_000), path=ExecutionPath.FLASH, min_out=1
        )
    )
    assert flash.to == market.deployment.flash_liquidator
    tx = w3.eth.send_transaction({"from": owner, "to": flash.to, "data": flash.data})
    receipt = wait_ok(w3, tx, "flash liquidation")
    (event,) = market.liquidator.events.Liquidated().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["user"] == borrower and event["args"]["profit"] > 0


def test_positions_are_normalised(market: Market) -> None:
    _, multicall, adapter, _ = _setup(market)
    stranger = market.w3.eth.accounts[7]
    (account,) = multicall.read_all([adapter.account_read(stranger)])
    assert account == Account(stranger, ())
    assert UserReserve("x") == UserReserve("x", 0, 0, False)
