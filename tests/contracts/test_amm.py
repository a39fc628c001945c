from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from bot.chain.contracts import bind, deploy_contract, transact
from bot.chain.embedded import EmbeddedChain, embedded_chain
from tests.helpers import reverts

ZERO = "0x" + "00" * 20
MAX_UINT = 2**256 - 1
DEADLINE = 2**40
SUPPLY = 10**33  # per token, for the trader; below uint112 max (~5.19e33)
MINIMUM_LIQUIDITY = 1000
GAS = 1_000_000  # explicit gas skips eth-tester's slow gas estimation in hot paths


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    return amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)


def amount_in(amount_out_: int, reserve_in: int, reserve_out: int) -> int:
    return reserve_in * amount_out_ * 1000 // ((reserve_out - amount_out_) * 997) + 1


def k_holds(b0: int, b1: int, in0: int, in1: int, r0: int, r1: int) -> bool:
    return (b0 * 1000 - in0 * 3) * (b1 * 1000 - in1 * 3) >= r0 * r1 * 1000**2


@dataclass
class Amm:
    w3: Web3
    owner: str
    trader: str
    tokens: list[Contract]  # sorted by address
    factory: Contract
    router: Contract

    def pair(self, i: int, j: int) -> Contract:
        address = self.factory.functions.getPair(self.tokens[i].address, self.tokens[j].address)
        return bind(self.w3, "AmmPair", address.call())

    def reserves(self, pair: Contract) -> tuple[int, int]:
        r0, r1, _ = pair.functions.getReserves().call()
        return r0, r1

    def balance(self, token: Contract, who: str) -> int:
        return int(token.functions.balanceOf(who).call())

    def add(self, i: int, j: int, a: int, b: int, to: str | None = None) -> dict:
        fn = self.router.functions.addLiquidity(
            self.tokens[i].address, self.tokens[j].address, a, b, 0, 0, to or self.trader, DEADLINE
        )
        return transact(self.w3, fn, self.trader, gas=GAS)

    def send(self, token: Contract, to: str, amount: int) -> None:
        transact(self.w3, token.functions.transfer(to, amount), self.trader, gas=GAS)


def deploy_amm(w3: Web3, n_tokens: int = 3) -> Amm:
    owner, trader = w3.eth.accounts[:2]
    tokens = [
        deploy_contract(w3, "TestToken", f"Token {i}", f"T{i}", 18, sender=owner)
        for i in range(n_tokens)
    ]
    tokens.sort(key=lambda t: int(t.address, 16))
    factory = deploy_contract(w3, "AmmFactory", sender=owner)
    router = deploy_contract(w3, "AmmRouter", factory.address, sender=owner)
    for token in tokens:
        transact(w3, token.functions.mint(trader, SUPPLY), owner)
        transact(w3, token.functions.approve(router.address, MAX_UINT), trader)
    for i in range(n_tokens - 1):
        transact(w3, factory.functions.createPair(tokens[i].address, tokens[i + 1].address), owner)
    return Amm(w3, owner, trader, tokens, factory, router)


@pytest.fixture
def amm(w3: Web3) -> Amm:
    return deploy_amm(w3)


# ---------------------------------------------------------------------------------- factory


def test_factory_creates_sorted_pairs(w3: Web3) -> None:
    owner = w3.eth.accounts[0]
    a = deploy_contract(w3, "TestToken", "A", "A", 18, sender=owner)
    b = deploy_contract(w3, "TestToken", "B", "B", 6, sender=owner)
    factory = deploy_contract(w3, "AmmFactory", sender=owner)
    predicted = factory.functions.pairFor(b.address, a.address).call()
    receipt = transact(w3, factory.functions.createPair(b.address, a.address), owner)
    low, high = sorted([a.address, b.address], key=lambda x: int(x, 16))
    (event,) = factory.events.PairCreated().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["token0"] == low
    assert event["args"]["token1"] == high
    assert event["args"]["pair"] == predicted
    assert event["args"]["allPairsLength"] == 1
    assert factory.functions.getPair(a.address, b.address).call() == predicted
    assert factory.functions.getPair(b.address, a.address).call() == predicted
    assert factory.functions.allPairs(0).call() == predicted
    assert factory.functions.allPairsLength().call() == 1
    pair = bind(w3, "AmmPair", predicted)
    assert pair.functions.token0().call() == low
    assert pair.functions.token1().call() == high
    assert pair.functions.factory().call() == factory.address
    assert pair.functions.getReserves().call() == [0, 0, 0]
    assert pair.functions.MINIMUM_LIQUIDITY().call() == MINIMUM_LIQUIDITY
    with reverts("PairExists"):
        factory.functions.createPair(a.address, b.address).call({"from": owner})
    with reverts("IdenticalAddresses"):
        factory.functions.createPair(a.address, a.address).call({"from": owner})
    with reverts("ZeroAddress"):
        factory.functions.createPair(a.address, ZERO).call({"from": owner})


