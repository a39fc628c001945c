"""A batch of liquidations simulated in ONE ``eth_call`` of the liquidator's ``tryEach``, in
the order the sends will be mined (issue 8): on eth-tester (no JSON-RPC batches) and on
anvil, with the calls counted by a real counting provider or proxy; an item that fails in
that order is rejected alone, with the class a one-by-one simulation would give it; a
liquidator deployed without ``tryEach`` falls back to one ``eth_call`` per send, once found
out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import EthereumTesterProvider, Web3

from bot.chain.anvil import Anvil
from bot.chain.contracts import send_signed, transact, wait_ok
from bot.chain.reverts import is_revert
from bot.deploy.market import MAX_UINT, Market
from bot.execute import (
    ExecutionRequest,
    Executor,
    RevertKind,
    Status,
    request_from_opportunity,
)
from bot.execute.keys import Signer
from bot.execute.simulate import (
    TRY_EACH,
    decode_try_each,
    encode_try_each,
    failed_simulation,
)
from bot.model.profit import Valuation
from bot.protocols.aave_pool import AavePoolAdapter
from tests.chain.rpc_proxy import Fault, RpcProxy
from tests.execute.scenario import (
    BOT_ADDRESS,
    NATIVE_PRICE,
    Scenario,
    batch_in_block,
    deploy_on,
    open_batch_executor,
    opportunity,
    rpc,
)
from tests.model.chain_state import read_market

GAS_LIMIT = 700_000
OLD_LIQUIDATOR = Path(__file__).parent / "data" / "FlashLiquidator_before_tryEach.json"


# ---------------------------------------------------------------- the calldata codec


def test_the_codec_agrees_with_eth_abi() -> None:
    calls = [b"", b"\x01\x02\x03\x04", bytes(range(70)), b"\xff" * 32]
    encoded = encode_try_each(calls)
    assert encoded[:4] == TRY_EACH
    assert list(abi_decode(["bytes[]"], encoded[4:])[0]) == calls
    answer = abi_encode(["bool[]", "bytes[]"], [[True, False, True, False], calls])
    assert decode_try_each(answer, 4) == list(zip([True, False, True, False], calls, strict=True))
    for bad in (b"", answer[:-1], abi_encode(["bool[]", "bytes[]"], [[True], [b""]])):
        with pytest.raises(ValueError):
            decode_try_each(bad, 4)
    with pytest.raises(ValueError, match="not a bool"):
        decode_try_each(abi_encode(["uint256[]", "bytes[]"], [[2], [b""]]), 1)


def test_raw_revert_data_is_classified_as_a_nodes_revert() -> None:
    data = bytes(function_signature_to_4byte_selector("HealthFactorNotBelowThreshold()"))
    sim = failed_simulation(7, data)
    assert (sim.ok, sim.block, sim.kind) == (False, 7, RevertKind.PRICE_MOVED)
    assert sim.reason == "HealthFactorNotBelowThreshold()"
    assert failed_simulation(7, b"").kind is RevertKind.UNKNOWN


# ---------------------------------------------------------------- helpers


class _CountingTester(EthereumTesterProvider):
    """The eth-tester provider, counting every request by method and keeping each
    ``eth_call``'s calldata selector."""

    def __init__(self, tester: Any) -> None:
        super().__init__(tester)
        self.counts: Counter[str] = Counter()
        self.call_selectors: list[bytes] = []

    def make_request(self, method: Any, params: Any) -> Any:
        self.counts[str(method)] += 1
        if method == "eth_call":
            self.call_selectors.append(_selector(params[0].get("data") or "0x"))
        return super().make_request(method, params)


def _selector(data: str | bytes) -> bytes:
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
    return raw[:4]


def _request(market: Market, user: str) -> ExecutionRequest:
    """The model's flash liquidation of ``user`` through the market's liquidator, with a gas
    limit that fits: the model's placeholder table (400k gas for a flash liquidation, 480k
    with the executor's margin) runs out here, and these tests look at what is mined."""
    opp = opportunity(market, user)
    request = request_from_opportunity(
        opp,
        AavePoolAdapter.from_deployment(market.deployment),
        pool=market.deployment.pool,
        liquidator=market.deployment.flash_liquidator,
        observed_block=market.w3.eth.block_number,
        expected_profit_wei=Valuation(read_market(market), NATIVE_PRICE).to_native(
            opp.gross_profit
        ),
    )
    return replace(request, gas_limit=GAS_LIMIT)


