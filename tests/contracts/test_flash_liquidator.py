"""The bot's executor contract, end to end on eth-tester against the real pool and AMM."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from bot.chain.contracts import transact
from bot.chain.reverts import decode_revert
from bot.deploy.borrowers import BorrowerPlan, open_positions
from bot.deploy.market import Market, deploy_market
from tests.helpers import reverts


def _underwater_borrower(market: Market, index: int = 0) -> LocalAccount:
    """A WETH-collateral, USDC-debt borrower made liquidatable by a 25% WETH drop."""
    (borrower,) = _underwater_borrowers(market, 1, first=index)
    return borrower


def _underwater_borrowers(market: Market, count: int, *, first: int = 0) -> list[LocalAccount]:
    """``count`` borrowers like :func:`_underwater_borrower`, opened before the one drop."""
    deployer = market.w3.eth.accounts[0]
    plans = [
        BorrowerPlan(
            first + k,
            {"WETH": market.units("WETH", 10)},
            {"USDC": market.units("USDC", 22_000)},
            Decimal("1.125"),
        )
        for k in range(count)
    ]
    borrowers = open_positions(market, plans, deployer, seed=1234)
    market.set_price("WETH", Decimal("2250"), deployer)
    for borrower in borrowers:
        health = market.pool.functions.getUserAccountData(borrower.address).call()[5]
        assert health < 10**18
    return borrowers


def _get_amount_in(out: int, r_in: int, r_out: int) -> int:
    return r_in * out * 1000 // ((r_out - out) * 997) + 1


def test_flash_liquidation_pays_the_owner(market: Market) -> None:
    w3 = market.w3
    owner = w3.eth.accounts[1]
    borrower = _underwater_borrower(market)
    weth, usdc = market.token("WETH"), market.token("USDC")
    pair = market.pair("WETH", "USDC")
    liquidator = market.liquidator
    debt_to_cover = market.units("USDC", 5_000)

    reserves = pair.functions.getReserves().call()
    weth_is_0 = pair.functions.token0().call() == weth.address
    r_weth, r_usdc = (reserves[0], reserves[1]) if weth_is_0 else (reserves[1], reserves[0])
    owed = _get_amount_in(debt_to_cover, r_weth, r_usdc)

    owner_weth_before = weth.functions.balanceOf(owner).call()
    receipt = transact(
        w3,
        liquidator.functions.liquidateWithFlashSwap(
            pair.address, weth.address, usdc.address, borrower.address, debt_to_cover, 1
        ),
        owner,
    )
    events = liquidator.events.Liquidated().process_receipt(receipt, errors=DISCARD)
    assert len(events) == 1
    seized = events[0]["args"]["collateralSeized"]
    profit = events[0]["args"]["profit"]
    assert events[0]["args"]["debtCovered"] == debt_to_cover
    assert profit == seized - owed > 0
    assert weth.functions.balanceOf(owner).call() - owner_weth_before == profit
    # Nothing stays behind in the contract.
    assert weth.functions.balanceOf(liquidator.address).call() == 0
    assert usdc.functions.balanceOf(liquidator.address).call() == 0


def test_flash_liquidation_reverts_below_min_profit(market: Market) -> None:
    w3 = market.w3
    owner = w3.eth.accounts[1]
    borrower = _underwater_borrower(market)
    pair = market.pair("WETH", "USDC")
    fn = market.liquidator.functions.liquidateWithFlashSwap(
        pair.address,
        market.deployment.token("WETH"),
        market.deployment.token("USDC"),
        borrower.address,
        market.units("USDC", 5_000),
        market.units("WETH", 100),
    )
    with reverts("ProfitBelowMinimum"):
        fn.call({"from": owner})


def test_inventory_liquidation_and_sell(market: Market) -> None:
    w3 = market.w3
    deployer, owner = w3.eth.accounts[:2]
    borrower = _underwater_borrower(market)
    usdc = market.token("USDC")
    liquidator = market.liquidator
    transact(w3, usdc.functions.mint(liquidator.address, market.units("USDC", 10_000)), deployer)

    pair = market.pair("WETH", "USDC")
    receipt = transact(
        w3,
        liquidator.functions.liquidateFromInventoryAndSell(
            pair.address,
            market.deployment.token("WETH"),
            usdc.address,
            borrower.address,
            market.units("USDC", 4_000),
            1,
        ),
        owner,
    )
    (event,) = liquidator.events.Liquidated().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["profit"] > 0
    assert (
        usdc.functions.balanceOf(liquidator.address).call()
        == market.units("USDC", 10_000)
        - market.units("USDC", 4_000)
        + market.units("USDC", 4_000)
        + event["args"]["profit"]
    )

    # Inventory without a sale keeps the collateral in the contract; the owner withdraws it.
    receipt = transact(
        w3,
        liquidator.functions.liquidateFromInventory(
            market.deployment.token("WETH"),
            usdc.address,
            borrower.address,
            market.units("USDC", 1_000),
            1,
        ),
        owner,
    )
    (event,) = liquidator.events.Liquidated().process_receipt(receipt, errors=DISCARD)
    weth = market.token("WETH")
    held = weth.functions.balanceOf(liquidator.address).call()
    assert held == event["args"]["collateralSeized"] > 0
    transact(w3, liquidator.functions.withdraw(weth.address, owner, held), owner)
    assert weth.functions.balanceOf(liquidator.address).call() == 0


def test_only_the_owner_moves_funds(market: Market) -> None:
    w3 = market.w3
    deployer, owner, mallory = w3.eth.accounts[:3]
    borrower = _underwater_borrower(market)
    liquidator = market.liquidator
    weth, usdc = market.deployment.token("WETH"), market.deployment.token("USDC")
    pair = market.pair("WETH", "USDC").address
    transact(w3, market.token("USDC").functions.mint(liquidator.address, 10**9), deployer)

    calls = [
        liquidator.functions.liquidateWithFlashSwap(pair, weth, usdc, borrower.address, 10**9, 0),
        liquidator.functions.liquidateFromInventory(weth, usdc, borrower.address, 10**9, 0),
        liquidator.functions.liquidateFromInventoryAndSell(
            pair, weth, usdc, borrower.address, 10**9, 0
        ),
        liquidator.functions.withdraw(usdc, mallory, 1),
        liquidator.functions.transferOwnership(mallory),
    ]
    for call in calls:
        with reverts("NotOwner"):
            call.call({"from": mallory})
    # Nobody can drive the flash callback directly, not even with the pair's own address.
    with reverts("UnexpectedCallback"):
        liquidator.functions.uniswapV2Call(liquidator.address, 10**9, 0, b"\x00" * 192).call(
            {"from": mallory}
        )
    # ...nor through a real flash swap that names it as the receiver.
    pair_contract = market.pair("WETH", "USDC")
    with reverts("UnexpectedCallback"):
        pair_contract.functions.swap(1000, 0, liquidator.address, b"\x01").call({"from": mallory})
    assert liquidator.functions.owner().call() == owner


def test_pair_must_hold_both_assets(market: Market) -> None:
    owner = market.w3.eth.accounts[1]
    borrower = _underwater_borrower(market)
    wrong_pair = market.pair("WBTC", "USDC").address
    with reverts("PairMismatch"):
        market.liquidator.functions.liquidateWithFlashSwap(
            wrong_pair,
            market.deployment.token("WETH"),
            market.deployment.token("USDC"),
            borrower.address,
            10**9,
            0,
        ).call({"from": owner})


def test_no_allowance_left_to_the_pool(market: Market) -> None:
    """After a liquidation the contract leaves no allowance to the pool behind."""
    w3 = market.w3
    owner = w3.eth.accounts[1]
    borrower = _underwater_borrower(market)
    transact(
        w3,
        market.liquidator.functions.liquidateWithFlashSwap(
            market.pair("WETH", "USDC").address,
            market.deployment.token("WETH"),
            market.deployment.token("USDC"),
            borrower.address,
            market.units("USDC", 1_000),
            0,
        ),
        owner,
    )
    usdc = market.token("USDC")
    assert usdc.functions.allowance(market.liquidator.address, market.deployment.pool).call() == 0


# ---------------------------------------------------------------- tryEach


def _flash(market: Market, user: str, usdc: int, min_profit: int = 1) -> bytes:
    """Calldata of a WETH-collateral, USDC-debt flash liquidation of ``user``."""
    return bytes.fromhex(
        market.liquidator.functions.liquidateWithFlashSwap(
            market.pair("WETH", "USDC").address,
            market.deployment.token("WETH"),
            market.deployment.token("USDC"),
            user,
            market.units("USDC", usdc),
            min_profit,
        )._encode_transaction_data()[2:]
    )


def _from_inventory(market: Market, user: str, usdc: int) -> bytes:
    return bytes.fromhex(
        market.liquidator.functions.liquidateFromInventory(
            market.deployment.token("WETH"),
            market.deployment.token("USDC"),
            user,
            market.units("USDC", usdc),
            1,
        )._encode_transaction_data()[2:]
    )


def _try_each(market: Market, calls: list[bytes]) -> bytes:
    return bytes.fromhex(market.liquidator.functions.tryEach(calls)._encode_transaction_data()[2:])


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


def _in_one_block(
    market: Market, sender: str, calls: list[bytes], timestamp: int
) -> list[TxReceipt]:
    """On anvil: send each calldata to the liquidator from ``sender``, all mined in one block
    at ``timestamp`` (two runs from one snapshot then accrue the same interest). eth-tester
    cannot: it mines one transaction per sender and block."""
    w3 = market.w3
    _rpc(w3, "anvil_setAutomine", False)
    try:
        hashes = [
            w3.eth.send_transaction(
                {
                    "from": sender,
                    "to": market.liquidator.address,
                    "data": "0x" + data.hex(),  # type: ignore[typeddict-item]
                    "gas": 5_000_000,
                }
            )
            for data in calls
        ]
        _rpc(w3, "evm_setNextBlockTimestamp", hex(timestamp))
        _rpc(w3, "evm_mine")
    finally:
        _rpc(w3, "anvil_setAutomine", True)
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert all(r["status"] == 1 for r in receipts)
    return receipts


def _logs(receipts: list[TxReceipt]) -> list[tuple[str, tuple[bytes, ...], bytes]]:
    return [
        (log["address"], tuple(bytes(t) for t in log["topics"]), bytes(log["data"]))
        for receipt in receipts
        for log in receipt["logs"]
    ]


def _state(market: Market, users: list[str]) -> dict[str, object]:
    """Everything a liquidation moves: balances, the pair, each borrower's account."""
    owner = market.liquidator.functions.owner().call()
    tokens = {s: market.token(s) for s in ("WETH", "USDC")}
    return {
        "balances": {
            (s, who): t.functions.balanceOf(who).call()
            for s, t in tokens.items()
            for who in (owner, market.liquidator.address)
        },
        "reserves": market.pair("WETH", "USDC").functions.getReserves().call()[:2],
        "accounts": [market.pool.functions.getUserAccountData(u).call() for u in users],
    }