# ---------------------------------------------------------------------------------- liquidity


def test_add_and_remove_liquidity(amm: Amm) -> None:
    w3, trader, lp = amm.w3, amm.trader, amm.w3.eth.accounts[2]
    t0, t1 = amm.tokens[0], amm.tokens[1]
    pair = amm.pair(0, 1)
    # First deposit: sqrt(a0 * a1) - MINIMUM_LIQUIDITY, the minimum locked at address(0).
    a0, a1 = 4 * 10**18, 9 * 10**20
    receipt = amm.add(0, 1, a0, a1, to=lp)
    first = math.isqrt(a0 * a1) - MINIMUM_LIQUIDITY
    assert pair.functions.balanceOf(lp).call() == first
    assert pair.functions.balanceOf(ZERO).call() == MINIMUM_LIQUIDITY
    assert pair.functions.totalSupply().call() == first + MINIMUM_LIQUIDITY
    assert amm.reserves(pair) == (a0, a1)
    (mint,) = pair.events.Mint().process_receipt(receipt, errors=DISCARD)
    assert dict(mint["args"]) == {"sender": amm.router.address, "amount0": a0, "amount1": a1}
    (sync,) = pair.events.Sync().process_receipt(receipt, errors=DISCARD)
    assert dict(sync["args"]) == {"reserve0": a0, "reserve1": a1}
    block = w3.eth.get_block(receipt["blockNumber"])
    assert pair.functions.getReserves().call()[2] == block["timestamp"] % 2**32

    # Second deposit at the pool ratio: the router trims the side offered in excess.
    supply = pair.functions.totalSupply().call()
    before = amm.balance(t1, trader)
    amm.add(0, 1, 10**18, 10**30)
    b1 = 10**18 * a1 // a0
    assert amm.balance(t1, trader) == before - b1
    minted = min(10**18 * supply // a0, b1 * supply // a1)
    assert pair.functions.balanceOf(trader).call() == minted
    with reverts("InsufficientBAmount"):
        amm.router.functions.addLiquidity(
            t0.address, t1.address, 10**18, 10**30, 0, 10**30, trader, DEADLINE
        ).call({"from": trader})
    with reverts("InsufficientAAmount"):
        amm.router.functions.addLiquidity(
            t0.address, t1.address, 10**18, 10**18, 10**18, 0, trader, DEADLINE
        ).call({"from": trader})

    # Remove: each side is liquidity * balance / totalSupply.
    r0, r1 = amm.reserves(pair)
    supply = pair.functions.totalSupply().call()
    burn = first // 3
    transact(w3, pair.functions.approve(amm.router.address, MAX_UINT), lp)
    receipt = transact(
        w3,
        amm.router.functions.removeLiquidity(t1.address, t0.address, burn, 0, 0, lp, DEADLINE),
        lp,
    )
    out0, out1 = burn * r0 // supply, burn * r1 // supply
    assert amm.balance(t0, lp) == out0
    assert amm.balance(t1, lp) == out1
    assert amm.reserves(pair) == (r0 - out0, r1 - out1)
    assert pair.functions.totalSupply().call() == supply - burn
    (event,) = pair.events.Burn().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {
        "sender": amm.router.address,
        "amount0": out0,
        "amount1": out1,
        "to": lp,
    }
    with reverts("InsufficientAAmount"):  # tokenA = t1 here
        amm.router.functions.removeLiquidity(
            t1.address, t0.address, 1000, 10**30, 0, lp, DEADLINE
        ).call({"from": lp})
    with reverts("Expired"):
        amm.router.functions.removeLiquidity(t1.address, t0.address, 1000, 0, 0, lp, 1).call(
            {"from": lp}
        )


def test_router_creates_missing_pair_and_first_mint_minimum(w3: Web3) -> None:
    amm = deploy_amm(w3, n_tokens=2)
    fresh = deploy_contract(w3, "TestToken", "F", "F", 18, sender=amm.owner)
    transact(w3, fresh.functions.mint(amm.trader, 10**24), amm.owner)
    transact(w3, fresh.functions.approve(amm.router.address, MAX_UINT), amm.trader)
    t0 = amm.tokens[0]
    with reverts("InsufficientLiquidityMinted"):  # sqrt(1000 * 1000) == MINIMUM_LIQUIDITY
        amm.router.functions.addLiquidity(
            t0.address, fresh.address, 1000, 1000, 0, 0, amm.trader, DEADLINE
        ).call({"from": amm.trader})
    fn = amm.router.functions.addLiquidity(
        fresh.address, t0.address, 10**18, 10**18, 0, 0, amm.trader, DEADLINE
    )
    transact(w3, fn, amm.trader)
    assert amm.factory.functions.allPairsLength().call() == 2
    pair = bind(w3, "AmmPair", amm.factory.functions.getPair(t0.address, fresh.address).call())
    assert pair.functions.balanceOf(amm.trader).call() == 10**18 - MINIMUM_LIQUIDITY


# ---------------------------------------------------------------------------------- swaps

reserve = st.integers(min_value=10**4, max_value=10**30)


@pytest.fixture(scope="module")
def pair_base() -> tuple[EmbeddedChain, Amm, int]:
    """One deployment with an empty pair, shared by the property tests through a snapshot."""
    chain = embedded_chain()
    amm = deploy_amm(chain.w3, n_tokens=2)
    return chain, amm, chain.snapshot()


@settings(
    max_examples=50,
    deadline=None,
)
@given(r0=reserve, r1=reserve, amount=st.integers(1, 10**30), zero_for_one=st.booleans())
def test_swap_pays_exactly_the_formula(
    pair_base: tuple[EmbeddedChain, Amm, int], r0: int, r1: int, amount: int, zero_for_one: bool
) -> None:
    chain, amm, snapshot = pair_base
    chain.revert(snapshot)
    w3, trader = amm.w3, amm.trader
    pair = amm.pair(0, 1)
    t0, t1 = amm.tokens[0], amm.tokens[1]
    amm.add(0, 1, r0, r1)
    assert amm.reserves(pair) == (r0, r1)
    token_in, token_out = (t0, t1) if zero_for_one else (t1, t0)
    r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
    out = amount_out(amount, r_in, r_out)
    assert amm.router.functions.getAmountOut(amount, r_in, r_out).call() == out
    amm.send(token_in, pair.address, amount)

    def outs(value: int) -> tuple[int, int]:
        return (0, value) if zero_for_one else (value, 0)

    if out == 0:
        with reverts("InsufficientOutputAmount"):
            pair.functions.swap(*outs(0), trader, b"").call({"from": trader})
        return
    # One unit more than the formula breaks the invariant (or the reserve).
    with reverts("K" if out + 1 < r_out else "InsufficientLiquidity"):
        pair.functions.swap(*outs(out + 1), trader, b"").call({"from": trader})
    before = amm.balance(token_out, trader)
    receipt = transact(w3, pair.functions.swap(*outs(out), trader, b""), trader, gas=GAS)
    assert amm.balance(token_out, trader) == before + out
    n0, n1 = amm.reserves(pair)
    if zero_for_one:
        assert (n0, n1) == (r0 + amount, r1 - out)
    else:
        assert (n0, n1) == (r0 - out, r1 + amount)
    assert n0 * n1 >= r0 * r1  # K never decreases
    (event,) = pair.events.Swap().process_receipt(receipt, errors=DISCARD)
    in0, in1 = (amount, 0) if zero_for_one else (0, amount)
    assert dict(event["args"]) == {
        "sender": trader,
        "amount0In": in0,
        "amount1In": in1,
        "amount0Out": outs(out)[0],
        "amount1Out": outs(out)[1],
        "to": trader,
    }


@settings(
    max_examples=25,
    deadline=None,
)
@given(r0=reserve, r1=reserve, fraction=st.floats(1e-9, 0.99), zero_for_one=st.booleans())
def test_exact_out_through_router(
    pair_base: tuple[EmbeddedChain, Amm, int], r0: int, r1: int, fraction: float, zero_for_one: bool
) -> None:
    chain, amm, snapshot = pair_base
    chain.revert(snapshot)
    trader, recipient = amm.trader, amm.w3.eth.accounts[3]
    t0, t1 = amm.tokens[0], amm.tokens[1]
    amm.add(0, 1, r0, r1)
    path = [t0.address, t1.address] if zero_for_one else [t1.address, t0.address]
    r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
    want = max(1, int(r_out * fraction))
    need = amount_in(want, r_in, r_out)
    assert amm.router.functions.getAmountIn(want, r_in, r_out).call() == need
    assert amm.router.functions.getAmountsIn(want, path).call() == [need, want]
    # The formula's input is enough for `want`; one less is not (or buys less than `want`).
    assert amount_out(need, r_in, r_out) >= want
    assert need == 1 or amount_out(need - 1, r_in, r_out) < want
    with reverts("ExcessiveInputAmount"):
        amm.router.functions.swapTokensForExactTokens(
            want, need - 1, path, recipient, DEADLINE
        ).call({"from": trader})
    token_in = t0 if zero_for_one else t1
    token_out = t1 if zero_for_one else t0
    before = amm.balance(token_in, trader)
    fn = amm.router.functions.swapTokensForExactTokens(want, need, path, recipient, DEADLINE)
    transact(amm.w3, fn, trader, gas=GAS)
    assert amm.balance(token_out, recipient) == want
    assert amm.balance(token_in, trader) == before - need


def test_multi_hop_equals_chained_formula(amm: Amm) -> None:
    w3, trader, recipient = amm.w3, amm.trader, amm.w3.eth.accounts[4]
    t0, t1, t2 = amm.tokens
    amm.add(0, 1, 500 * 10**18, 1_000_000 * 10**18)
    amm.add(1, 2, 3_000_000 * 10**18, 70 * 10**18)
    ab, bc = amm.pair(0, 1), amm.pair(1, 2)
    (a0, a1), (b0, b1) = amm.reserves(ab), amm.reserves(bc)
    path = [t0.address, t1.address, t2.address]

    amount = 3 * 10**18
    mid = amount_out(amount, a0, a1)
    final = amount_out(mid, b0, b1)
    assert amm.router.functions.getAmountsOut(amount, path).call() == [amount, mid, final]
    with reverts("InsufficientOutputAmount"):
        amm.router.functions.swapExactTokensForTokens(
            amount, final + 1, path, recipient, DEADLINE
        ).call({"from": trader})
    fn = amm.router.functions.swapExactTokensForTokens(amount, final, path, recipient, DEADLINE)
    transact(w3, fn, trader)
    assert amm.balance(t2, recipient) == final
    assert amm.balance(t1, recipient) == 0
    assert amm.reserves(ab) == (a0 + amount, a1 - mid)
    assert amm.reserves(bc) == (b0 + mid, b1 - final)

    # Backwards, exact out, the other direction.
    (a0, a1), (b0, b1) = amm.reserves(ab), amm.reserves(bc)
    back = list(reversed(path))
    want = 2 * 10**18
    mid = amount_in(want, a1, a0)
    need = amount_in(mid, b1, b0)
    assert amm.router.functions.getAmountsIn(want, back).call() == [need, mid, want]
    before = amm.balance(t0, recipient)
    fn = amm.router.functions.swapTokensForExactTokens(want, need, back, recipient, DEADLINE)
    transact(w3, fn, trader)
    assert amm.balance(t0, recipient) == before + want

    with reverts("InvalidPath"):
        amm.router.functions.getAmountsOut(amount, [t0.address]).call()
    with reverts("PairNotFound"):
        amm.router.functions.getAmountsOut(amount, [t0.address, t2.address]).call()
    with reverts("Expired"):
        amm.router.functions.swapExactTokensForTokens(amount, 0, path, recipient, 1).call(
            {"from": trader}
        )


def test_router_pure_helpers(amm: Amm) -> None:
    r = amm.router.functions
    assert r.quote(10, 100, 250).call() == 25
    assert r.getAmountOut(10**18, 5 * 10**18, 10**22).call() == amount_out(
        10**18, 5 * 10**18, 10**22
    )
    assert r.getAmountIn(10**18, 5 * 10**18, 10**22).call() == amount_in(10**18, 5 * 10**18, 10**22)
    with reverts("InsufficientInputAmount"):
        r.getAmountOut(0, 1, 1).call()
    with reverts("InsufficientOutputAmount"):
        r.getAmountIn(0, 1, 1).call()
    with reverts("InsufficientLiquidity"):
        r.getAmountIn(10, 100, 10).call()
    with reverts("InsufficientLiquidity"):
        r.getAmountOut(1, 0, 10).call()
    with reverts("InsufficientAmount"):
        r.quote(0, 1, 1).call()


def test_swap_guards_skim_sync(amm: Amm) -> None:
    w3, trader, other = amm.w3, amm.trader, amm.w3.eth.accounts[5]
    t0, t1 = amm.tokens[0], amm.tokens[1]
    pair = amm.pair(0, 1)
    amm.add(0, 1, 10**21, 10**21)
    with reverts("InsufficientOutputAmount"):
        pair.functions.swap(0, 0, trader, b"").call({"from": trader})
    with reverts("InsufficientLiquidity"):
        pair.functions.swap(10**21, 0, trader, b"").call({"from": trader})
    with reverts("InvalidTo"):
        pair.functions.swap(1, 0, t0.address, b"").call({"from": trader})
    with reverts("InsufficientInputAmount"):  # nothing paid in
        pair.functions.swap(1, 0, trader, b"").call({"from": trader})

    # Donations sit above the reserves until skimmed or synced.
    amm.send(t0, pair.address, 777)
    amm.send(t1, pair.address, 5)
    transact(w3, pair.functions.skim(other), trader)
    assert amm.balance(t0, other) == 777
    assert amm.balance(t1, other) == 5
    assert amm.reserves(pair) == (10**21, 10**21)
    amm.send(t0, pair.address, 1234)
    receipt = transact(w3, pair.functions.sync(), trader)
    assert amm.reserves(pair) == (10**21 + 1234, 10**21)
    (event,) = pair.events.Sync().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {"reserve0": 10**21 + 1234, "reserve1": 10**21}

    # LP token basics.
    lp = pair.functions.balanceOf(trader).call()
    transact(w3, pair.functions.transfer(other, 10), trader)
    assert pair.functions.balanceOf(other).call() == 10
    with reverts("InsufficientBalance"):
        pair.functions.transfer(trader, 11).call({"from": other})
    with reverts("InsufficientAllowance"):
        pair.functions.transferFrom(trader, other, 1).call({"from": other})
    assert pair.functions.balanceOf(trader).call() == lp - 10
    assert pair.functions.decimals().call() == 18


# ---------------------------------------------------------------------------------- flash swaps


def _probe(amm: Amm) -> Contract:
    probe = deploy_contract(amm.w3, "FlashSwapProbe", sender=amm.owner)
    for token in amm.tokens:
        amm.send(token, probe.address, 10**24)
    return probe


def test_flash_swap_same_token_repayment(amm: Amm) -> None:
    w3, trader = amm.w3, amm.trader
    t0 = amm.tokens[0]
    pair = amm.pair(0, 1)
    amm.add(0, 1, 10**22, 3 * 10**22)
    probe = _probe(amm)
    r0, r1 = amm.reserves(pair)
    borrow = 123_456_789 * 10**10
    fee_inclusive = -(-borrow * 1000 // 997)  # ceil: 997 * in >= 1000 * borrow
    assert k_holds(r0 - borrow + fee_inclusive, r1, fee_inclusive, 0, r0, r1)
    assert not k_holds(r0 - borrow + fee_inclusive - 1, r1, fee_inclusive - 1, 0, r0, r1)

    flash = probe.functions.flash
    with reverts("K"):  # repays the principal only
        flash(pair.address, borrow, 0, t0.address, borrow, False).call({"from": trader})
    with reverts("K"):  # one unit short of the fee
        flash(pair.address, borrow, 0, t0.address, fee_inclusive - 1, False).call({"from": trader})
    with reverts("InsufficientInputAmount"):  # repays nothing
        flash(pair.address, borrow, 0, t0.address, 0, False).call({"from": trader})
    with reverts("Locked"):  # re-entering the pair from the callback
        flash(pair.address, borrow, 0, t0.address, fee_inclusive, True).call({"from": trader})

    before = amm.balance(t0, probe.address)
    receipt = transact(w3, flash(pair.address, borrow, 0, t0.address, fee_inclusive, False), trader)
    assert amm.balance(t0, probe.address) == before + borrow - fee_inclusive
    assert amm.reserves(pair) == (r0 - borrow + fee_inclusive, r1)
    (borrowed,) = probe.events.Borrowed().process_receipt(receipt, errors=DISCARD)
    assert borrowed["args"]["pair"] == pair.address
    assert borrowed["args"]["sender"] == probe.address
    assert (borrowed["args"]["amount0"], borrowed["args"]["amount1"]) == (borrow, 0)
    (swap,) = pair.events.Swap().process_receipt(receipt, errors=DISCARD)
    assert swap["args"]["amount0In"] == fee_inclusive
    assert swap["args"]["amount0Out"] == borrow


def test_flash_swap_other_token_repayment(amm: Amm) -> None:
    w3, trader = amm.w3, amm.trader
    t1 = amm.tokens[1]
    pair = amm.pair(0, 1)
    amm.add(0, 1, 10**22, 3 * 10**22)
    probe = _probe(amm)
    r0, r1 = amm.reserves(pair)
    borrow = 10**21
    owed = amount_in(borrow, r1, r0)  # borrow token0, pay token1
    flash = probe.functions.flash
    with reverts("K"):
        flash(pair.address, borrow, 0, t1.address, owed - 1, False).call({"from": trader})
    transact(w3, flash(pair.address, borrow, 0, t1.address, owed, False), trader)
    assert amm.reserves(pair) == (r0 - borrow, r1 + owed)


@pytest.mark.anvil
def test_amm_on_anvil(anvil_w3: Web3) -> None:
    amm = deploy_amm(anvil_w3, n_tokens=3)
    w3, trader = amm.w3, amm.trader
    amm.add(0, 1, 10**21, 2 * 10**21)
    amm.add(1, 2, 2 * 10**21, 5 * 10**20)
    path = [t.address for t in amm.tokens]
    amount = 10**19
    mid = amount_out(amount, 10**21, 2 * 10**21)
    final = amount_out(mid, 2 * 10**21, 5 * 10**20)
    assert amm.router.functions.getAmountsOut(amount, path).call() == [amount, mid, final]
    fn = amm.router.functions.swapExactTokensForTokens(amount, final, path, trader, DEADLINE)
    transact(w3, fn, trader)
    assert amm.reserves(amm.pair(1, 2)) == (2 * 10**21 + mid, 5 * 10**20 - final)

    pair = amm.pair(0, 1)
    r0, r1 = amm.reserves(pair)
    probe = _probe(amm)
    owed = amount_in(10**18, r1, r0)
    flash, t1 = probe.functions.flash, amm.tokens[1].address
    with reverts("K"):
        flash(pair.address, 10**18, 0, t1, owed - 1, False).call({"from": trader})
    transact(w3, flash(pair.address, 10**18, 0, t1, owed, False), trader)
    assert amm.reserves(pair) == (r0 - 10**18, r1 + owed)
