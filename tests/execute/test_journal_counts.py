"""The journal's cheap reads (``count_open``, ``open_nonces``) agree with what loading every
open intent gives, through signing, approvals and final states: the executor relies on them
before every send instead of loading thousands of intents."""

from __future__ import annotations

from pathlib import Path

from bot.execute.journal import IntentKind, IntentState, Journal
from tests.execute.test_journal import _intent, _journal, _sign


def _slow(j: Journal) -> tuple[int, int, set[int]]:
    open_ = j.open_intents()
    return (
        sum(1 for i in open_ if i.kind is IntentKind.LIQUIDATION),
        sum(1 for i in open_ if i.kind is IntentKind.APPROVE),
        {i.nonce for i in open_ if i.nonce is not None},
    )


def _fast(j: Journal) -> tuple[int, int, set[int]]:
    return (j.count_open(IntentKind.LIQUIDATION), j.count_open(IntentKind.APPROVE), j.open_nonces())


def test_cheap_reads_match_the_open_intents(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.advance_nonce(7, "start")
    assert _fast(j) == _slow(j) == (0, 0, set())
    ids = [_intent(j, key=f"liquidation:u{i}:a:b") for i in range(6)]
    assert _fast(j) == _slow(j) == (6, 0, set())  # intents, none signed yet
    for n, intent_id in enumerate(ids[:4]):
        _sign(j, intent_id, 7 + n, f"0x{n:064x}")
    approval = j.add_intent(
        key="approve:t:s",
        kind=IntentKind.APPROVE,
        path="approve",
        target="0x" + "22" * 20,
        calldata=b"",
        value=0,
        gas_limit=60_000,
        observed_block=1,
        request={"key": "approve:t:s"},
    ).id
    _sign(j, approval, 11, "0x" + "ab" * 32)
    assert _fast(j) == _slow(j) == (6, 1, {7, 8, 9, 10, 11})
    j.finish(ids[1], IntentState.CANCELLED, outcome="cancelled", detail="test")
    j.finish(ids[5], IntentState.CANCELLED, outcome="not_signed", detail="test")
    assert _fast(j) == _slow(j) == (4, 1, {7, 9, 10, 11})
    j.close()
