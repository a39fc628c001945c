"""``Executor.begin_block`` reads the chain id, head, nonces and balance in one JSON-RPC
batch, and judges every answer as strictly as the one-by-one reads: each fault injected
into one member of the batch (by the fault proxy, on anvil) fails the block's reads closed,
a wrong chain id halts, an older head is refused, a lower nonce reuses nothing (issue 8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.chain.anvil import Anvil
from bot.execute import Status
from bot.execute.journal import IntentState
from bot.execute.node import BatchMismatch
from tests.execute.scenario import BOT_ADDRESS, request_for
from tests.reliability.harness import Env, make_env
from tests.reliability.proxy import Fault, Lie

pytestmark = pytest.mark.anvil


@pytest.fixture
def env(anvil: Anvil, tmp_path: Path) -> Iterator[Env]:
    e = make_env(anvil, tmp_path, borrowers=2)
    try:
        yield e
    finally:
        e.proxy.stop()


BAD_MEMBERS = [
    ("eth_getTransactionCount", Fault.lying(Lie.HUGE_HEX)),
    ("eth_getTransactionCount", Fault.lying(Lie.NEGATIVE_HEX)),
    ("eth_getBalance", Fault.lying(Lie.NEGATIVE_HEX)),
    ("eth_getBalance", Fault.error(-32000, "header not found")),
    ("eth_getBlockByNumber", Fault.error(-32000, "header not found")),
    ("eth_chainId", Fault.error(-32603, "internal error")),
    ("eth_getTransactionCount", Fault.wrong_id()),  # answers that pair with other requests
    ("eth_getBalance", Fault.http(503)),  # the whole batch refused
    ("eth_getBalance", Fault.delay(3.5)),  # past the bot's 3 s timeout
]


def test_one_round_trip_and_every_bad_member_fails_the_block_closed(env: Env) -> None:
    ex = env.open(confirmations=1, estimate_gas=False)
    assert ex.journal is not None
    env.automine(False)
    env.proxy.reset_counts()
    head = ex.begin_block()
    ex.end_block()
    assert head is not None
    assert env.proxy.http_requests == 1
    assert dict(env.proxy.counts) == {
        "eth_chainId": 1,
        "eth_getBlockByNumber": 1,
        "eth_getTransactionCount": 2,
        "eth_getBalance": 1,
    }
    block = env.w3.eth.get_block(head.number)
    assert (head.hash, head.base_fee, head.gas_used, head.gas_limit) == (
        "0x" + bytes(block["hash"]).hex(),
        block["baseFeePerGas"],
        block["gasUsed"],
        block["gasLimit"],
    )

    for method, fault in BAD_MEMBERS:
        env.proxy.clear()
        env.proxy.inject(method, fault, times=1)
        assert ex.begin_block() is None, (method, fault)
        env.proxy.clear()
        # Nothing was taken from a bad answer: no nonce moved, nothing signed, not halted.
        assert ex.journal.next_nonce() == 0, (method, fault)
        assert ex.journal.attempts() == [] and not ex.halted, (method, fault)

    # The faults gone, the batch path sends again.
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    assert ex.begin_block() is not None
    results = ex.execute_batch([request])
    ex.end_block()
    assert [(r.status, r.nonce) for r in results] == [(Status.SENT, 0)]
    ex.close()


def test_a_wrong_chain_id_halts_even_when_a_later_member_is_bad(env: Env) -> None:
    ex = env.open(confirmations=1, estimate_gas=False)
    assert ex.journal is not None
    env.proxy.inject("eth_chainId", Fault.lying(Lie.CHAIN_ID, 1))
    env.proxy.inject("eth_getBalance", Fault.error(-32000, "header not found"))
    assert ex.begin_block() is None
    assert ex.halted and "chain" in ex.halted and ex.journal.events("halt")
    env.proxy.clear()
    requests = [request_for(env.sc.market, b.address) for b in env.sc.borrowers]
    assert ex.begin_block() is None  # halted for good: a human looks
    results = ex.execute_batch(requests)
    assert [r.status for r in results] == [Status.BLOCKED, Status.BLOCKED]
    assert env.proxy.sends == [] and ex.journal.attempts() == []
    ex.close()


def test_an_older_head_is_refused_and_a_lower_nonce_reuses_none(env: Env) -> None:
    first, second = (request_for(env.sc.market, b.address) for b in env.sc.borrowers)
    ex = env.open(confirmations=1)  # the node's gas estimate: the model's falls short here
    assert ex.journal is not None
    env.automine(False)
    assert ex.begin_block() is not None
    assert ex.execute_batch([first])[0].sent
    ex.end_block()
    env.settle(ex)
    assert ex.journal.next_nonce() == 1
    assert [i.state for i in ex.journal.intents()] == [IntentState.CONFIRMED]
    seen = ex.highest_head

    # A lagging node: its head is older than one seen; nothing is decided on it.
    env.proxy.inject("eth_getBlockByNumber", Fault.lying(Lie.OLD_BLOCK, 3))
    assert ex.begin_block() is None
    assert ex.highest_head == seen
    assert ex.execute_batch([second])[0].status is Status.STALE_HEAD  # each send checks
    env.proxy.clear()

    # Nonces one lower than the chain's (nonce 0 looks free again): no hole is seen below
    # the confirmed nonce, no second transaction is signed at nonce 0.
    env.proxy.inject("eth_getTransactionCount", Fault.lying(Lie.LOWER_NONCE, 1))
    assert ex.begin_block() is not None
    results = ex.execute_batch([second])
    ex.end_block()
    env.proxy.clear()
    assert [(r.status, r.nonce) for r in results] == [(Status.SENT, 1)]
    assert [s.nonce for s in env.proxy.sends_from(BOT_ADDRESS)] == [0, 1]
    used = env.settle(ex)
    env.invariants(ex, blocks_used=used, confirmations=1)
    ex.close()


def test_a_batch_whose_answers_do_not_pair_with_its_requests_is_not_used(env: Env) -> None:
    ex = env.open(confirmations=1, estimate_gas=False)
    env.proxy.inject("eth_chainId", Fault.wrong_id(), times=1)
    with pytest.raises(BatchMismatch):
        ex.node.batch([("eth_chainId", []), ("eth_blockNumber", [])])
    # Receipts fall back to one request each rather than pair a receipt with another hash.
    env.proxy.inject("eth_getTransactionReceipt", Fault.wrong_id(), times=1)
    assert ex.node.receipts(["0x" + "00" * 32, "0x" + "11" * 32]) is None
    ex.close()
