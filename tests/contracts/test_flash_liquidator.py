"""The bot's executor contract, end to end on eth-tester against the real pool and AMM."""

from __future__ import annotations

from decimal import Decimal

from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from bot.chain.contracts import transact
from bot.deploy.borrowers import BorrowerPlan, open_positions
from bot.deploy.market import Market
from tests.helpers import reverts


def _underwater_borrower(market: Market, index: int = 0) -> LocalAccount:
    """A WETH-collateral, USDC-debt borrower made liquidatable by a 25% WETH drop."""
    deployer = market.w3.eth.accounts[0]
    plan = BorrowerPlan(
        index,
        {"WETH": market.units("WETH", 10)},
        {"USDC": market.units("USDC", 22_000)},
        Decimal("1.125"),
    )
    (borrower,) = open_positions(market, [plan], deployer, seed=1234)
    market.set_price("WETH", Decimal("2250"), deployer)
    health = market.pool.functions.getUserAccountData(borrower.address).call()[5]
    assert health < 10**18
    return borrower


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
