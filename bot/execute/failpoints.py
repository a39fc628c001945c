"""Named crash points, so that tests (and a fault-injecting harness) can kill the executor
exactly where a real crash would hurt most.

``LIQBOT_FAILPOINT=after_journal_before_broadcast`` (several names may be given, separated by
commas) makes the process ``os._exit(FAILPOINT_EXIT_CODE)`` the first time that point is
reached: no ``finally`` blocks, no SQLite rollback, no flushing, as with ``kill -9``. Tests in
the same process can :func:`arm` a point to raise :class:`FailpointHit` instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

ENV_VAR = "LIQBOT_FAILPOINT"
FAILPOINT_EXIT_CODE = 77

BEFORE_SIGN = "before_sign"
"""A nonce is about to be used; nothing signed or journaled for this attempt yet."""
AFTER_JOURNAL_BEFORE_BROADCAST = "after_journal_before_broadcast"
"""The signed transaction and its hash are in the journal; nothing was broadcast."""
AFTER_BROADCAST_BEFORE_RECORD = "after_broadcast_before_record"
"""The node has the transaction; the journal still says ``signed``."""
AFTER_MINED_BEFORE_JOURNAL = "after_mined_before_journal"
"""A receipt was seen; the journal does not know the transaction was mined."""
MID_REPLACEMENT = "mid_replacement"
"""A replacement is signed and journaled; it was not broadcast, the old attempt is pending."""
AFTER_REPLACEMENT_BROADCAST = "after_replacement_broadcast"
"""A replacement was broadcast; the journal does not know yet."""

ALL = (
    BEFORE_SIGN,
    AFTER_JOURNAL_BEFORE_BROADCAST,
    AFTER_BROADCAST_BEFORE_RECORD,
    AFTER_MINED_BEFORE_JOURNAL,
    MID_REPLACEMENT,
    AFTER_REPLACEMENT_BROADCAST,
)


class FailpointHit(BaseException):
    """Raised by an armed in-process failpoint (BaseException: no ``except Exception`` eats it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_armed: set[str] = set()


def _from_env() -> set[str]:
    raw = os.environ.get(ENV_VAR, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def failpoint(name: str) -> None:
    """Crash here if ``name`` is armed (in this process) or named in ``LIQBOT_FAILPOINT``."""
    if name in _armed:
        _armed.discard(name)
        raise FailpointHit(name)
    if name in _from_env():
        sys.stderr.write(f"liqbot: failpoint {name} reached, exiting\n")
        sys.stderr.flush()
        os._exit(FAILPOINT_EXIT_CODE)


@contextmanager
def armed(name: str) -> Iterator[None]:
    """Arm ``name`` for the duration of a ``with`` block (tests)."""
    if name not in ALL:
        raise ValueError(f"unknown failpoint {name!r}")
    _armed.add(name)
    try:
        yield
    finally:
        _armed.discard(name)
