"""Simulate a transaction with ``eth_call`` at the latest block, and say why it would revert.

A revert is classified by its decoded custom error (the selector survives providers that
rewrite error strings), then refined by the chain: if someone else's ``LiquidationCall`` for
the same user landed since the decision, whatever the error, the liquidation was lost to a
competitor. The executor records the class and hands the position back to be re-evaluated;
it never retries blindly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import event_signature_to_log_topic, function_signature_to_4byte_selector

from bot.chain.reverts import Reverted, as_reverted, decode_revert, is_revert
from bot.execute.node import Node, NodeUnavailable
from bot.frozen import quick_init


class RevertKind(StrEnum):
    LOST_TO_COMPETITOR = "lost_to_competitor"
    PRICE_MOVED = "price_moved"
    PAUSED = "paused"
    BELOW_MIN_PROFIT = "below_min_profit"
    ORACLE = "oracle_unavailable"
    NOT_OWNER = "not_owner"
    FUNDS = "insufficient_funds"
    OUT_OF_GAS = "out_of_gas"
    UNKNOWN = "unknown"


_BY_ERROR: dict[str, RevertKind] = {
    "HealthFactorNotBelowThreshold": RevertKind.PRICE_MOVED,
    "SeizedBelowRepayment": RevertKind.PRICE_MOVED,
    "SpecifiedCurrencyNotBorrowedByUser": RevertKind.LOST_TO_COMPETITOR,
    "CollateralCannotBeLiquidated": RevertKind.LOST_TO_COMPETITOR,
    "ProfitBelowMinimum": RevertKind.BELOW_MIN_PROFIT,
    "LiquidationsPaused": RevertKind.PAUSED,
    "CircuitBreakerTripped": RevertKind.PAUSED,
    "StalePrice": RevertKind.ORACLE,
    "PriceOutOfBounds": RevertKind.ORACLE,
    "NonPositivePrice": RevertKind.ORACLE,
    "FeedUnavailable": RevertKind.ORACLE,
    "InvalidPrice": RevertKind.ORACLE,
    "NoPriceSource": RevertKind.ORACLE,
    "NotOwner": RevertKind.NOT_OWNER,
    "InsufficientBalance": RevertKind.FUNDS,
    "InsufficientAllowance": RevertKind.FUNDS,
    "TransferFailed": RevertKind.FUNDS,
    "NotEnoughLiquidity": RevertKind.FUNDS,
}

LIQUIDATION_CALL_TOPIC = bytes(
    event_signature_to_log_topic(
        "LiquidationCall(address,address,address,uint256,uint256,address,bool)"
    )
)


def classify(reverted: Reverted) -> RevertKind:
    """The class of a revert from its decoded error (or, failing that, its message text)."""
    kind = _BY_ERROR.get(reverted.error_name)
    if kind is not None:
        return kind
    text = reverted.reason.lower()
    for name, k in _BY_ERROR.items():
        if name.lower() in text:
            return k
    if "paused" in text:
        return RevertKind.PAUSED
    return RevertKind.UNKNOWN


@dataclass(frozen=True, slots=True)
class CompetitorLiquidation:
    block: int
    tx_hash: str
    liquidator: str


def competitor_liquidations(
    node: Node,
    pool: str,
    user: str,
    from_block: int,
    to_block: int,
    ours: Iterable[str],
) -> list[CompetitorLiquidation]:
    """``LiquidationCall`` events for ``user`` in the range whose liquidator is not ours."""
    if to_block < from_block:
        return []
    user_topic = bytes(12) + bytes.fromhex(user[2:])
    mine = {a.lower() for a in ours}
    found = []
    for block, tx_hash, log in node.logs(
        pool, [LIQUIDATION_CALL_TOPIC, None, None, user_topic], from_block, to_block
    ):
        (_, _, liquidator, _) = abi_decode(["uint256", "uint256", "address", "bool"], log.data)
        if str(liquidator).lower() not in mine:
            found.append(CompetitorLiquidation(block, tx_hash, str(liquidator)))
    return found


def rival_logs(
    node: Node,
    address: str,
    topics: Sequence[bytes | None],
    from_block: int,
    to_block: int,
    ours: Iterable[str],
) -> list[CompetitorLiquidation]:
    """Logs of ``address`` matching ``topics`` that name none of ``ours`` in a topic or a
    data word: another protocol's "someone else did it" (e.g. an auction's ``Take``)."""
    if to_block < from_block:
        return []
    mine = {bytes(12) + bytes.fromhex(a[2:].lower()) for a in ours}
    found = []
    for block, tx_hash, log in node.logs(address, topics, from_block, to_block):
        words = [log.data[i : i + 32] for i in range(0, len(log.data), 32)]
        if mine.isdisjoint([*log.topics[1:], *words]):
            found.append(CompetitorLiquidation(block, tx_hash, "a rival"))
    return found


@quick_init
@dataclass(frozen=True, slots=True)
class Simulation:
    """The outcome of simulating one call at one block."""

    block: int
    ok: bool
    return_data: bytes = b""
    gas_estimate: int | None = None
    reverted: Reverted | None = None
    kind: RevertKind | None = None

    @property
    def reason(self) -> str:
        return self.reverted.reason if self.reverted is not None else ""


def simulate(
    node: Node,
    *,
    sender: str,
    to: str,
    data: bytes,
    value: int = 0,
    block: int | None = None,
    estimate: bool = True,
    head: int | None = None,
) -> Simulation:
    """``eth_call`` (and ``eth_estimateGas``) at ``block`` (default: the latest, pinned by
    number so both see the same state). Transport failures raise NodeUnavailable: no
    simulation, no send.

    ``head``: the caller read the head this block already; the call then goes to the
    ``latest`` tag (a block mined since is seen, never an older state) without a head read
    of its own, and the result is labelled with ``head``."""
    number = block if block is not None else head if head is not None else node.head().number
    tx: dict[str, Any] = {"from": sender, "to": to, "data": "0x" + data.hex(), "value": value}
    try:
        returned = node.call(tx, "latest" if block is None and head is not None else number)
        gas = None
        if estimate and block is None:
            # Some nodes (eth-tester) estimate only at a tag; the call above is the check that
            # counts, the estimate only sizes the gas limit (the caller falls back to its own
            # figure when the node will not estimate, e.g. for lack of gas money).
            try:
                gas = node.estimate_gas(tx, "latest")
            except NodeUnavailable:
                gas = None
    except NodeUnavailable:
        raise
    except Exception as exc:
        if not is_revert(exc):
            raise NodeUnavailable(f"simulation failed: {type(exc).__name__}: {exc}") from None
        reverted = as_reverted(exc)
        return Simulation(number, False, reverted=reverted, kind=classify(reverted))
    return Simulation(number, True, return_data=returned, gas_estimate=gas)


# ---------------------------------------------------------------- a batch in one call

TRY_EACH = bytes(function_signature_to_4byte_selector("tryEach(bytes[])"))
"""``FlashLiquidator.tryEach``: runs a list of its own liquidation calls in order, each
rolled back alone when it reverts, and returns ``(bool[] ok, bytes[] results)``."""

TRY_EACH_ITEMS = frozenset(
    bytes(function_signature_to_4byte_selector(signature))
    for signature in (
        "liquidateWithFlashSwap(address,address,address,address,uint256,uint256)",
        "liquidateFromInventory(address,address,address,uint256,uint256)",
        "liquidateFromInventoryAndSell(address,address,address,address,uint256,uint256)",
    )
)
"""The only calls ``tryEach`` runs (any other selector reverts the whole list)."""


def _padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 32)


def encode_try_each(calls: Sequence[bytes]) -> bytes:
    """Calldata of ``tryEach(calls)``, ABI-encoded by hand (eth-abi's encoder costs tens of
    microseconds an item, and a crash block has a thousand)."""
    offsets: list[bytes] = []
    tails: list[bytes] = []
    at = 32 * len(calls)
    for call in calls:
        offsets.append(at.to_bytes(32, "big"))
        tail = len(call).to_bytes(32, "big") + _padded(call)
        tails.append(tail)
        at += len(tail)
    return b"".join(
        [TRY_EACH, (32).to_bytes(32, "big"), len(calls).to_bytes(32, "big"), *offsets, *tails]
    )


def _word(data: bytes, at: int) -> int:
    if at < 0 or at + 32 > len(data):
        raise ValueError(f"tryEach answer: a word at byte {at} is past its end ({len(data)})")
    return int.from_bytes(data[at : at + 32], "big")


def decode_try_each(data: bytes, count: int) -> list[tuple[bool, bytes]]:
    """``tryEach``'s ``(bool[] ok, bytes[] results)`` as (ok, return or revert data) per
    item; ValueError when the answer is not that, for ``count`` items (a contract without
    ``tryEach`` that answers anyway, e.g. through a fallback function)."""
    ok_at, results_at = _word(data, 0), _word(data, 32)
    if _word(data, ok_at) != count or _word(data, results_at) != count:
        raise ValueError(f"tryEach answer: not {count} outcomes")
    oks: list[bool] = []
    for i in range(count):
        flag = _word(data, ok_at + 32 * (i + 1))
        if flag > 1:
            raise ValueError(f"tryEach answer: ok[{i}] is {flag}, not a bool")
        oks.append(flag == 1)
    base = results_at + 32
    outcomes: list[tuple[bool, bytes]] = []
    for i in range(count):
        start = base + _word(data, base + 32 * i)
        length = _word(data, start)
        if start + 32 + length > len(data):
            raise ValueError(f"tryEach answer: results[{i}] runs past its end")
        outcomes.append((oks[i], data[start + 32 : start + 32 + length]))
    return outcomes


def reverted_from_data(data: bytes) -> Reverted:
    """The revert of raw revert data (as ``tryEach`` returns a failed item's), decoded as a
    node's revert would be."""
    return Reverted(decode_revert(data), data)


def failed_simulation(block: int, data: bytes) -> Simulation:
    """A reverted simulation from raw revert data, classified as :func:`simulate` would."""
    reverted = reverted_from_data(data)
    return Simulation(block, False, reverted=reverted, kind=classify(reverted))
