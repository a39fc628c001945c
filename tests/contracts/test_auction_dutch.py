"""DutchAuction: take at the current price, partial takes and dust, the AuctionTaker's flash
sale and its guards, redo after too long or too far, and the emergency switch (eth-tester)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.deploy.auctions import ilk_id
from tests.contracts.auction_fixtures import (
    RAY,
    WAD,
    WBTC,
    WETH,
    Env,
    TakeQuote,
    amount_out,
    collateral_price,
    fresh_env,
    model_curve_price,
    open_and_bark,
    reverts_call,
    rmul,
    stairstep_price,
    take_quote,
    wmul,
)

ZERO = "0x" + "00" * 20


@pytest.fixture
def env() -> Iterator[Env]:
    yield from fresh_env()


def scenario_take_whole_auction(env: Env) -> None:
    """A take of the whole lot at the current price pays the tab, gets the collateral the tab
    buys, returns the rest to the vault owner and closes the auction."""
    owner, keeper, buyer = env.users[:3]
    dutch = env.dutch(WETH)
    barked = open_and_bark(env, WETH, owner, keeper, collateral=20 * WAD)
    sale = env.sale(WETH, barked.auction_id)
    env.fund_stable(buyer, sale["tab"])
    env.approve_stable(buyer, dutch.address)
    reverts_call(
        dutch.functions.take(barked.auction_id, sale["lot"], 0, buyer, b""), buyer, "TooExpensive"
    )
    reverts_call(dutch.functions.take(99, 1, 2**255, buyer, b""), buyer, "NotRunning")

    take_at = barked.timestamp + 600
    env.set_next_timestamp(take_at)
    price = model_curve_price(env, WETH, sale["start_price"], 600)
    dust_tab = dutch.functions.dustTab().call()
    quote = take_quote(
        tab=sale["tab"], lot=sale["lot"], price=price, amount=sale["lot"], dust_tab=dust_tab
    )
    assert quote.owe == sale["tab"] and quote.lot > 0  # the tab buys part of the lot
    surplus = env.engine.functions.systemSurplus().call()
    receipt = env.send(
        dutch.functions.take(barked.auction_id, sale["lot"], price, buyer, b""), buyer
    )
    (take,) = env.events(receipt, dutch, "Take")
    assert (take["price"], take["owe"], take["slice"]) == (price, quote.owe, quote.slice)
    assert (take["tab"], take["lot"], take["owner"], take["taker"]) == (0, quote.lot, owner, buyer)
    assert env.collateral_balance(WETH, buyer) == quote.slice
    assert env.collateral_balance(WETH, owner) == quote.lot
    assert env.collateral_balance(WETH, dutch.address) == 0
    assert env.stable_balance(buyer) == 0
    assert dutch.functions.list().call() == []
    assert env.sale(WETH, barked.auction_id)["owner"] == ZERO
    assert env.liquidator_ilk(WETH)["debt_under_auction"] == 0
    assert env.engine.functions.systemSurplus().call() == surplus + quote.owe * RAY
    env.check_invariant()


def test_take_whole_auction(env: Env) -> None:
    scenario_take_whole_auction(env)


def test_partial_takes_and_dust(env: Env) -> None:
    """Partial takes leave at least dustTab to raise: one that would leave less is cut down to
    leave exactly dustTab, and once the tab is at most dustTab only a whole take works."""
    owner, keeper, buyer, other = env.users[:4]
    dutch = env.dutch(WBTC)  # linear curve
    barked = open_and_bark(env, WBTC, owner, keeper, collateral=2 * 10**8)
    dust_tab = dutch.functions.dustTab().call()
    cfg = env.liquidator_ilk(WBTC)
    assert dust_tab == wmul(env.ilk_state(WBTC)["dust"], cfg["penalty"])
    env.fund_stable(buyer, 200_000 * WAD)
    env.approve_stable(buyer, dutch.address)
    start = env.sale(WBTC, barked.auction_id)

    def take(elapsed: int, amount: int, who: str = buyer) -> tuple[dict[str, int], TakeQuote]:
        sale = env.sale(WBTC, barked.auction_id)
        at = barked.timestamp + elapsed
        env.set_next_timestamp(at)
        price = model_curve_price(env, WBTC, start["start_price"], elapsed)
        quote = take_quote(
            tab=sale["tab"], lot=sale["lot"], price=price, amount=amount, dust_tab=dust_tab
        )
        receipt = env.send(dutch.functions.take(barked.auction_id, amount, price, who, b""), buyer)
        (event,) = env.events(receipt, dutch, "Take")
        assert (event["owe"], event["slice"], event["tab"], event["lot"]) == (
            quote.owe,
            quote.slice,
            quote.tab,
            quote.lot,
        )
        return env.sale(WBTC, barked.auction_id), quote

    # a plain partial take, the collateral sent to another address than the payer's
    sale, quote = take(100, start["lot"] // 4, other)
    assert (sale["tab"], sale["lot"]) == (quote.tab, quote.lot)
    assert quote.tab > dust_tab
    assert env.collateral_balance(WBTC, other) == quote.slice
    assert env.stable_balance(buyer) == 200_000 * WAD - quote.owe

    # a take that would leave less than dustTab is cut to leave exactly dustTab
    price = model_curve_price(env, WBTC, start["start_price"], 200)
    amount = (sale["tab"] - 100 * WAD) * RAY // price
    assert amount < sale["lot"]
    tab_before = sale["tab"]
    sale, quote = take(200, amount)
    assert quote.owe == tab_before - dust_tab
    assert sale["tab"] == dust_tab

    # now only the whole remainder can be bought (or as much as pays the whole tab)
    reverts_call(
        dutch.functions.take(barked.auction_id, 1_000, 2**255, buyer, b""),
        buyer,
        "NoPartialPurchase",
    )
    sale_left = sale
    env.set_next_timestamp(barked.timestamp + 300)
    receipt = env.send(dutch.functions.take(barked.auction_id, 2**255, 2**255, buyer, b""), buyer)
    (event,) = env.events(receipt, dutch, "Take")
    assert event["owe"] == sale_left["tab"] and event["tab"] == 0
    assert dutch.functions.count().call() == 0
    env.check_invariant()


def test_take_needs_redo_after_max_duration(env: Env) -> None:
    owner, keeper, buyer = env.users[:3]
    dutch = env.dutch(WETH)
    barked = open_and_bark(env, WETH, owner, keeper, collateral=5 * WAD)
    max_duration = dutch.functions.maxDuration().call()
    env.set_next_timestamp(barked.timestamp + max_duration)
    env.send(env.stable.functions.approve(dutch.address, 0), buyer)  # a block at the boundary
    assert dutch.functions.getStatus(barked.auction_id).call()[0] is False
    env.send(env.stable.functions.approve(dutch.address, 0), buyer)
    assert dutch.functions.getStatus(barked.auction_id).call()[0] is True
    reverts_call(dutch.functions.take(barked.auction_id, 1, 2**255, buyer, b""), buyer, "NeedsRedo")


def scenario_flash_taker(env: Env) -> None:
    """The bot's taker buys the whole auction with no inventory, sells the collateral on the
    AMM inside the callback, pays the auction and sends exactly the model's profit to the bot."""
    bot = env.bot
    taker, dutch, pair = env.taker, env.dutch(WETH), env.am.pair(WETH)
    owner, keeper = env.users[:2]
    barked = open_and_bark(env, WETH, owner, keeper, collateral=20 * WAD)
    sale = env.sale(WETH, barked.auction_id)
    assert env.stable_balance(taker.address) == env.stable_balance(bot) == 0

    take_at = barked.timestamp + 90 * 3 + 45  # mid-step: calls at the block before agree
    env.set_next_timestamp(take_at)
    price = model_curve_price(env, WETH, sale["start_price"], take_at - barked.timestamp)
    quote = take_quote(
        tab=sale["tab"],
        lot=sale["lot"],
        price=price,
        amount=sale["lot"],
        dust_tab=dutch.functions.dustTab().call(),
    )
    reserve0, reserve1, _ = pair.functions.getReserves().call()
    stable_is_0 = pair.functions.token0().call() == env.stable.address
    r_stable, r_weth = (reserve0, reserve1) if stable_is_0 else (reserve1, reserve0)
    out = amount_out(quote.slice, r_weth, r_stable)
    profit = out - quote.owe
    assert profit > 0

    take = taker.functions.takeWithFlashSale
    args = (dutch.address, barked.auction_id, sale["lot"], price, pair.address)
    reverts_call(take(*args, profit + 1), bot, "ProfitBelowMinimum")
    assert take(*args, profit).call({"from": bot}) == profit
    receipt = env.send(take(*args, profit), bot)
    assert env.timestamp(receipt) == take_at
    (taken,) = env.events(receipt, taker, "Taken")
    assert (taken["collateralBought"], taken["paid"], taken["proceeds"], taken["profit"]) == (
        quote.slice,
        quote.owe,
        out,
        profit,
    )
    assert env.stable_balance(bot) == profit
    assert env.stable_balance(taker.address) == 0
    assert env.collateral_balance(WETH, taker.address) == 0
    assert env.collateral_balance(WETH, owner) == quote.lot
    assert dutch.functions.count().call() == 0
    env.check_invariant()


