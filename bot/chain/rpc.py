"""A JSON-RPC client over one or several endpoints: retries, failover, fail-back, head lag.

Real providers time out, rate-limit, fall behind and die. The watcher must keep going, so
every request goes through :class:`RpcClient`, which

- retries transport failures (timeouts, refused connections, HTTP 429/5xx, the few JSON-RPC
  errors that mean "try again or elsewhere") with bounded exponential backoff and jitter;
- fails over to the next endpoint in preference order when one fails, and back to the
  preferred one once its cooldown has passed;
- notices an endpoint whose head lags the others (:meth:`RpcClient.check_heads`) and avoids it;
- counts every request sent, per method and per endpoint, so that tests and metrics can say
  what a block costs.

A JSON-RPC error *answer* (a revert, "block range too large") is not retried: it is the
node's reply, and the caller decides (the log reader halves its range). Endpoints are either
HTTP URLs or an in-process ``Web3`` (eth-tester), so the same code runs on both chains.
Every URL is redacted (:func:`bot.chain.urls.redact_url`) before it reaches a log or an error.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import requests
import urllib3
from Crypto.Hash import keccak
from web3 import Web3

from bot.chain.urls import redact_url
from bot.frozen import quick_init

log = logging.getLogger("liqbot.rpc")

JsonValue = Any
"""Whatever a JSON-RPC result decodes to (web3 formats some values for eth-tester)."""


class RpcFailure(Exception):
    """Base of everything this module raises."""


class RpcError(RpcFailure):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: JsonValue = None, endpoint: str = "") -> None:
        super().__init__(f"{endpoint or 'rpc'}: error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data
        self.endpoint = endpoint


class RpcTransportError(RpcFailure):
    """No usable answer: connection refused, HTTP error status, malformed reply."""

    def __init__(self, message: str, endpoint: str = "", status: int | None = None) -> None:
        super().__init__(f"{endpoint or 'rpc'}: {message}")
        self.endpoint = endpoint
        self.status = status


class RpcTimeout(RpcTransportError):
    """The endpoint did not answer in time."""


class RpcUnavailable(RpcFailure):
    """Every attempt on every endpoint failed; ``last`` is the final failure."""

    def __init__(self, method: str, attempts: int, last: BaseException | None) -> None:
        super().__init__(f"{method} failed after {attempts} attempts: {last}")
        self.method = method
        self.attempts = attempts
        self.last = last


_TRANSIENT_MESSAGES = (
    "rate limit",
    "too many requests",
    "header not found",
    "unknown block",
    "missing trie node",
    "no backends",
    "temporarily unavailable",
    "try again",
)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying (here or elsewhere) may give a different answer."""
    if isinstance(exc, RpcTransportError):
        return True
    if isinstance(exc, RpcError):
        message = exc.message.lower()
        return any(pattern in message for pattern in _TRANSIENT_MESSAGES)
    return False


# ----------------------------------------------------------------------------- endpoints


class Endpoint(Protocol):
    """One place to send JSON-RPC requests to. ``name`` is safe to log (redacted)."""

    name: str

    def request(self, method: str, params: Sequence[JsonValue], timeout: float) -> JsonValue:
        """The ``result`` of one request; raises RpcError, RpcTimeout or RpcTransportError."""
        ...


