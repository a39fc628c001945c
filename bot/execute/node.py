"""Every chain read and write the executor makes, in one narrow place.

The rest of ``bot.execute`` sees plain values (hex strings, ints, small dataclasses), never
web3 response objects, so that a fault-injecting proxy or a fake node can stand in. A read
that fails raises :class:`NodeUnavailable`; callers on a money path then do nothing (fail
closed) and try again on the next block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import TransactionNotFound

from bot.chain.reverts import is_revert
from bot.chain.urls import redact_url

_URL = re.compile(r"(?:https?|wss?)://[^\s'\"<>]+")
_URL_PATH = re.compile(r"(with url: )\S+")


def scrub(message: str) -> str:
    """A transport error's text without the URL's path or query (they may hold an API key)."""
    message = _URL.sub(lambda m: redact_url(m.group(0)), message)
    return _URL_PATH.sub(r"\1…", message)


class NodeUnavailable(Exception):
    """A read or send failed for a reason other than the node's answer (transport, timeout)."""


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    hash: str
    base_fee: int
    gas_used: int
    gas_limit: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Log:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    effective_gas_price: int
    sender: str
    to: str | None
    logs: tuple[Log, ...]

    @property
    def gas_paid(self) -> int:
        return self.gas_used * self.effective_gas_price


@dataclass(frozen=True, slots=True)
class PendingTx:
    """A transaction the node knows (in its pool, or mined when ``block_number`` is set)."""

    tx_hash: str
    nonce: int
    sender: str
    block_number: int | None


def hexstr(value: Any) -> str:
    """``0x``-prefixed lower-case hex of bytes, HexBytes or a hex string."""
    if isinstance(value, str):
        text = value.lower()
        return text if text.startswith("0x") else "0x" + text
    return "0x" + bytes(value).hex()


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    return bytes(value)


class Node:
    """The executor's view of one JSON-RPC endpoint (or eth-tester) through ``Web3``."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def _wrap(self, what: str, exc: Exception) -> NodeUnavailable:
        return NodeUnavailable(f"{what}: {type(exc).__name__}: {scrub(str(exc))[:500]}")

    def chain_id(self) -> int:
        try:
            return int(self.w3.eth.chain_id)
        except Exception as exc:
            raise self._wrap("eth_chainId", exc) from None

    def head(self) -> Head:
        try:
            block = self.w3.eth.get_block("latest")
        except Exception as exc:
            raise self._wrap("eth_getBlockByNumber", exc) from None
        return Head(
            number=int(block["number"]),
            hash=hexstr(block["hash"]),
            base_fee=int(block.get("baseFeePerGas", 0) or 0),
            gas_used=int(block["gasUsed"]),
            gas_limit=int(block["gasLimit"]),
            timestamp=int(block["timestamp"]),
        )

    def block_hash(self, number: int) -> str | None:
        try:
            block = self.w3.eth.get_block(number)
        except Exception as exc:
            if "not found" in str(exc).lower():
                return None
            raise self._wrap("eth_getBlockByNumber", exc) from None
        return hexstr(block["hash"])

    def nonce(self, address: str, block: str = "latest") -> int:
        try:
            return int(
                self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), block)  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise self._wrap("eth_getTransactionCount", exc) from None

    def balance(self, address: str, block: int | None = None) -> int:
        try:
            return int(
                self.w3.eth.get_balance(
                    Web3.to_checksum_address(address), "latest" if block is None else block
                )
            )
        except Exception as exc:
            raise self._wrap("eth_getBalance", exc) from None

    def code(self, address: str) -> bytes:
        try:
            return bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))
        except Exception as exc:
            raise self._wrap("eth_getCode", exc) from None

    def storage(self, address: str, slot: int) -> bytes:
        try:
            return bytes(self.w3.eth.get_storage_at(Web3.to_checksum_address(address), slot))
        except Exception as exc:
            raise self._wrap("eth_getStorageAt", exc) from None

    def receipt(self, tx_hash: str) -> Receipt | None:
        try:
            r = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        except Exception as exc:
            raise self._wrap("eth_getTransactionReceipt", exc) from None
        if r is None or r.get("blockNumber") is None:
            return None
        logs = tuple(
            Log(
                address=str(Web3.to_checksum_address(entry["address"])),
                topics=tuple(_bytes(t) for t in entry["topics"]),
                data=_bytes(entry["data"]),
            )
            for entry in r["logs"]
        )
        to = r.get("to")
        return Receipt(
            tx_hash=hexstr(r["transactionHash"]),
            block_number=int(r["blockNumber"]),
            block_hash=hexstr(r["blockHash"]),
            status=int(r["status"]),
            gas_used=int(r["gasUsed"]),
            effective_gas_price=int(r.get("effectiveGasPrice", 0) or 0),
            sender=str(Web3.to_checksum_address(r["from"])),
            to=str(Web3.to_checksum_address(to)) if to else None,
            logs=logs,
        )

    def transaction(self, tx_hash: str) -> PendingTx | None:
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        except Exception as exc:
            raise self._wrap("eth_getTransactionByHash", exc) from None
        if tx is None:
            return None
        number = tx.get("blockNumber")
        return PendingTx(
            tx_hash=hexstr(tx["hash"]),
            nonce=int(tx["nonce"]),
            sender=str(Web3.to_checksum_address(tx["from"])),
            block_number=int(number) if number is not None else None,
        )

    def call(self, tx: Mapping[str, Any], block: int | str = "latest") -> bytes:
        """``eth_call``; a revert propagates as the provider's exception (see chain.reverts)."""
        try:
            return bytes(self.w3.eth.call(dict(tx), block))  # type: ignore[arg-type]
        except Exception as exc:
            if is_revert(exc):
                raise
            raise self._wrap("eth_call", exc) from None

    def estimate_gas(self, tx: Mapping[str, Any], block: int | str = "latest") -> int:
        try:
            return int(self.w3.eth.estimate_gas(dict(tx), block))  # type: ignore[arg-type]
        except Exception as exc:
            if is_revert(exc):
                raise
            raise self._wrap("eth_estimateGas", exc) from None

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int
    ) -> list[tuple[int, str, Log]]:
        """(block, tx hash, log) for logs of ``address`` matching ``topics`` (None: any)."""
        try:
            entries = self.w3.eth.get_logs(
                {
                    "address": Web3.to_checksum_address(address),
                    "fromBlock": from_block,
                    "toBlock": to_block,
                    "topics": [hexstr(t) if t is not None else None for t in topics],
                }
            )
        except Exception as exc:
            raise self._wrap("eth_getLogs", exc) from None
        return [
            (
                int(e["blockNumber"]),
                hexstr(e["transactionHash"]),
                Log(
                    address=str(Web3.to_checksum_address(e["address"])),
                    topics=tuple(_bytes(t) for t in e["topics"]),
                    data=_bytes(e["data"]),
                ),
            )
            for e in entries
        ]

    def send_raw(self, raw: bytes) -> str:
        """``eth_sendRawTransaction``; errors propagate for the caller to classify."""
        return hexstr(self.w3.eth.send_raw_transaction(raw))

    def request(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC request (node-specific methods in tests and tools)."""
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise NodeUnavailable(f"{method}: {response['error']}")
        return response.get("result")