def _outcomes(market: Market, calls: list[bytes], sender: str) -> list[tuple[bool, bytes]]:
    ok, results = market.liquidator.functions.tryEach(calls).call({"from": sender})
    return [(bool(a), bytes(b)) for a, b in zip(ok, results, strict=True)]


@pytest.mark.anvil
def test_try_each_does_what_the_calls_do_one_by_one(anvil_w3: Web3) -> None:
    """Two flash liquidations through one pair and one from inventory: the same events,
    balances, reserves and accounts as the three sent one by one in one block."""
    w3 = anvil_w3
    deployer, owner = w3.eth.accounts[:2]
    market = deploy_market(w3, deployer, liquidator_owner=owner)
    a, b, c = (x.address for x in _underwater_borrowers(market, 3))
    transact(w3, market.token("USDC").functions.mint(market.liquidator.address, 10**12), deployer)
    calls = [_flash(market, a, 5_000), _flash(market, b, 4_000), _from_inventory(market, c, 3_000)]
    at = int(w3.eth.get_block("latest")["timestamp"]) + 60

    start = _rpc(w3, "evm_snapshot")
    singles = _in_one_block(market, owner, calls, at)
    one_by_one = (_logs(singles), _state(market, [a, b, c]))
    _rpc(w3, "evm_revert", start)
    (batch,) = _in_one_block(market, owner, [_try_each(market, calls)], at)
    assert (_logs([batch]), _state(market, [a, b, c])) == one_by_one
    events = market.liquidator.events.Liquidated().process_receipt(batch, errors=DISCARD)
    assert [e["args"]["user"] for e in events] == [a, b, c]
    assert all(e["args"]["collateralSeized"] > 0 for e in events)


