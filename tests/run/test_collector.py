"""BlockCollector: no automatic collection inside a block, garbage freed between blocks, and
Python's own collection back once the loop stops."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.run.collector import BlockCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """A reference cycle only the cyclic collector can free; a weak reference to watch it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def collector() -> Iterator[BlockCollector]:
    was = gc.isenabled()
    c = BlockCollector(full_every=3)
    yield c
    c.stop()
    assert gc.isenabled() == was


def test_garbage_waits_for_the_block_to_end_and_is_freed_after(collector: BlockCollector) -> None:
    collector.start()
    assert not gc.isenabled()
    dead = cycle()
    for _ in range(50_000):  # far past the young generation's threshold: nothing runs
        Node()
    assert dead() is not None
    collector.between_blocks()
    assert dead() is None


def test_a_cycle_that_dies_after_it_was_frozen_is_freed_by_the_periodic_full_scan(
    collector: BlockCollector,
) -> None:
    collector.start()
    keep = [Node()]
    keep[0].other = Node()
    keep[0].other.other = keep[0]  # a live cycle, frozen at the end of the next block
    watch = weakref.ref(keep[0])
    collector.between_blocks()  # block 1: survives, frozen
    keep.clear()  # now garbage, but frozen: ordinary collections do not see it
    collector.between_blocks()  # block 2
    assert watch() is not None
    collector.between_blocks()  # block 3: the full scan thaws and frees it
    assert watch() is None


def test_stop_restores_automatic_collection() -> None:
    was = gc.isenabled()
    c = BlockCollector()
    c.start()
    assert not gc.isenabled()
    c.stop()
    assert gc.isenabled() == was
    assert gc.get_freeze_count() == 0


def test_after_block_starts_after_the_first_block_then_collects(
    collector: BlockCollector,
) -> None:
    assert not collector.active
    collector.after_block()  # the first block: start-up's book frozen, collection off
    assert collector.active and not gc.isenabled() and collector.blocks == 0
    dead = cycle()
    collector.after_block()  # every later block: collected between blocks
    assert collector.blocks == 1
    assert dead() is None
