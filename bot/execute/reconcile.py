"""After a crash (and at every start): settle the journal against the chain before anything new.

For every intent the journal left open, the chain answers: mined (then counted to the depth
and judged), pending (tracked on), unknown to the node with the nonce free (dropped: the same
signed bytes are rebroadcast, or the nonce is cancelled if the opportunity is gone), or the
nonce consumed by a transaction the journal never signed (replaced by someone else). An
intent that never got signed is closed as cancelled, to be re-evaluated. The nonce counter is
compared with the chain first, so that a key used elsewhere while we were down is noticed.

The executor refuses a second intent for an opportunity with one still open, so nothing here
or after can send a second transaction for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.execute.journal import Intent, Journal
from bot.execute.nonces import NonceCheck, NonceKeeper
from bot.execute.txmanager import TxManager, Update


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    nonce: NonceCheck
    open_before: tuple[Intent, ...]
    updates: tuple[Update, ...]
    open_after: tuple[Intent, ...]

    def summary(self) -> str:
        parts = [
            f"next nonce {self.nonce.next_nonce} (chain latest {self.nonce.chain_latest}, "
            f"pending {self.nonce.chain_pending})",
            f"{len(self.open_before)} open before, {len(self.open_after)} after",
        ]
        if self.nonce.foreign:
            parts.append(f"FOREIGN NONCES: {self.nonce.detail}")
        if self.nonce.gaps:
            parts.append(f"nonce holes {list(self.nonce.gaps)}")
        parts.extend(
            f"intent {u.intent_id}: {u.before} -> {u.after} {u.detail}".strip()
            for u in self.updates
        )
        return "; ".join(parts)


def reconcile(manager: TxManager, keeper: NonceKeeper, journal: Journal) -> ReconcileReport:
    """One nonce check and one tick over everything open, journaled as an event."""
    before = tuple(journal.open_intents())
    check = keeper.check()
    updates = tuple(manager.tick())
    after = tuple(journal.open_intents())
    report = ReconcileReport(check, before, updates, after)
    journal.record_event("reconcile", report.summary())
    return report
