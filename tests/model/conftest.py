from __future__ import annotations

import pytest

from bot.chain.embedded import EmbeddedChain
from bot.deploy.market import Market


@pytest.fixture(scope="module")
def deployed(_deployed_market: tuple[EmbeddedChain, Market]) -> tuple[EmbeddedChain, Market]:
    """The session's bundled market; each hypothesis example snapshots and reverts it."""
    return _deployed_market
