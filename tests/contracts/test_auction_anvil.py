"""The auction contracts on anvil (a real JSON-RPC node): one test of each area, the same
scenarios as the eth-tester tests, on one deployment reset by snapshots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from tests.contracts.auction_fixtures import AnvilControl, Env, build_env
from tests.contracts.test_auction_bark import scenario_bark_pays_keeper
from tests.contracts.test_auction_crash import scenario_crash
from tests.contracts.test_auction_curves import scenario_curves
from tests.contracts.test_auction_dutch import (
    scenario_emergency_switch,
    scenario_flash_taker,
    scenario_redo_after_too_long,
    scenario_take_whole_auction,
)
from tests.contracts.test_auction_english import scenario_english_auction
from tests.contracts.test_auction_vaults import (
    scenario_fee_makes_vault_unsafe,
    scenario_vault_accounting,
)

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def anvil_env() -> Iterator[Env]:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        yield build_env(w3, AnvilControl(w3))


@pytest.fixture
def env(anvil_env: Env) -> Iterator[Env]:
    snapshot = anvil_env.control.snapshot()
    try:
        yield anvil_env
    finally:
        anvil_env.control.revert(snapshot)


def test_curves_on_anvil(env: Env) -> None:
    scenario_curves(env)


def test_vault_accounting_on_anvil(env: Env) -> None:
    scenario_vault_accounting(env)


def test_fee_accrual_on_anvil(env: Env) -> None:
    scenario_fee_makes_vault_unsafe(env)


def test_bark_on_anvil(env: Env) -> None:
    scenario_bark_pays_keeper(env)


def test_take_on_anvil(env: Env) -> None:
    scenario_take_whole_auction(env)


def test_flash_taker_on_anvil(env: Env) -> None:
    scenario_flash_taker(env)


def test_redo_on_anvil(env: Env) -> None:
    scenario_redo_after_too_long(env)


def test_emergency_switch_on_anvil(env: Env) -> None:
    scenario_emergency_switch(env)


def test_english_auction_on_anvil(env: Env) -> None:
    scenario_english_auction(env)


def test_crash_on_anvil(env: Env) -> None:
    report = scenario_crash(env, 50, seed=11)
    assert report.unsafe == 50
