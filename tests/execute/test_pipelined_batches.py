"""Two batches at once (issue 8): while one batch's broadcasts are on their way to the node,
the next batch is simulated, signed and journaled; the broadcasts still leave in nonce
order, and everything sent is mined in that order."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bot.execute import Executor, Status
from bot.execute.keys import Signer
from tests.execute.scenario import (
    Scenario,
    automine,
    deploy_on,
    mine,
    open_batch_executor,
    request_for,
)


def _open(w3: Web3, sc: Scenario, tmp_path: Path, signer: Signer) -> Executor:
    return open_batch_executor(w3, sc.market, tmp_path / "journal.sqlite", signer)


@pytest.mark.anvil
def test_the_next_batch_is_staged_while_one_broadcasts_and_both_go_out_in_nonce_order(
    anvil_w3: Web3, tmp_path: Path, signer: Signer
) -> None:
    sc = deploy_on(anvil_w3, borrowers=4)
    # Sent with the model's gas and no node estimate: room enough for a flash liquidation
    # on a freshly deployed market (its first touches of storage cost the most).
    requests = [
        replace(request_for(sc.market, b.address), gas_limit=1_000_000) for b in sc.borrowers
    ]
    ex = _open(anvil_w3, sc, tmp_path, signer)
    assert ex.pipelined
    automine(anvil_w3, False)
    try:
        assert ex.begin_block() is not None
        # The node's transport, watched: the first batch's broadcast is held at the node's
        # door until the second batch has been simulated (the step before its signing).
        second_simulated = threading.Event()
        first_broadcasting = threading.Event()
        broadcasts: list[str] = []
        real_batch = ex.node.batch

        def watched(calls: Any) -> Any:
            name = threading.current_thread().name
            sending = bool(calls) and calls[0][0] == "eth_sendRawTransaction"
            if sending:
                broadcasts.append(name)
                if name == "first":
                    first_broadcasting.set()
                    assert second_simulated.wait(30), "the second batch was not staged meanwhile"
            answers = real_batch(calls)
            if not sending and name == "second":
                second_simulated.set()
            return answers

        ex.node.batch = watched  # type: ignore[method-assign]
        results: dict[str, list[Any]] = {}

        def run(name: str, batch: list[Any]) -> None:
            results[name] = ex.execute_batch(batch)

        first = threading.Thread(target=run, args=("first", requests[:2]), name="first")
        second = threading.Thread(target=run, args=("second", requests[2:]), name="second")
        first.start()
        assert first_broadcasting.wait(30)
        second.start()
        first.join(60)
        second.join(60)
        assert not first.is_alive() and not second.is_alive()
        ex.end_block()

        assert second_simulated.is_set()
        assert broadcasts == ["first", "second"]
        assert [(r.status, r.nonce) for r in results["first"]] == [
            (Status.SENT, 0),
            (Status.SENT, 1),
        ]
        assert [(r.status, r.nonce) for r in results["second"]] == [
            (Status.SENT, 2),
            (Status.SENT, 3),
        ]
        mine(anvil_w3)
        # All four in one block, in nonce order, and each liquidated.
        receipts = [
            anvil_w3.eth.get_transaction_receipt(r.tx_hash)  # type: ignore[arg-type]
            for r in results["first"] + results["second"]
        ]
        assert len({int(r["blockNumber"]) for r in receipts}) == 1
        assert [int(r["transactionIndex"]) for r in receipts] == [0, 1, 2, 3]
        assert [int(r["status"]) for r in receipts] == [1, 1, 1, 1]
    finally:
        automine(anvil_w3, True)
        ex.close()


def test_a_node_that_cannot_batch_is_never_pipelined(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    ex = _open(bot_scenario.w3, bot_scenario, tmp_path, signer)
    try:
        assert not ex.pipelined  # eth-tester: one request at a time, and not thread-safe
    finally:
        ex.close()