def test_later_items_see_the_earlier_ones(market: Market) -> None:
    """The second flash liquidation through a pair pays what it pays after the first moved
    that pair, not what it would pay alone."""
    owner = market.w3.eth.accounts[1]
    a, b = (x.address for x in _underwater_borrowers(market, 2))
    first, second = _flash(market, a, 5_000), _flash(market, b, 5_000)
    alone = _outcomes(market, [second], owner)
    both = _outcomes(market, [first, second], owner)
    assert all(ok for ok, _ in alone + both)
    profit_alone = abi_decode(["uint256"], alone[0][1])[0]
    profit_after = abi_decode(["uint256"], both[1][1])[0]
    # The first sold WETH into the pair for USDC: the second's USDC costs more WETH.
    assert 0 < profit_after < profit_alone
    # ...and the first is what it is alone (nothing ran before it).
    assert both[0] == _outcomes(market, [first], owner)[0]


def test_a_reverting_item_is_rolled_back_alone(market: Market) -> None:
    owner = market.w3.eth.accounts[1]
    a, b = (x.address for x in _underwater_borrowers(market, 2))
    healthy = market.w3.eth.accounts[5]
    greedy = _flash(market, b, 5_000, min_profit=market.units("WETH", 100))
    calls = [
        _flash(market, a, 5_000),
        greedy,
        _flash(market, healthy, 5_000),
        _flash(market, b, 5_000),
    ]
    outcomes = _outcomes(market, calls, owner)
    assert [ok for ok, _ in outcomes] == [True, False, False, True]
    # The greedy item ran its swap and its liquidation before its check failed: all of that
    # is undone, so the last item (the same borrower, the same pair) pays exactly what it
    # pays with the greedy one left out.
    assert outcomes[3] == _outcomes(market, [calls[0], calls[3]], owner)[1]
    assert decode_revert(outcomes[1][1]).startswith("ProfitBelowMinimum(")
    profit, minimum = abi_decode(["uint256", "uint256"], outcomes[1][1][4:])
    assert (
        minimum == market.units("WETH", 100)
        and 0 < profit == abi_decode(["uint256"], outcomes[3][1])[0]
    )
    assert decode_revert(outcomes[2][1]).startswith("HealthFactorNotBelowThreshold")


