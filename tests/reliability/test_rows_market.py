"""RELIABILITY.md rows 16-19, 21 and 23: competitors, a private relay that never includes,
oracles that stall or spike, a paused pool, an empty gas purse, and strangers calling the
liquidator contract. Each against anvil, with the invariants checked from the chain."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chain.contracts import transact
from bot.execute import IntentState, Status
from bot.execute.journal import AttemptKind
from bot.execute.relay import RelayConfig
from bot.execute.simulate import RevertKind
from tests.execute.scenario import BOT_ADDRESS, GWEI, request_for, rpc
from tests.execute.test_txmanager import _arm_rival, _rival_liquidates
from tests.reliability.harness import Env
from tests.reliability.invariants import Check
from tests.reliability.proxy import Fault, RpcProxy

pytestmark = pytest.mark.anvil


def test_row_16_competitor_front_runs_our_liquidation(env2: Env) -> None:
    env = env2
    first, second = (b.address for b in env.sc.borrowers)
    request_a = request_for(env.sc.market, first)
    request_b = replace(request_for(env.sc.market, second), priority_fee_per_gas=GWEI)
    ex = env.open(confirmations=1)
    _arm_rival(env.sc)
    # The rival lands before we send: ours is not sent.
    _rival_liquidates(env.sc, first, 5 * GWEI)
    result = ex.execute(request_a)
    assert result.status is Status.SIMULATION_REVERTED
    assert result.revert_kind is RevertKind.LOST_TO_COMPETITOR
    assert env.proxy.sends == []
    # The rival lands in the same block, ahead of ours: ours reverts on the profit guard.
    env.automine(False)
    result = ex.execute(request_b)
    assert result.sent and result.intent_id is not None and ex.journal is not None
    _rival_liquidates(env.sc, second, 30 * GWEI)
    used = env.settle(ex)
    intent = ex.journal.intent(result.intent_id)
    assert intent.state is IntentState.FAILED
    assert intent.outcome == "reverted:lost_to_competitor"
    ledger = env.ledger()
    (ours,) = ledger.txs
    assert ours.status == 0 and ours.gas_used < 250_000  # cheap: far below a liquidation
    env.invariants(ex, blocks_used=used, burn_budget_wei=250_000 * ours.effective_gas_price)
    assert ledger.liquidations_per_user({BOT_ADDRESS, *env.contracts}) == {}
    ex.close()


def test_row_17_private_relay_accepts_and_never_includes(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    with RpcProxy(env.anvil.url) as relay:
        relay.inject("eth_sendBundle", Fault.blackhole())  # "accepted", never included
        ex = env.open(relay=RelayConfig(url=relay.url, max_submissions=3))
        env.automine(False)
        result = ex.execute(request)
        assert result.sent and result.intent_id is not None and ex.journal is not None
        for _ in range(10):
            env.mine()
            ex.poll()
        attempts = ex.journal.attempts(result.intent_id)
        assert [a.kind for a in attempts] == [AttemptKind.ORIGINAL, AttemptKind.CANCEL]
        assert [a.broadcasts for a in attempts] == [3, 3]  # the limit, for each
        assert relay.counts["eth_sendBundle"] == 6
        # Never the public mempool, silently or otherwise.
        assert env.proxy.counts["eth_sendRawTransaction"] == 0
        assert relay.counts["eth_sendRawTransaction"] == 0
        assert env.w3.eth.get_transaction_count(BOT_ADDRESS, "pending") == 0
        assert ex.blocked_reason() is not None  # the nonce is unresolved: nothing new
        assert ex.execute(request).status in (Status.BLOCKED, Status.IN_FLIGHT)
        env.invariants(ex, quiet=False)
        assert env.ledger().txs == []
        ex.close()


def _feeds(env: Env, symbol: str) -> tuple[Any, Any]:
    return env.sc.market.feed(symbol), env.sc.market.fallback_feed(symbol)


@pytest.mark.parametrize("case", ["stale", "floor", "spike"])
def test_row_18_oracle_stale_at_its_floor_or_spiking(env: Env, case: str) -> None:
    market = env.sc.market
    deployer = env.w3.eth.accounts[0]
    request = request_for(market, env.sc.borrowers[0].address)
    ex = env.open()
    primary, fallback = _feeds(env, "WETH")
    answer = market.specs["WETH"].price_answer(Decimal("2250"))
    if case == "stale":
        old = env.w3.eth.get_block("latest")["timestamp"] - market.specs["WETH"].heartbeat - 60
        for feed in (primary, fallback):
            transact(env.w3, feed.functions.updateAnswerAt(answer, old), deployer)
    elif case == "floor":  # pinned at minAnswer while the market falls
        for feed in (primary, fallback):
            transact(env.w3, feed.functions.updateAnswer(1), deployer)
    else:  # the debt asset's primary feed spikes 30% on one venue (the fallback says 1.00)
        usdc = market.feed("USDC")
        spiked = market.specs["USDC"].price_answer(Decimal("1.30"))
        transact(env.w3, usdc.functions.updateAnswer(spiked), deployer)
    result = ex.execute(request)
    assert result.status is Status.SIMULATION_REVERTED, result  # the simulation decides
    assert env.proxy.sends == [] and ex.journal is not None and ex.journal.attempts() == []
    # The feed recovers: the same opportunity goes through, once.
    market.set_price("WETH", Decimal("2250"), deployer)
    market.set_price("USDC", Decimal("1"), deployer)
    result = ex.execute(replace(request, observed_block=env.w3.eth.block_number))
    assert result.sent, result
    used = env.settle(ex)
    env.invariants(ex, blocks_used=used)
    assert len(env.ledger().liquidations) == 1
    ex.close()


def test_row_19_pool_paused_breaker_tripped(env: Env) -> None:
    market = env.sc.market
    request = request_for(market, env.sc.borrowers[0].address)
    ex = env.open()
    guardian, deployer = market.guardian, env.w3.eth.accounts[0]
    pause = market.pool.functions.setLiquidationsPaused(True)._encode_transaction_data()
    transact(env.w3, guardian.functions.submit(market.pool.address, pause), deployer)
    result = ex.execute(request)
    assert result.status is Status.SIMULATION_REVERTED and result.revert_kind is RevertKind.PAUSED
    # The oracle's breaker (feeds 30% apart) stops it the same way.
    unpause = market.pool.functions.setLiquidationsPaused(False)._encode_transaction_data()
    transact(env.w3, guardian.functions.submit(market.pool.address, unpause), deployer)
    weth = market.feed("WETH")
    transact(
        env.w3,
        weth.functions.updateAnswer(market.specs["WETH"].price_answer(Decimal("1600"))),
        deployer,
    )
    assert market.oracle.functions.isBreakerTripped(market.deployment.token("WETH")).call()
    result = ex.execute(request)
    assert result.status is Status.SIMULATION_REVERTED, result
    assert env.proxy.sends == [] and env.ledger().txs == []  # nothing sent that would revert
    env.invariants(ex)
    ex.close()


def test_row_21_out_of_gas_money(env: Env) -> None:
    request = request_for(env.sc.market, env.sc.borrowers[0].address)
    ex = env.open()
    rpc(env.w3, "anvil_setBalance", BOT_ADDRESS, hex(10**14))  # 0.0001 ETH
    result = ex.execute(request)
    assert result.status is Status.NO_GAS_MONEY and "balance" in result.detail
    assert env.proxy.sends == [] and ex.journal is not None and ex.journal.attempts() == []
    rpc(env.w3, "anvil_setBalance", BOT_ADDRESS, hex(10 * 10**18))  # topped up
    env.start_block = env.w3.eth.block_number
    result = ex.execute(request)
    assert result.sent
    used = env.settle(ex)
    env.invariants(ex, blocks_used=used)
    ex.close()


_ADDRESS_TYPES = ("address",)


def _liquidator_functions(env: Env) -> list[tuple[str, list[str]]]:
    abi = env.sc.market.liquidator.abi
    return [
        (f["name"], [i["type"] for i in f["inputs"]])
        for f in abi
        if f["type"] == "function" and f.get("stateMutability") not in ("view", "pure")
    ]


def test_row_23_random_callers_and_calldata_against_the_liquidator(env: Env) -> None:
    market = env.sc.market
    w3 = env.w3
    liquidator = market.liquidator
    weth = market.token("WETH")
    deployer = w3.eth.accounts[0]
    transact(w3, weth.functions.mint(liquidator.address, 5 * 10**18), deployer)
    strangers: list[str] = [str(a) for a in list(w3.eth.accounts)[3:8]]
    addresses = [
        *strangers,
        BOT_ADDRESS,
        liquidator.address,
        market.deployment.pool,
        weth.address,
        *(p.address for p in market.deployment.pairs.values()),
        "0x" + "00" * 20,
    ]
    functions = _liquidator_functions(env)

    def value_for(kind: str) -> st.SearchStrategy[Any]:
        if kind.endswith("[]"):  # tryEach's list of calls
            return st.lists(value_for(kind[:-2]), max_size=3)
        if kind == "address":
            return st.sampled_from(addresses)
        if kind.startswith("uint"):
            return st.one_of(
                st.integers(0, 10 * 10**18), st.just(2**256 - 1), st.integers(0, 2**256 - 1)
            )
        if kind == "bool":
            return st.booleans()
        return st.binary(max_size=200)

    calls: st.SearchStrategy[Any] = st.one_of(
        st.sampled_from(functions).flatmap(
            lambda f: st.tuples(st.just(f), st.tuples(*(value_for(k) for k in f[1])))
        ),
        st.tuples(st.just(("raw", [])), st.tuples(st.binary(min_size=0, max_size=100))),
    )

    def balances() -> tuple[int, ...]:
        return (
            weth.functions.balanceOf(liquidator.address).call(),
            weth.functions.balanceOf(BOT_ADDRESS).call(),
        )

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(caller=st.sampled_from(strangers), call=calls, value=st.sampled_from([0, 1]))
    def stranger_calls(caller: str, call: Any, value: int) -> None:
        (name, types), args = call
        if name == "raw":
            data = args[0]
        else:
            selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
            data = selector + abi_encode(types, list(args))
        before = balances()
        call_tx: Any = {
            "from": caller,
            "to": liquidator.address,
            "data": data,
            "value": value,
            "gas": 2_000_000,
        }
        tx = w3.eth.send_transaction(call_tx)
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        after = balances()
        assert after[0] >= before[0], (name, receipt["status"])  # nothing left the contract
        assert after[1] == before[1]
        assert liquidator.functions.owner().call() == BOT_ADDRESS

    stranger_calls()
    # The owner can (the control: the property above is not vacuous).
    rpc(w3, "anvil_impersonateAccount", BOT_ADDRESS)
    held = balances()[0]
    liquidator.functions.withdraw(weth.address, BOT_ADDRESS, held).transact({"from": BOT_ADDRESS})
    assert balances() == (0, held)
    env.checks.append(Check(1, "tokens leave the liquidator only to its owner", True))