def _again(request: ExecutionRequest, tag: str) -> ExecutionRequest:
    """The same liquidation under another key (a second send for one borrower)."""
    return replace(request, key=f"{request.key}#{tag}")


def _reverts_alone(w3: Web3, request: ExecutionRequest) -> str | None:
    """The revert of ``request`` simulated on its own at the latest block (None: passes)."""
    try:
        w3.eth.call({"from": BOT_ADDRESS, "to": request.to, "data": "0x" + request.data.hex()})  # type: ignore[typeddict-item]
    except Exception as exc:
        assert is_revert(exc), exc
        return str(exc)
    return None


def _mined_ok(w3: Web3, tx_hash: str | None) -> bool:
    assert tx_hash is not None
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)  # type: ignore[arg-type]
    return int(receipt["status"]) == 1


def _with_old_liquidator(market: Market) -> Market:
    """The market with the liquidator as deployed before ``tryEach`` (the same pool, owned
    by the bot's key) in place of its own."""
    w3 = market.w3
    deployer = w3.eth.accounts[0]
    artifact = json.loads(OLD_LIQUIDATOR.read_text())
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = wait_ok(
        w3,
        factory.constructor(market.deployment.pool).transact({"from": deployer, "gas": 5_000_000}),
        "deploying the old liquidator",
    )
    address = receipt["contractAddress"]
    assert address is not None
    old = w3.eth.contract(address=address, abi=artifact["abi"])
    assert TRY_EACH.hex() not in w3.eth.get_code(address).hex()
    transact(w3, old.functions.transferOwnership(BOT_ADDRESS), deployer)
    return replace(market, deployment=replace(market.deployment, flash_liquidator=address))


def _open(market: Market, w3: Web3, tmp_path: Path, signer: Signer, **kw: Any) -> Executor:
    return open_batch_executor(w3, market, tmp_path / "journal.sqlite", signer, **kw)


# ---------------------------------------------------------------- eth-tester