def test_try_each_is_the_owners_alone(market: Market) -> None:
    mallory = market.w3.eth.accounts[2]
    (a,) = (x.address for x in _underwater_borrowers(market, 1))
    with reverts("NotOwner"):
        market.liquidator.functions.tryEach([_flash(market, a, 5_000)]).call({"from": mallory})
    # An empty list is fine for the owner, and does nothing.
    assert market.liquidator.functions.tryEach([]).call({"from": market.w3.eth.accounts[1]}) == [
        [],
        [],
    ]


def test_try_each_runs_only_liquidations(market: Market) -> None:
    """Withdraw, transferOwnership, tryEach itself or a stub are refused, and the whole
    list with them (nothing before the bad item happens either)."""
    w3 = market.w3
    deployer, owner, mallory = w3.eth.accounts[:3]
    (a,) = (x.address for x in _underwater_borrowers(market, 1))
    liquidator = market.liquidator
    usdc = market.token("USDC")
    transact(w3, usdc.functions.mint(liquidator.address, 10**9), deployer)
    withdraw = bytes.fromhex(
        liquidator.functions.withdraw(usdc.address, mallory, 10**9)._encode_transaction_data()[2:]
    )
    handover = bytes.fromhex(
        liquidator.functions.transferOwnership(mallory)._encode_transaction_data()[2:]
    )
    nested = _try_each(market, [_flash(market, a, 5_000)])
    for index, bad in ((0, withdraw), (1, handover), (1, nested), (1, b"\x8d\xa5")):
        selector = bad[:4] if len(bad) >= 4 else bytes(4)
        with reverts("NotALiquidation") as caught:
            liquidator.functions.tryEach([_flash(market, a, 5_000), bad][-index - 1 :]).call(
                {"from": owner}
            )
        assert abi_decode(["uint256", "bytes4"], caught[0].data[4:]) == (index, selector)
    # Sent for real: reverted as a whole, nothing moved (the borrower's debt only accrued).
    before = _state(market, [a])
    debt = market.pool.functions.getUserAccountData(a).call()[1]
    with reverts("NotALiquidation"):
        transact(w3, liquidator.functions.tryEach([_flash(market, a, 5_000), withdraw]), owner)
    after = _state(market, [a])
    assert (after["balances"], after["reserves"]) == (before["balances"], before["reserves"])
    assert market.pool.functions.getUserAccountData(a).call()[1] >= debt
    assert liquidator.functions.owner().call() == owner
