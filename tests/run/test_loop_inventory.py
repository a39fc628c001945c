"""The run loop takes a crash block's inventory from the watcher's own read of the block
(``Watcher.along``), on anvil: no round trip of its own before the plan, and the balances
the chain holds at that block."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.rpc import RpcClient
from bot.model.gas import GasTable
from bot.protocols.aave_pool import AavePoolAdapter
from bot.run.loop import LiquidationLoop, Strategy
from bot.run.scenario import MarketDriver
from bot.watch.watcher import Watcher, WatcherConfig
from tests.chain.rpc_proxy import RpcProxy
from tests.execute.scenario import automine
from tests.run.test_loop_sender import crash_market

pytestmark = pytest.mark.anvil


def test_a_crash_blocks_inventory_rides_the_watchers_read(
    anvil: Anvil, anvil_w3: Web3, tmp_path: Path
) -> None:
    w3 = anvil_w3
    market, executor = crash_market(w3, tmp_path)
    usdc = market.token("USDC")
    deployer = w3.eth.accounts[0]
    usdc.functions.mint(market.deployment.flash_liquidator, 10**12).transact({"from": deployer})
    protocol = AavePoolAdapter.from_deployment(market.deployment)
    with RpcProxy(anvil.url) as proxy:
        watcher = Watcher(RpcClient([proxy.url]), protocol, WatcherConfig(defer_confirm=True))
        strategy = Strategy(gas_table=GasTable(), native_symbol="WETH", plan_process_from=0)
        loop = LiquidationLoop(w3, watcher, protocol, executor, market.deployment, strategy)
        assert not loop.on_snapshot(watcher.sync()).sent  # before the fall: the first block
        MarketDriver(market, deployer).set_prices({"WETH": Decimal("2700")})
        automine(w3, False)
        try:
            (snapshot,) = watcher.poll()
            assert snapshot.along is not None
            stock = loop.inventory(snapshot.block_number)  # read on its own, to compare
            assert stock == loop.inventory(snapshot.block_number, snapshot.along)
            assert stock[usdc.address] == 10**12
            proxy.reset_counts()
            calls: list[Any] = []
            read_all = watcher.multicall.read_all

            def counted(reads: Any, block: Any) -> Any:
                calls.append(reads)
                return read_all(reads, block)

            watcher.multicall.read_all = counted  # type: ignore[method-assign]
            report = loop.on_snapshot(snapshot)
        finally:
            automine(w3, True)
            loop.close()
            executor.close()
    assert report.sent
    # the loop's reads of the node through the watcher: only the pool's confirmation
    assert len(calls) == 1
    assert proxy.counts["eth_call"] == 1
