"""The simulated profit is read straight from the return data's first word; it must be what
eth-abi's decoder gives (or None where the decoder refuses), for every route."""

from __future__ import annotations

from eth_abi.abi import decode
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.execute.executor import _profit_from_return
from bot.execute.request import Route


def _decoded(route: Route, data: bytes) -> int | None:
    types = {
        Route.FLASH: ["uint256"],
        Route.INVENTORY_SWAP: ["uint256"],
        Route.INVENTORY: ["uint256", "uint256"],
    }.get(route)
    if types is None:
        return None
    try:
        return int(decode(types, data)[0])
    except Exception:
        return None


@settings(max_examples=300, deadline=None)
@given(route=st.sampled_from(list(Route)), data=st.binary(max_size=100))
def test_the_profit_word_matches_eth_abi(route: Route, data: bytes) -> None:
    assert _profit_from_return(route, data) == _decoded(route, data)


def test_large_profits_and_short_returns() -> None:
    word = (2**256 - 1).to_bytes(32, "big")
    assert _profit_from_return(Route.FLASH, word) == 2**256 - 1
    assert _profit_from_return(Route.INVENTORY, word) is None  # needs two words
    assert _profit_from_return(Route.INVENTORY, word + bytes(32)) == 2**256 - 1
    assert _profit_from_return(Route.DIRECT, word) is None
