"""Every chain read and write the executor makes, in one narrow place.

The rest of ``bot.execute`` sees plain values (hex strings, ints, small dataclasses), never
web3 response objects, so that a fault-injecting proxy or a fake node can stand in. A read
that fails raises :class:`NodeUnavailable`; callers on a money path then do nothing (fail
closed) and try again on the next block.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound
from web3.types import RPCEndpoint

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


_MAX_NONCE = 2**64 - 1  # EIP-2681
_MAX_BLOCK = 2**63 - 1


def _sane(value: int, what: str, limit: int) -> int:
    """A number from the node, refused when no honest node could say it (a negative or
    absurd nonce would otherwise jam the journal's counter for good)."""
    if not 0 <= value <= limit:
        raise NodeUnavailable(f"{what}: implausible value {value:#x} from the node")
    return value


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


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """EIP-55 form of an address, cached: a block of a thousand receipts names the same few
    contracts in every log, and each checksum is a keccak."""
    return str(Web3.to_checksum_address(address))


def _logs(entries: Sequence[Mapping[str, Any]]) -> tuple[Log, ...]:
    """A receipt's logs, from raw JSON or web3's formatted receipt alike."""
    return tuple(
        Log(
            address=_checksum(entry["address"]),
            topics=tuple(_bytes(t) for t in entry["topics"]),
            data=_bytes(entry["data"]),
        )
        for entry in entries
    )


def _receipt_from_json(r: Mapping[str, Any]) -> Receipt | None:
    """A receipt from the node's raw JSON (hex quantities), as :meth:`Node.receipt` reads it
    through web3."""
    if r.get("blockNumber") is None:
        return None
    to = r.get("to")
    return Receipt(
        tx_hash=hexstr(r["transactionHash"]),
        block_number=_sane(int(r["blockNumber"], 16), "receipt block", _MAX_BLOCK),
        block_hash=hexstr(r["blockHash"]),
        status=int(r["status"], 16),
        gas_used=int(r["gasUsed"], 16),
        effective_gas_price=int(r.get("effectiveGasPrice") or "0x0", 16),
        sender=_checksum(r["from"]),
        to=_checksum(to) if to else None,
        logs=_logs(r["logs"]),
    )


def _head_from_json(reply: Any) -> Head:
    """The head from a raw ``eth_getBlockByNumber`` answer (hex quantities); a missing or
    malformed block is :class:`NodeUnavailable`."""
    what = "eth_getBlockByNumber"
    block = reply.get("result") if isinstance(reply, dict) else None
    if not isinstance(block, dict):
        error = reply.get("error") if isinstance(reply, dict) else reply
        raise NodeUnavailable(f"{what}: no block in the answer: {scrub(str(error))[:300]}")
    try:
        return Head(
            number=_sane(int(block["number"], 16), what, _MAX_BLOCK),
            hash=hexstr(block["hash"]),
            base_fee=int(block.get("baseFeePerGas") or "0x0", 16),
            gas_used=int(block["gasUsed"], 16),
            gas_limit=int(block["gasLimit"], 16),
            timestamp=int(block["timestamp"], 16),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NodeUnavailable(f"{what}: malformed block: {type(exc).__name__}: {exc}") from None


def _quantity(answer: Mapping[str, Any], what: str, limit: int) -> int:
    """A hex quantity from one raw JSON-RPC answer, held to the bounds an honest node keeps."""
    result = answer.get("result")
    if "error" in answer or not isinstance(result, str):
        error = answer.get("error", "no result")
        raise NodeUnavailable(f"{what}: {scrub(str(error))[:300]}")
    try:
        value = int(result, 16)
    except ValueError:
        raise NodeUnavailable(f"{what}: not a hex quantity: {result[:80]!r}") from None
    return _sane(value, what, limit)


class BatchMismatch(NodeUnavailable):
    """A batch's answers do not pair up with its requests (ids missing, repeated or foreign):
    none of them can be attributed, so none is used."""


@dataclass(frozen=True, slots=True)
class BlockReads:
    """The raw answers of :meth:`Node.block_reads`, parsed on demand in the order a caller
    checks them (each accessor raises :class:`NodeUnavailable` for its own bad answer only,
    so that a wrong chain id is seen even when a later answer in the batch is an error)."""

    answers: tuple[Mapping[str, Any], ...]
    """chain id, head, then (``nonces``) latest and pending nonces, then (``balance``)."""
    nonces: bool
    balance_read: bool

    def chain_id(self) -> int:
        return _quantity(self.answers[0], "eth_chainId", 2**64 - 1)

    def head(self) -> Head:
        return _head_from_json(self.answers[1])

    def account_nonces(self) -> tuple[int, int]:
        """(latest, pending) transaction counts of the account."""
        if not self.nonces:
            raise ValueError("the nonces were not read")
        what = "eth_getTransactionCount"
        return (
            _quantity(self.answers[2], what, _MAX_NONCE),
            _quantity(self.answers[3], what, _MAX_NONCE),
        )

    def balance(self) -> int:
        if not self.balance_read:
            raise ValueError("the balance was not read")
        return _quantity(self.answers[-1], "eth_getBalance", 2**256 - 1)


def _without_chain_id_validation(w3: Web3) -> Web3:
    """``w3``'s provider and middleware minus web3's ``validation`` layer.

    That layer asks the node for ``eth_chainId`` before every ``eth_call`` and
    ``eth_estimateGas`` (to check a ``chainId`` field our calls never carry): one extra
    request per simulation. The executor checks the chain id itself, uncached, at start-up,
    once per block and on every poll (``Executor._check_chain``), so the layer adds nothing.
    The caller's ``w3`` is left as it was."""
    names = [name for _mw, name in w3.middleware_onion.middleware]
    if "validation" not in names:
        return w3
    private = Web3(w3.provider, middleware=[])
    for mw, name in reversed(w3.middleware_onion.middleware):
        if name != "validation":
            private.middleware_onion.add(mw, name=name)
    return private


class Node:
    """The executor's view of one JSON-RPC endpoint (or eth-tester) through ``Web3``."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = _without_chain_id_validation(w3)
        self._session: requests.Session | None = None
        """Batch requests' HTTP session (see :meth:`batch`)."""
        self._session_lock = threading.Lock()

    def _wrap(self, what: str, exc: Exception) -> NodeUnavailable:
        return NodeUnavailable(f"{what}: {type(exc).__name__}: {scrub(str(exc))[:500]}")

    def chain_id(self) -> int:
        try:
            return int(self.w3.eth.chain_id)
        except Exception as exc:
            raise self._wrap("eth_chainId", exc) from None

    def head(self) -> Head:
        if isinstance(self.w3.provider, HTTPProvider):
            return self._raw_head()
        try:
            block = self.w3.eth.get_block("latest")
        except Exception as exc:
            raise self._wrap("eth_getBlockByNumber", exc) from None
        return Head(
            number=_sane(int(block["number"]), "eth_getBlockByNumber", _MAX_BLOCK),
            hash=hexstr(block["hash"]),
            base_fee=int(block.get("baseFeePerGas", 0) or 0),
            gas_used=int(block["gasUsed"]),
            gas_limit=int(block["gasLimit"]),
            timestamp=int(block["timestamp"]),
        )

    def _raw_head(self) -> Head:
        """The head read as JSON: a crash block carries a thousand transaction hashes, which
        web3's result formatters would turn into objects one by one (~10 ms) for the six
        fields used here."""
        what = "eth_getBlockByNumber"
        try:
            reply = self.w3.provider.make_request(RPCEndpoint(what), ["latest", False])
        except Exception as exc:
            raise self._wrap(what, exc) from None
        return _head_from_json(reply)

    def block_hash(self, number: int) -> str | None:
        try:
            block = self.w3.eth.get_block(number)
        except Exception as exc:
            if "not found" in str(exc).lower():
                return None
            raise self._wrap("eth_getBlockByNumber", exc) from None
        return hexstr(block["hash"])

    def block_transactions(self, number: int) -> tuple[str, frozenset[str]] | None:
        """The canonical block ``number``: its hash and the hashes of its transactions
        (the evidence a receipt is checked against before it is believed)."""
        try:
            block = self.w3.eth.get_block(number)
        except Exception as exc:
            if "not found" in str(exc).lower():
                return None
            raise self._wrap("eth_getBlockByNumber", exc) from None
        return hexstr(block["hash"]), frozenset(hexstr(h) for h in block["transactions"])

    def block_summary(self, number: int) -> tuple[str, str, frozenset[str]] | None:
        """Block ``number``'s hash, parent hash and transaction hashes (None: not there yet):
        what the transaction manager reads once per new block to see which of ours were mined."""
        try:
            block = self.w3.eth.get_block(number)
        except Exception as exc:
            if "not found" in str(exc).lower():
                return None
            raise self._wrap("eth_getBlockByNumber", exc) from None
        return (
            hexstr(block["hash"]),
            hexstr(block["parentHash"]),
            frozenset(hexstr(h) for h in block["transactions"]),
        )

    def nonce(self, address: str, block: str = "latest") -> int:
        try:
            count = int(
                self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), block)  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise self._wrap("eth_getTransactionCount", exc) from None
        return _sane(count, "eth_getTransactionCount", _MAX_NONCE)

    def balance(self, address: str, block: int | None = None) -> int:
        try:
            balance = int(
                self.w3.eth.get_balance(
                    Web3.to_checksum_address(address), "latest" if block is None else block
                )
            )
        except Exception as exc:
            raise self._wrap("eth_getBalance", exc) from None
        return _sane(balance, "eth_getBalance", 2**256 - 1)

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
        to = r.get("to")
        return Receipt(
            tx_hash=hexstr(r["transactionHash"]),
            block_number=int(r["blockNumber"]),
            block_hash=hexstr(r["blockHash"]),
            status=int(r["status"]),
            gas_used=int(r["gasUsed"]),
            effective_gas_price=int(r.get("effectiveGasPrice", 0) or 0),
            sender=_checksum(r["from"]),
            to=_checksum(to) if to else None,
            logs=_logs(r["logs"]),
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
            sender=_checksum(tx["from"]),
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
                    address=_checksum(e["address"]),
                    topics=tuple(_bytes(t) for t in e["topics"]),
                    data=_bytes(e["data"]),
                ),
            )
            for e in entries
        ]

    def send_raw(self, raw: bytes) -> str:
        """``eth_sendRawTransaction``; errors propagate for the caller to classify."""
        return hexstr(self.w3.eth.send_raw_transaction(raw))

    @property
    def batches(self) -> bool:
        """Whether :meth:`batch` sends one JSON-RPC batch (an HTTP provider)."""
        provider = self.w3.provider
        return isinstance(provider, HTTPProvider) and provider.endpoint_uri is not None

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]] | None:
        """One JSON-RPC batch request; the raw responses in the order of ``calls`` (None:
        the provider cannot batch, e.g. eth-tester: the caller sends one request each).

        Posted here, on the provider's URL and request settings, rather than through web3:
        ``w3.batch_requests()`` raises on the first error response, and here each response
        must be judged on its own (one reverting simulation or one refused send must not
        cost the others); and the answers are paired with the requests by ids this method
        numbers itself, not by position after web3's sort on ids drawn from a counter that
        other users of the provider also draw from. ``params`` must be JSON-ready (hex
        strings). A transport failure raises :class:`NodeUnavailable` (then any send in the
        batch may have got through); answers that cannot be paired, :class:`BatchMismatch`."""
        provider = self.w3.provider
        if not isinstance(provider, HTTPProvider) or provider.endpoint_uri is None:
            return None
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": k, "method": method, "params": params}
                for k, (method, params) in enumerate(calls)
            ]
        )
        kwargs: dict[str, Any] = dict(provider.get_request_kwargs())
        kwargs.setdefault("timeout", 30)
        with self._session_lock:  # two sender threads may batch at once
            if self._session is None:
                self._session = requests.Session()
        try:
            with self._session.post(str(provider.endpoint_uri), data=body, **kwargs) as response:
                response.raise_for_status()
                responses = json.loads(response.content)
        except Exception as exc:
            raise self._wrap("batch", exc) from None
        if not isinstance(responses, list) or len(responses) != len(calls):
            raise NodeUnavailable(f"batch: {len(calls)} requests, a malformed answer")
        by_id: dict[int, dict[str, Any]] = {}
        for answer in responses:
            rid = answer.get("id") if isinstance(answer, Mapping) else None
            if type(rid) is not int or not 0 <= rid < len(calls) or rid in by_id:
                raise BatchMismatch(
                    f"batch: {len(calls)} requests, an answer with id {str(rid)[:20]} pairs "
                    "with none of them"
                )
            by_id[rid] = dict(answer)
        return [by_id[k] for k in range(len(calls))]

    def close(self) -> None:
        """Close the batch requests' connections (the provider's own are the caller's)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def block_reads(self, address: str, *, nonces: bool, balance: bool) -> BlockReads | None:
        """The chain id, the head and (optionally) the account's latest and pending nonces
        and its balance, in one JSON-RPC batch (one round trip instead of five). None: the
        provider cannot batch (the caller reads one by one). A transport failure raises
        :class:`NodeUnavailable`; a bad answer raises when its accessor is called."""
        calls: list[tuple[str, list[Any]]] = [
            ("eth_chainId", []),
            ("eth_getBlockByNumber", ["latest", False]),
        ]
        if nonces:
            calls.append(("eth_getTransactionCount", [address, "latest"]))
            calls.append(("eth_getTransactionCount", [address, "pending"]))
        if balance:
            calls.append(("eth_getBalance", [address, "latest"]))
        answers = self.batch(calls)
        if answers is None:
            return None
        return BlockReads(tuple(answers), nonces, balance)

    def receipts(self, tx_hashes: Sequence[str]) -> dict[str, Receipt | None] | None:
        """Receipts of ``tx_hashes`` in one batch request (None where the node has none;
        None for all when the provider cannot batch or an answer is odd: ask one by one)."""
        try:
            answers = self.batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes])
        except BatchMismatch:
            return None
        if answers is None:
            return None
        out: dict[str, Receipt | None] = {}
        for tx_hash, answer in zip(tx_hashes, answers, strict=True):
            if "error" in answer:
                return None
            raw = answer.get("result")
            try:
                out[tx_hash] = _receipt_from_json(raw) if raw is not None else None
            except (KeyError, TypeError, ValueError):
                return None
        return out

    def request(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC request (node-specific methods in tests and tools)."""
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise NodeUnavailable(f"{method}: {response['error']}")
        return response.get("result")
