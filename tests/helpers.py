"""Small test utilities shared across the suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.chain.reverts import Reverted, as_reverted, is_revert


@contextmanager
def reverts(error: str = "") -> Iterator[list[Reverted]]:
    """Expect a call to revert; ``error`` must be a prefix of the decoded reason if given."""
    caught: list[Reverted] = []
    try:
        yield caught
    except Exception as exc:
        if not is_revert(exc):
            raise
        reverted = as_reverted(exc)
        caught.append(reverted)
        if error and not reverted.reason.startswith(error):
            pytest.fail(f"reverted with {reverted.reason!r}, expected {error!r}")
        return
    pytest.fail(f"did not revert (expected {error or 'a revert'})")
