"""The transaction manager on anvil with mining under the test's control: stuck transactions,
fee caps, dropped transactions, competitors, foreign nonces, nonce holes, reorgs.

Each test ends by checking "nothing lost" from the chain (tests/execute/invariants.py).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from eth_account import Account
from web3 import Web3
from web3.types import Wei

from bot.deploy.market import MAX_UINT
from bot.execute import ExecutionResult, Executor, IntentState, Status
from bot.execute.fees import is_valid_replacement
from bot.execute.journal import AttemptKind, AttemptState
from bot.execute.keys import Signer
from bot.execute.simulate import RevertKind
from tests.execute.invariants import assert_nothing_lost, figures
from tests.execute.scenario import (
    BOT_ADDRESS,
    BOT_KEY,
    GWEI,
    Scenario,
    automine,
    executor_config,
    mine,
    request_for,
    rpc,
)

pytestmark = pytest.mark.anvil


def _open(sc: Scenario, tmp_path: Path, signer: Signer, **kw: object) -> Executor:
    kw.setdefault("confirmations", 2)
    kw.setdefault("stuck_blocks", 2)
    config = executor_config(sc.market, tmp_path / "journal.sqlite", **kw)  # type: ignore[arg-type]
    return Executor.open(sc.w3, config, signer, out=lambda _: None)


def _id(result: ExecutionResult) -> int:
    assert result.intent_id is not None
    return result.intent_id


def _receipts(w3: Web3, hashes: list[str]) -> list[str]:
    mined = []
    for h in hashes:
        try:
            w3.eth.get_transaction_receipt(h)  # type: ignore[arg-type]
        except Exception:
            continue
        mined.append(h)
    return mined


def test_stuck_transaction_is_replaced_and_mined(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = replace(request_for(sc.market, sc.borrowers[0].address), priority_fee_per_gas=GWEI)
    ex = _open(sc, tmp_path, signer, max_fee=500 * GWEI, max_tip=20 * GWEI)
    automine(w3, False)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)

    result = ex.execute(request)
    assert result.sent and result.fees is not None
    high = result.fees.max_fee_per_gas * 2  # the base fee jumps above our max fee
    mine(w3, 2, base_fee=high)
    ex.poll()
    assert ex.journal is not None
    attempts = ex.journal.attempts(_id(result))
    assert [a.kind for a in attempts] == [AttemptKind.ORIGINAL, AttemptKind.REPLACEMENT]
    mine(w3, base_fee=high)  # the replacement fits under this base fee
    ex.poll()
    mine(w3)
    updates = ex.poll()
    assert [u.after for u in updates] == [IntentState.CONFIRMED]

    attempts = ex.journal.attempts(_id(result))
    for old, new in itertools.pairwise(attempts):
        assert is_valid_replacement(old.fees, new.fees)  # both fields up by >= 12.5%
        assert new.fees.max_priority_fee_per_gas * 8 >= old.fees.max_priority_fee_per_gas * 9
        assert new.fees.max_fee_per_gas * 8 >= old.fees.max_fee_per_gas * 9
    assert all(a.fees.max_fee_per_gas <= 500 * GWEI for a in attempts)
    assert all(a.fees.max_priority_fee_per_gas <= 20 * GWEI for a in attempts)
    assert _receipts(w3, [a.tx_hash for a in attempts]) == [attempts[-1].tx_hash]
    assert [a.state for a in attempts] == [AttemptState.REPLACED, AttemptState.CONFIRMED]
    (entry,) = ex.ledger()
    assert entry.outcome == "liquidated"
    assert entry.realised_profit > 0 and entry.gas_burnt_wei == 0

    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert len(f.bot_txs) == 1 and f.gas_paid_on_chain == entry.gas_paid_wei > 0
    assert f.balance_change == -entry.gas_paid_wei
    ex.close()


def test_bumps_stop_at_the_cap_and_one_transaction_is_mined(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = replace(request_for(sc.market, sc.borrowers[0].address), priority_fee_per_gas=GWEI)
    cap = 40 * GWEI
    ex = _open(sc, tmp_path, signer, max_fee=cap, max_tip=4 * GWEI, stuck_blocks=1)
    automine(w3, False)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    result = ex.execute(request)
    assert result.sent
    assert ex.journal is not None
    rounds_after_cap = 0
    for _ in range(60):  # the base fee keeps outrunning our bids until they reach the cap
        top = max(a.fees.max_fee_per_gas for a in ex.journal.attempts(_id(result)))
        mine(w3, base_fee=top + GWEI)
        ex.poll()
        if ex.journal.events("fee_cap"):
            rounds_after_cap += 1
            if rounds_after_cap == 4:
                break
    assert rounds_after_cap == 4
    attempts = ex.journal.attempts(_id(result))
    assert len(attempts) >= 3
    for old, new in itertools.pairwise(attempts):
        assert is_valid_replacement(old.fees, new.fees)
    assert all(a.fees.max_fee_per_gas <= cap for a in attempts)
    assert all(a.fees.max_priority_fee_per_gas <= 4 * GWEI for a in attempts)
    assert cap * 8 < attempts[-1].fees.max_fee_per_gas * 9  # it climbed to within a bump
    assert ex.journal.intent(_id(result)).state is not IntentState.CONFIRMED

    mine(w3, 3, base_fee=GWEI)  # the spike passes: whatever is in the pool gets mined
    for _ in range(3):
        ex.poll()
        mine(w3)
    assert ex.journal.intent(_id(result)).state is IntentState.CONFIRMED
    mined = _receipts(w3, [a.tx_hash for a in ex.journal.attempts(_id(result))])
    assert len(mined) == 1  # one transaction per nonce
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.mined_nonces == [0]
    ex.close()


def test_dropped_transaction_is_rebroadcast_at_the_same_nonce(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    ex = _open(sc, tmp_path, signer)
    automine(w3, False)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    result = ex.execute(request)
    assert result.sent and result.tx_hash is not None
    rpc(w3, "anvil_dropTransaction", result.tx_hash)
    assert w3.eth.get_transaction_count(BOT_ADDRESS, "pending") == 0
    ex.poll()  # not in the pool, nonce free: the same signed bytes go out again
    assert ex.journal is not None
    (attempt,) = ex.journal.attempts(_id(result))
    assert attempt.broadcasts == 2 and attempt.nonce == 0
    assert w3.eth.get_transaction(result.tx_hash)["nonce"] == 0  # type: ignore[arg-type]
    states = [t.to_state for t in ex.journal.transitions(result.intent_id)]
    assert "dropped" in states
    mine(w3, 2)
    ex.poll()
    assert ex.journal.intent(_id(result)).state is IntentState.CONFIRMED
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.bot_txs == [result.tx_hash]
    ex.close()


def _arm_rival(sc: Scenario) -> str:
    """accounts[2], a rival liquidator, gets USDC and approves the pool (mined at once)."""
    w3 = sc.w3
    rival = list(w3.eth.accounts)[2]
    usdc = sc.market.token("USDC")
    usdc.functions.mint(rival, sc.market.units("USDC", 100_000)).transact(
        {"from": w3.eth.accounts[0]}
    )
    usdc.functions.approve(sc.market.deployment.pool, MAX_UINT).transact({"from": rival})
    return str(rival)


def _rival_liquidates(sc: Scenario, user: str, tip: int) -> str:
    """The rival liquidates ``user`` in full, with a high tip; returns the hash."""
    tx = sc.market.pool.functions.liquidationCall(
        sc.market.deployment.token("WETH"),
        sc.market.deployment.token("USDC"),
        user,
        MAX_UINT,
        False,
    ).transact(
        {
            "from": list(sc.w3.eth.accounts)[2],
            "maxPriorityFeePerGas": Wei(tip),
            "maxFeePerGas": Wei(tip + 200 * GWEI),
            "gas": 1_000_000,
        }
    )
    if sc.w3.provider.make_request("anvil_getAutomine", []).get("result"):  # type: ignore[arg-type]
        sc.w3.eth.wait_for_transaction_receipt(tx)  # mined: not merely accepted
    return "0x" + bytes(tx).hex()


def test_competitor_lands_first_and_ours_is_not_sent(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    user = sc.borrowers[0].address
    request = request_for(sc.market, user)
    ex = _open(sc, tmp_path, signer)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    _arm_rival(sc)
    _rival_liquidates(sc, user, 5 * GWEI)  # automine: lands now

    result = ex.execute(request)
    assert result.status is Status.SIMULATION_REVERTED
    assert result.revert_kind is RevertKind.LOST_TO_COMPETITOR
    assert ex.journal is not None
    assert ex.journal.attempts() == [] and ex.journal.intents() == []
    assert any(k == "not_sent:simulation_reverted" for k, _ in ex.journal.events())
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert f.bot_txs == [] and f.balance_change == 0
    ex.close()


def test_competitor_lands_in_the_same_block_and_ours_reverts_cheaply(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    user = sc.borrowers[0].address
    request = replace(request_for(sc.market, user), priority_fee_per_gas=GWEI)
    ex = _open(sc, tmp_path, signer, confirmations=1)
    _arm_rival(sc)  # the rival's setup first, then mining off for the race
    automine(w3, False)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    result = ex.execute(request)
    assert result.sent
    _rival_liquidates(sc, user, 30 * GWEI)
    mine(w3)  # the rival's higher tip goes first; ours hits the profit guard
    updates = ex.poll()
    assert [u.after for u in updates] == [IntentState.FAILED]
    assert ex.journal is not None
    intent = ex.journal.intent(_id(result))
    assert intent.outcome == "reverted:lost_to_competitor"
    (entry,) = ex.ledger()
    receipt = w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 0
    assert (
        entry.gas_burnt_wei
        == entry.gas_paid_wei
        == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    )
    assert receipt["gasUsed"] < 250_000  # a revert, far below the liquidation's gas
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.liquidations_per_key == {}
    # The position is re-evaluated, not retried blindly: the same request now fails simulation.
    again = ex.execute(request)
    assert again.status is Status.SIMULATION_REVERTED
    assert again.revert_kind is RevertKind.LOST_TO_COMPETITOR
    ex.close()


def test_pending_transaction_is_cancelled_when_the_opportunity_goes(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    user = sc.borrowers[0].address
    request = replace(request_for(sc.market, user), priority_fee_per_gas=GWEI)
    ex = _open(sc, tmp_path, signer, confirmations=1, stuck_blocks=50)
    _arm_rival(sc)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    automine(w3, False)
    result = ex.execute(request)
    assert result.sent and result.fees is not None
    # Our transaction waits below the base fee; the rival pays enough and lands.
    high = result.fees.max_fee_per_gas + GWEI
    rival = _rival_liquidates(sc, user, 10 * GWEI)
    mine(w3, base_fee=high)
    assert w3.eth.get_transaction_receipt(rival)["status"] == 1  # type: ignore[arg-type]
    ex.poll()  # the re-simulation reverts: cancel at the same nonce
    assert ex.journal is not None
    attempts = ex.journal.attempts(_id(result))
    assert [a.kind for a in attempts] == [AttemptKind.ORIGINAL, AttemptKind.CANCEL]
    cancel = attempts[1]
    assert cancel.to == BOT_ADDRESS and cancel.value == 0 and cancel.nonce == attempts[0].nonce
    assert is_valid_replacement(attempts[0].fees, cancel.fees)
    mine(w3)
    ex.poll()
    intent = ex.journal.intent(_id(result))
    assert intent.state is IntentState.CANCELLED
    (entry,) = ex.ledger()
    assert entry.outcome == "cancelled" and entry.gas_used == 21_000
    assert entry.gas_burnt_wei == entry.gas_paid_wei
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.bot_txs == [cancel.tx_hash]
    ex.close()


def test_a_nonce_used_by_another_process_is_noticed(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    ex = _open(sc, tmp_path, signer, confirmations=1)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    assert ex.journal is not None and ex.journal.next_nonce() == 0
    # Another process signs with the same key at our next nonce (automine: it lands).
    other = Account.from_key(BOT_KEY).sign_transaction(
        {
            "chainId": w3.eth.chain_id,
            "nonce": 0,
            "to": BOT_ADDRESS,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        }
    )
    foreign = "0x" + bytes(w3.eth.send_raw_transaction(other.raw_transaction)).hex()

    result = ex.execute(request)
    assert result.status is Status.NONCE_CONFLICT
    assert ex.journal.attempts() == []  # nothing signed at the used nonce
    assert ex.journal.next_nonce() == 1
    assert [k for k, _ in ex.journal.events("foreign_nonce")] == ["foreign_nonce"]

    result = ex.execute(request)  # re-evaluated on the next round, at the next nonce
    assert result.sent and result.nonce == 1
    mine(w3)
    ex.poll()
    assert ex.journal.intent(_id(result)).state is IntentState.CONFIRMED
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f, foreign=1)
    assert f.bot_txs == [foreign, result.tx_hash]
    assert f.gas_paid_on_chain - f.gas_in_ledger == 21_000 * int(
        w3.eth.get_transaction_receipt(foreign)["effectiveGasPrice"]  # type: ignore[arg-type]
    )
    ex.close()


def test_our_pending_nonce_taken_by_another_sender_is_replaced(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = replace(request_for(sc.market, sc.borrowers[0].address), priority_fee_per_gas=GWEI)
    ex = _open(sc, tmp_path, signer, confirmations=1)
    automine(w3, False)
    result = ex.execute(request)
    assert result.sent and result.fees is not None
    other = Account.from_key(BOT_KEY).sign_transaction(
        {
            "chainId": w3.eth.chain_id,
            "nonce": 0,
            "to": BOT_ADDRESS,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": result.fees.max_fee_per_gas * 2,
            "maxPriorityFeePerGas": result.fees.max_priority_fee_per_gas * 2,
        }
    )
    w3.eth.send_raw_transaction(other.raw_transaction)  # replaces ours in the pool
    mine(w3)
    updates = ex.poll()
    assert [u.after for u in updates] == [IntentState.REPLACED]
    assert ex.journal is not None
    assert ex.journal.intent(_id(result)).outcome == "replaced_by_other"
    (entry,) = ex.ledger()
    assert entry.outcome == "replaced_by_other" and entry.gas_paid_wei == 0
    assert ex.journal.next_nonce() == 1 == w3.eth.get_transaction_count(BOT_ADDRESS)
    ex.close()


def test_a_nonce_hole_is_healed_with_a_self_send(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    ex = _open(sc, tmp_path, signer, confirmations=1)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    assert ex.journal is not None
    ex.journal.advance_nonce(1, "test: the counter ran ahead of the chain")  # hole at nonce 0
    automine(w3, False)
    assert ex.execute(request).status is Status.BUSY  # nothing new while a hole is open
    ex.poll()  # heals nonce 0 with a zero-value self-send
    result = ex.execute(request)
    assert result.sent and result.nonce == 1
    mine(w3)
    ex.poll()
    mine(w3)
    ex.poll()
    kinds = {i.kind: i.state for i in ex.journal.intents()}
    assert kinds == {"heal": IntentState.CONFIRMED, "liquidation": IntentState.CONFIRMED}
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.mined_nonces == [0, 1]
    ex.close()


def test_reorg_before_the_confirmation_depth_is_not_confirmed_early(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    ex = _open(sc, tmp_path, signer, confirmations=3)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    automine(w3, False)
    result = ex.execute(request)
    assert result.sent
    mine(w3)
    ex.poll()
    assert ex.journal is not None
    assert ex.journal.intent(_id(result)).state is IntentState.MINED
    rpc(w3, "anvil_reorg", 1, [])  # the block with our transaction is replaced by an empty one
    assert w3.eth.get_transaction_count(BOT_ADDRESS) == 0
    ex.poll()  # the receipt is gone: back to pending; the same bytes rebroadcast if needed
    state = ex.journal.intent(_id(result)).state
    assert state in (IntentState.SENT, IntentState.DROPPED)
    assert "reorg" in [k for k, _ in ex.journal.events()]
    for _ in range(4):
        mine(w3)
        ex.poll()
    assert ex.journal.intent(_id(result)).state is IntentState.CONFIRMED
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.bot_txs == [result.tx_hash]
    ex.close()


def test_interval_mining_confirms_by_polling(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    ex = _open(sc, tmp_path, signer)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    rpc(w3, "evm_setIntervalMining", 1)  # a block a second, on its own
    result = ex.execute(request)
    assert result.sent
    deadline = time.monotonic() + 20
    while ex.in_flight() and time.monotonic() < deadline:
        ex.poll()
        time.sleep(0.2)
    rpc(w3, "evm_setIntervalMining", 0)
    assert ex.journal is not None
    assert ex.journal.intent(_id(result)).state is IntentState.CONFIRMED
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.bot_txs == [result.tx_hash]
    ex.close()


def test_a_send_that_times_out_after_the_node_took_it_is_maybe_sent(
    anvil_scenario: Scenario, tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = anvil_scenario
    w3 = sc.w3
    request = request_for(sc.market, sc.borrowers[0].address)
    ex = _open(sc, tmp_path, signer)
    automine(w3, False)
    start, balance = w3.eth.block_number, w3.eth.get_balance(BOT_ADDRESS)
    real_send = ex.node.send_raw

    def send_then_time_out(raw: bytes) -> str:
        real_send(raw)  # the node has it...
        raise requests.ReadTimeout("read timed out")  # ...but the answer is lost

    monkeypatch.setattr(ex.node, "send_raw", send_then_time_out)
    result = ex.execute(request)
    assert result.sent and "maybe" in result.detail
    monkeypatch.undo()
    ex.poll()  # looked up by hash: in the pool; no new nonce, no second transaction
    assert ex.journal is not None
    (attempt,) = ex.journal.attempts(_id(result))
    assert attempt.state is AttemptState.SENT and ex.journal.next_nonce() == 1
    mine(w3, 2)
    ex.poll()
    assert ex.journal.intent(_id(result)).state is IntentState.CONFIRMED
    f = figures(w3, ex.journal, BOT_ADDRESS, start, balance)
    assert_nothing_lost(f)
    assert f.bot_txs == [result.tx_hash]
    ex.close()
