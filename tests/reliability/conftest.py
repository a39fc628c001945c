from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.chain.anvil import Anvil
from tests.reliability.harness import SECRETS, Env, make_env


def _record(request: pytest.FixtureRequest, e: Env) -> None:
    """Which invariants the test checked (and held), and which faults the proxy injected:
    read by scripts/faults.py from the JUnit report."""
    held = sorted({c.number for c in e.checks if c.held})
    request.node.user_properties.append(("invariants", ",".join(map(str, held))))
    injected = ",".join(f"{k}x{n}" for k, n in sorted(e.proxy.injected.items()))
    request.node.user_properties.append(("injected", injected))


@pytest.fixture
def env(anvil: Anvil, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    """A fresh anvil (starts in well under a second), the market with one underwater
    borrower, the fault proxy in front, and the bot's key funded."""
    e = make_env(anvil, tmp_path)
    try:
        yield e
    finally:
        e.proxy.stop()
        _record(request, e)


@pytest.fixture
def env2(anvil: Anvil, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    """As ``env``, with two underwater borrowers (two opportunities)."""
    e = make_env(anvil, tmp_path, borrowers=2)
    try:
        yield e
    finally:
        e.proxy.stop()
        _record(request, e)


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every row runs with DEBUG logging captured; the key must never show (invariant 8)."""
    caplog.set_level("DEBUG")
    yield
    for secret in SECRETS:
        assert secret not in caplog.text
