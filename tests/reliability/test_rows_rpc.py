"""RELIABILITY.md rows 10-15: the node misbehaves (errors, hangs, lags, lies, garbage,
rewritten errors), injected by the fault proxy between the bot and anvil."""

from __future__ import annotations

import sqlite3
import time

import pytest

from bot.chain.rpc import RetryPolicy, RpcClient, RpcUnavailable
from bot.execute import IntentState, Status
from bot.execute.executor import ChainMismatch
from bot.execute.relay import means_maybe_sent
from bot.execute.startup import StartupCheckFailed
from tests.execute.scenario import BOT_ADDRESS, request_for
from tests.reliability.harness import Env
from tests.reliability.invariants import Check
from tests.reliability.proxy import Fault, Lie, RpcProxy

pytestmark = pytest.mark.anvil

FAST = RetryPolicy(attempts=4, timeout=1.0, base_delay=0.01, max_delay=0.05, cooldown=0.3)


def test_row_10_rpc_429_5xx_and_hangs_on_reads(env: Env) -> None:
    # The read client: bounded retries, failover to the backup, failback once it recovers.
    with RpcProxy(env.anvil.url) as backup:
        client = RpcClient([env.proxy.url, backup.url], policy=FAST, seed=1)
        env.proxy.inject("eth_blockNumber", Fault.http(429))
        assert client.block_number() == env.w3.eth.block_number
        env.proxy.clear()
        env.proxy.inject("eth_blockNumber", Fault.delay(2.0))  # a hang: the 1 s timeout fires
        time.sleep(FAST.cooldown * 2 + 0.1)
        assert client.block_number() == env.w3.eth.block_number
        assert client.stats.failovers >= 1 and client.stats.timeouts >= 1
        env.proxy.clear()
        env.proxy.reset_counts()
        backup.faults.down = True  # both bad: a bounded number of tries, then an error
        env.proxy.inject("eth_blockNumber", Fault.http(503))
        with pytest.raises(RpcUnavailable):
            client.block_number()
        assert env.proxy.counts["eth_blockNumber"] + backup.counts["eth_blockNumber"] <= 4
        env.proxy.clear()
        backup.faults.down = False
        time.sleep(FAST.cooldown * 4 + 0.1)
        assert client.block_number() == env.w3.eth.block_number  # recovery

    # The executor: a failed read anywhere on the way to a send means no send.
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    for method, fault in [
        ("eth_call", Fault.http(503)),
        ("eth_getTransactionCount", Fault.http(429)),
        ("eth_getBalance", Fault.http(502)),
    ]:
        env.proxy.clear()
        env.proxy.reset_counts()
        env.proxy.inject(method, fault)
        result = ex.execute(request)
        assert result.status is Status.NODE_UNAVAILABLE, (method, result)
        assert env.proxy.counts[method] <= 8, (method, env.proxy.counts[method])  # bounded
        assert env.proxy.sends == []
        assert ex.journal is not None and ex.journal.attempts() == []
    env.proxy.clear()
    env.proxy.clear()
    result = ex.execute(request)  # the fault cleared: business as usual
    assert result.sent
    used = env.settle(ex)
    env.invariants(ex, blocks_used=used)
    ex.close()


def test_row_11_node_lagging_old_head_old_nonce(env2: Env) -> None:
    env = env2
    first = request_for(env.sc.market, env.sc.borrowers[0].address)
    second = request_for(env.sc.market, env.sc.borrowers[1].address)
    ex = env.open()
    assert ex.execute(first).sent
    used = env.settle(ex)
    assert ex.journal is not None and ex.journal.next_nonce() == 1
    # The node now answers with an old head: nothing is decided on it.
    env.proxy.inject("eth_getBlockByNumber", Fault.lying(Lie.OLD_BLOCK, 3))
    env.proxy.inject("eth_blockNumber", Fault.lying(Lie.OLD_BLOCK, 3))
    assert ex.execute(second).status is Status.STALE_HEAD
    assert ex.poll() == []
    # ... and an old nonce (a lagging or lying node): the local counter never goes back,
    # and nothing is signed at the nonce that is already used.
    env.proxy.clear()
    env.proxy.inject("eth_getTransactionCount", Fault.lying(Lie.LOWER_NONCE, 1))
    for _ in range(3):
        result = ex.execute(second)
        assert not result.sent or result.nonce == 1, result
        ex.poll()
        assert (ex.journal.next_nonce() or 0) >= 1
    env.proxy.clear()
    if not ex.in_flight():
        result = ex.execute(second)
        assert result.sent and result.nonce == 1, result
    # Never a second transaction at nonce 0 (a "heal" of a hole that is not one).
    assert [s.nonce for s in env.proxy.sends_from(BOT_ADDRESS)].count(0) == 1
    used = env.settle(ex)
    env.invariants(ex, blocks_used=used)
    assert env.ledger().nonces == [0, 1]
    ex.close()


