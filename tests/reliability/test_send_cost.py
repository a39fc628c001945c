"""What one send and one poll cost in requests, counted at the proxy (issue 8).

Within a block the executor reads the chain id, head, nonces and balance once
(``begin_block``); each send then costs its simulation and its broadcast. A poll finds what
was mined from the new blocks' transaction hashes and asks receipts only for those.
"""

from __future__ import annotations

from bot.execute import Status
from bot.execute.journal import AttemptState, IntentState
from tests.execute.scenario import request_for
from tests.reliability.harness import Env
from tests.reliability.proxy import Fault


def test_a_send_in_a_block_costs_its_simulation_and_its_broadcast(env2: Env) -> None:
    requests = [request_for(env2.sc.market, b.address) for b in env2.sc.borrowers]
    ex = env2.open(confirmations=1)
    env2.automine(False)
    env2.proxy.reset_counts()
    head = ex.begin_block()
    assert head is not None
    opened = dict(env2.proxy.counts)
    # The chain id is read once, uncached: a failover to another chain is caught here.
    assert opened.get("eth_chainId") == 1 and opened.get("eth_getBalance") == 1
    env2.proxy.reset_counts()
    results = [ex.execute(r) for r in requests]
    ex.end_block()
    assert [r.sent for r in results] == [True, True]
    assert [r.nonce for r in results] == [0, 1]  # the journal's counter, not the node's
    # Per send: the simulation, the node's gas estimate (on by default), the broadcast.
    assert dict(env2.proxy.counts) == {
        "eth_call": 2,
        "eth_estimateGas": 2,
        "eth_sendRawTransaction": 2,
    }

    # Nothing mined yet: the poll asks no receipt and simulates nothing again.
    env2.proxy.reset_counts()
    ex.poll()
    assert "eth_getTransactionReceipt" not in env2.proxy.counts, dict(env2.proxy.counts)
    assert "eth_call" not in env2.proxy.counts
    assert "eth_sendRawTransaction" not in env2.proxy.counts  # no rebroadcast either

    # Both mined in one block: its hashes are read once, and one receipt each.
    env2.mine()
    env2.proxy.reset_counts()
    ex.poll()
    assert ex.journal is not None
    states = [ex.journal.intent(r.intent_id).state for r in results if r.intent_id is not None]
    assert states == [IntentState.CONFIRMED, IntentState.CONFIRMED], states
    assert env2.proxy.counts["eth_getTransactionReceipt"] == 2
    assert env2.proxy.counts["eth_getBlockByNumber"] <= 2  # the head, the new block
    ex.close()


def test_a_batch_simulates_and_sends_in_two_round_trips_and_judges_each_answer(
    env2: Env,
) -> None:
    requests = [request_for(env2.sc.market, b.address) for b in env2.sc.borrowers]
    ex = env2.open(confirmations=1, estimate_gas=False)
    env2.automine(False)
    assert ex.begin_block() is not None
    env2.proxy.reset_counts()
    # The node refuses the second send of the batch (an error object in its answer).
    env2.proxy.inject(
        "eth_sendRawTransaction", Fault.error(-32000, "insufficient funds"), calls={2}
    )
    results = ex.execute_batch(requests)
    ex.end_block()
    assert env2.proxy.http_requests == 2  # one batch of simulations, one of sends
    # Both simulated in one call of the liquidator's tryEach, in the order they are mined.
    assert dict(env2.proxy.counts) == {"eth_call": 1, "eth_sendRawTransaction": 2}
    assert [r.status for r in results] == [Status.SENT, Status.NOT_SENT]
    assert [r.nonce for r in results] == [0, 1]
    assert ex.journal is not None
    refused = ex.journal.attempts(results[1].intent_id)
    assert [a.state for a in refused] == [AttemptState.DROPPED]  # the nonce is healed later
    ex.close()
