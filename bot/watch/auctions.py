"""The auction watcher: chain in, one :class:`AuctionSnapshot` per step out.

Like the lending watcher, the book is event-sourced and reads are batched:

1. the head (one ``eth_getBlockByNumber``);
2. the logs since the last step (``eth_getLogs``, chunked): ``VaultUpdated`` sets a vault's
   collateral and normalised debt exactly; an auction event marks that auction changed;
3. one Multicall3 batch at the head: every ilk's parameters, price, room and pair (a fixed
   handful per ilk), the native token's price, the keeper's stablecoin balance, and the
   auctions marked changed.

The first step (``sync``) reads every ``VaultUpdated`` since the deployment block and the
running auctions' ids (``list()``). When a new head's parent is not the block held (a reorg)
the watcher simply syncs again from scratch: vault books are rebuilt from logs in one pass,
and auctions are few, so there is no undo journal here (unlike the lending watcher).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.chain.logs import LogReader
from bot.chain.multicall import Multicall, Read, ReadFailed
from bot.chain.rpc import BlockHeader, RpcClient
from bot.model.auction import EnglishAuctionState, Sale
from bot.protocols.auction_base import (
    DUTCH,
    ENGLISH,
    AuctionChanged,
    AuctionProtocol,
    IlkState,
    VaultChanged,
    VaultState,
)

log = logging.getLogger("liqbot.watch.auctions")


@dataclass(frozen=True)
class AuctionSnapshot:
    """The auction market in one block, as plain values."""

    block_number: int
    block_hash: str
    timestamp: int
    base_fee: int
    gas_used: int
    gas_limit: int
    ilks: Mapping[str, IlkState]
    vaults: Mapping[tuple[str, str], VaultState]
    """(ilk, owner) -> vault, only vaults with collateral or debt."""
    sales: Mapping[tuple[str, int], Sale]
    """(ilk, id) -> running Dutch auction."""
    english: Mapping[tuple[str, int], EnglishAuctionState]
    native_price: int
    """USD, 8 decimals (0 when unknown)."""
    keeper_balance: int = 0
    """The keeper's stablecoin balance (inventory for English bids)."""


@dataclass
class AuctionWatcherStats:
    steps: int = 0
    resyncs: int = 0
    logs: int = 0
    batches: int = 0


@dataclass
class _Book:
    head: BlockHeader | None = None
    vaults: dict[tuple[str, str], VaultState] = field(default_factory=dict)
    sales: dict[tuple[str, int], Sale] = field(default_factory=dict)
    english: dict[tuple[str, int], EnglishAuctionState] = field(default_factory=dict)


