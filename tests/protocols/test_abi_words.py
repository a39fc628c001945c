"""AbiFunction.encode lays out one-word arguments itself: it must give eth_abi's bytes for
everything eth_abi accepts, and leave to eth_abi (and its error) everything else."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.protocols.base import AbiFunction

KINDS = (
    "address",
    "address",
    "bool",
    "uint256",
    "uint256",
    "uint8",
    "int256",
    "int24",
    "uint256[]",
)


def fn(*kinds: str) -> AbiFunction:
    return AbiFunction.from_abi(
        [
            {
                "type": "function",
                "name": "f",
                "inputs": [{"name": f"a{i}", "type": k} for i, k in enumerate(kinds)],
                "outputs": [],
            }
        ],
        "f",
    )


addresses = st.binary(min_size=20, max_size=20).flatmap(
    lambda raw: st.sampled_from(
        ["0x" + raw.hex(), "0x" + raw.hex().upper(), to_checksum_address(raw)]
    )
)
bad_addresses = st.binary(
    min_size=20, max_size=20
).flatmap(
    lambda raw: st.sampled_from(
        [
            "0x" + raw.hex()[:-1] + ("A" if raw.hex()[-1] != "a" else "B"),  # often a bad checksum
            "0x" + raw.hex()[:-2],  # too short
            raw,  # bytes: eth_abi takes 20 bytes, the fast path leaves them to it
        ]
    )
)


def value_for(kind: str) -> st.SearchStrategy[Any]:
    """Mostly values of the kind, sometimes just out of range or of another kind."""
    fitting: dict[str, st.SearchStrategy[Any]] = {
        "address": addresses,
        "bool": st.booleans(),
        "uint256": st.integers(0, 2**256 - 1),
        "uint8": st.integers(0, 255),
        "int256": st.integers(-(2**255), 2**255 - 1),
        "int24": st.integers(-(2**23), 2**23 - 1),
        "uint256[]": st.lists(st.integers(0, 2**256 - 1), max_size=3),
    }
    odd = st.one_of(
        st.booleans(),
        st.integers(-1, 2**256),
        st.sampled_from([-(2**255) - 1, 2**255, 256, -(2**23) - 1, 2**23]),
        st.text(max_size=3),
        bad_addresses,
    )
    return st.one_of(*[fitting[kind]] * 12, odd)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.sampled_from(KINDS), min_size=1, max_size=5).flatmap(
        lambda kinds: st.tuples(*(st.tuples(st.just(k), value_for(k)) for k in kinds))
    )
)
def test_encode_equals_eth_abi_or_refuses_the_same(args: tuple[tuple[str, Any], ...]) -> None:
    kinds = tuple(k for k, _ in args)
    call = [v for _, v in args]
    try:
        expected: bytes | None = abi_encode(list(kinds), call)
    except Exception:
        expected = None
    f = fn(*kinds)
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017 - eth_abi's own error, whatever it is
            f.encode(*call)
    else:
        assert f.encode(*call) == f.selector + expected


def test_the_fast_path_is_taken_and_matches() -> None:
    f = fn("address", "address", "address", "uint256", "bool")
    user = to_checksum_address("0x" + "ab" * 20)
    args = (user, user.lower(), user, 10**30, True)
    expected = abi_encode(["address", "address", "address", "uint256", "bool"], list(args))
    assert f.encode(*args) == f.selector + expected
