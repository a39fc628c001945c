"""Where signed transactions go: the node's public mempool, or a private relay. Never both.

A send whose answer is lost or ambiguous is *maybe sent*: "already known", "nonce too low",
"replacement transaction underpriced", a timeout or a dropped connection after the request
left (web3's HTTP provider retries ``eth_sendRawTransaction`` by itself, so a retry of a send
that got through says "already known"). The transaction manager then looks the hash up; it
never allocates another nonce for it.

A private relay receives ``eth_sendBundle`` (Flashbots-style, one bundle per target block)
or ``eth_sendPrivateRawTransaction``. Inclusion is never guaranteed, so the manager resubmits
for the next blocks up to ``max_submissions``; when the relay fails or gives up, nothing is
sent to the public mempool: the operator chose private submission, and a silent fallback
would expose the liquidation to front-running (the contract's profit guard stays on either way).
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

import requests
from web3.exceptions import RequestTimedOut, Web3RPCError

from bot.chain.urls import redact_url
from bot.execute.keys import Signer
from bot.execute.node import Node, scrub
from bot.frozen import quick_init

try:
    from eth_tester.exceptions import ValidationError as _TesterValidationError
except ImportError:  # pragma: no cover - eth-tester is a dependency
    _TesterValidationError = Web3RPCError

log = logging.getLogger("liqbot.execute.relay")

MAYBE_SENT_MESSAGES = (
    "already known",
    "already imported",
    "known transaction",
    "nonce too low",
    "replacement transaction underpriced",
    "replacement underpriced",
)


class SendStatus(StrEnum):
    ACCEPTED = "accepted"
    MAYBE = "maybe"
    """Unknown whether the node or relay has it: look the hash up."""
    REJECTED = "rejected"
    """Definitely not taken (the node said why); the nonce is still ours to fill."""


@quick_init
@dataclass(frozen=True, slots=True)
class SendOutcome:
    status: SendStatus
    detail: str = ""


def means_maybe_sent(message: str) -> bool:
    """Whether a node's or relay's error text says the transaction may well be in (clients
    and providers spell these differently: "already known", "ALREADY_KNOWN", "AlreadyKnown")."""
    squashed = "".join(c for c in message.lower() if c.isalnum())
    return any(p.replace(" ", "") in squashed for p in MAYBE_SENT_MESSAGES)


def classify_send_error(exc: BaseException) -> SendOutcome:
    """Read a send error: an ambiguous one is "maybe sent", a node's refusal is "rejected"."""
    message = scrub(str(exc))
    if means_maybe_sent(message):
        return SendOutcome(SendStatus.MAYBE, message[:300])
    if isinstance(exc, RequestTimedOut):
        return SendOutcome(SendStatus.MAYBE, f"timed out: {message[:300]}")
    if isinstance(exc, Web3RPCError | _TesterValidationError):
        # The node answered with an error object: it refused this transaction.
        return SendOutcome(SendStatus.REJECTED, message[:300])
    # Transport failures, timeouts, anything unexpected: the request may have got through.
    return SendOutcome(SendStatus.MAYBE, f"{type(exc).__name__}: {message[:300]}")


class Submitter(Protocol):
    route: str
    visible_in_pool: bool
    """Whether a transaction it accepted shows in the node's ``eth_getTransactionByHash``."""
    max_submissions: int | None
    """How many times one signed transaction may be submitted (None: no limit)."""
    blocks_per_submission: int
    """Blocks one submission covers before it must be renewed."""

    def submit(self, raw: bytes, tx_hash: str, head: int) -> SendOutcome: ...