class HttpEndpoint:
    """A JSON-RPC endpoint over HTTP(S), with a keep-alive session."""

    def __init__(self, url: str, *, connect_timeout: float = 3.0) -> None:
        self._url = url
        self.name = redact_url(url)
        self._connect_timeout = connect_timeout
        self._session = requests.Session()
        self._ids = itertools.count(1)

    def request(self, method: str, params: Sequence[JsonValue], timeout: float) -> JsonValue:
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": list(params),
        }
        try:
            # The body is read whole from urllib3 rather than through ``reply.content``,
            # which assembles it from 10 KB chunks: a crash block's logs (2.3 MB) arrive
            # 4 ms sooner (20 against 24 ms in the bench, min of 12 alternated). Read to its
            # end, the connection goes back to the session's pool as before.
            reply = self._session.post(
                self._url,
                json=body,
                timeout=(min(self._connect_timeout, timeout), timeout),
                stream=True,
            )
            try:
                raw = reply.raw.read(decode_content=True)
            except BaseException:
                reply.close()
                raise
        except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
            raise RpcTimeout(f"{method} timed out after {timeout:g}s", self.name) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # The exception text may quote the URL: name only its type.
            raise RpcTransportError(f"{method}: {type(exc).__name__}", self.name) from None
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if reply.status_code == 429 or reply.status_code >= 500 or not isinstance(payload, dict):
            raise RpcTransportError(
                f"{method}: HTTP {reply.status_code}", self.name, status=reply.status_code
            )
        error = payload.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise RpcError(-32603, str(error), endpoint=self.name)
            raise RpcError(
                int(error.get("code", -32603)),
                str(error.get("message", "")),
                error.get("data"),
                self.name,
            )
        if reply.status_code >= 400 or "result" not in payload:
            raise RpcTransportError(
                f"{method}: HTTP {reply.status_code} without a result",
                self.name,
                status=reply.status_code,
            )
        return payload["result"]

    def close(self) -> None:
        self._session.close()


class Web3Endpoint:
    """Requests through a ``Web3`` instance: the in-process eth-tester chain, mainly.

    eth-tester answers through web3's middleware, so some results come back as ints and
    bytes rather than hex strings; the typed helpers of :class:`RpcClient` accept both.
    """

    def __init__(self, w3: Web3, name: str = "web3") -> None:
        self.w3 = w3
        self.name = name

    def request(self, method: str, params: Sequence[JsonValue], timeout: float) -> JsonValue:
        try:
            return self.w3.manager.request_blocking(method, list(params))  # type: ignore[arg-type]
        except Exception as exc:
            raise _web3_failure(exc, method, self.name) from None


def _web3_failure(exc: Exception, method: str, name: str) -> RpcFailure:
    from web3.exceptions import ContractLogicError, Web3RPCError

    from bot.chain.reverts import is_revert

    if isinstance(exc, ContractLogicError) or is_revert(exc):
        data = getattr(exc, "data", None)
        return RpcError(3, f"execution reverted: {exc}", data, name)
    if isinstance(exc, Web3RPCError):
        response = exc.rpc_response or {}
        error = response.get("error") if isinstance(response, dict) else None
        if isinstance(error, dict):
            return RpcError(
                int(error.get("code", -32603)), str(error.get("message", "")), None, name
            )
        return RpcError(-32603, str(exc), None, name)
    if isinstance(exc, requests.Timeout | TimeoutError):
        return RpcTimeout(f"{method} timed out", name)
    if isinstance(exc, requests.RequestException | OSError):
        return RpcTransportError(f"{method}: {type(exc).__name__}", name)
    # The text of an arbitrary provider exception may quote its URL: keep only the type.
    return RpcError(-32603, f"{method} failed: {type(exc).__name__}", None, name)


# ----------------------------------------------------------------------------- values


def to_int(value: JsonValue) -> int:
    """A JSON-RPC quantity (hex string, or an int from eth-tester) as an int."""
    if type(value) is str:  # the common case first: a block's logs hold thousands
        return int(value, 16) if value[:2] in ("0x", "0X") else int(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith(("0x", "0X")) else int(value)
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "big")
    raise TypeError(f"not a quantity: {value!r}")


