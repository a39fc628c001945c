"""Batched reads through Multicall3's ``aggregate3``: many view calls in one ``eth_call``.

eth-tester has no JSON-RPC batch requests and many providers bill per request, so the
watcher's reads of a block (reserves, prices, accounts to confirm) travel in one call to a
Multicall3-compatible contract. ``allowFailure`` is set per call: a reverting view (an
oracle whose circuit breaker tripped) yields a failed result instead of failing the batch.
Big batches are cut into chunks so that one ``eth_call`` stays under the node's gas cap and
response limits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from bot.chain.rpc import RpcClient

T = TypeVar("T")

AGGREGATE3 = function_signature_to_4byte_selector("aggregate3((address,bool,bytes)[])")
GET_BLOCK_HASH = function_signature_to_4byte_selector("getBlockHash(uint256)")


@dataclass(frozen=True, slots=True)
class Call:
    target: str
    data: bytes
    allow_failure: bool = True


@dataclass(frozen=True, slots=True)
class CallResult:
    success: bool
    data: bytes


@dataclass(frozen=True, slots=True)
class Read(Generic[T]):
    """A view call and how to decode its return data: one item of a batch."""

    call: Call
    decode: Callable[[bytes], T]
    label: str = ""


@dataclass(frozen=True, slots=True)
class ReadFailed:
    """A read that reverted (``data`` is the revert data) or returned undecodable data."""

    label: str
    data: bytes
    reason: str = "reverted"


class Multicall:
    """``aggregate3`` on a Multicall3-compatible contract, chunked."""

    def __init__(
        self, rpc: RpcClient, address: str, *, max_calls: int = 250, gas: int | None = None
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be positive")
        self.rpc = rpc
        self.address = address
        self.max_calls = max_calls
        self.gas = gas
        self.batches = 0

    def aggregate3(self, calls: Sequence[Call], block: int | str = "latest") -> list[CallResult]:
        """One result per call, in order; ``ceil(len(calls) / max_calls)`` requests."""
        results: list[CallResult] = []
        for start in range(0, len(calls), self.max_calls):
            chunk = calls[start : start + self.max_calls]
            payload = AGGREGATE3 + abi_encode(
                ["(address,bool,bytes)[]"],
                [[(c.target, c.allow_failure, c.data) for c in chunk]],
            )
            raw = self.rpc.call(self.address, payload, block, gas=self.gas)
            self.batches += 1
            decoded = decode_results(raw)
            if len(decoded) != len(chunk):
                raise ValueError(f"aggregate3 returned {len(decoded)} results for {len(chunk)}")
            results.extend(decoded)
        return results

    def read_all(self, reads: Sequence[Read[Any]], block: int | str = "latest") -> list[Any]:
        """Decoded values in order; a :class:`ReadFailed` where a call failed."""
        results = self.aggregate3([r.call for r in reads], block)
        out: list[Any] = []
        for read, result in zip(reads, results, strict=True):
            if not result.success:
                out.append(ReadFailed(read.label, result.data))
                continue
            try:
                out.append(read.decode(result.data))
            except Exception as exc:  # a contract that answers garbage must not stop the batch
                out.append(ReadFailed(read.label, result.data, f"undecodable: {exc}"))
        return out

    def block_hash_read(self, number: int) -> Read[str]:
        """``blockhash(number)`` as seen by the call's block (zero hash when out of reach)."""
        return Read(
            Call(self.address, GET_BLOCK_HASH + abi_encode(["uint256"], [number])),
            _decode_hash,
            f"blockhash({number})",
        )


def _uint(raw: bytes, at: int) -> int:
    word = raw[at : at + 32]
    if len(word) != 32:
        raise ValueError("aggregate3 return data is truncated")
    return int.from_bytes(word, "big")


def decode_results(raw: bytes) -> list[CallResult]:
    """``(bool success, bytes returnData)[]`` decoded by hand: eth_abi's generic decoder
    spends most of a big batch's time validating pointers."""
    base = _uint(raw, 0)
    count = _uint(raw, base)
    heads = base + 32
    out: list[CallResult] = []
    for i in range(count):
        item = heads + _uint(raw, heads + 32 * i)
        success = _uint(raw, item)
        if success > 1:
            raise ValueError("aggregate3 returned a malformed bool")
        start = item + _uint(raw, item + 32)
        length = _uint(raw, start)
        data = raw[start + 32 : start + 32 + length]
        if len(data) != length:
            raise ValueError("aggregate3 return data is truncated")
        out.append(CallResult(success == 1, data))
    return out


def _decode_hash(data: bytes) -> str:
    (value,) = abi_decode(["bytes32"], data)
    return "0x" + bytes(value).hex()


ZERO_HASH = "0x" + "00" * 32