def test_one_call_in_mining_order_and_a_send_that_would_revert_is_not_sent(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    """[A, A again, B]: alone, the second send for A passes; after A it reverts (the pair
    moved, A's debt shrank). Simulated in order it is rejected, not sent to revert on chain,
    and not simulated again on its own: one ``eth_call`` for the whole batch."""
    sc = bot_scenario
    w3 = sc.w3
    a, b = (x.address for x in sc.borrowers)
    first, second = _request(sc.market, a), _request(sc.market, b)
    again = _again(first, "again")
    assert _reverts_alone(w3, again) is None
    provider = _CountingTester(w3.provider.ethereum_tester)  # type: ignore[attr-defined]
    ex = _open(sc.market, Web3(provider), tmp_path, signer)
    provider.counts.clear()
    results = batch_in_block(ex, [first, again, second])
    assert [r.status for r in results] == [Status.SENT, Status.SIMULATION_REVERTED, Status.SENT]
    assert results[1].revert_kind is RevertKind.PRICE_MOVED
    assert "SeizedBelowRepayment" in results[1].detail
    assert provider.counts["eth_call"] == 1 and provider.call_selectors[-1] == TRY_EACH
    assert provider.counts["eth_sendRawTransaction"] == 2
    assert _mined_ok(w3, results[0].tx_hash) and _mined_ok(w3, results[2].tx_hash)
    # Mined, A's first send leaves the second to revert: the order's verdict was the chain's.
    assert _reverts_alone(w3, again) is not None
    assert ex.try_each_unavailable is None
    ex.close()


def test_a_liquidator_without_try_each_falls_back_once_and_for_all(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    sc = bot_scenario
    w3 = sc.w3
    market = _with_old_liquidator(sc.market)
    requests = [_request(market, x.address) for x in sc.borrowers]
    assert {r.to for r in requests} == {market.deployment.flash_liquidator}
    provider = _CountingTester(w3.provider.ethereum_tester)  # type: ignore[attr-defined]
    ex = _open(market, Web3(provider), tmp_path, signer)
    provider.call_selectors.clear()
    results = batch_in_block(ex, requests)
    assert [r.status for r in results] == [Status.SENT, Status.SENT]
    assert all(_mined_ok(w3, r.tx_hash) for r in results)
    # tryEach was tried once (it reverts: no such function), then one call per send.
    assert provider.call_selectors == [TRY_EACH, requests[0].data[:4], requests[1].data[:4]]
    assert ex.try_each_unavailable is not None and "revert" in ex.try_each_unavailable
    provider.call_selectors.clear()
    batch_in_block(ex, [_again(r, "next") for r in requests])
    assert provider.call_selectors == [r.data[:4] for r in requests]  # not tried again
    ex.close()


def test_made_healthy_on_eth_tester_too(
    bot_scenario: Scenario, tmp_path: Path, signer: Signer
) -> None:
    """A borrower who repays between the decision and the batch: its send alone is rejected
    (a price move), the other is sent, and one ``eth_call`` did it."""
    sc = bot_scenario
    w3, market = sc.w3, sc.market
    a, b = sc.borrowers
    requests = [_request(market, b.address), _request(market, a.address)]
    usdc = market.token("USDC")
    send_signed(w3, usdc.functions.approve(market.deployment.pool, MAX_UINT), b)
    send_signed(
        w3,
        market.pool.functions.repay(usdc.address, market.units("USDC", 11_000), 2, b.address),
        b,
        gas=600_000,
    )
    assert market.pool.functions.getUserAccountData(b.address).call()[5] >= 10**18
    provider = _CountingTester(w3.provider.ethereum_tester)  # type: ignore[attr-defined]
    ex = _open(market, Web3(provider), tmp_path, signer)
    provider.counts.clear()
    results = batch_in_block(ex, requests)
    assert [r.status for r in results] == [Status.SIMULATION_REVERTED, Status.SENT]
    assert results[0].revert_kind is RevertKind.PRICE_MOVED
    assert provider.counts["eth_call"] == 1
    assert _mined_ok(w3, results[1].tx_hash)
    ex.close()


# ---------------------------------------------------------------- anvil


@pytest.fixture(scope="module")
def _anvil_market() -> Iterator[tuple[Web3, Scenario]]:
    """One anvil per module: the market, the liquidator owned by the bot, four underwater
    borrowers (each test reverts to the snapshot taken here)."""
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        yield w3, deploy_on(w3, 4)


@pytest.fixture
def on_anvil(_anvil_market: tuple[Web3, Scenario]) -> Iterator[Scenario]:
    w3, scenario = _anvil_market
    snapshot = rpc(w3, "evm_snapshot")
    try:
        yield scenario
    finally:
        assert rpc(w3, "evm_revert", snapshot) is True


@pytest.fixture
def proxy(_anvil_market: tuple[Web3, Scenario]) -> Iterator[RpcProxy]:
    w3, _ = _anvil_market
    with RpcProxy(str(w3.provider.endpoint_uri)) as counting:  # type: ignore[attr-defined]
        yield counting


def _through(proxy: RpcProxy) -> Web3:
    return Web3(Web3.HTTPProvider(proxy.url, request_kwargs={"timeout": 30}))


@pytest.mark.anvil
def test_on_anvil_a_healthy_and_a_lost_account_are_rejected_alone(
    on_anvil: Scenario, proxy: RpcProxy, tmp_path: Path, signer: Signer
) -> None:
    """[A, B, C, D]; before the batch, B repays half its debt (healthy again) and a rival
    liquidates C. One ``eth_call``: B is rejected as a price move, C as lost to a competitor
    (the rival's LiquidationCall is found), A and D are sent and mined."""
    sc = on_anvil
    w3, market = sc.w3, sc.market
    a, b, c, d = sc.borrowers
    requests = [_request(market, x.address) for x in (a, b, c, d)]

    usdc = market.token("USDC")
    send_signed(w3, usdc.functions.approve(market.deployment.pool, MAX_UINT), b)
    send_signed(
        w3,
        market.pool.functions.repay(usdc.address, market.units("USDC", 11_000), 2, b.address),
        b,
    )
    rival = w3.eth.accounts[3]
    transact(w3, usdc.functions.mint(rival, market.units("USDC", 50_000)), w3.eth.accounts[0])
    transact(w3, usdc.functions.approve(market.deployment.pool, MAX_UINT), rival)
    transact(
        w3,
        market.pool.functions.liquidationCall(
            market.deployment.token("WETH"), usdc.address, c.address, MAX_UINT, False
        ),
        rival,
    )

    ex = _open(market, _through(proxy), tmp_path, signer)
    proxy.reset_counts()
    results = batch_in_block(ex, requests)
    assert [r.status for r in results] == [
        Status.SENT,
        Status.SIMULATION_REVERTED,
        Status.SIMULATION_REVERTED,
        Status.SENT,
    ]
    assert results[1].revert_kind is RevertKind.PRICE_MOVED
    assert "HealthFactorNotBelowThreshold" in results[1].detail
    assert results[2].revert_kind is RevertKind.LOST_TO_COMPETITOR
    assert rival.lower() in results[2].detail.lower()
    assert proxy.counts["eth_call"] == 1
    assert proxy.counts["eth_sendRawTransaction"] == 2
    assert _mined_ok(w3, results[0].tx_hash) and _mined_ok(w3, results[3].tx_hash)
    ex.close()


@pytest.mark.anvil
def test_on_anvil_runs_are_cut_at_the_block_gas_limit(
    on_anvil: Scenario, proxy: RpcProxy, tmp_path: Path, signer: Signer
) -> None:
    """Four flash liquidations do not fit a 2M-gas block: the batch goes out as one call
    per run that fits, all in one JSON-RPC batch (one HTTP request), and all are sent."""
    sc = on_anvil
    w3, market = sc.w3, sc.market
    requests = [_request(market, x.address) for x in sc.borrowers]
    rpc(w3, "evm_setBlockGasLimit", hex(2_000_000))
    rpc(w3, "evm_mine")
    ex = _open(market, _through(proxy), tmp_path, signer)
    proxy.reset_counts()
    assert ex.begin_block() is not None
    http_before = proxy.http_requests
    runs = ex._runs_within_block_gas(list(enumerate(requests)), 2_000_000)
    assert [len(run) for run in runs] == [2, 2]
    results = ex.execute_batch(requests)
    ex.end_block()
    assert [r.status for r in results] == [Status.SENT] * 4
    assert proxy.counts["eth_call"] == 2
    # begin_block's reads were before; the batch made one request to simulate, one to send.
    assert proxy.http_requests - http_before == 2
    assert all(_mined_ok(w3, r.tx_hash) for r in results)
    ex.close()


@pytest.mark.anvil
def test_on_anvil_the_old_liquidator_falls_back_to_a_batch_of_calls(
    on_anvil: Scenario, proxy: RpcProxy, tmp_path: Path, signer: Signer
) -> None:
    sc = on_anvil
    w3, market = sc.w3, sc.market
    old_market = _with_old_liquidator(market)
    first = [_request(old_market, x.address) for x in sc.borrowers[:2]]
    then = [_request(old_market, x.address) for x in sc.borrowers[2:]]
    ex = _open(old_market, _through(proxy), tmp_path, signer)
    proxy.reset_counts()
    results = batch_in_block(ex, first)
    assert ex.try_each_unavailable is not None and "revert" in ex.try_each_unavailable
    assert proxy.counts["eth_call"] == 1 + 2  # tryEach once, then one per send
    proxy.reset_counts()
    results += batch_in_block(ex, then)
    assert proxy.counts["eth_call"] == 2  # not tried again
    assert [r.status for r in results] == [Status.SENT] * 4
    assert all(_mined_ok(w3, r.tx_hash) for r in results)
    ex.close()


@pytest.mark.anvil
def test_on_anvil_a_transport_failure_is_not_taken_for_a_missing_try_each(
    on_anvil: Scenario, proxy: RpcProxy, tmp_path: Path, signer: Signer
) -> None:
    """The batch's one call is lost (HTTP 502): each send is simulated on its own, as a
    failed per-call batch would be, and the next batch uses ``tryEach`` again."""
    sc = on_anvil
    w3, market = sc.w3, sc.market
    a, b, c, d = (x.address for x in sc.borrowers)
    ex = _open(market, _through(proxy), tmp_path, signer)
    proxy.inject("eth_call", Fault.http(502), times=1)
    proxy.reset_counts()
    results = batch_in_block(ex, [_request(market, a), _request(market, b)])
    assert [r.status for r in results] == [Status.SENT, Status.SENT]
    assert proxy.counts["eth_call"] == 1 + 2
    assert ex.try_each_unavailable is None
    proxy.reset_counts()
    results = batch_in_block(ex, [_request(market, c), _request(market, d)])
    assert [r.status for r in results] == [Status.SENT, Status.SENT]
    assert proxy.counts["eth_call"] == 1
    assert all(_mined_ok(w3, r.tx_hash) for r in results)
    ex.close()