def to_bytes(value: JsonValue) -> bytes:
    """JSON-RPC data (hex string, or bytes from eth-tester) as bytes."""
    if type(value) is str:  # the common case first
        return bytes.fromhex(value[2:] if value[:2] in ("0x", "0X") else value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        return bytes.fromhex(text)
    raise TypeError(f"not data: {value!r}")


_HEX_DIGITS = frozenset("0123456789abcdef")
_UPPER_IF_HASHED_HIGH = bytes(0x20 if chr(i) in "89abcdef" else 0 for i in range(256))
_UPPER_IF_LETTER = bytes(0x20 if chr(i) in "abcdef" else 0 for i in range(256))


@lru_cache(maxsize=1 << 18)
def checksum_address(address: str) -> str:
    """EIP-55 spelling, cached: a book of many accounts sees the same addresses again and
    again, and each conversion is a keccak (2**18 entries, at most about 70 MB, hold a book
    of 250,000 accounts). A spelling seen for the first time is looked up by its lower-case
    form (logs spell addresses in lower case, the model in EIP-55: a crash block's requests
    then cost no keccak). Web3's handles (and refuses) any other form."""
    text = address[2:].lower() if address[:2] in ("0x", "0X") else ""
    if len(text) != 40 or not _HEX_DIGITS.issuperset(text):
        return str(Web3.to_checksum_address(address))
    return _eip55(text)


@lru_cache(maxsize=1 << 18)
def _eip55(text: str) -> str:
    """EIP-55 of 40 lower-case hex digits, computed with byte tables rather than per
    character: half the time of web3's."""
    raw = text.encode("ascii")
    digest = keccak.new(data=raw, digest_bits=256).digest()[:20].hex().encode("ascii")
    # A letter is upper case where the hash's nibble at its position is 8 or more; in
    # ASCII that is bit 0x20 cleared, so both tables map to that bit and the XOR flips it.
    flip = int.from_bytes(digest.translate(_UPPER_IF_HASHED_HIGH), "big") & int.from_bytes(
        raw.translate(_UPPER_IF_LETTER), "big"
    )
    return "0x" + (int.from_bytes(raw, "big") ^ flip).to_bytes(40, "big").decode("ascii")


def to_hash(value: JsonValue) -> str:
    """A 32-byte hash as lowercase ``0x`` hex, one spelling for comparisons."""
    return "0x" + to_bytes(value).hex()


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The fields of a block header the watcher needs."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    base_fee: int
    gas_used: int
    gas_limit: int
    logs_bloom: int

    @classmethod
    def from_rpc(cls, raw: Mapping[str, JsonValue]) -> BlockHeader:
        bloom = raw.get("logsBloom", 0)
        return cls(
            number=to_int(raw["number"]),
            hash=to_hash(raw["hash"]),
            parent_hash=to_hash(raw["parentHash"]),
            timestamp=to_int(raw["timestamp"]),
            base_fee=to_int(raw.get("baseFeePerGas") or 0),
            gas_used=to_int(raw.get("gasUsed", 0)),
            gas_limit=to_int(raw.get("gasLimit", 0)),
            logs_bloom=to_int(bloom) if bloom not in (None, "") else 0,
        )


@quick_init  # built by the thousand from a crash block's logs
@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log, normalised: checksummed address, topics and data as bytes."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: str
    log_index: int
    transaction_hash: str
    removed: bool = False

    @classmethod
    def from_rpc(
        cls, raw: Mapping[str, JsonValue], hashes: dict[JsonValue, str] | None = None
    ) -> LogEntry:
        """``hashes``, shared by the logs of one answer, spares normalising the same block
        and transaction hashes again for every log."""
        block_hash, tx_hash = raw["blockHash"], raw["transactionHash"]
        if hashes is None:
            hashes = {}
        if type(block_hash) is str and type(tx_hash) is str:
            spelt = hashes.get(block_hash)
            if spelt is None:
                spelt = hashes[block_hash] = to_hash(block_hash)
            tx_spelt = hashes.get(tx_hash)
            if tx_spelt is None:
                tx_spelt = hashes[tx_hash] = to_hash(tx_hash)
        else:
            spelt, tx_spelt = to_hash(block_hash), to_hash(tx_hash)
        topics, data = raw.get("topics", ()), raw.get("data") or b""
        number, index = raw["blockNumber"], raw["logIndex"]
        if type(data) is str and type(number) is str and type(index) is str:
            # What every HTTP node sends: parsed inline (a crash block has thousands of logs).
            return cls(
                checksum_address(str(raw["address"])),
                tuple([bytes.fromhex(t[2:]) if t[:2] == "0x" else to_bytes(t) for t in topics]),
                bytes.fromhex(data[2:]) if data[:2] == "0x" else to_bytes(data),
                int(number, 16) if number[:2] == "0x" else to_int(number),
                spelt,
                int(index, 16) if index[:2] == "0x" else to_int(index),
                tx_spelt,
                bool(raw.get("removed", False)),
            )
        return cls(
            address=checksum_address(str(raw["address"])),
            topics=tuple(map(to_bytes, topics)),
            data=to_bytes(data),
            block_number=to_int(number),
            block_hash=spelt,
            log_index=to_int(index),
            transaction_hash=tx_spelt,
            removed=bool(raw.get("removed", False)),
        )


def parse_logs(raw: Iterable[Mapping[str, JsonValue]]) -> list[LogEntry]:
    """The logs of one ``eth_getLogs`` answer, equal to :meth:`LogEntry.from_rpc` of each.

    A crash block's answer holds thousands of logs, so the shape every HTTP node sends (hex
    strings) is parsed inline here: block and transaction hashes and topics, which repeat
    across the answer, are parsed once each; any other shape goes through ``from_rpc``.
    """
    hashes: dict[JsonValue, str] = {}
    topic_bytes: dict[str, bytes] = {}
    out: list[LogEntry] = []
    append = out.append
    for item in raw:
        block_hash, tx_hash = item["blockHash"], item["transactionHash"]
        number, index, data = item["blockNumber"], item["logIndex"], item.get("data")
        topics = item.get("topics", ())
        if not (
            type(block_hash) is str
            and type(tx_hash) is str
            and type(number) is str
            and type(index) is str
            and type(data) is str
            and type(topics) is list
            and number[:2] == "0x"
            and index[:2] == "0x"
            and data[:2] == "0x"
        ):
            append(LogEntry.from_rpc(item, hashes))
            continue
        spelt = hashes.get(block_hash)
        if spelt is None:
            spelt = hashes[block_hash] = to_hash(block_hash)
        tx_spelt = hashes.get(tx_hash)
        if tx_spelt is None:
            tx_spelt = hashes[tx_hash] = to_hash(tx_hash)
        parsed: list[bytes] = []
        for topic in topics:
            value = topic_bytes.get(topic) if type(topic) is str else None
            if value is None:
                value = to_bytes(topic)
                if type(topic) is str:
                    topic_bytes[topic] = value
            parsed.append(value)
        append(
            LogEntry(
                checksum_address(str(item["address"])),
                tuple(parsed),
                bytes.fromhex(data[2:]),
                int(number, 16),
                spelt,
                int(index, 16),
                tx_spelt,
                bool(item.get("removed", False)),
            )
        )
    return out


def block_tag(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


# ----------------------------------------------------------------------------- client


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Delays in seconds; the total per request is bounded by ``attempts``."""

    attempts: int = 6
    timeout: float = 10.0
    base_delay: float = 0.05
    max_delay: float = 2.0
    jitter: float = 0.5
    """Each delay is multiplied by a random factor in ``[1 - jitter, 1]``."""
    cooldown: float = 2.0
    """How long a failed endpoint is avoided; doubles per consecutive failure."""
    max_cooldown: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        delay: float = min(self.max_delay, self.base_delay * 2.0**attempt)
        return delay * (1.0 - self.jitter * rng.random())


@dataclass
class EndpointState:
    """What the client knows about one endpoint's health."""

    endpoint: Endpoint
    preference: int
    failures: int = 0
    down_until: float = 0.0
    head: int | None = None
    lagging: bool = False

    @property
    def name(self) -> str:
        return self.endpoint.name


@dataclass
class RpcStats:
    """Request counters; ``requests`` counts every request put on the wire (retries too)."""

    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_endpoint: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    timeouts: int = 0
    retries: int = 0
    failovers: int = 0
    failbacks: int = 0

    def copy(self) -> RpcStats:
        return RpcStats(
            requests=self.requests,
            by_method=Counter(self.by_method),
            by_endpoint=Counter(self.by_endpoint),
            errors=self.errors,
            timeouts=self.timeouts,
            retries=self.retries,
            failovers=self.failovers,
            failbacks=self.failbacks,
        )

    def since(self, earlier: RpcStats) -> RpcStats:
        """The counts accumulated after ``earlier`` was copied."""
        return RpcStats(
            requests=self.requests - earlier.requests,
            by_method=self.by_method - earlier.by_method,
            by_endpoint=self.by_endpoint - earlier.by_endpoint,
            errors=self.errors - earlier.errors,
            timeouts=self.timeouts - earlier.timeouts,
            retries=self.retries - earlier.retries,
            failovers=self.failovers - earlier.failovers,
            failbacks=self.failbacks - earlier.failbacks,
        )


class RpcClient:
    """JSON-RPC over several endpoints, preferred first. Not thread-safe for callers, but
    its counters may be read from another thread."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint | str],
        *,
        policy: RetryPolicy | None = None,
        max_head_lag: int = 3,
        head_check_interval: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("RpcClient needs at least one endpoint")
        self.policy = policy or RetryPolicy()
        self.max_head_lag = max_head_lag
        self.head_check_interval = head_check_interval
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random(seed)
        self._states = [
            EndpointState(HttpEndpoint(e) if isinstance(e, str) else e, preference=i)
            for i, e in enumerate(endpoints)
        ]
        self._current = self._states[0]
        self._last_head_check = -float("inf")
        self._lock = threading.Lock()
        self.stats = RpcStats()

    @classmethod
    def for_web3(cls, w3: Web3, **kwargs: Any) -> RpcClient:
        """A client over an in-process chain (or any provider web3 already wraps)."""
        return cls([Web3Endpoint(w3)], **kwargs)

    # ------------------------------------------------------------------ endpoint choice

    @property
    def endpoints(self) -> list[EndpointState]:
        return list(self._states)

    @property
    def current(self) -> str:
        """The (redacted) name of the endpoint requests currently go to."""
        return self._current.name

    def lagging(self) -> list[str]:
        return [s.name for s in self._states if s.lagging]

    def _pick(self, exclude: set[int]) -> EndpointState:
        """The most preferred endpoint that is up and not lagging; failing that, any."""
        now = self._clock()
        candidates = [s for s in self._states if s.preference not in exclude]
        if not candidates:
            candidates = list(self._states)
        healthy = [s for s in candidates if s.down_until <= now and not s.lagging]
        if healthy:
            return healthy[0]
        up = [s for s in candidates if s.down_until <= now]
        if up:
            return up[0]
        return min(candidates, key=lambda s: s.down_until)

    def _switch_to(self, state: EndpointState) -> None:
        if state is self._current:
            return
        previous = self._current
        self._current = state
        with self._lock:
            if state.preference < previous.preference:
                self.stats.failbacks += 1
                log.info("rpc: back on %s (was %s)", state.name, previous.name)
            else:
                self.stats.failovers += 1
                log.warning("rpc: failing over from %s to %s", previous.name, state.name)

    def _mark_failed(self, state: EndpointState, exc: BaseException) -> None:
        state.failures += 1
        cooldown = min(self.policy.max_cooldown, self.policy.cooldown * 2 ** (state.failures - 1))
        state.down_until = self._clock() + cooldown
        log.warning("rpc: %s failed (%s); avoiding it for %.1fs", state.name, _short(exc), cooldown)

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        params: Sequence[JsonValue] = (),
        *,
        attempts: int | None = None,
        timeout: float | None = None,
    ) -> JsonValue:
        """Send one request, retrying transient failures across endpoints."""
        limit = max(1, attempts if attempts is not None else self.policy.attempts)
        wait = timeout if timeout is not None else self.policy.timeout
        last: BaseException | None = None
        tried: set[int] = set()
        rounds = 0
        for attempt in range(limit):
            if len(tried) == len(self._states):
                # Every endpoint failed once in this round: wait before going round again.
                tried.clear()
                self._sleep(self.policy.backoff(rounds, self._rng))
                rounds += 1
            state = self._pick(tried)
            self._switch_to(state)
            tried.add(state.preference)
            with self._lock:
                self.stats.requests += 1
                self.stats.by_method[method] += 1
                self.stats.by_endpoint[state.name] += 1
                if attempt:
                    self.stats.retries += 1
            try:
                result = state.endpoint.request(method, params, wait)
            except RpcFailure as exc:
                with self._lock:
                    self.stats.errors += 1
                    if isinstance(exc, RpcTimeout):
                        self.stats.timeouts += 1
                if not is_transient(exc):
                    raise
                last = exc
                self._mark_failed(state, exc)
                continue
            state.failures = 0
            state.down_until = 0.0
            return result
        raise RpcUnavailable(method, limit, last)

    # ------------------------------------------------------------------ head lag

    def check_heads(self) -> dict[str, int | None]:
        """Ask every endpoint for its head and flag those more than ``max_head_lag`` behind.

        A lagging endpoint is avoided (it would answer "header not found" or stale state)
        until it catches up; if it was the current one, requests fail over.
        """
        self._last_head_check = self._clock()
        heads: dict[str, int | None] = {}
        for state in self._states:
            with self._lock:
                self.stats.requests += 1
                self.stats.by_method["eth_blockNumber"] += 1
                self.stats.by_endpoint[state.name] += 1
            try:
                state.head = to_int(
                    state.endpoint.request("eth_blockNumber", [], self.policy.timeout)
                )
            except RpcFailure as exc:
                state.head = None
                self._mark_failed(state, exc)
            heads[state.name] = state.head
        known = [s.head for s in self._states if s.head is not None]
        best = max(known) if known else None
        for state in self._states:
            lagging = best is not None and state.head is not None
            lagging = lagging and best - state.head > self.max_head_lag  # type: ignore[operator]
            if lagging and not state.lagging:
                log.warning(
                    "rpc: %s is %d blocks behind the best head %d",
                    state.name,
                    best - state.head,  # type: ignore[operator]
                    best,
                )
            elif state.lagging and not lagging:
                log.info("rpc: %s has caught up", state.name)
            state.lagging = lagging
        if self._current.lagging:
            self._switch_to(self._pick(set()))
        return heads

    def maybe_check_heads(self) -> None:
        """:meth:`check_heads` at most every ``head_check_interval`` seconds, and only when
        there is more than one endpoint to compare."""
        if len(self._states) < 2:
            return
        if self._clock() - self._last_head_check >= self.head_check_interval:
            self.check_heads()

    # ------------------------------------------------------------------ typed helpers

    def chain_id(self) -> int:
        return to_int(self.request("eth_chainId"))

    def block_number(self) -> int:
        return to_int(self.request("eth_blockNumber"))

    def get_block(self, block: int | str = "latest") -> BlockHeader:
        raw = self.request("eth_getBlockByNumber", [block_tag(block), False])
        if raw is None:
            raise RpcError(-32000, f"block {block} not found", endpoint=self.current)
        return BlockHeader.from_rpc(raw)

    def get_logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[Sequence[bytes] | bytes | None] = (),
        *,
        attempts: int | None = None,
    ) -> list[LogEntry]:
        """``eth_getLogs`` for an inclusive range; see :mod:`bot.chain.logs` for chunking."""
        encoded: list[JsonValue] = []
        for topic in topics:
            if topic is None:
                encoded.append(None)
            elif isinstance(topic, bytes):
                encoded.append("0x" + topic.hex())
            else:
                encoded.append(["0x" + t.hex() for t in topic])
        query: dict[str, JsonValue] = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": list(addresses),
        }
        if encoded:
            query["topics"] = encoded
        raw = self.request("eth_getLogs", [query], attempts=attempts)
        return parse_logs(raw or ())

    def call(
        self, to: str, data: bytes, block: int | str = "latest", gas: int | None = None
    ) -> bytes:
        """``eth_call``; a revert raises :class:`RpcError` (code 3 on most nodes)."""
        tx: dict[str, JsonValue] = {"to": to, "data": "0x" + data.hex()}
        if gas is not None:
            tx["gas"] = hex(gas)
        return to_bytes(self.request("eth_call", [tx, block_tag(block)]) or b"")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "…"
