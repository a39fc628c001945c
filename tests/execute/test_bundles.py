"""Several liquidations in one transaction (``bundle_size``, the liquidator's ``tryEach``),
on anvil through JSON-RPC (issue 8): one signature, nonce and broadcast for the lot; each
item still checked, judged by its own event in the shared receipt, and accounted on its own;
an item a competitor took first fails alone; a bundle nobody wants is cancelled."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from web3 import Web3

from bot.execute import ExecutionRequest, Executor, Status
from bot.execute.executor import LIQUIDATED_TOPIC
from bot.execute.journal import AttemptKind, IntentKind, IntentState
from bot.execute.keys import Signer
from bot.execute.simulate import TRY_EACH
from tests.execute.scenario import (
    BOT_ADDRESS,
    GWEI,
    Scenario,
    automine,
    batch_in_block,
    deploy_on,
    mine,
    open_batch_executor,
    request_for,
)
from tests.execute.test_txmanager import _arm_rival, _rival_liquidates

GAS_LIMIT = 700_000


@pytest.fixture
def three(anvil_w3: Web3) -> Scenario:
    return deploy_on(anvil_w3, borrowers=3)


def _open(sc: Scenario, tmp_path: Path, signer: Signer, **kw: Any) -> Executor:
    return open_batch_executor(
        sc.w3, sc.market, tmp_path / "journal.sqlite", signer, **{"bundle_size": 8, **kw}
    )


def _requests(sc: Scenario, count: int, tip: int = 2 * GWEI) -> list[ExecutionRequest]:
    return [
        replace(request_for(sc.market, b.address), gas_limit=GAS_LIMIT, priority_fee_per_gas=tip)
        for b in sc.borrowers[:count]
    ]


def _profits(w3: Web3, tx_hash: str, liquidator: str) -> dict[str, int]:
    """The profit of each ``Liquidated`` event in the receipt, by user."""
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    out = {}
    for entry in receipt["logs"]:
        if entry["address"] == liquidator and bytes(entry["topics"][0]) == LIQUIDATED_TOPIC:
            user = Web3.to_checksum_address(bytes(entry["topics"][1])[12:])
            out[user] = int(abi_decode(["uint256"] * 3 + ["bool"], bytes(entry["data"]))[2])
    return out


def test_a_batch_goes_out_as_one_transaction_and_each_item_is_accounted(
    three: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = three
    w3 = sc.w3
    requests = [
        replace(r, priority_fee_per_gas=tip * GWEI)
        for r, tip in zip(_requests(sc, 3), (1, 2, 6), strict=True)
    ]
    before = [_debt(sc, b.address) for b in sc.borrowers]
    ex = _open(sc, tmp_path, signer)
    automine(w3, False)
    results = batch_in_block(ex, requests)
    assert [r.status for r in results] == [Status.SENT] * 3
    assert len({(r.tx_hash, r.nonce, r.intent_id) for r in results}) == 1
    pool = w3.provider.make_request("txpool_content", [])["result"]  # type: ignore[arg-type]
    (pending,) = pool["pending"][BOT_ADDRESS.lower()].values()
    assert bytes.fromhex(pending["input"][2:])[:4] == TRY_EACH
    assert int(pending["gas"], 16) == sum(r.gas_limit for r in results)
    # One tip per gas for the lot: the items' bids averaged by gas (in total, what they bid).
    gas = [r.gas_limit for r in results]
    tip = sum(g * r.priority_fee_per_gas for g, r in zip(gas, requests, strict=True)) // sum(gas)
    assert int(pending["maxPriorityFeePerGas"], 16) == tip == 3 * GWEI
    assert all(r.fees is not None and r.fees.max_priority_fee_per_gas == tip for r in results)

    # In flight: every item's key, one slot of the cap each; none may be sent again.
    assert ex.journal is not None
    assert set(ex.in_flight_keys()) == {r.key for r in requests}
    assert ex.journal.count_open(IntentKind.LIQUIDATION) == 3
    (again,) = batch_in_block(ex, requests[1:2])
    assert again.status is Status.IN_FLIGHT

    mine(w3)
    updates = ex.poll()
    assert [u.after for u in updates] == [IntentState.CONFIRMED]
    (intent,) = ex.journal.intents()
    assert intent.kind is IntentKind.BUNDLE and intent.keys == tuple(r.key for r in requests)
    tx_hash = results[0].tx_hash
    assert tx_hash is not None
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    profits = _profits(w3, tx_hash, sc.market.deployment.flash_liquidator)
    ledger = ex.ledger()
    assert [e.opportunity_key for e in ledger] == [r.key for r in requests]
    assert [e.outcome for e in ledger] == ["liquidated"] * 3
    # Each item's realised profit is its own event's, and what its in-order simulation said.
    assert [e.realised_profit for e in ledger] == [profits[r.user] for r in requests]
    assert [e.realised_profit for e in ledger] == [r.simulated_profit for r in results]
    assert all(p > 0 for p in profits.values())
    assert sum(e.gas_paid_wei for e in ledger) == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert sum(e.gas_burnt_wei for e in ledger) == 0
    after = [_debt(sc, b.address) for b in sc.borrowers]
    assert all(a < b for a, b in zip(after, before, strict=True))  # each one liquidated
    ex.close()


def _debt(sc: Scenario, user: str) -> int:
    return int(sc.market.pool.functions.getUserAccountData(user).call()[1])


def test_an_item_a_competitor_took_fails_alone_and_may_be_tried_again(
    three: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = three
    w3 = sc.w3
    requests = _requests(sc, 2, tip=GWEI)
    ex = _open(sc, tmp_path, signer)
    _arm_rival(sc)
    automine(w3, False)
    results = batch_in_block(ex, requests)
    assert [r.status for r in results] == [Status.SENT] * 2 and results[0].tx_hash is not None
    _rival_liquidates(sc, requests[1].user, 30 * GWEI)
    mine(w3)  # the rival's higher tip goes first; our second item hits its profit guard
    receipt = w3.eth.get_transaction_receipt(results[0].tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1
    assert ex.poll()[0].after is IntentState.CONFIRMED
    first, second = ex.ledger()
    assert (first.outcome, second.outcome) == ("liquidated", "reverted:lost_to_competitor")
    assert first.realised_profit > 0 and second.realised_profit == 0
    assert second.gas_burnt_wei == second.gas_paid_wei > 0
    paid = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert first.gas_paid_wei + second.gas_paid_wei == paid
    assert "lost_to_competitor" not in first.detail and requests[1].user in second.detail
    # The failed item is neither in flight nor done: re-decided, it is simulated again
    # (and now reverts for the rival); the liquidated one is done since its decision.
    retry = batch_in_block(ex, [replace(requests[1], observed_block=w3.eth.block_number)])
    assert retry[0].status is Status.SIMULATION_REVERTED
    (done,) = batch_in_block(ex, requests[:1])
    assert done.status is Status.ALREADY_DONE
    ex.close()


def test_a_bundle_whose_items_all_went_is_cancelled_and_each_item_says_so(
    three: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = three
    w3 = sc.w3
    requests = _requests(sc, 2, tip=GWEI)
    ex = _open(sc, tmp_path, signer, stuck_blocks=50)
    _arm_rival(sc)
    automine(w3, False)
    results = batch_in_block(ex, requests)
    assert results[0].fees is not None and results[0].tx_hash == results[1].tx_hash
    high = results[0].fees.max_fee_per_gas + GWEI  # ours waits below the base fee
    for request in requests:
        _rival_liquidates(sc, request.user, 10 * GWEI)
    mine(w3, base_fee=high)
    ex.poll()  # the bundle's re-simulation: no item pays; cancelled at the same nonce
    assert ex.journal is not None
    (intent,) = ex.journal.intents()
    kinds = [a.kind for a in ex.journal.attempts(intent.id)]
    assert kinds == [AttemptKind.ORIGINAL, AttemptKind.CANCEL]
    mine(w3)
    ex.poll()
    assert ex.journal.intent(intent.id).state is IntentState.CANCELLED
    ledger = ex.ledger()
    assert [e.outcome for e in ledger] == ["cancelled", "cancelled"]
    cancel = ex.journal.attempts(intent.id)[1]
    assert cancel.gas_paid > 0
    assert sum(e.gas_burnt_wei for e in ledger) == cancel.gas_paid
    assert ex.in_flight_keys() == []
    ex.close()


def test_without_bundles_each_liquidation_is_its_own_transaction(
    three: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = three
    ex = _open(sc, tmp_path, signer, bundle_size=1)
    automine(sc.w3, False)
    results = batch_in_block(ex, _requests(sc, 3))
    assert [r.status for r in results] == [Status.SENT] * 3
    assert len({r.tx_hash for r in results}) == 3
    assert [r.nonce for r in results] == [0, 1, 2]
    assert ex.journal is not None
    assert {i.kind for i in ex.journal.intents()} == {IntentKind.LIQUIDATION}
    ex.close()


def test_cancelling_an_item_cancels_the_bundle_that_holds_it(
    three: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = three
    w3 = sc.w3
    requests = _requests(sc, 2, tip=GWEI)
    before = [_debt(sc, r.user) for r in requests]
    ex = _open(sc, tmp_path, signer, stuck_blocks=50)
    automine(w3, False)
    results = batch_in_block(ex, requests)
    assert results[0].tx_hash == results[1].tx_hash
    attempt = ex.cancel(requests[1].key, "the operator's call")
    assert attempt is not None and attempt.kind is AttemptKind.CANCEL
    assert attempt.nonce == results[0].nonce
    mine(w3)
    ex.poll()
    assert ex.journal is not None
    (intent,) = ex.journal.intents()
    assert intent.state is IntentState.CANCELLED
    assert [e.outcome for e in ex.ledger()] == ["cancelled", "cancelled"]
    after = [_debt(sc, r.user) for r in requests]
    assert all(a >= b for a, b in zip(after, before, strict=True))  # neither liquidated
    assert ex.in_flight_keys() == []
    assert ex.cancel(requests[0].key) is None  # nothing left in flight to cancel
    ex.close()