def test_flash_taker_needs_no_inventory_and_pays_the_owner(env: Env) -> None:
    scenario_flash_taker(env)


def test_flash_taker_guards(env: Env) -> None:
    owner, keeper, stranger = env.users[:3]
    bot = env.bot
    taker, dutch = env.taker, env.dutch(WETH)
    pair, other_pair = env.am.pair(WETH), env.am.pair(WBTC)
    # the auction starts above the AMM price (oracle -10%, start x1.2): selling cannot pay
    barked = open_and_bark(env, WETH, owner, keeper, collateral=20 * WAD, ratio="1.6", crash="0.9")
    sale = env.sale(WETH, barked.auction_id)
    take = taker.functions.takeWithFlashSale
    args = (dutch.address, barked.auction_id, sale["lot"], 2**255)
    reverts_call(take(*args, pair.address, 0), stranger, "NotOwner")
    reverts_call(take(*args, other_pair.address, 0), bot, "PairMismatch")
    reverts_call(take(*args, pair.address, 0), bot, "SaleBelowOwed")

    # only the auction being taken from may call back, and only for the taker's own take
    callback = taker.functions.onAuctionTake(taker.address, 1, 1, b"\x01")
    reverts_call(callback, stranger, "UnexpectedCallback")
    env.fund_stable(stranger, sale["tab"])
    env.approve_stable(stranger, dutch.address)
    data = b"\x00" * 64
    reverts_call(
        dutch.functions.take(barked.auction_id, sale["lot"], 2**255, taker.address, data),
        stranger,
        "UnexpectedCallback",
    )
    # an empty `data` is a plain take: no callback, the taker just receives collateral
    assert (
        dutch.functions.take(barked.auction_id, 10**15, 2**255, taker.address, b"").call(
            {"from": stranger}
        )
        == []
    )
    for fn in (
        taker.functions.withdraw(env.stable.address, stranger, 0),
        taker.functions.transferOwnership(stranger),
    ):
        reverts_call(fn, stranger, "NotOwner")

    # later the price has fallen under the AMM's: the same take is profitable
    env.set_next_timestamp(barked.timestamp + 90 * 20 + 45)
    env.send(take(*args, pair.address, 0), bot)
    assert env.stable_balance(bot) > 0


