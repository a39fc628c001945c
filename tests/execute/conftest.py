from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from bot.chain.embedded import EmbeddedChain, embedded_chain
from bot.deploy.market import deploy_market
from bot.execute.keys import Signer, signer_from_key
from tests.execute.scenario import (
    BOT_ADDRESS,
    BOT_KEY,
    KEYSTORE_PASSWORD,
    Scenario,
    deploy_on,
    fund_bot,
    underwater_borrowers,
)

SECRETS = (BOT_KEY, BOT_KEY[2:], BOT_KEY[2:].upper(), KEYSTORE_PASSWORD)


@pytest.fixture
def signer() -> Signer:
    return signer_from_key(BOT_KEY, source="the test key")


@pytest.fixture(scope="session")
def _bot_chain() -> tuple[EmbeddedChain, Scenario]:
    """One eth-tester chain per worker: the market, its liquidator owned by the bot's key,
    10 ETH of gas money, two underwater borrowers (py-evm is slow: built once)."""
    chain = embedded_chain()
    w3 = chain.w3
    market = deploy_market(w3, w3.eth.accounts[0], liquidator_owner=BOT_ADDRESS)
    fund_bot(w3, 10 * 10**18)
    return chain, Scenario(market, underwater_borrowers(market, 2))


@pytest.fixture
def bot_scenario(_bot_chain: tuple[EmbeddedChain, Scenario]) -> Iterator[Scenario]:
    """The bot's eth-tester scenario, reset after each test."""
    chain, scenario = _bot_chain
    snapshot = chain.snapshot()
    try:
        yield scenario
    finally:
        chain.revert(snapshot)


@pytest.fixture
def anvil_scenario(anvil_w3: Web3) -> Scenario:
    return deploy_on(anvil_w3)


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every executor test runs with DEBUG logging captured; the key must never show."""
    caplog.set_level("DEBUG")
    yield
    text = caplog.text
    for secret in SECRETS:
        assert secret not in text
