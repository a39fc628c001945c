"""The run loop on anvil: an account too large for one flash liquidation gets its second one
in the block right after the first is mined, not a block later.

The loop learns of its own receipts from the executor's poll. An account planned again while
its last liquidation is in flight has its new one sent after the block's other sends, once
that account's intents are settled (the rest are tracked after the sends), so the mined first
liquidation no longer holds the second back as "in flight" for an extra block. Both ways of
confirming with the pool are run: before the snapshot is returned, and after the block's
sends.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from eth_typing import ChecksumAddress
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.contracts import send_signed, transact, wait_ok
from bot.chain.rpc import RpcClient
from bot.deploy.borrowers import borrower_account
from bot.deploy.market import MAX_UINT, Market, deploy_market
from bot.execute import Executor
from bot.execute.keys import Signer
from bot.model.amm import arbitrage_swap
from bot.model.gas import GasTable
from bot.model.ranking import DecisionConfig
from bot.model.types import ExecutionPath, PairReserves
from bot.protocols.aave_pool import AavePoolAdapter
from bot.record.schema import LIQUIDATION_CALL
from bot.run.loop import LiquidationLoop, Strategy
from bot.run.scenario import MarketDriver
from bot.watch.watcher import Watcher, WatcherConfig
from tests.execute.scenario import BOT_ADDRESS, automine, bot_account, executor_config, mine

pytestmark = pytest.mark.anvil


def arbitrage_pending(market: Market, sender: ChecksumAddress) -> None:
    """The WETH/USDC pair back to the oracle price on the pending state, unmined (the
    re-enactment's arbitrageur: the model's swap, sent through the router)."""
    w3, dep = market.w3, market.deployment
    pair = market.pair("WETH", "USDC")
    r0, r1, _ = pair.functions.getReserves().call(block_identifier="pending")
    info = dep.pair_for("WETH", "USDC")
    assert info is not None
    symbol = {dep.token("WETH"): "WETH", dep.token("USDC"): "USDC"}
    price = {
        s: int(market.oracle.functions.getAssetPrice(dep.token(s)).call()) for s in symbol.values()
    }
    unit = {s: 10 ** market.specs[s].decimals for s in symbol.values()}
    s0, s1 = symbol[info.token0], symbol[info.token1]
    swap = arbitrage_swap(
        PairReserves(pair.address, info.token0, info.token1, r0, r1),
        price[s0] * unit[s1],
        price[s1] * unit[s0],
    )
    if swap is None:
        return
    path = [swap.token_in, info.token1 if swap.token_in == info.token0 else info.token0]
    fn = market.router.functions.swapExactTokensForTokens(
        swap.amount_in, swap.amount_out, path, sender, 2**40
    )
    w3.eth.send_transaction(fn.build_transaction({"from": sender, "gas": 250_000}))


@pytest.mark.parametrize("defer_confirm", [False, True], ids=["confirm-first", "confirm-after"])
def test_second_liquidation_goes_out_the_block_after_the_first_is_mined(
    anvil: Anvil, anvil_w3: Web3, tmp_path: Path, defer_confirm: bool
) -> None:
    w3 = anvil_w3
    deployer = w3.eth.accounts[0]
    market = deploy_market(w3, deployer, liquidator_owner=BOT_ADDRESS)
    rpc = w3.provider.make_request
    rpc("anvil_setBalance", [BOT_ADDRESS, hex(100 * 10**18)])  # type: ignore[arg-type]
    # 1,000 WETH against 2.2M USDC: at 2,600 USD the health factor is 0.975 (close factor
    # 50%), and flash-swapping 1.1M USDC out of the 4M pair costs more than the bonus pays,
    # so the best first liquidation is a part of it and the account stays liquidatable.
    pool, dep = market.pool, market.deployment
    borrower = borrower_account(77, 0)
    collateral, debt = market.units("WETH", 1_000), market.units("USDC", 2_200_000)
    transact(w3, market.token("WETH").functions.mint(deployer, collateral), deployer)
    transact(w3, market.token("WETH").functions.approve(pool.address, MAX_UINT), deployer)
    transact(
        w3, pool.functions.supply(dep.token("WETH"), collateral, borrower.address, 0), deployer
    )
    wait_ok(
        w3,
        w3.eth.send_transaction({"from": deployer, "to": borrower.address, "value": 10**17}),  # type: ignore[typeddict-item]
        "funding the borrower",
    )
    send_signed(
        w3, pool.functions.borrow(dep.token("USDC"), debt, 2, 0, borrower.address), borrower,
        gas=600_000,
    )  # fmt: skip
    driver = MarketDriver(market, deployer)
    driver.set_prices({"WETH": Decimal("2600")})
    driver.arbitrage()  # the pairs follow the oracle, as they would
    for symbol in ("WETH", "USDC"):  # stock for the arbitrageur's trades inside blocks
        transact(w3, market.token(symbol).functions.mint(deployer, 10**40), deployer)
        transact(
            w3, market.token(symbol).functions.approve(market.router.address, MAX_UINT), deployer
        )

    executor = Executor.open(
        w3,
        executor_config(market, tmp_path / "journal.sqlite", confirmations=1),
        Signer(bot_account(), "test key"),
        out=lambda line: None,
    )
    protocol = AavePoolAdapter.from_deployment(dep)
    watcher = Watcher(RpcClient([anvil.url]), protocol, WatcherConfig(defer_confirm=defer_confirm))
    strategy = Strategy(
        decision=DecisionConfig(paths=(ExecutionPath.FLASH,)),
        gas_table=GasTable(),
        native_symbol="WETH",
    )
    loop = LiquidationLoop(w3, watcher, protocol, executor, dep, strategy)
    try:
        automine(w3, False)
        loop.on_snapshot(watcher.sync())  # sends the first liquidation
        assert [r.sent for r in loop.reports[-1].results] == [True]
        for _ in range(4):
            arbitrage_pending(market, deployer)  # after the bot's transactions, same block
            mine(w3)
            for snapshot in watcher.poll():
                loop.on_snapshot(snapshot)
        head = w3.eth.block_number
    finally:
        automine(w3, True)
        executor.close()

    logs = w3.eth.get_logs(
        {
            "fromBlock": head - 4,
            "toBlock": head,
            "address": pool.address,
            "topics": ["0x" + LIQUIDATION_CALL.topic0.hex()],
        }
    )
    blocks = [int(log["blockNumber"]) for log in logs]
    assert len(blocks) >= 2, "the account must need a second liquidation"
    first, second = blocks[0], blocks[1]
    assert second == first + 1, f"second liquidation in block {second}, first in {first}"
    # and the loop said so: the block that mined the first planned and sent the second
    report = next(r for r in loop.reports if r.block == first)
    assert [r.sent for r in report.results] == [True]
    assert not [x for x in report.left if x.reason == "in flight"]
    # With the confirmation deferred, the pool's word came after the block's sends, and
    # agreed with the model to the wei on every block that had a liquidatable account.
    checked = [r for r in loop.reports if r.liquidatable]
    assert checked
    for r in checked:
        assert not r.mismatched
        if defer_confirm:
            assert r.confirmed_at is not None
            if r.last_broadcast_at is not None:
                assert r.confirmed_at > r.last_broadcast_at
        else:
            assert r.confirmed_at is None
