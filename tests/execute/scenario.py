"""A bundled market with the bot's key owning the flash liquidator, an underwater borrower,
and the model's opportunity for it: shared by the executor tests and the crash-test script.

The bot's key is a throwaway derived from a fixed seed (never for real funds); tests assert
that neither it nor a keystore password ever shows in logs or output.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from bot.chain.contracts import send_signed, transact, wait_ok
from bot.deploy.borrowers import borrower_account
from bot.deploy.market import MAX_UINT, Market, deploy_market
from bot.execute import (
    ExecutionRequest,
    ExecutionResult,
    Executor,
    ExecutorConfig,
    FeeCaps,
    FeePolicy,
    StartupConfig,
    request_from_opportunity,
)
from bot.execute.keys import Signer
from bot.model.gas import GasTable
from bot.model.profit import Valuation
from bot.model.ranking import DecisionConfig, Opportunity, best_for_account
from bot.model.sizing import PairBook
from bot.model.types import ExecutionPath
from bot.protocols.aave_pool import AavePoolAdapter
from tests.model.chain_state import latest_timestamp, read_account, read_market, read_pair

BOT_KEY = "0x" + keccak(b"liqbot executor tests: a throwaway key").hex()
KEYSTORE_PASSWORD = "correct horse battery staple 7f3a"
NATIVE_PRICE = 3_000 * 10**8
GWEI = 10**9


def bot_account() -> LocalAccount:
    account: LocalAccount = Account.from_key(BOT_KEY)
    return account


BOT_ADDRESS = bot_account().address


@dataclass
class Scenario:
    market: Market
    borrowers: list[LocalAccount]

    @property
    def w3(self) -> Web3:
        return self.market.w3


def underwater_borrowers(market: Market, count: int = 1, *, seed: int = 4321) -> list[LocalAccount]:
    """WETH-collateral, USDC-debt borrowers made liquidatable by a 25% WETH drop.

    Like ``bot.deploy.borrowers.open_positions``, but the borrow carries an explicit gas
    limit: an estimate made one second before the block that mines it can fall short (the
    pool's interest update costs more once time has passed), which made set-ups flaky.
    """
    w3 = market.w3
    deployer = w3.eth.accounts[0]
    pool = market.pool
    weth, usdc = market.deployment.token("WETH"), market.deployment.token("USDC")
    collateral, debt = market.units("WETH", 10), market.units("USDC", 22_000)
    transact(w3, market.token("WETH").functions.mint(deployer, collateral * count), deployer)
    transact(w3, market.token("WETH").functions.approve(pool.address, MAX_UINT), deployer)
    borrowers = []
    for index in range(count):
        borrower = borrower_account(seed, index)
        wait_ok(
            w3,
            w3.eth.send_transaction({"from": deployer, "to": borrower.address, "value": 10**17}),  # type: ignore[typeddict-item]
            "funding a borrower",
        )
        transact(w3, pool.functions.supply(weth, collateral, borrower.address, 0), deployer)
        send_signed(
            w3, pool.functions.borrow(usdc, debt, 2, 0, borrower.address), borrower, gas=600_000
        )
        borrowers.append(borrower)
    market.set_price("WETH", Decimal("2250"), deployer)
    return borrowers


def hand_liquidator_to_bot(market: Market) -> None:
    """On the shared eth-tester market accounts[1] owns the liquidator: give it to the bot."""
    w3 = market.w3
    owner = market.liquidator.functions.owner().call()
    if owner != BOT_ADDRESS:
        transact(w3, market.liquidator.functions.transferOwnership(BOT_ADDRESS), owner)
    fund_bot(w3, 10 * 10**18)


def fund_bot(w3: Web3, wei: int) -> None:
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": BOT_ADDRESS, "value": wei})  # type: ignore[typeddict-item]


def deploy_on(w3: Web3, borrowers: int = 1) -> Scenario:
    """The market on a fresh node (anvil), owned by accounts[0], liquidator owned by the bot."""
    market = deploy_market(w3, w3.eth.accounts[0], liquidator_owner=BOT_ADDRESS)
    w3.provider.make_request("anvil_setBalance", [BOT_ADDRESS, hex(100 * 10**18)])  # type: ignore[arg-type]
    return Scenario(market, underwater_borrowers(market, borrowers))


def opportunity(
    market: Market,
    user: str,
    path: ExecutionPath = ExecutionPath.FLASH,
    *,
    base_fee: int | None = None,
    inventory: dict[str, int] | None = None,
) -> Opportunity:
    w3 = market.w3
    state = read_market(market)
    account = read_account(market, user)
    pairs = [read_pair(market, a, b) for a, b in (p.split("/") for p in market.deployment.pairs)]
    base = base_fee if base_fee is not None else int(w3.eth.get_block("latest")["baseFeePerGas"])
    opp = best_for_account(
        state,
        account,
        latest_timestamp(w3),
        pairs=PairBook.of(pairs),
        valuation=Valuation(state, NATIVE_PRICE),
        gas_table=GasTable(),
        base_fee=base,
        inventory=inventory,
        config=DecisionConfig(paths=(path,), inventory_only_without_flash=False),
    )
    assert opp is not None, f"the model found no {path} liquidation for {user}"
    return opp


def request_for(
    market: Market,
    user: str,
    path: ExecutionPath = ExecutionPath.FLASH,
    **kw: Any,
) -> ExecutionRequest:
    opp = opportunity(market, user, path, **kw)
    state = read_market(market)
    return request_from_opportunity(
        opp,
        AavePoolAdapter.from_deployment(market.deployment),
        pool=market.deployment.pool,
        liquidator=market.deployment.flash_liquidator,
        observed_block=market.w3.eth.block_number,
        expected_profit_wei=Valuation(state, NATIVE_PRICE).to_native(opp.gross_profit),
    )


def executor_config(
    market: Market,
    journal: Path,
    *,
    chain_id: int | None = None,
    max_fee: int = 500 * GWEI,
    max_tip: int = 50 * GWEI,
    **kw: Any,
) -> ExecutorConfig:
    d = market.deployment
    return ExecutorConfig(
        startup=StartupConfig(
            chain_id=chain_id if chain_id is not None else d.chain_id,
            pool=d.pool,
            oracle=d.oracle,
            liquidator=d.flash_liquidator,
            min_gas_balance_wei=10**16,
        ),
        fees=FeePolicy(FeeCaps(max_fee, max_tip)),
        journal_path=journal,
        lock_dir=journal.parent / "locks",
        **kw,
    )


def open_batch_executor(
    w3: Web3, market: Market, journal: Path, signer: Signer, **kw: Any
) -> Executor:
    """An executor for the batch tests: confirmed after one block, no gas estimates, room
    for a hundred sends in flight (``kw`` overrides or adds to the config)."""
    config = executor_config(
        market,
        journal,
        **{"confirmations": 1, "estimate_gas": False, "max_in_flight": 100, **kw},
    )
    return Executor.open(w3, config, signer, out=lambda _: None)


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response.get("result")


def mine(w3: Web3, blocks: int = 1, *, base_fee: int | None = None) -> None:
    for _ in range(blocks):
        if base_fee is not None:
            rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(base_fee))
        rpc(w3, "evm_mine")


def automine(w3: Web3, on: bool) -> None:
    rpc(w3, "anvil_setAutomine", on)


def batch_in_block(ex: Executor, requests: list[ExecutionRequest]) -> list[ExecutionResult]:
    """``execute_batch`` between the block's reads and their end, as the run loop calls it."""
    assert ex.begin_block() is not None
    try:
        return ex.execute_batch(requests)
    finally:
        ex.end_block()
