"""The deploy module builds a working market on eth-tester and on anvil."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from bot.deploy.borrowers import open_positions, plan_borrowers
from bot.deploy.market import Deployment, Market, deploy_market


def _check_market(w3: Web3, market: Market) -> None:
    dep = market.deployment
    assert dep.chain_id == w3.eth.chain_id
    assert 0 < dep.deployment_block <= w3.eth.block_number
    for address in (
        dep.pool,
        dep.oracle,
        dep.guardian,
        dep.amm_factory,
        dep.amm_router,
        dep.flash_liquidator,
        dep.multicall3,
    ):
        assert len(w3.eth.get_code(address)) > 0, address
    decimals = {symbol: a.decimals for symbol, a in dep.assets.items()}
    assert sorted(decimals.values()) == [6, 8, 18, 18]
    reserves = market.pool.functions.getReservesList().call()
    assert [Web3.to_checksum_address(r) for r in reserves] == [a.token for a in dep.assets.values()]
    for symbol, spec in market.specs.items():
        price = market.oracle.functions.getAssetPrice(dep.token(symbol)).call()
        assert price == int(spec.price_usd * 10**8)
    for pair in dep.pairs.values():
        r0, r1, _ = (
            market.w3.eth.contract(address=pair.address, abi=market.pair("WETH", "USDC").abi)
            .functions.getReserves()
            .call()
        )
        assert r0 > 0 and r1 > 0


def test_deploy_on_eth_tester_and_roundtrip(tmp_path: Path, market: Market) -> None:
    _check_market(market.w3, market)
    path = tmp_path / "deployment.json"
    market.deployment.save(path)
    assert Deployment.load(path) == market.deployment


def test_seeded_borrowers_have_the_planned_health(market: Market) -> None:
    plans = plan_borrowers(market, 12, seed=3)
    accounts = open_positions(market, plans, market.w3.eth.accounts[0], seed=3)
    for plan, account in zip(plans, accounts, strict=True):
        data = market.pool.functions.getUserAccountData(account.address).call()
        health = data[5] / 10**18
        assert abs(health - float(plan.target_health)) < 0.01, (plan, health)
        assert data[1] > 0


def test_deploy_on_anvil(anvil_w3: Web3) -> None:
    deployer = anvil_w3.eth.accounts[0]
    market = deploy_market(anvil_w3, deployer)
    _check_market(anvil_w3, market)
    plans = plan_borrowers(market, 3, seed=5)
    accounts = open_positions(market, plans, deployer, seed=5)
    assert all(market.pool.functions.getUserAccountData(a.address).call()[1] > 0 for a in accounts)
