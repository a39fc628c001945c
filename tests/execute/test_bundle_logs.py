"""A bundle's items are judged on the logs their own events could be: the index must hand
each item every log the whole receipt would have matched, in the receipt's order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.execute.executor import _LogsBySource
from bot.execute.node import Log, Receipt
from bot.execute.request import ExpectedLog

ADDRESSES = ("0x" + "aa" * 20, "0x" + "AB" * 20, "0x" + "0c" * 20)
WORDS = tuple(bytes([k]) * 32 for k in range(4))

logs = st.builds(
    Log,
    address=st.sampled_from(ADDRESSES),
    topics=st.lists(st.sampled_from(WORDS), max_size=4).map(tuple),
    data=st.sampled_from((b"", WORDS[1] + WORDS[2])),
)
events = st.tuples(
    # the same address in another case must find the same logs
    st.sampled_from(ADDRESSES).map(lambda a: a.upper().replace("0X", "0x")),
    st.lists(st.sampled_from((*WORDS, None)), max_size=4).map(tuple),
)


def _receipt(entries: list[Log]) -> Receipt:
    return Receipt(
        "0x" + "11" * 32, 7, "0x" + "22" * 32, 1, 21_000, 1, ADDRESSES[0], None, tuple(entries)
    )


def _matching(receipt: Receipt, event: tuple[str, tuple[bytes | None, ...]]) -> list[Log]:
    wanted = ExpectedLog(event[0], event[1])
    return [e for e in receipt.logs if wanted.matches(e.address, e.topics, e.data)]


@settings(max_examples=300, deadline=None)
@given(st.lists(logs, max_size=40), st.lists(events, min_size=1, max_size=3))
def test_each_event_finds_in_the_index_what_it_finds_in_the_whole_receipt(
    entries: list[Log], wanted: list[tuple[str, tuple[bytes | None, ...]]]
) -> None:
    receipt = _receipt(entries)
    own = _LogsBySource(receipt).receipt_for(*wanted)
    for event in wanted:
        assert _matching(own, event) == _matching(receipt, event)
    # a subsequence of the receipt's logs, in order, and the receipt's other fields kept
    positions = iter(range(len(receipt.logs)))
    assert all(any(receipt.logs[p] is log for p in positions) for log in own.logs)
    assert own.tx_hash == receipt.tx_hash and own.status == receipt.status


def test_an_item_sees_only_its_own_events() -> None:
    pool, liquidator = ADDRESSES[0], ADDRESSES[1]
    mine = Log(liquidator, (WORDS[0], WORDS[1]), b"")
    theirs = Log(liquidator, (WORDS[0], WORDS[2]), b"")
    noise = [Log(pool, (WORDS[3],), b"")] * 50
    receipt = _receipt([*noise, theirs, mine, *noise])
    own = _LogsBySource(receipt).receipt_for((liquidator, (WORDS[0], WORDS[1])))
    assert own.logs == (mine,)
    # a topic left open: the whole receipt, as before the index
    assert _LogsBySource(receipt).receipt_for((liquidator, (WORDS[0], None))) is receipt
