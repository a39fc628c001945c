"""The pool's hot events (thousands per crash block) are decoded by slicing; the answers, and
the refusals of malformed logs, must be exactly those of the generic ABI decoder."""

from __future__ import annotations

import dataclasses
import random

import pytest

from bot.chain.artifacts import abi_of
from bot.chain.rpc import LogEntry
from bot.model.types import UserReserve
from bot.protocols import AavePoolAdapter
from bot.protocols.base import AbiEvent, MarketLayout, PositionChanged, ReserveChanged, checksum

POOL = checksum("0x" + "11" * 20)
ADAPTER = AavePoolAdapter(POOL, "0x" + "22" * 20, oracle="0x" + "33" * 20)
LAYOUT = MarketLayout((), {}, {})
USER_RESERVE_UPDATED = AbiEvent.from_abi(abi_of("LendingPool"), "UserReserveUpdated")
RESERVE_EVENTS = {
    name: AbiEvent.from_abi(abi_of("LendingPool"), name)
    for name in (
        "ReserveDataUpdated",
        "BadDebtWrittenOff",
        "ReserveConfigurationChanged",
        "InterestRateParamsChanged",
    )
}


def _address_word(rng: random.Random) -> bytes:
    return bytes(12) + rng.randbytes(20)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _entry(topics: list[bytes], data: bytes) -> LogEntry:
    return LogEntry(POOL, tuple(topics), data, 7, "0x" + "ab" * 32, 0, "0x" + "cd" * 32)


def test_position_updates_decode_as_the_abi_says() -> None:
    rng = random.Random(5)
    for _ in range(200):
        reserve, user = _address_word(rng), _address_word(rng)
        supply, debt, flag = rng.getrandbits(200), rng.getrandbits(130), rng.random() < 0.5
        data = _word(supply) + _word(debt) + _word(int(flag))
        entry = _entry([USER_RESERVE_UPDATED.topic0, reserve, user], data)
        v = USER_RESERVE_UPDATED.decode(entry)
        expected = PositionChanged(
            checksum(v["user"]),
            UserReserve(
                checksum(v["reserve"]),
                v["scaledSupply"],
                v["scaledDebt"],
                v["usingAsCollateral"],
            ),
        )
        decoded = ADAPTER.decode_log(entry, LAYOUT)
        assert decoded == expected and hash(decoded) == hash(expected)
        assert type(decoded) is PositionChanged and type(expected.position) is UserReserve
        with pytest.raises(dataclasses.FrozenInstanceError):  # built slot by slot, still frozen
            decoded.position.scaled_debt = 0  # type: ignore[misc]
        assert expected.position == UserReserve(expected.position.asset, supply, debt, flag)


@pytest.mark.parametrize(
    "topics, data",
    [
        (2, _word(1) + _word(2) + _word(1)),  # the user topic is missing
        (3, _word(1) + _word(2)),  # truncated data
        (3, _word(1) + _word(2) + _word(2)),  # a bool that is neither 0 nor 1
        (3, _word(1) + _word(2) + b"\x01" + bytes(30) + b"\x01"),  # high bytes in a bool
    ],
)
def test_malformed_position_updates_are_refused_as_before(topics: int, data: bytes) -> None:
    rng = random.Random(topics)
    entry = _entry(
        [USER_RESERVE_UPDATED.topic0, *(_address_word(rng) for _ in range(topics - 1))], data
    )
    with pytest.raises(ValueError):
        USER_RESERVE_UPDATED.decode(entry)
    with pytest.raises(ValueError):
        ADAPTER.decode_log(entry, LAYOUT)


@pytest.mark.parametrize("name", sorted(RESERVE_EVENTS))
def test_reserve_events_name_their_reserve(name: str) -> None:
    event = RESERVE_EVENTS[name]
    rng = random.Random(name)
    topics = [event.topic0, *(_address_word(rng) for _ in event.indexed)]
    data = b"".join(_word(rng.getrandbits(16)) for _ in event.data)
    values = event.decode(_entry(topics, data))
    expected = ReserveChanged(checksum(values.get("reserve", values.get("asset"))))
    assert ADAPTER.decode_log(_entry(topics, data), LAYOUT) == expected
    with pytest.raises(ValueError):  # short data: refused, as the ABI decoder does
        ADAPTER.decode_log(_entry(topics, data[:-1]), LAYOUT)
    with pytest.raises(ValueError):  # a topic missing
        ADAPTER.decode_log(_entry(topics[:-1], data), LAYOUT)
