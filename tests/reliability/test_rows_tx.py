"""RELIABILITY.md rows 1-9: nonces, fees, pool and reorg faults, each through the fault proxy,
each ending with the invariants checked from the chain (tests/reliability/invariants.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from bot.execute import IntentState, Status
from bot.execute.journal import AttemptKind
from bot.execute.lock import AlreadyRunning
from tests.execute.scenario import BOT_ADDRESS, BOT_KEY, GWEI, request_for, rpc
from tests.execute.test_txmanager import _arm_rival, _rival_liquidates
from tests.reliability.harness import Env
from tests.reliability.invariants import Check
from tests.reliability.proxy import Fault

pytestmark = pytest.mark.anvil


def _foreign_send(env: Env, nonce: int, max_fee: int, tip: int) -> str:
    """Another process signs with our key (straight to anvil, not through the bot's proxy)."""
    other = Account.from_key(BOT_KEY).sign_transaction(
        {
            "chainId": env.w3.eth.chain_id,
            "nonce": nonce,
            "to": BOT_ADDRESS,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
    )
    return "0x" + bytes(env.w3.eth.send_raw_transaction(other.raw_transaction)).hex()


def test_row_01_journal_nonce_ahead_of_the_chain(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open(confirmations=1)
    assert ex.journal is not None
    ex.journal.advance_nonce(1, "test: the counter ran ahead of the chain")  # hole at 0
    env.automine(False)
    assert ex.execute(request).status is Status.BUSY  # nothing new while the hole is open
    ex.poll()  # heals nonce 0 with a zero-value self-send
    result = ex.execute(request)
    assert result.sent and result.nonce == 1
    used = env.settle(ex)
    kinds = {i.kind: i.state for i in ex.journal.intents()}
    assert kinds == {"heal": IntentState.CONFIRMED, "liquidation": IntentState.CONFIRMED}
    env.invariants(ex, blocks_used=used, confirmations=1)
    assert env.ledger().nonces == [0, 1]
    ex.close()


def test_row_02_key_used_by_another_process_at_our_next_nonce(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open(confirmations=1)
    assert ex.journal is not None and ex.journal.next_nonce() == 0
    foreign = _foreign_send(env, 0, 10 * GWEI, GWEI)  # automine: it lands at our next nonce
    result = ex.execute(request)
    assert result.status is Status.NONCE_CONFLICT  # re-read, nothing signed at nonce 0
    assert ex.journal.attempts() == [] and ex.journal.next_nonce() == 1
    result = ex.execute(request)  # the next round, at the next nonce
    assert result.sent and result.nonce == 1
    used = env.settle(ex)
    assert not [s for s in env.proxy.sends_from(BOT_ADDRESS) if s.nonce == 0]
    env.invariants(ex, foreign=1, blocks_used=used, confirmations=1)
    assert [t.tx_hash for t in env.ledger().txs] == [foreign, result.tx_hash]
    ex.close()


def test_row_03_two_bots_started_with_one_key(env: Env) -> None:
    first = env.open()
    with pytest.raises(AlreadyRunning):
        env.open()
    other = replace(first.config, journal_path=env.tmp / "other.sqlite")
    from bot.execute import Executor

    with pytest.raises(AlreadyRunning):
        Executor.open(env.bot_w3, other, env.signer(), out=lambda _: None)
    assert env.proxy.sends == []
    assert env.w3.eth.get_transaction_count(BOT_ADDRESS) == 0
    env.checks.append(Check(3, "no nonce used", True))
    env.checks.append(Check(8, "refused before anything signed", True))
    first.close()


def test_row_04_base_fee_above_our_max_fee_stuck(env: Env) -> None:
    request = replace(
        request_for(env.sc.market, env.sc.borrowers[0].address), priority_fee_per_gas=GWEI
    )
    cap = 40 * GWEI
    env.caps = replace(env.caps, max_fee_per_gas=cap, max_priority_fee_per_gas=4 * GWEI)
    ex = env.open(stuck_blocks=1)
    env.automine(False)
    env.mine(base_fee=20 * GWEI)  # already expensive: a few bumps reach the cap
    result = ex.execute(request)
    assert result.sent and result.intent_id is not None and ex.journal is not None
    capped = 0
    for _ in range(60):  # the base fee outruns every bid until the bids reach the cap
        top = max(a.fees.max_fee_per_gas for a in ex.journal.attempts(result.intent_id))
        env.mine(base_fee=top + GWEI)
        ex.poll()
        if ex.journal.events("fee_cap"):
            capped += 1
            if capped == 3:
                break
    assert capped == 3
    attempts = ex.journal.attempts(result.intent_id)
    assert len(attempts) >= 3 and attempts[-1].kind is AttemptKind.REPLACEMENT
    assert cap * 8 < attempts[-1].fees.max_fee_per_gas * 9  # climbed to within a bump
    # The proxy enforced geth's rule on every send: none was refused as underpriced.
    assert not [s for s in env.proxy.sends if "underpriced" in s.answer]
    assert len(env.proxy.sends_from(BOT_ADDRESS)) >= len(attempts)
    used = env.settle(ex)  # the spike passes
    assert ex.journal.intent(result.intent_id).state is IntentState.CONFIRMED
    env.invariants(ex, blocks_used=used)
    assert env.ledger().nonces == [0]  # one transaction mined for the nonce
    ex.close()


def test_row_05_gas_spike_between_decision_and_send(env: Env) -> None:
    market = env.sc.market
    request = request_for(market, env.sc.borrowers[0].address)
    assert request.expected_profit_wei is not None
    # The decision was made at ~1 gwei; the base fee now makes gas cost more than the
    # expected profit (the caps are high enough that they are not what stops it).
    spike = request.expected_profit_wei // 150_000
    env.caps = replace(env.caps, max_fee_per_gas=4 * spike)
    ex = env.open(stuck_blocks=1)
    env.automine(False)
    env.mine(base_fee=spike)
    result = ex.execute(request)
    # Refused either by the decision's own break-even max fee or by the profit check.
    assert result.status in (Status.FEES_OVER_CAP, Status.GAS_EXCEEDS_PROFIT), result
    assert request.max_fee_per_gas is None or request.max_fee_per_gas < spike
    assert env.proxy.sends == []
    # A pending one: sent at a low base fee, then the spike; not bumped past the profit.
    env.mine(2, base_fee=GWEI)
    result = ex.execute(request)
    assert result.sent and result.intent_id is not None and ex.journal is not None
    for _ in range(4):
        env.mine(base_fee=spike)
        ex.poll()
    attempts = ex.journal.attempts(result.intent_id)
    assert ex.journal.events("unprofitable_bump") or len(attempts) == 1
    for a in attempts:
        assert a.fees.expected_cost(a.gas_limit, 0) <= request.expected_profit_wei * 2
    used = env.settle(ex)  # left pending: mined once the spike passes
    env.invariants(ex, blocks_used=used)
    ex.close()


def test_row_06_transaction_dropped_from_the_pool(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    env.automine(False)
    # The node accepts the first send and never forwards it: a drop before it reached a pool.
    env.proxy.inject("eth_sendRawTransaction", Fault.blackhole(), times=1)
    result = ex.execute(request)
    assert result.sent and result.tx_hash is not None and result.intent_id is not None
    assert env.w3.eth.get_transaction_count(BOT_ADDRESS, "pending") == 0
    ex.poll()  # not in the pool, nonce free: the same signed bytes go out again
    assert ex.journal is not None
    (attempt,) = ex.journal.attempts(result.intent_id)
    assert attempt.broadcasts == 2 and attempt.nonce == 0
    assert env.w3.eth.get_transaction(result.tx_hash)["nonce"] == 0  # type: ignore[arg-type]
    # And a drop from anvil's own pool later: rebroadcast again, same hash.
    rpc(env.w3, "anvil_dropTransaction", result.tx_hash)
    ex.poll()
    assert {s.tx_hash for s in env.proxy.sends_from(BOT_ADDRESS)} == {result.tx_hash}
    used = env.settle(ex)
    assert ex.journal.intent(result.intent_id).state is IntentState.CONFIRMED
    env.invariants(ex, blocks_used=used)
    assert [t.tx_hash for t in env.ledger().txs] == [result.tx_hash]
    ex.close()


def test_row_07_our_nonce_replaced_by_a_third_party(env: Env) -> None:
    request = replace(
        request_for(env.sc.market, env.sc.borrowers[0].address), priority_fee_per_gas=GWEI
    )
    ex = env.open(confirmations=1)
    env.automine(False)
    result = ex.execute(request)
    assert result.sent and result.fees is not None and result.intent_id is not None
    foreign = _foreign_send(
        env, 0, result.fees.max_fee_per_gas * 2, result.fees.max_priority_fee_per_gas * 2
    )
    env.mine()
    ex.poll()
    assert ex.journal is not None
    intent = ex.journal.intent(result.intent_id)
    assert intent.state is IntentState.REPLACED and intent.outcome == "replaced_by_other"
    again = ex.execute(request)  # re-evaluated: still there, so taken at the next nonce
    assert again.sent and again.nonce == 1
    used = env.settle(ex)
    env.invariants(ex, foreign=1, blocks_used=used, confirmations=1)
    assert [t.tx_hash for t in env.ledger().txs] == [foreign, again.tx_hash]
    ex.close()


def test_row_08_reorg_after_inclusion_before_the_depth(env: Env) -> None:
    env.confirmations = 3
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    env.automine(False)
    result = ex.execute(request)
    assert result.sent and result.intent_id is not None and ex.journal is not None
    env.mine()
    ex.poll()
    assert ex.journal.intent(result.intent_id).state is IntentState.MINED
    env.mine()
    ex.poll()
    assert ex.journal.intent(result.intent_id).state is IntentState.MINED  # 2/3: not yet
    rpc(env.w3, "anvil_reorg", 2, [])  # both blocks replaced by empty ones
    assert env.w3.eth.get_transaction_count(BOT_ADDRESS) == 0
    ex.poll()  # the receipt is gone: back to pending, the same bytes rebroadcast
    assert ex.journal.intent(result.intent_id).state in (IntentState.SENT, IntentState.DROPPED)
    assert ex.journal.events("reorg")
    used = env.settle(ex)
    assert ex.journal.intent(result.intent_id).state is IntentState.CONFIRMED
    env.invariants(ex, blocks_used=used)
    ledger = env.ledger()
    hashes = {a.tx_hash for a in ex.journal.attempts(result.intent_id)}
    assert len(ledger.txs) == 1 and ledger.txs[0].tx_hash in hashes  # same nonce, once
    assert sum(ledger.liquidations_per_user({BOT_ADDRESS, *env.contracts}).values()) == 1
    ex.close()


@pytest.mark.parametrize("fault", ["drop_after_forward", "timeout_after_forward"])
def test_row_09_send_timed_out_after_the_node_received_it(env: Env, fault: str) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    env.automine(False)
    if fault == "drop_after_forward":
        env.proxy.inject("eth_sendRawTransaction", Fault.drop(), times=1)
    else:  # the bot's HTTP timeout is 3 s
        env.proxy.inject("eth_sendRawTransaction", Fault.delay_after(4.0), times=1)
    result = ex.execute(request)
    assert result.sent and result.tx_hash is not None and result.intent_id is not None
    assert ex.journal is not None
    (attempt,) = ex.journal.attempts(result.intent_id)
    assert attempt.nonce == 0
    # The node has it even though the bot never got an answer.
    assert env.w3.eth.get_transaction(result.tx_hash)["nonce"] == 0  # type: ignore[arg-type]
    used = env.settle(ex)
    assert {s.nonce for s in env.proxy.sends_from(BOT_ADDRESS)} == {0}  # no second nonce
    assert {s.tx_hash for s in env.proxy.sends_from(BOT_ADDRESS)} == {result.tx_hash}
    env.invariants(ex, blocks_used=used)
    assert ex.journal.next_nonce() == 1
    ex.close()


def test_row_05_a_pending_one_that_cannot_be_cancelled_is_left_in_the_pool(env2: Env) -> None:
    """Found by the state machine: the opportunity went, no cancellation fit under the tip
    cap (a replacement had already reached it), and the transaction was dropped from the
    pool. It must be rebroadcast and left to revert cheaply, or its nonce jams all later
    ones; here the next liquidation confirms behind it."""
    env = env2
    first, second = (b.address for b in env.sc.borrowers)
    request_a = replace(request_for(env.sc.market, first), priority_fee_per_gas=GWEI)
    request_b = replace(request_for(env.sc.market, second), priority_fee_per_gas=GWEI)
    env.caps = replace(env.caps, max_priority_fee_per_gas=GWEI * 9 // 8)
    ex = env.open(stuck_blocks=1, confirmations=1)
    _arm_rival(env.sc)
    env.automine(False)
    a = ex.execute(request_a)
    assert a.sent and a.fees is not None and a.intent_id is not None and ex.journal is not None
    env.mine(base_fee=a.fees.max_fee_per_gas * 2)  # stuck: replaced, the tip now at the cap
    ex.poll()
    attempts = ex.journal.attempts(a.intent_id)
    assert attempts[-1].fees.max_priority_fee_per_gas == env.caps.max_priority_fee_per_gas
    _rival_liquidates(env.sc, first, 30 * GWEI)
    top = max(att.fees.max_fee_per_gas for att in attempts)
    env.mine(base_fee=top + GWEI)  # the rival lands; ours cannot (base fee above its max)
    for att in ex.journal.attempts(a.intent_id):
        rpc(env.w3, "anvil_dropTransaction", att.tx_hash)
    ex.poll()  # opportunity gone, no cancellation fits: left, and put back in the pool
    b = ex.execute(request_b)
    assert b.sent and b.nonce == 1, b
    used = env.settle(ex)
    assert ex.journal.intent(b.intent_id or 0).state is IntentState.CONFIRMED
    env.invariants(ex, blocks_used=used)
    ex.close()
