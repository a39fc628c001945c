"""The vault-engine adapter and the auction watcher against the bundled contracts
(eth-tester): calldata equals web3's encoding, batched reads equal the contracts' views, and
the event-sourced book equals the chain after vaults, barks and takes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.chain.rpc import RpcClient
from bot.deploy.auctions import ilk_id
from bot.model.auction import LinearCurve, StairstepCurve
from bot.protocols.auction_base import DUTCH, AuctionChanged, VaultChanged
from bot.protocols.auction_engine import VaultEngineAdapter
from bot.watch.auctions import AuctionWatcher
from tests.contracts.auction_fixtures import WAD, WBTC, WETH, Env, fresh_env, open_and_bark


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


def adapter(env: Env) -> VaultEngineAdapter:
    return VaultEngineAdapter.from_deployment(
        env.am.deployment, env.am.market.deployment.multicall3
    )


def test_calldata_matches_web3(env: Env) -> None:
    p = adapter(env)
    owner, keeper = env.users[:2]
    dep = env.am.deployment
    cases = [
        (
            p.encode_bark(WETH, owner, keeper),
            env.liquidator.functions.bark(ilk_id(WETH), owner, keeper),
        ),
        (p.encode_redo(WBTC, 7, keeper), env.dutch(WBTC).functions.redo(7, keeper)),
        (p.encode_tend(WETH, 3, 10, 20), env.english(WETH).functions.tend(3, 10, 20)),
        (p.encode_dent(WETH, 3, 9, 20), env.english(WETH).functions.dent(3, 9, 20)),
        (p.encode_deal(WETH, 3), env.english(WETH).functions.deal(3)),
        (
            p.encode_flash_take(WETH, 2, 5 * WAD, 10**30, 123),
            env.taker.functions.takeWithFlashSale(
                dep.ilks[WETH].dutch_auction, 2, 5 * WAD, 10**30, dep.ilks[WETH].pair, 123
            ),
        ),
    ]
    for call, fn in cases:
        assert call.to == fn.address
        assert "0x" + call.data.hex() == fn._encode_transaction_data()


def test_ilk_state_matches_the_views(env: Env) -> None:
    p = adapter(env)
    states = p.ilk_state(adapter_multicall(env, p), "latest")
    for name in (WETH, WBTC):
        s = states[name]
        i = env.ilk_state(name)
        cfg = env.liquidator_ilk(name)
        dutch = env.dutch(name)
        assert (s.rate, s.stability_fee, s.last_drip, s.liquidation_ratio, s.dust) == (
            i["rate"],
            i["stability_fee"],
            i["last_drip"],
            i["liquidation_ratio"],
            i["dust"],
        )
        assert s.collateral_price == env.engine.functions.collateralPrice(ilk_id(name)).call()
        assert (s.penalty, s.tip, s.chip) == (cfg["penalty"], cfg["tip"], cfg["chip"])
        assert s.room == env.liquidator.functions.room(ilk_id(name)).call()
        assert s.module_kind == DUTCH and s.module == dutch.address
        assert s.dutch.dust_tab == dutch.functions.dustTab().call()
        assert s.dutch.stopped == 0
        curve = s.dutch.curve
        if name == WETH:
            assert curve == StairstepCurve(90, 99 * 10**25)
        else:
            assert curve == LinearCurve(9_000)
        r0, r1, _ = env.am.pair(name).functions.getReserves().call()
        assert {s.reserve_collateral, s.reserve_stable} == {r0, r1}


def adapter_multicall(env: Env, p: VaultEngineAdapter):  # type: ignore[no-untyped-def]
    from bot.chain.multicall import Multicall

    return Multicall(RpcClient.for_web3(env.w3), p.multicall_address)


def test_watcher_book_follows_the_chain(env: Env) -> None:
    p = adapter(env)
    watcher = AuctionWatcher(RpcClient.for_web3(env.w3), p, keeper=env.bot)
    first = watcher.sync()
    owner, keeper, buyer = env.users[:3]
    barked = open_and_bark(env, WETH, owner, keeper, collateral=30 * WAD, ratio="1.7")
    env.open_at_ratio(env.users[3], WBTC, env.am.units(WBTC, "1"), "2.5")
    (snap,) = watcher.poll()
    assert snap.block_number > first.block_number
    for (ilk, who), vault in snap.vaults.items():
        assert (vault.collateral, vault.normalized_debt) == env.vault(ilk, who)
    assert (WBTC, env.users[3]) in snap.vaults
    sale = snap.sales[(WETH, barked.auction_id)]
    chain_sale = env.sale(WETH, barked.auction_id)
    assert (sale.tab, sale.lot, sale.start_time, sale.start_price) == (
        chain_sale["tab"],
        chain_sale["lot"],
        chain_sale["start_time"],
        chain_sale["start_price"],
    )
    # a take that finishes the auction removes it from the book
    dutch = env.dutch(WETH)
    env.fund_stable(buyer, chain_sale["tab"] * 2)
    env.approve_stable(buyer, dutch.address)
    env.send(dutch.functions.take(barked.auction_id, chain_sale["lot"], 2**255, buyer, b""), buyer)
    (snap,) = watcher.poll()
    assert (WETH, barked.auction_id) not in snap.sales
    assert watcher.poll() == []
    # a fresh sync agrees with the followed book
    again = AuctionWatcher(RpcClient.for_web3(env.w3), p).sync()
    assert again.vaults == snap.vaults and again.sales == snap.sales


def test_decode_log_events(env: Env) -> None:
    p = adapter(env)
    owner, keeper = env.users[:2]
    barked = open_and_bark(env, WETH, owner, keeper, collateral=10 * WAD)
    rpc = RpcClient.for_web3(env.w3)
    addresses, topics = p.follow_filter()
    entries = rpc.get_logs(
        barked.receipt["blockNumber"], barked.receipt["blockNumber"], addresses, [topics]
    )
    events = [p.decode_log(e) for e in entries]
    vaults = [e for e in events if isinstance(e, VaultChanged)]
    assert vaults and vaults[-1].vault.owner == owner
    assert (vaults[-1].vault.collateral, vaults[-1].vault.normalized_debt) == env.vault(WETH, owner)
    assert AuctionChanged(WETH, DUTCH, barked.auction_id) in events
