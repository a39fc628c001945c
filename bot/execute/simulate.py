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
from eth_utils.abi import event_signature_to_log_topic

from bot.chain.reverts import Reverted, as_reverted, is_revert
from bot.execute.node import Node, NodeUnavailable


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