class AuctionWatcher:
    """Follow one vault-and-auction market; ``keeper`` is whose stablecoin balance to read."""

    def __init__(
        self,
        rpc: RpcClient,
        protocol: AuctionProtocol,
        *,
        keeper: str = "",
        log_chunk: int = 2_000,
        multicall_batch: int = 250,
    ) -> None:
        self.rpc = rpc
        self.protocol = protocol
        self.keeper = keeper
        self.logs = LogReader(rpc, chunk=log_chunk)
        self.multicall = Multicall(rpc, protocol.multicall_address, max_calls=multicall_batch)
        self.book = _Book()
        self.stats = AuctionWatcherStats()

    # ------------------------------------------------------------------ steps

    def sync(self, block: int | str = "latest") -> AuctionSnapshot:
        """Rebuild the book from the deployment block to ``block``."""
        header = self.rpc.get_block(block)
        self.book = _Book()
        self.stats.resyncs += 1
        addresses, topics = self.protocol.discovery_filter()
        for entry in self.logs.fetch(
            self.protocol.deployment_block, header.number, addresses, [topics]
        ):
            event = self.protocol.decode_log(entry)
            if isinstance(event, VaultChanged):
                self._apply_vault(event.vault)
        reads: list[Read[Any]] = []
        keys: list[tuple[str, str]] = []
        for info in self.protocol.ilks():
            for kind in (DUTCH, ENGLISH):
                reads.append(self.protocol.active_ids_read(info.name, kind))
                keys.append((info.name, kind))
        ids = self.multicall.read_all(reads, header.number)
        changed: set[tuple[str, str, int]] = set()
        for (ilk, kind), value in zip(keys, ids, strict=True):
            if isinstance(value, ReadFailed):
                raise RuntimeError(f"cannot list the {kind} auctions of {ilk}: {value.reason}")
            changed.update((ilk, kind, int(i)) for i in value)
        return self._finish(header, changed)

    def poll(self) -> list[AuctionSnapshot]:
        """Catch up with the latest block: one snapshot, or none when nothing is new."""
        header = self.rpc.get_block("latest")
        held = self.book.head
        if held is None:
            return [self.sync(header.number)]
        if header.number <= held.number:
            if header.hash != held.hash and header.number == held.number:
                return [self.sync(header.number)]
            return []
        if header.number == held.number + 1 and header.parent_hash != held.hash:
            log.info("auction watch: reorg at block %d; syncing again", header.number)
            return [self.sync(header.number)]
        addresses, topics = self.protocol.follow_filter()
        changed: set[tuple[str, str, int]] = set()
        for entry in self.logs.fetch(held.number + 1, header.number, addresses, [topics]):
            if entry.removed:
                continue
            self.stats.logs += 1
            event = self.protocol.decode_log(entry)
            if isinstance(event, VaultChanged):
                self._apply_vault(event.vault)
            elif isinstance(event, AuctionChanged):
                changed.add((event.ilk, event.module_kind, event.id))
        return [self._finish(header, changed)]

    # ------------------------------------------------------------------ internals

    def _apply_vault(self, vault: VaultState) -> None:
        key = (vault.ilk, vault.owner)
        if vault.collateral == 0 and vault.normalized_debt == 0:
            self.book.vaults.pop(key, None)
        else:
            self.book.vaults[key] = vault

    def _finish(self, header: BlockHeader, changed: set[tuple[str, str, int]]) -> AuctionSnapshot:
        ilks = self.protocol.ilk_state(self.multicall, header.number)
        reads: list[Read[Any]] = [self.protocol.native_price_read()]
        if self.keeper:
            reads.append(self.protocol.stable_balance_read(self.keeper))
        ordered = sorted(changed)
        for ilk, kind, auction_id in ordered:
            if kind == DUTCH:
                reads.append(self.protocol.sale_read(ilk, auction_id))
            else:
                reads.append(self.protocol.english_read(ilk, auction_id))
        values = self.multicall.read_all(reads, header.number)
        self.stats.batches += 1
        native = values[0] if isinstance(values[0], int) else 0
        balance = 0
        offset = 1
        if self.keeper:
            balance = values[1] if isinstance(values[1], int) else 0
            offset = 2
        for (ilk, kind, auction_id), value in zip(ordered, values[offset:], strict=True):
            if isinstance(value, ReadFailed):
                raise RuntimeError(f"cannot read {kind} auction {auction_id} of {ilk}")
            if kind == DUTCH:
                if value is None:
                    self.book.sales.pop((ilk, auction_id), None)
                else:
                    self.book.sales[(ilk, auction_id)] = value
            elif value is None:
                self.book.english.pop((ilk, auction_id), None)
            else:
                self.book.english[(ilk, auction_id)] = value
        self.book.head = header
        self.stats.steps += 1
        return AuctionSnapshot(
            block_number=header.number,
            block_hash=header.hash,
            timestamp=header.timestamp,
            base_fee=header.base_fee,
            gas_used=header.gas_used,
            gas_limit=header.gas_limit,
            ilks=ilks,
            vaults=dict(self.book.vaults),
            sales=dict(self.book.sales),
            english=dict(self.book.english),
            native_price=native,
            keeper_balance=balance,
        )