class PublicMempool:
    """``eth_sendRawTransaction`` to the node the executor reads from."""

    route = "public"
    visible_in_pool = True
    max_submissions: int | None = None
    blocks_per_submission = 1

    def __init__(self, node: Node) -> None:
        self.node = node

    def submit(self, raw: bytes, tx_hash: str, head: int) -> SendOutcome:
        try:
            returned = self.node.send_raw(raw)
        except Exception as exc:
            return classify_send_error(exc)
        if returned.lower() != tx_hash.lower():
            return SendOutcome(SendStatus.MAYBE, f"node returned hash {returned}")
        return SendOutcome(SendStatus.ACCEPTED)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    url: str
    method: Literal["eth_sendBundle", "eth_sendPrivateRawTransaction"] = "eth_sendBundle"
    max_submissions: int = 5
    """Submissions per signed transaction before giving up (then a cancellation is tried,
    through the same relay)."""
    blocks_ahead: int = 1
    """Target blocks per submission: a bundle is sent for each of the next ``blocks_ahead``."""
    timeout: float = 5.0
    auth_header: str = "X-Flashbots-Signature"

    def __post_init__(self) -> None:
        if self.max_submissions < 1 or self.blocks_ahead < 1:
            raise ValueError("max_submissions and blocks_ahead must be at least 1")


class PrivateRelay:
    """Private submission to one relay URL; no public fallback, ever."""

    route = "relay"
    visible_in_pool = False

    def __init__(
        self,
        config: RelayConfig,
        *,
        auth: Signer | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.max_submissions: int | None = config.max_submissions
        self.blocks_per_submission = config.blocks_ahead
        self._auth = auth
        self._session = session or requests.Session()
        self._ids = itertools.count(1)
        self.name = redact_url(config.url)

    def _post(self, method: str, params: list[object]) -> SendOutcome:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self._auth is not None:
            headers[self.config.auth_header] = self._auth.relay_auth_header(body)
        try:
            reply = self._session.post(
                self.config.url, data=body, headers=headers, timeout=self.config.timeout
            )
        except requests.RequestException as exc:
            # The relay may have it; the manager looks the hash up and resubmits within the
            # limit. The URL may hold an API key: only the redacted name is shown.
            return SendOutcome(SendStatus.MAYBE, f"{self.name}: {type(exc).__name__}")
        if reply.status_code >= 500 or reply.status_code == 429:
            return SendOutcome(SendStatus.MAYBE, f"{self.name}: HTTP {reply.status_code}")
        if reply.status_code >= 400:
            return SendOutcome(SendStatus.REJECTED, f"{self.name}: HTTP {reply.status_code}")
        try:
            answer = reply.json()
        except ValueError:
            return SendOutcome(SendStatus.MAYBE, f"{self.name}: reply is not JSON")
        if not isinstance(answer, dict):
            return SendOutcome(SendStatus.MAYBE, f"{self.name}: malformed reply")
        if "error" in answer:
            error = answer["error"]
            message = str(error.get("message", error) if isinstance(error, dict) else error)
            if means_maybe_sent(message):
                return SendOutcome(SendStatus.MAYBE, f"{self.name}: {message[:200]}")
            return SendOutcome(SendStatus.REJECTED, f"{self.name}: {message[:200]}")
        return SendOutcome(SendStatus.ACCEPTED, f"{self.name}: {method}")

    def submit(self, raw: bytes, tx_hash: str, head: int) -> SendOutcome:
        raw_hex = "0x" + raw.hex()
        if self.config.method == "eth_sendPrivateRawTransaction":
            outcome = self._post("eth_sendPrivateRawTransaction", [raw_hex])
        else:
            outcomes = [
                self._post("eth_sendBundle", [{"txs": [raw_hex], "blockNumber": hex(target)}])
                for target in range(head + 1, head + 1 + self.config.blocks_ahead)
            ]
            accepted = [o for o in outcomes if o.status is SendStatus.ACCEPTED]
            maybe = [o for o in outcomes if o.status is SendStatus.MAYBE]
            outcome = accepted[0] if accepted else (maybe[0] if maybe else outcomes[0])
        log.info("private submission of %s to %s: %s", tx_hash, self.name, outcome.status)
        return outcome
