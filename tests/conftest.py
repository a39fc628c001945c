from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.embedded import EmbeddedChain, embedded_chain


@pytest.fixture
def chain() -> EmbeddedChain:
    """A fresh in-process eth-tester chain."""
    return embedded_chain()


@pytest.fixture
def w3(chain: EmbeddedChain) -> Web3:
    return chain.w3


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    """A fresh anvil node on a free loopback port, auto-mining."""
    with Anvil() as node:
        yield node


@pytest.fixture
def anvil_w3(anvil: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
