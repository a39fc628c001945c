"""The auction keeper against a crash with 50 unsafe vaults on anvil (a real JSON-RPC node):
the same run and the same chain-read assertions as on eth-tester."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3
from web3.types import Wei

from bot.chain.anvil import Anvil
from bot.deploy.market import MAX_UINT
from bot.run.keeper import KeeperConfig
from tests.contracts.auction_fixtures import WETH, AnvilControl
from tests.run.keeper_harness import build_keeper_env, crash_weth, first_take, start_keeper
from tests.run.test_keeper import CrashOutcome, check_crash, crash_outcome

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def anvil_crash() -> Iterator[CrashOutcome]:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        env = build_keeper_env(w3, AnvilControl(w3))
        outcome = crash_outcome(env, 50, seed=11)
        try:
            yield outcome
        finally:
            outcome.run.close()


def test_keeper_liquidates_a_50_vault_crash_on_anvil(anvil_crash: CrashOutcome) -> None:
    figures = check_crash(anvil_crash)
    print("keeper crash (anvil):", figures)
    assert figures["vaults"] == 50
    assert figures["barks"] >= 50


def test_a_rival_first_in_the_same_block_makes_the_keepers_take_revert_cheaply() -> None:
    """The keeper's take is simulated and sent; a rival's take with a higher tip lands first
    in the same block; the keeper's transaction reverts early and cheaply and the journal
    records it as lost to a competitor (the rival's ``Take`` of the same auction)."""
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        env = build_keeper_env(w3, AnvilControl(w3))
        for token in (env.token(WETH), env.stable):
            env.send(token.functions.approve(env.am.router.address, MAX_UINT), env.deployer)
        crash_weth(env, 2, seed=41)
        run = start_keeper(env, KeeperConfig(block_time=2))
        try:
            action, snapshot = first_take(run, env)
            dutch = env.dutch(WETH)
            rival = env.users[6]
            sale = env.sale(WETH, action.auction_id)
            env.fund_stable(rival, sale["tab"] * 2)
            env.approve_stable(rival, dutch.address)
            rpc = w3.provider.make_request  # type: ignore[attr-defined]
            rpc("evm_setAutomine", [False])
            try:
                result = run.executor.execute(run.keeper.request_for(action, snapshot))
                assert result.sent, result
                rival_tx = dutch.functions.take(
                    action.auction_id, sale["lot"], 2**255, rival, b""
                ).transact(
                    {
                        "from": rival,
                        "gas": 1_500_000,
                        "maxPriorityFeePerGas": Wei(500 * 10**9),
                        "maxFeePerGas": Wei(1_000 * 10**9),
                    }
                )
                rpc("evm_mine", [])
            finally:
                rpc("evm_setAutomine", [True])
            theirs = w3.eth.get_transaction_receipt(rival_tx)
            ours = w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
            assert theirs["status"] == 1 and ours["status"] == 0
            assert theirs["blockNumber"] == ours["blockNumber"]
            assert theirs["transactionIndex"] < ours["transactionIndex"]
            assert ours["gasUsed"] < 100_000  # a full take uses about 280k
            env.advance(2)
            run.keeper.step()
            (entry,) = [e for e in run.executor.ledger() if e.tx_hash == result.tx_hash]
            # the executor's scan found the rival's Take of this auction
            assert entry.outcome == "reverted:lost_to_competitor", entry
            assert entry.gas_burnt_wei == ours["gasUsed"] * ours["effectiveGasPrice"]
        finally:
            run.close()
