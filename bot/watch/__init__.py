"""The watcher: turns a chain into the model's input, block by block (see watcher.py)."""

from __future__ import annotations

from bot.watch.book import BlockRef, Book, ReorgTooDeep
from bot.watch.heads import HeadSource, PollingHeads, WebSocketHeads, head_source
from bot.watch.snapshot import AccountAtRisk, MarketSnapshot
from bot.watch.watcher import ReconcileReport, Watcher, WatcherConfig, WatcherStats

__all__ = [
    "AccountAtRisk",
    "BlockRef",
    "Book",
    "HeadSource",
    "MarketSnapshot",
    "PollingHeads",
    "ReconcileReport",
    "ReorgTooDeep",
    "Watcher",
    "WatcherConfig",
    "WatcherStats",
    "WebSocketHeads",
    "head_source",
]
