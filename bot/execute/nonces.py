"""Nonces handed out locally (the journal's counter) and kept in step with the chain.

The journal's counter is the source of truth for what *we* signed; the chain says what was
used. Three things can disagree:

- the chain is ahead (``latest`` or ``pending`` above the counter): another process used the
  key. Noticed, journaled, the counter moves forward (never back), and the caller skips
  this round so that the position is re-evaluated (the other transaction may have been a
  liquidation of the same user);
- the chain is behind with a hole: a nonce below the counter that no open intent of ours
  holds and no pending transaction fills (e.g. a foreign pending transaction that was later
  dropped). Later transactions would wait forever, so the hole is reported to be healed with
  a zero-value self-send;
- the node lags (its ``latest`` below what it told us before): the counter never goes back.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.execute.journal import Journal
from bot.execute.node import Node


@dataclass(frozen=True, slots=True)
class NonceCheck:
    next_nonce: int
    """The journal's counter after the check: the nonce the next new transaction takes."""
    chain_latest: int
    chain_pending: int
    foreign: bool
    """The chain used nonces the journal never handed out."""
    gaps: tuple[int, ...]
    """Nonces below the counter that nothing of ours holds and nothing pending fills."""
    detail: str = ""


class NonceKeeper:
    def __init__(self, node: Node, journal: Journal, address: str) -> None:
        self.node = node
        self.journal = journal
        self.address = address

    def check(self, chain: tuple[int, int] | None = None) -> NonceCheck:
        """``chain``: the (latest, pending) counts when already read (a block's batch of
        reads); else they are read here."""
        if chain is None:
            latest = self.node.nonce(self.address, "latest")
            pending = self.node.nonce(self.address, "pending")
        else:
            latest, pending = chain
        chain_next = max(latest, pending)
        current = self.journal.next_nonce()
        foreign = False
        detail = ""
        if current is None:
            if pending > latest:
                foreign = True
                detail = (
                    f"a new journal, but the node holds pending transactions of this account "
                    f"(nonces {latest}..{pending - 1}) it never signed"
                )
                self.journal.record_event("foreign_nonce", detail)
            current = self.journal.advance_nonce(chain_next, "first use of this journal")
        elif chain_next > current:
            foreign = True
            detail = (
                f"the chain used nonces {current}..{chain_next - 1} (latest {latest}, pending "
                f"{pending}) that this journal never signed: another process has this key"
            )
            self.journal.record_event("foreign_nonce", detail)
            current = self.journal.advance_nonce(chain_next, "nonces used by another sender")
        # A node answering a nonce below one we saw confirmed (lagging, lying) must not make
        # a used nonce look like a hole to heal with a second transaction.
        start = max(latest, pending)
        gaps: tuple[int, ...] = ()
        if start < current:  # else no nonce below the counter is unaccounted for: no reads
            confirmed = self.journal.highest_confirmed_nonce()
            start = max(start, confirmed + 1 if confirmed is not None else 0)
            held = self.journal.open_nonces()
            gaps = tuple(n for n in range(start, current) if n not in held)
        return NonceCheck(current, latest, pending, foreign, gaps, detail)