def test_row_12_node_lying_fake_receipt_status_1(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open(stuck_blocks=50)
    env.automine(False)
    result = ex.execute(request)
    assert result.sent and result.fees is not None and result.intent_id is not None
    assert ex.journal is not None
    # Blocks come that cannot include ours (base fee above its max fee); the node claims
    # a receipt with status 1 anyway.
    env.proxy.inject("eth_getTransactionReceipt", Fault.lying(Lie.FAKE_RECEIPT))
    for _ in range(5):
        env.mine(base_fee=result.fees.max_fee_per_gas * 2)
        ex.poll()
        assert ex.journal.intent(result.intent_id).state is not IntentState.CONFIRMED
        assert ex.journal.ledger() == []
    assert env.w3.eth.get_transaction_count(BOT_ADDRESS) == 0  # truly not mined
    env.proxy.clear()
    used = env.settle(ex)
    assert ex.journal.intent(result.intent_id).state is IntentState.CONFIRMED
    env.invariants(ex, blocks_used=used)
    ex.close()


def test_row_13_failover_to_an_endpoint_with_another_chain_id(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    env.proxy.inject("eth_chainId", Fault.lying(Lie.CHAIN_ID, 1))
    result = ex.execute(request)
    assert result.status is Status.BLOCKED and "chain" in result.detail
    assert ex.poll() == []
    assert ex.halted and ex.journal is not None and ex.journal.events("halt")
    env.proxy.clear()
    assert ex.execute(request).status is Status.BLOCKED  # halted for good: a human looks
    with pytest.raises(ChainMismatch):
        ex.reconcile()
    ex.close()
    # A start on the wrong chain: refused before the journal is stamped.
    env.proxy.inject("eth_chainId", Fault.lying(Lie.CHAIN_ID, 1))
    with pytest.raises(StartupCheckFailed):
        env.open()
    assert env.proxy.sends == []
    assert env.w3.eth.get_transaction_count(BOT_ADDRESS) == 0
    env.checks.append(Check(8, "halted before anything signed", True))


GARBAGE = [
    ("eth_getBlockByNumber", Fault.non_json()),
    ("eth_getTransactionCount", Fault.lying(Lie.HUGE_HEX)),
    ("eth_getTransactionCount", Fault.lying(Lie.NEGATIVE_HEX)),
    ("eth_getBalance", Fault.lying(Lie.NEGATIVE_HEX)),
    ("eth_chainId", Fault.non_json()),
]


def test_row_14_garbage_replies(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    assert ex.journal is not None
    for method, fault in GARBAGE:
        env.proxy.clear()
        env.proxy.inject(method, fault)
        result = ex.execute(request)  # no exception escapes, nothing signed
        assert not result.sent, (method, fault, result)
        ex.poll()
        assert ex.journal.attempts() == [], (method, fault)
        assert ex.journal.next_nonce() in (None, 0), (method, fault, ex.journal.next_nonce())
    env.proxy.clear()
    assert not ex.halted
    env.automine(False)
    result = ex.execute(request)
    assert result.sent, result
    # A reply carrying another id (web3 does not check ids over HTTP: the answer itself is
    # right here, so the bot may act on it; it must not crash).
    for method, fault in [*GARBAGE, ("eth_call", Fault.wrong_id())]:  # while in flight
        env.proxy.clear()
        env.proxy.inject(method, fault)
        ex.poll()
        env.mine()
    env.proxy.inject("eth_getTransactionReceipt", Fault.non_json())
    ex.poll()
    env.proxy.clear()
    used = env.settle(ex)
    ex.close()
    with sqlite3.connect(env.journal_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    ex = env.open()
    env.invariants(ex, blocks_used=used)
    ex.close()


REWRITTEN = [
    "AlreadyKnown",
    "Known transaction: 0x1234",
    "ALREADY_EXISTS: already known",
    "transaction already imported",
    "nonce too low: address 0xabc, tx: 0 state: 1",
    "NonceTooLow",
]


def test_row_15_every_rewritten_wording_reads_as_maybe_sent() -> None:
    for message in REWRITTEN:
        assert means_maybe_sent(message), message
    assert not means_maybe_sent("insufficient funds for gas * price + value")


@pytest.mark.parametrize("message", REWRITTEN[::2])
def test_row_15_error_strings_rewritten_by_a_provider(env: Env, message: str) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    env.automine(False)
    # The node takes the transaction; the provider answers with its own wording of an error.
    env.proxy.inject("eth_sendRawTransaction", Fault.error_after(-32000, message), times=1)
    result = ex.execute(request)
    assert result.sent and "maybe" in result.detail, result  # classified as maybe-sent
    used = env.settle(ex)
    sends = env.proxy.sends_from(BOT_ADDRESS)
    assert len(sends) <= 2 and {s.nonce for s in sends} == {0}  # retries bounded
    env.invariants(ex, blocks_used=used)
    ex.close()
