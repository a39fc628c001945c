"""The transaction manager: every signed transaction is tracked until its nonce is settled.

Per intent (one nonce), each block: look for a receipt of any attempt at the nonce; if one is
mined, count confirmations to the configured depth and check that its block is still
canonical (a reorg sends it back to pending); if the nonce was consumed by a transaction the
journal never signed, the intent is *replaced*; if no attempt is known to the node, it was
*dropped* and the same signed bytes are rebroadcast (same nonce, same hash); if it sits
unmined for ``stuck_blocks``, it is replaced at the same nonce with both fee fields up by at
least 12.5%, within the caps and while the gas stays below the expected profit; and when the
opportunity is gone (the supervisor's re-simulation reverts), it is cancelled by a zero-value
self-send at the same nonce.

What a tick costs: the new blocks' transaction hashes are read once each, and receipts are
asked (in one batch where the node allows) only for attempts found in them; a pending attempt
is looked up in the pool and re-simulated only when it is due (stuck, not surely sent, or its
nonce no longer held in the pool). After a gap, a reorg or at the first tick, every receipt is
asked as before.

Nothing here allocates a nonce for an attempt that may already be out: a send whose answer
is ambiguous is recorded as sent and looked up by hash on the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.execute import failpoints
from bot.execute.fees import (
    FeePolicy,
    FeeRefusal,
    Fees,
    cancel_fees,
    is_valid_replacement,
    predict_base_fee,
    replacement_fees,
)
from bot.execute.journal import (
    Attempt,
    AttemptKind,
    AttemptState,
    Intent,
    IntentState,
    Journal,
    LedgerEntry,
    Mined,
)
from bot.execute.keys import SignedTx, Signer
from bot.execute.node import Head, Node, NodeUnavailable, Receipt
from bot.execute.relay import SendOutcome, SendStatus, Submitter

log = logging.getLogger("liqbot.execute.tx")

CANCEL_GAS = 21_000


@dataclass(frozen=True, slots=True)
class TxConfig:
    chain_id: int
    confirmations: int = 2
    """Blocks (the mined one included) before a receipt is final."""
    stuck_blocks: int = 3
    """Blocks an attempt may wait unmined before it is replaced with higher fees."""

    def __post_init__(self) -> None:
        if self.confirmations < 1 or self.stuck_blocks < 1:
            raise ValueError("confirmations and stuck_blocks must be at least 1")


@dataclass(frozen=True, slots=True)
class Review:
    """The supervisor's view of a pending intent, each block."""

    keep: bool
    """False: the opportunity is gone; cancel."""
    priority_fee_per_gas: int = 0
    max_gas_cost_wei: int | None = None
    """Do not raise fees past the point where gas at the predicted base fee costs this much."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The supervisor's reading of a final receipt."""

    state: IntentState
    outcome: str
    detail: str
    ledger: LedgerEntry | tuple[LedgerEntry, ...]
    """One row, or a bundle's rows (one per item, in order)."""


class Supervisor(Protocol):
    def review(self, intent: Intent, head: Head) -> Review: ...

    def judge(self, intent: Intent, attempt: Attempt, receipt: Receipt) -> Verdict: ...

    def judge_replaced(
        self, intent: Intent, detail: str
    ) -> LedgerEntry | tuple[LedgerEntry, ...]: ...


@dataclass(frozen=True, slots=True)
class Update:
    """What one tick did to one intent."""

    intent_id: int
    key: str
    before: IntentState
    after: IntentState
    detail: str


