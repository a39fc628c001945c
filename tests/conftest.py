from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.embedded import EmbeddedChain, embedded_chain
from bot.deploy.market import Market, deploy_market


@pytest.fixture(autouse=True)
def _isolated_liqbot_logger() -> Iterator[None]:
    """`setup_logging` (called by the CLI) installs a handler on the ``liqbot`` logger and
    stops propagation; put the logger back so that later tests' caplog still sees records."""
    log = logging.getLogger("liqbot")
    saved = (list(log.handlers), log.propagate, log.level)
    yield
    log.handlers[:] = saved[0]
    log.propagate, log.level = saved[1], saved[2]


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


@pytest.fixture(scope="session")
def _deployed_market() -> tuple[EmbeddedChain, Market]:
    chain = embedded_chain()
    deployer, liquidator_owner = chain.w3.eth.accounts[:2]
    market = deploy_market(chain.w3, deployer, liquidator_owner=liquidator_owner)
    return chain, market


@pytest.fixture
def market(_deployed_market: tuple[EmbeddedChain, Market]) -> Iterator[Market]:
    """The default bundled market on eth-tester, deployed once and reset after each test.

    accounts[0] deployed it and owns every admin role; accounts[1] owns the flash liquidator.
    """
    chain, deployed = _deployed_market
    snapshot = chain.snapshot()
    try:
        yield deployed
    finally:
        chain.revert(snapshot)


@pytest.fixture
def market_chain(_deployed_market: tuple[EmbeddedChain, Market], market: Market) -> EmbeddedChain:
    """The chain under ``market`` (to mine or move time)."""
    return _deployed_market[0]
