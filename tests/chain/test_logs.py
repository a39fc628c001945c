"""Chunked eth_getLogs against anvil behind a proxy that refuses ranges the way providers do."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.contracts import deploy_contract
from bot.chain.logs import LogReader
from bot.chain.rpc import LogEntry, RetryPolicy, RpcClient, RpcError, parse_logs
from tests.chain.rpc_proxy import RpcProxy

TRANSFER = Web3.keccak(text="Transfer(address,address,uint256)")
MINTS = 60


@dataclass
class TokenChain:
    anvil: Anvil
    token: str
    first: int
    last: int


@pytest.fixture(scope="module")
def token_chain() -> Iterator[TokenChain]:
    """A token minted once per block over ``MINTS`` blocks (one Transfer log each), plus
    three mints in one block."""
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        owner = w3.eth.accounts[0]
        token = deploy_contract(w3, "TestToken", "Log", "LOG", 18, sender=owner)
        first = w3.eth.block_number + 1
        for i in range(MINTS):
            token.functions.mint(owner, i + 1).transact({"from": owner})
        w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        for i in range(3):
            token.functions.mint(owner, 1000 + i).transact({"from": owner, "gas": 100_000})
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        yield TokenChain(node, token.address, first, w3.eth.block_number)


@pytest.fixture
def proxy(token_chain: TokenChain) -> Iterator[RpcProxy]:
    with RpcProxy(token_chain.anvil.url) as p:
        yield p


def _amounts(logs: list) -> list[int]:  # type: ignore[type-arg]
    return [int.from_bytes(entry.data, "big") for entry in logs]


EXPECTED = [*range(1, MINTS + 1), 1000, 1001, 1002]


def test_reads_everything_in_one_chunk_when_allowed(
    token_chain: TokenChain, proxy: RpcProxy
) -> None:
    reader = LogReader(RpcClient([proxy.url]))
    logs = reader.fetch(0, token_chain.last, [token_chain.token], [TRANSFER])
    assert _amounts(logs) == EXPECTED
    assert proxy.counts["eth_getLogs"] == 1
    assert [e.log_index for e in logs[-3:]] == [0, 1, 2]
    assert len({e.block_number for e in logs}) == MINTS + 1


def test_a_block_range_limit_halves_the_chunk_then_it_grows_back(
    token_chain: TokenChain, proxy: RpcProxy
) -> None:
    proxy.faults.max_log_range = 7
    reader = LogReader(RpcClient([proxy.url]), chunk=1_000, grow_after=2)
    logs = reader.fetch(0, token_chain.last, [token_chain.token], [TRANSFER])
    assert _amounts(logs) == EXPECTED
    assert reader.stats.refusals >= 3  # 63 blocks -> 31 -> 15 -> 7, then growing is refused
    assert reader.chunk <= 14  # grew back at most once past the limit before being refused
    refused = reader.stats.refusals
    proxy.faults.max_log_range = None
    reader.fetch(0, token_chain.last, [token_chain.token], [TRANSFER])
    assert reader.stats.refusals == refused
    assert reader.chunk > 14  # grows back once the provider allows it


def test_a_suggested_range_is_taken_at_once(token_chain: TokenChain, proxy: RpcProxy) -> None:
    proxy.faults.max_log_range = 10
    proxy.faults.suggest_range = True
    reader = LogReader(RpcClient([proxy.url]), chunk=5_000, grow_after=100)
    logs = reader.fetch(0, token_chain.last, [token_chain.token], [TRANSFER])
    assert _amounts(logs) == EXPECTED
    assert reader.stats.refusals == 1
    assert reader.chunk == 10


def test_a_result_size_limit_is_handled(token_chain: TokenChain, proxy: RpcProxy) -> None:
    proxy.faults.max_log_results = 5
    reader = LogReader(RpcClient([proxy.url]), chunk=1_000)
    logs = reader.fetch(0, token_chain.last, [token_chain.token], [TRANSFER])
    assert _amounts(logs) == EXPECTED
    assert reader.stats.refusals > 0


def test_a_slow_wide_range_is_narrowed(token_chain: TokenChain, proxy: RpcProxy) -> None:
    proxy.faults.slow_log_span = (20, 1.0)  # wider than 20 blocks: longer than the timeout
    policy = RetryPolicy(timeout=0.4, base_delay=0.01, cooldown=0.0)
    reader = LogReader(RpcClient([proxy.url], policy=policy), chunk=1_000, grow_after=100)
    logs = reader.fetch(0, token_chain.last, [token_chain.token], [TRANSFER])
    assert _amounts(logs) == EXPECTED
    assert reader.chunk <= 20


def test_a_single_block_that_is_refused_is_an_error(
    token_chain: TokenChain, proxy: RpcProxy
) -> None:
    proxy.faults.max_log_range = 0
    reader = LogReader(RpcClient([proxy.url]), chunk=8)
    with pytest.raises(RpcError):
        reader.fetch(token_chain.first, token_chain.last, [token_chain.token], [TRANSFER])
    assert reader.stats.refusals == 3  # 8 -> 4 -> 2 -> 1, then the single block fails


def test_parsed_logs_match_web3s_own_reading(token_chain: TokenChain) -> None:
    """``get_logs`` parses each log by hand (hashes shared across one answer): every field
    equals what web3 reads from the same node."""
    rpc = RpcClient([token_chain.anvil.url])
    ours = rpc.get_logs(token_chain.first, token_chain.last, [token_chain.token], [TRANSFER])
    w3 = Web3(Web3.HTTPProvider(token_chain.anvil.url))
    theirs = w3.eth.get_logs(
        {"fromBlock": token_chain.first, "toBlock": token_chain.last, "address": token_chain.token}
    )
    assert len(ours) == len(theirs) == MINTS + 3
    for entry, log in zip(ours, theirs, strict=True):
        assert entry.address == log["address"]
        assert entry.topics == tuple(bytes(t) for t in log["topics"])
        assert entry.data == bytes(log["data"])
        assert entry.block_number == log["blockNumber"]
        assert entry.block_hash == "0x" + bytes(log["blockHash"]).hex()
        assert entry.transaction_hash == "0x" + bytes(log["transactionHash"]).hex()
        assert entry.log_index == log["logIndex"]
    assert len({e.block_hash for e in ours[-3:]}) == 1  # three logs of one block
    assert len({e.transaction_hash for e in ours[-3:]}) == 3


def test_log_hashes_have_one_spelling_whatever_the_node_sends() -> None:
    raw = {
        "address": "0x" + "ab" * 20,
        "topics": ["0x" + "CD" * 32],
        "data": "0X" + "0F" * 32,
        "blockNumber": "0x10",
        "blockHash": "0x" + "AB" * 32,
        "logIndex": "0x2",
        "transactionHash": "0x" + "Ef" * 32,
    }
    shared: dict[object, str] = {}
    first = LogEntry.from_rpc(raw, shared)
    assert first == LogEntry.from_rpc(raw) == LogEntry.from_rpc(raw, shared)
    assert first.block_hash == "0x" + "ab" * 32 and first.transaction_hash == "0x" + "ef" * 32
    assert first.topics == (bytes.fromhex("cd" * 32),) and first.data == bytes.fromhex("0f" * 32)
    assert (first.block_number, first.log_index) == (16, 2)
    with pytest.raises(ValueError):
        LogEntry.from_rpc({**raw, "blockHash": "0x" + "zz" * 32}, shared)


def _hex(data: bytes, prefix: str, upper: bool) -> str:
    text = data.hex()
    return prefix + (text.upper() if upper else text)


_BYTES32 = st.binary(min_size=32, max_size=32)


@st.composite
def _raw_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Answers as nodes send them (hex strings, any case, either prefix, some fields left
    out) and as eth-tester hands them over (ints and bytes), hashes and topics shared
    between logs as in one block's answer."""
    hashes = draw(st.lists(_BYTES32, min_size=1, max_size=3))
    topics = draw(st.lists(_BYTES32, min_size=1, max_size=4))
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 6))):
        spelling = draw(st.sampled_from(["0x", "0X", ""]))
        upper = draw(st.booleans())
        as_bytes = draw(st.booleans())

        def value(
            raw: bytes, spelling: str = spelling, upper: bool = upper, as_bytes: bool = as_bytes
        ) -> Any:
            return raw if as_bytes else _hex(raw, spelling, upper)

        number, index = draw(st.integers(0, 2**40)), draw(st.integers(0, 2**16))
        entry: dict[str, Any] = {
            "address": _hex(draw(st.binary(min_size=20, max_size=20)), "0x", upper),
            "blockHash": value(draw(st.sampled_from(hashes))),
            "transactionHash": value(draw(st.sampled_from(hashes))),
            "blockNumber": number if as_bytes else hex(number),
            "logIndex": index if as_bytes else hex(index),
        }
        if draw(st.booleans()):
            entry["topics"] = [value(t) for t in draw(st.lists(st.sampled_from(topics)))]
        if draw(st.booleans()):
            entry["data"] = value(draw(st.binary(max_size=96)))
        if draw(st.booleans()):
            entry["removed"] = draw(st.booleans())
        out.append(entry)
    return out