class TxManager:
    def __init__(
        self,
        node: Node,
        journal: Journal,
        signer: Signer,
        submitter: Submitter,
        fees: FeePolicy,
        config: TxConfig,
        supervisor: Supervisor,
    ) -> None:
        self.node = node
        self.journal = journal
        self.signer = signer
        self.submitter = submitter
        self.fees = fees
        self.config = config
        self.supervisor = supervisor
        self.address = signer.address
        self._noted: set[tuple[int, str]] = set()
        self._scanned: tuple[int, str] | None = None
        """(number, hash) of the newest block whose transaction hashes a tick has read."""
        self._blocks: dict[int, tuple[str, frozenset[str]]] = {}
        """This tick's reads of blocks (hash, transaction hashes), by number."""
        self._unsure: set[int] = set()
        """Attempts whose last broadcast was "maybe sent": looked up at the next tick."""
        self._receipts: dict[str, Receipt | None] = {}
        """Receipts fetched in one batch for this tick (the attempts found in new blocks)."""
        self._carry: frozenset[str] | None = frozenset()
        """Transaction hashes of the blocks scanned by partial ticks (:meth:`tick` with
        ``prefixes``) since the last full tick, which uses them as if it had scanned those
        blocks itself; None when one of those scans could not be trusted (then the full tick
        looks every receipt up)."""

    def _note(self, intent: Intent, kind: str, detail: str) -> None:
        """Journal (and log) a reason for not acting, once per intent and kind, not per block."""
        if (intent.id, kind) in self._noted:
            return
        self._noted.add((intent.id, kind))
        self.journal.record_event(kind, f"intent {intent.id} nonce {intent.nonce}: {detail}")
        log.warning("intent %d: %s", intent.id, detail)

    # ------------------------------------------------------------------ signing and sending

    def _tx_fields(
        self, nonce: int, to: str, data: bytes, value: int, gas: int, fees: Fees
    ) -> dict[str, Any]:
        return {
            "type": 2,
            "chainId": self.config.chain_id,
            "nonce": nonce,
            "to": to,
            "value": value,
            "data": data,
            "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }

    def sign(
        self, *, nonce: int, to: str, data: bytes, value: int, gas: int, fees: Fees
    ) -> SignedTx:
        """Sign (not journal) a transaction, refusing fees above the caps."""
        if not self.fees.caps.allows(fees):
            raise AssertionError(f"fees {fees} above the caps {self.fees.caps}")
        failpoints.failpoint(failpoints.BEFORE_SIGN)
        return self.signer.sign_transaction(self._tx_fields(nonce, to, data, value, gas, fees))

    def _sign_and_journal(
        self,
        intent: Intent,
        *,
        nonce: int,
        kind: AttemptKind,
        to: str,
        data: bytes,
        value: int,
        gas: int,
        fees: Fees,
        fill_gap: bool = False,
    ) -> Attempt:
        signed = self.sign(nonce=nonce, to=to, data=data, value=value, gas=gas, fees=fees)
        return self.journal.record_signed(
            intent.id,
            nonce=nonce,
            kind=kind,
            tx_hash=signed.tx_hash,
            raw_tx=signed.raw,
            to=to,
            value=value,
            gas_limit=gas,
            fees=fees,
            route=self.submitter.route,
            fill_gap=fill_gap,
        )

    def _broadcast(
        self,
        attempt: Attempt,
        head: Head,
        *,
        replacement: bool = False,
        outcome: SendOutcome | None = None,
    ) -> SendOutcome:
        """Submit (or, given ``outcome``, record a batch's answer for) one signed attempt."""
        if outcome is None:
            # Inside a tick's batch: the attempt (and all before it) on disk before it leaves.
            self.journal.flush()
            outcome = self.submitter.submit(attempt.raw_tx, attempt.tx_hash, head.number)
        failpoints.failpoint(
            failpoints.AFTER_REPLACEMENT_BROADCAST
            if replacement
            else failpoints.AFTER_BROADCAST_BEFORE_RECORD
        )
        if outcome.status is SendStatus.REJECTED:
            log.warning(
                "node refused %s (nonce %d): %s", attempt.tx_hash, attempt.nonce, outcome.detail
            )
            self.journal.mark_dropped(
                attempt.intent_id,
                [attempt.id],
                f"refused: {outcome.detail}",
                refused_at=head.number,
            )
        else:
            if outcome.status is SendStatus.ACCEPTED:
                self._unsure.discard(attempt.id)
            else:
                self._unsure.add(attempt.id)
            detail = (
                "sent" if outcome.status is SendStatus.ACCEPTED else f"maybe sent: {outcome.detail}"
            )
            self.journal.mark_sent(attempt.id, head.number, detail)
        return outcome

    def sign_original(
        self, intent: Intent, *, nonce: int, gas: int, fees: Fees, fill_gap: bool = False
    ) -> Attempt:
        """Sign the intent's first transaction at ``nonce`` and journal it (not broadcast)."""
        return self._sign_and_journal(
            intent,
            nonce=nonce,
            kind=AttemptKind.ORIGINAL,
            to=intent.target,
            data=intent.calldata,
            value=intent.value,
            gas=gas,
            fees=fees,
            fill_gap=fill_gap,
        )

    def record_original(self, attempt: Attempt, head: Head, outcome: SendOutcome) -> SendOutcome:
        """Record what a batch broadcast of a journaled original attempt answered."""
        return self._broadcast(attempt, head, outcome=outcome)

    def record_originals(
        self, attempts: Sequence[Attempt], head: Head, outcomes: Sequence[SendOutcome]
    ) -> None:
        """:meth:`record_original` for a whole batch broadcast of originals just journaled:
        the refused ones dropped one by one, the others marked sent in a few statements."""
        if attempts:
            failpoints.failpoint(failpoints.AFTER_BROADCAST_BEFORE_RECORD)
        sent: list[tuple[Attempt, str]] = []
        for attempt, outcome in zip(attempts, outcomes, strict=True):
            if outcome.status is SendStatus.REJECTED:
                log.warning(
                    "node refused %s (nonce %d): %s",
                    attempt.tx_hash,
                    attempt.nonce,
                    outcome.detail,
                )
                self.journal.mark_dropped(
                    attempt.intent_id,
                    [attempt.id],
                    f"refused: {outcome.detail}",
                    refused_at=head.number,
                )
            elif outcome.status is SendStatus.ACCEPTED:
                self._unsure.discard(attempt.id)
                sent.append((attempt, "sent"))
            else:
                self._unsure.add(attempt.id)
                sent.append((attempt, f"maybe sent: {outcome.detail}"))
        self.journal.mark_sent_many(sent, head.number)

    def send_original(
        self,
        intent: Intent,
        *,
        nonce: int,
        gas: int,
        fees: Fees,
        head: Head,
        fill_gap: bool = False,
    ) -> tuple[Attempt, SendOutcome]:
        """Sign the intent's first transaction at ``nonce``, journal it, broadcast it."""
        attempt = self.sign_original(intent, nonce=nonce, gas=gas, fees=fees, fill_gap=fill_gap)
        failpoints.failpoint(failpoints.AFTER_JOURNAL_BEFORE_BROADCAST)
        outcome = self._broadcast(attempt, head)
        return attempt, outcome

    def _highest(self, attempts: list[Attempt]) -> Fees:
        max_fee = max(a.fees.max_fee_per_gas for a in attempts)
        tip = max(a.fees.max_priority_fee_per_gas for a in attempts)
        return Fees(max(max_fee, tip), tip)

    def _replace(
        self, intent: Intent, attempts: list[Attempt], head: Head, review: Review, *, cancel: bool
    ) -> Attempt | None:
        """Sign and send a replacement (or a cancellation) at the intent's nonce."""
        assert intent.nonce is not None
        highest = self._highest(attempts)
        predicted = predict_base_fee(head.base_fee, head.gas_used, head.gas_limit)
        chosen = (
            cancel_fees(highest, predicted, self.fees)
            if cancel
            else replacement_fees(highest, predicted, review.priority_fee_per_gas, self.fees)
        )
        what = "cancellation" if cancel else "replacement"
        if isinstance(chosen, FeeRefusal):
            self._note(intent, "fee_cap", f"no {what}: {chosen.reason}")
            return None
        if chosen.max_fee_per_gas < predicted:
            # It could not be mined in the next block either: signing it only adds noise.
            self._note(
                intent,
                "fee_cap",
                f"no {what}: the caps allow max fee {chosen.max_fee_per_gas}, below the "
                f"predicted base fee {predicted}",
            )
            return None
        if not is_valid_replacement(highest, chosen, self.fees.bump_bps):
            raise AssertionError(f"{what} fees {chosen} do not clear the bump over {highest}")
        gas = CANCEL_GAS if cancel else max(a.gas_limit for a in attempts)
        if not cancel and review.max_gas_cost_wei is not None:
            cost = chosen.expected_cost(gas, predicted)
            if cost >= review.max_gas_cost_wei:
                self._note(
                    intent,
                    "unprofitable_bump",
                    f"a replacement would cost {cost} wei of gas, the expected profit is "
                    f"{review.max_gas_cost_wei} wei",
                )
                return None
        value = 0 if cancel else intent.value
        if self.node.balance(self.address) < chosen.worst_case_cost(gas) + value:
            self._note(intent, "gas_money", f"balance too low for a {what} at {chosen}")
            return None
        attempt = self._sign_and_journal(
            intent,
            nonce=intent.nonce,
            kind=AttemptKind.CANCEL if cancel else AttemptKind.REPLACEMENT,
            to=self.address if cancel else intent.target,
            data=b"" if cancel else intent.calldata,
            value=value,
            gas=gas,
            fees=chosen,
        )
        failpoints.failpoint(failpoints.MID_REPLACEMENT)
        log.info(
            "intent %d nonce %d: %s %s (max fee %d, tip %d)",
            intent.id,
            intent.nonce,
            what,
            attempt.tx_hash,
            chosen.max_fee_per_gas,
            chosen.max_priority_fee_per_gas,
        )
        self._broadcast(attempt, head, replacement=True)
        return attempt

    def cancel(self, intent: Intent, head: Head, reason: str) -> Attempt | None:
        """Cancel a pending intent: a zero-value self-send at its nonce, above its fees."""
        attempts = [a for a in self.journal.attempts(intent.id) if a.state in _PENDING]
        if intent.nonce is None or not attempts:
            return None
        self.journal.record_event("cancel", f"intent {intent.id} nonce {intent.nonce}: {reason}")
        return self._replace(intent, attempts, head, Review(keep=False), cancel=True)

    # ------------------------------------------------------------------ tracking

    def _find_mined(self, attempts: list[Attempt]) -> tuple[Attempt, Receipt] | None:
        for attempt in sorted(attempts, key=lambda a: -a.id):
            key = attempt.tx_hash.lower()
            if key in self._receipts:
                receipt = self._receipts.pop(key)  # this tick's batch, used once
            else:
                receipt = self.node.receipt(attempt.tx_hash)
            if receipt is not None:
                return attempt, receipt
        return None

    _MAX_SCAN = 32
    """Blocks read one by one after a pause; a longer gap looks every receipt up instead."""

    def _scan(self, head: Head) -> frozenset[str] | None:
        """The transaction hashes of the blocks mined since the last tick, one header-and-hashes
        read per block; None when they cannot be trusted to be complete (first tick, a gap
        over ``_MAX_SCAN``, a reorg, a head that moved meanwhile): then every open attempt's
        receipt is looked up, as a tick without this shortcut would."""
        scanned, self._scanned = self._scanned, (head.number, head.hash)
        if scanned is None or head.number - scanned[0] > self._MAX_SCAN:
            return None
        if head.number <= scanned[0]:
            return None if head.hash != scanned[1] else frozenset()
        parent = scanned[1]
        found: set[str] = set()
        for number in range(scanned[0] + 1, head.number + 1):
            summary = self.node.block_summary(number)
            if summary is None or summary[1] != parent:
                return None
            parent = summary[0]
            self._blocks[number] = (summary[0], summary[2])
            found |= summary[2]
        return frozenset(found) if parent == head.hash else None

    def _block(self, number: int) -> tuple[str, frozenset[str]] | None:
        cached = self._blocks.get(number)
        if cached is None:
            read = self.node.block_transactions(number)
            if read is None:
                return None
            cached = self._blocks[number] = read
        return cached

    def tick(self, head: Head | None = None, prefixes: Sequence[str] | None = None) -> list[Update]:
        """One pass over every open intent, lowest nonce first; with ``prefixes``, only over
        the open intents whose opportunity key starts with one of them (a partial tick).

        The tick's journal writes are one transaction (committed before any broadcast, see
        :meth:`Journal.flush`): a thousand receipts settle with one fsync, not two thousand.
        A node failure part-way keeps what was settled before it (each write is a fact read
        from the chain, as when each committed on its own)."""
        head = head or self.node.head()
        updates = []
        self._blocks = {}
        latest = self.node.nonce(self.address, "latest")
        everything = self.journal.open_intents()
        if prefixes is None:
            intents = everything
        else:
            wanted = tuple(prefixes)
            intents = [i for i in everything if any(k.startswith(wanted) for k in i.keys)]
        if everything:
            found = self._scan(head)
        else:
            self._scanned = (head.number, head.hash)
            found = None
            self._carry = frozenset()  # nothing open: nothing scanned before can be ours
        carried = self._carry
        mined = None if found is None or carried is None else carried | found
        # A partial tick keeps what it scanned for the next full tick (which would not scan
        # those blocks again); a full tick uses and clears it.
        self._carry = mined if prefixes is not None else frozenset()
        if not intents:
            return []
        # The pool's view in one read: below the pending count, every nonce is held.
        pool = self.node.nonce(self.address, "pending") if mined is not None else 0
        self._receipts = {}
        attempts = self.journal.open_attempts()
        if mined:
            ours = [
                a.tx_hash.lower()
                for intent in intents
                for a in attempts.get(intent.id, ())
                if a.tx_hash.lower() in mined
            ]
            if len(ours) > 1:
                self._receipts = self.node.receipts(ours) or {}
        details: list[tuple[Intent, str]] = []
        failure: NodeUnavailable | None = None
        with self.journal.batch():
            for intent in intents:
                try:
                    detail = self._tick_intent(
                        intent, head, latest, mined, pool, attempts.get(intent.id, [])
                    )
                except NodeUnavailable as exc:
                    failure = exc
                    break
                details.append((intent, detail))
        after = self.journal.states([intent.id for intent, _ in details])
        for intent, detail in details:
            state = after.get(intent.id, intent.state)
            if state != intent.state or detail:
                updates.append(
                    Update(intent.id, intent.opportunity_key, intent.state, state, detail)
                )
        if failure is not None:
            raise failure
        return updates

    def _review_due(self, intent: Intent, attempts: list[Attempt], head: Head, pool: int) -> bool:
        """Whether a pending public intent needs its pool lookup and re-simulation this block:
        only when it is about to be replaced (stuck), was never (or not surely) broadcast, or
        its nonce is not held in the node's pool (dropped)."""
        pending = [a for a in attempts if a.state in _PENDING]
        if not pending:
            return False
        if intent.nonce is None or pool <= intent.nonce:
            return True
        newest = max(pending, key=lambda a: a.id)
        if (
            newest.state is not AttemptState.SENT
            or newest.first_sent_block is None
            or any(a.id in self._unsure for a in pending)
        ):
            return True
        return head.number - newest.first_sent_block >= self.config.stuck_blocks

    def _tick_intent(
        self,
        intent: Intent,
        head: Head,
        chain_latest: int,
        mined: frozenset[str] | None = None,
        pool: int = 0,
        attempts: list[Attempt] | None = None,
    ) -> str:
        """``attempts``: the intent's attempts as the tick read them (all at once)."""
        if intent.nonce is None:
            self.journal.finish(
                intent.id,
                IntentState.CANCELLED,
                outcome="not_signed",
                detail="never signed (the process stopped before signing); re-evaluate",
            )
            return "never signed"
        if attempts is None:
            attempts = self.journal.attempts(intent.id)
        if (
            mined is not None
            and chain_latest <= intent.nonce
            and not any(a.state is AttemptState.MINED for a in attempts)
        ):
            # Every block since the last tick was read: an attempt in none of them is unmined
            # (its receipt is not looked up), and one that is not yet due for replacement is
            # left alone this block (no pool lookup, no re-simulation).
            # One that is due goes the whole way, as every intent did before this shortcut.
            ours = [a for a in attempts if a.tx_hash.lower() in mined]
            due = not self.submitter.visible_in_pool or self._review_due(
                intent, attempts, head, pool
            )
            if not ours and not due:
                return ""
            found = self._find_mined(ours if ours else attempts)
        else:
            found = self._find_mined(attempts)
        if found is not None:
            return self._on_mined(intent, *found, head)
        if any(a.state is AttemptState.MINED for a in attempts):
            self.journal.unmine(intent.id, "reorg: the receipt is gone")
            self.journal.record_event("reorg", f"intent {intent.id} nonce {intent.nonce}")
            attempts = self.journal.attempts(intent.id)
        if chain_latest > intent.nonce:
            found = self._find_mined(attempts)  # mined between the two reads
            if found is not None:
                return self._on_mined(intent, *found, head)
            detail = f"nonce {intent.nonce} was used by a transaction this journal never signed"
            self.journal.record_event("replaced", f"intent {intent.id}: {detail}")
            self.journal.finish(
                intent.id,
                IntentState.REPLACED,
                outcome="replaced_by_other",
                detail=detail,
                ledger=self.supervisor.judge_replaced(intent, detail),
            )
            return detail
        pending = [a for a in attempts if a.state in _PENDING]
        if not pending:
            return ""
        review = self.supervisor.review(intent, head)
        cancelling = any(a.kind is AttemptKind.CANCEL for a in pending)
        newest = max(pending, key=lambda a: a.id)
        if self.submitter.visible_in_pool:
            return self._tick_public(intent, pending, newest, head, review, cancelling)
        return self._tick_private(intent, pending, newest, head, review, cancelling)

    def _tick_public(
        self,
        intent: Intent,
        pending: list[Attempt],
        newest: Attempt,
        head: Head,
        review: Review,
        cancelling: bool,
    ) -> str:
        in_pool = []
        for a in pending:
            if self.node.transaction(a.tx_hash) is not None:
                in_pool.append(a)
                if a.state is not AttemptState.SENT:
                    self.journal.mark_sent(a.id, head.number, "found in the node's pool")
        leave = False
        if not cancelling and not review.keep:
            if self.cancel(intent, head, f"opportunity gone: {review.reason}") is not None:
                return f"cancelling: {review.reason}"
            # No cancellation fits under the caps: the transaction is left to land (the
            # contract's profit guard makes it revert cheaply), never bumped, but kept in the
            # pool: a dropped one would leave its nonce empty and jam every later nonce.
            leave = True
        sent_at = newest.first_sent_block if newest.first_sent_block is not None else head.number
        stuck = head.number - sent_at >= self.config.stuck_blocks
        if not in_pool:
            missing = [a.id for a in pending if a.state is not AttemptState.DROPPED]
            if missing:
                self.journal.mark_dropped(intent.id, missing, "not in the node's pool, nonce free")
            if stuck and not leave and newest.state is not AttemptState.SIGNED:
                replaced = self._replace(intent, pending, head, review, cancel=cancelling)
                if replaced is not None:
                    return f"dropped and stuck: replaced by {replaced.tx_hash}"
            # The same signed bytes again: same nonce, same hash.
            outcome = self._broadcast(
                newest, head, replacement=newest.kind is not AttemptKind.ORIGINAL
            )
            if outcome.status is SendStatus.REJECTED and not stuck and not leave:
                # Usually the base fee rose above the max fee: replace with fresh fees.
                self._replace(intent, pending, head, review, cancel=cancelling)
            return f"dropped, rebroadcast {newest.tx_hash}: {outcome.status}"
        if leave:
            return f"opportunity gone ({review.reason}), no cancellation under the caps: left"
        if newest.state is AttemptState.SIGNED and newest not in in_pool:
            # Journaled but never broadcast (the process stopped in between): send it now.
            outcome = self._broadcast(
                newest, head, replacement=newest.kind is not AttemptKind.ORIGINAL
            )
            return f"broadcast the journaled {newest.kind} {newest.tx_hash}: {outcome.status}"
        if stuck:
            replaced = self._replace(intent, pending, head, review, cancel=cancelling)
            if replaced is not None:
                return f"stuck {head.number - sent_at} blocks: replaced by {replaced.tx_hash}"
            return f"stuck {head.number - sent_at} blocks, not replaced"
        return ""

    def _tick_private(
        self,
        intent: Intent,
        pending: list[Attempt],
        newest: Attempt,
        head: Head,
        review: Review,
        cancelling: bool,
    ) -> str:
        if not cancelling and not review.keep:
            self.cancel(intent, head, f"opportunity gone: {review.reason}")
            return f"cancelling: {review.reason}"
        last = newest.last_sent_block
        if last is not None and head.number < last + self.submitter.blocks_per_submission:
            return ""  # the current submission still covers the next block
        limit = self.submitter.max_submissions
        if limit is None or newest.broadcasts < limit:
            outcome = self._broadcast(newest, head)
            return f"resubmitted to the relay ({newest.broadcasts + 1}): {outcome.status}"
        # The relay had its chances: never the public mempool; cancel through the relay.
        self.journal.mark_dropped(intent.id, [newest.id], "relay did not include it")
        if not cancelling:
            self.cancel(intent, head, f"relay gave up after {limit} submissions")
            return "relay gave up: cancelling through the relay"
        detail = (
            f"nonce {intent.nonce}: the relay included neither the transaction nor its "
            "cancellation; new sends are blocked until it is resolved"
        )
        self._note(intent, "relay_exhausted", detail)
        return detail

    def _on_mined(self, intent: Intent, attempt: Attempt, receipt: Receipt, head: Head) -> str:
        if (
            attempt.state is not AttemptState.MINED
            or attempt.mined_block_hash != receipt.block_hash
        ):
            failpoints.failpoint(failpoints.AFTER_MINED_BEFORE_JOURNAL)
            self.journal.mark_mined(
                attempt.id,
                Mined(
                    receipt.block_number,
                    receipt.block_hash,
                    receipt.status,
                    receipt.gas_used,
                    receipt.effective_gas_price,
                ),
            )
        depth = head.number - receipt.block_number + 1
        if depth < self.config.confirmations:
            return f"mined in block {receipt.block_number} ({depth}/{self.config.confirmations})"
        block = self._block(receipt.block_number)
        if block is None or block[0] != receipt.block_hash:
            self.journal.unmine(intent.id, f"block {receipt.block_number} is no longer canonical")
            self.journal.record_event("reorg", f"intent {intent.id} nonce {intent.nonce}")
            return "reorged out"
        if attempt.tx_hash.lower() not in block[1]:
            # A receipt the block does not back (a lying or confused node): not evidence.
            detail = f"receipt names block {receipt.block_number}, which does not hold it"
            self.journal.unmine(intent.id, detail)
            self._note(intent, "unbacked_receipt", detail)
            return detail
        verdict = self.supervisor.judge(self.journal.intent(intent.id), attempt, receipt)
        self.journal.finish(
            intent.id,
            verdict.state,
            outcome=verdict.outcome,
            detail=verdict.detail,
            confirmed_attempt=attempt.id,
            ledger=verdict.ledger,
        )
        return verdict.detail


_PENDING = frozenset({AttemptState.SIGNED, AttemptState.SENT, AttemptState.DROPPED})
