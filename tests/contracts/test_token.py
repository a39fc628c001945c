from __future__ import annotations

import pytest
from web3 import Web3

from bot.chain.contracts import deploy_contract, transact
from tests.helpers import reverts


@pytest.mark.parametrize("decimals", [6, 8, 18])
def test_token_mint_transfer_allowance(w3: Web3, decimals: int) -> None:
    owner, alice, bob = w3.eth.accounts[:3]
    token = deploy_contract(w3, "TestToken", "Token", "TKN", decimals, sender=owner)
    assert token.functions.decimals().call() == decimals
    unit = 10**decimals
    transact(w3, token.functions.mint(alice, 5 * unit), owner)
    transact(w3, token.functions.transfer(bob, 2 * unit), alice)
    assert token.functions.balanceOf(alice).call() == 3 * unit
    assert token.functions.balanceOf(bob).call() == 2 * unit
    assert token.functions.totalSupply().call() == 5 * unit

    transact(w3, token.functions.approve(bob, unit), alice)
    transact(w3, token.functions.transferFrom(alice, bob, unit), bob)
    assert token.functions.allowance(alice, bob).call() == 0
    with reverts("InsufficientAllowance"):
        token.functions.transferFrom(alice, bob, 1).call({"from": bob})


def test_only_owner_mints(w3: Web3) -> None:
    owner, mallory = w3.eth.accounts[:2]
    token = deploy_contract(w3, "TestToken", "Token", "TKN", 18, sender=owner)
    with reverts("NotOwner"):
        token.functions.mint(mallory, 1).call({"from": mallory})
    with reverts("NotOwner"):
        token.functions.transferOwnership(mallory).call({"from": mallory})
