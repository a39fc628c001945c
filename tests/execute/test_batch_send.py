"""A batch sent in steps (issue 8): the caller's thread checks, signs and journals; only the
simulation and the broadcast run on their own worker threads. The journal still commits
every signed attempt before its broadcast, batches take their nonces in the order they are
signed, and the broadcasts leave in that order, on anvil (the JSON-RPC path a testnet uses).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
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


@pytest.fixture
def pools() -> Iterator[tuple[ThreadPoolExecutor, ThreadPoolExecutor]]:
    simulations = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulate")
    broadcasts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broadcast")
    yield simulations, broadcasts
    simulations.shutdown()
    broadcasts.shutdown()


def _open(w3: Web3, sc: Scenario, path: Path, signer: Signer) -> Executor:
    return open_batch_executor(w3, sc.market, path, signer)


@pytest.mark.anvil
def test_batches_in_steps_journal_before_broadcast_and_go_out_in_nonce_order(
    anvil_w3: Web3,
    tmp_path: Path,
    signer: Signer,
    pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    sc = deploy_on(anvil_w3, borrowers=4)
    requests = [
        replace(request_for(sc.market, b.address), gas_limit=1_000_000) for b in sc.borrowers
    ]
    journal_path = tmp_path / "journal.sqlite"
    ex = _open(anvil_w3, sc, journal_path, signer)
    automine(anvil_w3, False)
    calls: list[tuple[str, str]] = []
    committed_at_broadcast: list[bool] = []
    real_batch = ex.node.batch

    def watched(batch: Any) -> Any:
        method = batch[0][0] if batch else ""
        calls.append((threading.current_thread().name, method))
        if method == "eth_sendRawTransaction":
            # What another connection sees is what is on disk: every attempt broadcast
            # here must be there already.
            hashes = [Web3.keccak(hexstr=params[0]).hex().removeprefix("0x") for _, params in batch]
            with closing(sqlite3.connect(journal_path)) as reader:
                stored = {
                    row[0].removeprefix("0x")
                    for row in reader.execute("SELECT tx_hash FROM attempts WHERE state = 'signed'")
                }
            committed_at_broadcast.append(set(hashes) <= stored)
        return real_batch(batch)

    ex.node.batch = watched  # type: ignore[method-assign]
    try:
        assert ex.begin_block() is not None
        first = ex.start_batch(requests[:2], *pools)
        second = ex.start_batch(requests[2:], *pools)
        assert first is not None and second is not None
        first.start()
        second.start()
        for batch in (first, second):
            assert batch.waiting_on is not None
            batch.waiting_on.result(30)
            assert batch.simulated and not batch.signed and not batch.broadcast
        main = threading.current_thread().name
        simulated_by = {thread for thread, method in calls if method == "eth_call"}
        assert simulated_by == {"simulate_0"}
        first.sign()
        second.sign()
        first_results, first_at = first.finish()
        second_results, second_at = second.finish()
        ex.end_block()
        assert [(r.status, r.nonce) for r in first_results + second_results] == [
            (Status.SENT, 0),
            (Status.SENT, 1),
            (Status.SENT, 2),
            (Status.SENT, 3),
        ]
        assert first_at <= second_at
        broadcast_by = [thread for thread, method in calls if method == "eth_sendRawTransaction"]
        assert broadcast_by == ["broadcast_0", "broadcast_0"]
        assert main not in broadcast_by
        assert committed_at_broadcast == [True, True]
        # the answers are journaled: every attempt is sent
        with closing(sqlite3.connect(journal_path)) as reader:
            states = [row[0] for row in reader.execute("SELECT state FROM attempts ORDER BY id")]
        assert states == ["sent"] * 4
        mine(anvil_w3)
        receipts = [
            anvil_w3.eth.get_transaction_receipt(r.tx_hash)  # type: ignore[arg-type]
            for r in first_results + second_results
        ]
        assert len({int(r["blockNumber"]) for r in receipts}) == 1
        assert [int(r["transactionIndex"]) for r in receipts] == [0, 1, 2, 3]
        assert [int(r["status"]) for r in receipts] == [1, 1, 1, 1]
    finally:
        automine(anvil_w3, True)
        ex.close()


@pytest.mark.anvil
def test_a_batch_refused_before_its_simulation_sends_nothing(
    anvil_w3: Web3,
    tmp_path: Path,
    signer: Signer,
    pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    """A halted executor (a chain id that changed under it) blocks the whole batch at its
    first step: nothing is simulated, signed, journaled or broadcast."""
    sc = deploy_on(anvil_w3, borrowers=2)
    requests = [request_for(sc.market, b.address) for b in sc.borrowers]
    ex = _open(anvil_w3, sc, tmp_path / "journal.sqlite", signer)
    methods: list[str] = []
    real_batch = ex.node.batch

    def watched(batch: Any) -> Any:
        methods.extend(method for method, _ in batch)
        return real_batch(batch)

    try:
        assert ex.begin_block() is not None
        ex.node.batch = watched  # type: ignore[method-assign]
        ex.halted = "the node's chain id changed"
        steps = ex.start_batch(requests, *pools)
        assert steps is not None
        steps.start()
        assert steps.simulated and steps.waiting_on is None
        steps.sign()
        results, _ = steps.finish()
        assert [r.status for r in results] == [Status.BLOCKED, Status.BLOCKED]
        assert all("chain id changed" in r.detail for r in results)
        assert methods == []
        assert ex.journal is not None and ex.journal.next_nonce() == 0
    finally:
        ex.close()


def test_start_batch_is_none_where_a_batch_is_not_sent_in_steps(
    bot_scenario: Scenario,
    tmp_path: Path,
    signer: Signer,
    pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    """eth-tester (one request at a time, not thread-safe): the caller sends whole batches."""
    ex = _open(bot_scenario.w3, bot_scenario, tmp_path / "journal.sqlite", signer)
    try:
        ex.begin_block()
        request = request_for(bot_scenario.market, bot_scenario.borrowers[0].address)
        assert ex.start_batch([request], *pools) is None
    finally:
        ex.close()


@pytest.mark.anvil
def test_start_batch_is_none_without_the_block_reads(
    anvil_w3: Web3,
    tmp_path: Path,
    signer: Signer,
    pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    sc = deploy_on(anvil_w3, borrowers=1)
    ex = _open(anvil_w3, sc, tmp_path / "journal.sqlite", signer)
    try:
        assert ex.pipelined
        request = request_for(sc.market, sc.borrowers[0].address)
        assert ex.start_batch([request], *pools) is None  # no begin_block: no budget, no head
        assert ex.begin_block() is not None
        assert ex.start_batch([], *pools) is None
    finally:
        ex.close()
