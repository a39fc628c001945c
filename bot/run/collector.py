"""Python's cyclic garbage collector, kept out of the blocks.

A crash block allocates hundreds of thousands of objects (logs, snapshots, opportunities,
journal rows); left to itself the collector runs dozens of times inside one, and a full
collection over a 100,000-account book takes 100-370 ms: inside the block, that is a
liquidation lost. Nothing the bot keeps relies on the cycle collector to be freed promptly
(reference counting frees almost everything), so the run loop turns automatic collection
off and collects between blocks, while it waits for the next head. The survivors are then
frozen out of later scans; every ``full_every`` blocks they are thawed and scanned once, so
that cycles which died after being frozen are still freed.
"""

from __future__ import annotations

import gc


class BlockCollector:
    """Collects garbage between blocks instead of during them (see the module docstring)."""

    def __init__(self, full_every: int = 1_000) -> None:
        self.full_every = full_every
        self.blocks = 0
        self._was_enabled: bool | None = None

    @property
    def active(self) -> bool:
        return self._was_enabled is not None

    def start(self) -> None:
        """After start-up: collect once, freeze the book, stop automatic collection."""
        if self._was_enabled is None:
            self._was_enabled = gc.isenabled()
        gc.disable()
        gc.collect()
        gc.freeze()

    def between_blocks(self) -> None:
        """A block's work is done: collect what it left, freeze what survives."""
        self.blocks += 1
        if self.full_every and self.blocks % self.full_every == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()

    def after_block(self) -> None:
        """:meth:`start` after the first block (the start-up book is built by then), then
        :meth:`between_blocks` after each."""
        if self.active:
            self.between_blocks()
        else:
            self.start()

    def stop(self) -> None:
        """Back to Python's own collection (the process may go on without the loop)."""
        if self._was_enabled is None:
            return
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()
        self._was_enabled = None