def scenario_redo_after_too_long(env: Env) -> None:
    """After maxDuration the auction needs a redo: it restarts at the new oracle price times
    the buffer and pays the keeper redoTip + redoChip * tab."""
    owner, keeper, redoer = env.users[:3]
    dutch, engine = env.dutch(WETH), env.engine
    barked = open_and_bark(env, WETH, owner, keeper, collateral=10 * WAD)
    reverts_call(dutch.functions.redo(barked.auction_id, redoer), redoer, "CannotRedo")
    reverts_call(dutch.functions.redo(77, redoer), redoer, "NotRunning")
    max_duration = dutch.functions.maxDuration().call()
    env.advance(max_duration + 10)
    assert dutch.functions.getStatus(barked.auction_id).call()[0] is True
    env.scale_price(WETH, "0.95")

    sale = env.sale(WETH, barked.auction_id)
    system_debt = engine.functions.systemDebt().call()
    redo_at = env.now() + 5
    env.set_next_timestamp(redo_at)
    receipt = env.send(dutch.functions.redo(barked.auction_id, redoer), redoer)
    (redo,) = env.events(receipt, dutch, "Redo")
    top = rmul(
        collateral_price(env.oracle_price(WETH), 18), dutch.functions.startingPriceFactor().call()
    )
    reward = dutch.functions.redoTip().call() + wmul(sale["tab"], dutch.functions.redoChip().call())
    assert (redo["startPrice"], redo["reward"], redo["keeper"]) == (top, reward, redoer)
    assert (redo["tab"], redo["lot"]) == (sale["tab"], sale["lot"])
    assert env.stable_balance(redoer) == reward
    assert engine.functions.systemDebt().call() == system_debt + reward * RAY
    restarted = env.sale(WETH, barked.auction_id)
    assert (restarted["start_time"], restarted["start_price"]) == (redo_at, top)
    assert dutch.functions.getStatus(barked.auction_id).call()[0] is False
    env.check_invariant()


def test_redo_after_too_long(env: Env) -> None:
    scenario_redo_after_too_long(env)


