"""The documented example configurations load as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["anvil.toml", "testnet.toml"])
def test_example_configs_are_valid(name: str) -> None:
    settings = load_settings(EXAMPLES / name)
    assert settings.chain.chain_id in (31337, 11155111)
    assert settings.execution.max_priority_fee_gwei <= settings.execution.max_fee_gwei


def test_auction_keeper_example_config_is_valid() -> None:
    """examples/auctions-anvil.toml loads and sets the keeper's model of rivals."""
    settings = load_settings(EXAMPLES / "auctions-anvil.toml")
    assert settings.chain.chain_id == 31337
    assert settings.chain.deployment.name == "auctions.json"
    assert settings.auctions.rival_take_probability_bps == 5_000
    assert settings.auctions.block_time == 2
