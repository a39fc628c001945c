"""GuardianMultisig: M-of-N confirmations, revocation, revert bubbling, and its use as the
lending pool's guardian (2-of-3 pause and unpause of liquidations)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bot.chain.artifacts import load_artifact
from bot.chain.contracts import deploy_contract
from tests.contracts.pool_fixtures import (
    DEPLOY_GAS,
    MAX_UINT,
    WAD,
    Market,
    expected_liquidation,
    isolated,
    module_market,
)
from tests.helpers import reverts

USDC, WETH = 10**6, 10**18
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def market_module() -> Iterator[Market]:
    yield from module_market()


@pytest.fixture
def m(market_module: Market) -> Iterator[Market]:
    yield from isolated(market_module)


def owners_of(m: Market) -> list[ChecksumAddress]:
    return list(m.users[4:7])


def deploy_multisig(m: Market, owners: list[ChecksumAddress], threshold: int) -> Contract:
    return deploy_contract(
        m.w3, "GuardianMultisig", owners, threshold, sender=m.owner, gas=DEPLOY_GAS
    )


def guardian_events(ms: Contract, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    event = getattr(ms.events, name)()
    return [dict(log["args"]) for log in event.process_receipt(receipt, errors=DISCARD)]


def test_constructor_validation(m: Market) -> None:
    a, b, c = owners_of(m)
    artifact = load_artifact("GuardianMultisig")
    factory = m.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    cases: list[tuple[list[ChecksumAddress], int, str]] = [
        ([a, b, c], 0, "InvalidThreshold"),
        ([a, b, c], 4, "InvalidThreshold"),
        ([], 1, "InvalidThreshold"),
        ([a, b, a], 1, "DuplicateOwner"),
        ([a, ZERO], 1, "InvalidOwner"),  # type: ignore[list-item]
    ]
    for owners, threshold, error in cases:
        with reverts(error):
            factory.constructor(owners, threshold).estimate_gas({"from": m.owner})
    ms = deploy_multisig(m, [a, b, c], 2)
    assert ms.functions.getOwners().call() == [a, b, c]
    assert ms.functions.threshold().call() == 2
    assert ms.functions.isOwner(a).call() is True
    assert ms.functions.isOwner(m.owner).call() is False
    assert ms.functions.proposalCount().call() == 0


def test_two_of_three_pauses_and_unpauses_liquidations(m: Market) -> None:
    a, b, c = owners_of(m)
    ms = deploy_multisig(m, [a, b, c], 2)
    m.tx(m.pool.functions.setGuardian(ms.address), m.owner)
    pool = m.pool.functions

    # An underwater position to liquidate.
    alice, bob, liquidator = m.users[:3]
    m.supply(bob, "USDC", 100_000 * USDC)
    m.supply(alice, "WETH", 10 * WETH)
    m.borrow(alice, "USDC", 20_000 * USDC)
    m.fund(liquidator, "USDC", 100_000 * USDC)
    m.set_price("WETH", 2_200 * 10**8)
    assert m.account(alice).health_factor < WAD

    pause = pool.setLiquidationsPaused(True)._encode_transaction_data()
    receipt = m.tx(ms.functions.submit(m.pool.address, pause), a)
    (submitted,) = guardian_events(ms, receipt, "Submitted")
    assert submitted["id"] == 0 and submitted["owner"] == a
    assert ms.functions.confirmations(0).call() == 1
    assert pool.liquidationsPaused().call() is False  # one of three is not enough
    with reverts("AlreadyConfirmed"):
        ms.functions.confirm(0).call({"from": a})
    with reverts("NotOwner"):
        ms.functions.confirm(0).call({"from": m.owner})

    receipt = m.tx(ms.functions.confirm(0), b)
    assert guardian_events(ms, receipt, "Executed")[0]["id"] == 0
    assert m.events(receipt, "LiquidationsPausedSet") == [{"paused": True}]
    assert pool.liquidationsPaused().call() is True
    target, data, confirmations, executed = ms.functions.proposals(0).call()
    assert (target, confirmations, executed) == (m.pool.address, 2, True)
    assert "0x" + data.hex() == pause
    with reverts("AlreadyExecuted"):
        ms.functions.confirm(0).call({"from": c})
    with reverts("LiquidationsPaused"):
        pool.liquidationCall(m.addr("WETH"), m.addr("USDC"), alice, MAX_UINT, False).call(
            {"from": liquidator}
        )

    # Unpause: c proposes, b confirms then changes their mind, a confirms: still one short.
    unpause = pool.setLiquidationsPaused(False)._encode_transaction_data()
    m.tx(ms.functions.submit(m.pool.address, unpause), c)
    m.tx(ms.functions.revoke(1), c)
    assert ms.functions.confirmations(1).call() == 0
    with reverts("NotConfirmed"):
        ms.functions.revoke(1).call({"from": c})
    m.tx(ms.functions.confirm(1), b)
    assert pool.liquidationsPaused().call() is True
    m.tx(ms.functions.confirm(1), a)
    assert pool.liquidationsPaused().call() is False

    receipt = m.liquidate(liquidator, "WETH", "USDC", alice, MAX_UINT)
    x = expected_liquidation(m, "WETH", "USDC", alice, MAX_UINT, receipt)
    assert m.balance("WETH", liquidator) == x.to_liquidator > 0


def test_failed_call_bubbles_up_and_stays_pending(m: Market) -> None:
    a, b, c = owners_of(m)
    ms = deploy_multisig(m, [a, b, c], 2)
    # The multisig is not the pool's owner: the confirming call reverts with NotOwner.
    data = m.pool.functions.setTreasury(a)._encode_transaction_data()
    m.tx(ms.functions.submit(m.pool.address, data), a)
    with reverts("NotOwner"):
        ms.functions.confirm(0).call({"from": b})
    assert ms.functions.confirmations(0).call() == 1
    assert ms.functions.proposals(0).call()[3] is False
    # Once it is the owner the same proposal goes through.
    m.tx(m.pool.functions.transferOwnership(ms.address), m.owner)
    m.tx(ms.functions.confirm(0), b)
    assert m.pool.functions.treasury().call() == a
    # Not the pool's guardian: pausing is refused with the pool's own error.
    data = m.pool.functions.setLiquidationsPaused(True)._encode_transaction_data()
    ms_2 = deploy_multisig(m, [a, b, c], 1)
    with reverts("NotGuardian"):
        ms_2.functions.submit(m.pool.address, data).call({"from": c})


def test_owners_only_and_unknown_ids(m: Market) -> None:
    a, b, c = owners_of(m)
    ms = deploy_multisig(m, [a, b, c], 3)
    with reverts("NotOwner"):
        ms.functions.submit(m.pool.address, b"").call({"from": m.owner})
    with reverts("ZeroTarget"):
        ms.functions.submit(ZERO, b"").call({"from": a})
    for fn in (ms.functions.confirm, ms.functions.revoke):
        with reverts("UnknownProposal"):
            fn(5).call({"from": a})
    with reverts("UnknownProposal"):
        ms.functions.confirmations(0).call()
    with reverts("NotOwner"):
        ms.functions.revoke(0).call({"from": m.owner})
    # 1-of-1 executes on submit; a call with empty data to an account with no code succeeds.
    solo = deploy_multisig(m, [a], 1)
    receipt = m.tx(solo.functions.submit(b, b""), a)
    assert guardian_events(solo, receipt, "Executed") == [{"id": 0, "result": b""}]
    assert solo.functions.isConfirmed(0, a).call() is True