def test_redo_after_too_far_and_no_reward_for_dust(env: Env) -> None:
    owner, keeper, redoer = env.users[:3]
    dutch, engine = env.dutch(WETH), env.engine
    cusp = RAY * 9 // 10
    env.send(dutch.functions.setMinPriceRatio(cusp), env.deployer)
    barked = open_and_bark(env, WETH, owner, keeper, collateral=10 * WAD)
    top = env.sale(WETH, barked.auction_id)["start_price"]
    stairstep = env.am.stairstep_curve(WETH)
    step, cut = stairstep.functions.step().call(), stairstep.functions.cut().call()
    steps = next(
        n for n in range(1, 100) if stairstep_price(top, n * step, step, cut) * RAY // top < cusp
    )
    assert steps * step < dutch.functions.maxDuration().call()

    for elapsed, needs_redo in ((steps * step - 1, False), (steps * step, True)):
        env.set_next_timestamp(barked.timestamp + elapsed)
        env.send(env.stable.functions.approve(dutch.address, 0), redoer)  # mine at that time
        assert dutch.functions.getStatus(barked.auction_id).call()[0] is needs_redo

    # a tab under dustTab earns no redo reward
    env.send(engine.functions.setDust(ilk_id(WETH), 10**6 * WAD), env.deployer)
    env.send(dutch.functions.updateDustTab(), redoer)
    receipt = env.send(dutch.functions.redo(barked.auction_id, redoer), redoer)
    (redo,) = env.events(receipt, dutch, "Redo")
    assert redo["reward"] == 0
    assert env.stable_balance(redoer) == 0


def scenario_emergency_switch(env: Env) -> None:
    """Level 1 stops new auctions, 2 also restarts, 3 also takes; 0 lets all through again."""
    keeper, buyer = env.users[:2]
    owners = env.users[2:5]
    dutch, liquidator = env.dutch(WETH), env.liquidator
    ilk = ilk_id(WETH)
    for owner in owners:
        env.open_at_ratio(owner, WETH, 5 * WAD, "1.8")
    env.scale_price(WETH, "0.8")
    env.bark(WETH, owners[0], keeper)  # auction 1, will need a redo
    max_duration = dutch.functions.maxDuration().call()
    env.advance(max_duration - 300)
    env.bark(WETH, owners[1], keeper)  # auction 2, still running
    env.advance(400)
    env.fund_stable(buyer, 50_000 * WAD)
    env.approve_stable(buyer, dutch.address)
    assert dutch.functions.getStatus(1).call()[0] is True
    assert dutch.functions.getStatus(2).call()[0] is False

    bark = liquidator.functions.bark(ilk, owners[2], keeper)
    redo = dutch.functions.redo(1, keeper)
    take = dutch.functions.take(2, WAD, 2**255, buyer, b"")
    reverts_call(dutch.functions.setStopped(1), buyer, "NotOwner")
    reverts_call(dutch.functions.setStopped(4), env.deployer, "InvalidParameter")
    for level, stopped in ((1, {"bark"}), (2, {"bark", "redo"}), (3, {"bark", "redo", "take"})):
        receipt = env.send(dutch.functions.setStopped(level), env.deployer)
        assert env.events(receipt, dutch, "StoppedSet")[0]["level"] == level
        for name, fn, sender in (
            ("bark", bark, keeper),
            ("redo", redo, keeper),
            ("take", take, buyer),
        ):
            if name in stopped:
                reverts_call(fn, sender, f"Stopped({level})")
            else:
                fn.call({"from": sender})
    env.send(dutch.functions.setStopped(0), env.deployer)
    env.send(bark, keeper)
    env.send(redo, keeper)
    env.send(take, buyer)
    assert dutch.functions.count().call() == 3


def test_emergency_switch_levels(env: Env) -> None:
    scenario_emergency_switch(env)


def test_dutch_admin_is_owner_only(env: Env) -> None:
    dutch, user = env.dutch(WETH), env.users[0]
    for fn in (
        dutch.functions.setCurve(user),
        dutch.functions.setStartingPriceFactor(RAY),
        dutch.functions.setMaxDuration(1),
        dutch.functions.setMinPriceRatio(0),
        dutch.functions.setRedoReward(0, 0),
        dutch.functions.transferOwnership(user),
    ):
        reverts_call(fn, user, "NotOwner")
    reverts_call(dutch.functions.setMinPriceRatio(RAY + 1), env.deployer, "InvalidParameter")
    reverts_call(dutch.functions.setCurve(ZERO), env.deployer, "ZeroAddress")