@given(_raw_logs())
@settings(max_examples=300, deadline=None)
def test_an_answer_parses_as_each_log_alone(raw: list[dict[str, Any]]) -> None:
    """``parse_logs`` (the fast path of every ``eth_getLogs`` answer) gives exactly what
    ``LogEntry.from_rpc`` gives for each log on its own, and plain frozen values."""
    parsed = parse_logs(raw)
    assert parsed == [LogEntry.from_rpc(entry) for entry in raw]
    for entry in parsed:
        assert type(entry) is LogEntry and hash(entry) == hash(dataclasses.replace(entry))
        with pytest.raises(dataclasses.FrozenInstanceError):
            entry.data = b""  # type: ignore[misc]


def test_an_answer_with_a_malformed_log_is_refused() -> None:
    good = {
        "address": "0x" + "ab" * 20,
        "topics": ["0x" + "cd" * 32],
        "data": "0x",
        "blockNumber": "0x10",
        "blockHash": "0x" + "ab" * 32,
        "logIndex": "0x2",
        "transactionHash": "0x" + "ef" * 32,
    }
    assert parse_logs([good])[0].data == b""
    for field, bad in (("topics", ["0xzz"]), ("data", "0x0"), ("blockNumber", "0xg")):
        with pytest.raises(ValueError):
            parse_logs([good, {**good, field: bad}])
