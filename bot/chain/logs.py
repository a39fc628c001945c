"""``eth_getLogs`` over long ranges, in chunks that shrink when a provider refuses and grow back.

Providers cap the block range of one query (often 1k-10k blocks) or the number of logs it may
return, and say so with a JSON-RPC error whose code and wording differ from one to the next;
a heavy range may also just time out. So any refusal of a multi-block range halves the chunk
(or jumps to the range the provider suggests, when its message names one) and the same start
is asked again; after a run of successes the chunk doubles again, up to ``max_chunk``. A
single block that still fails is a real failure and is raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.chain.rpc import LogEntry, RpcClient, RpcError, RpcFailure, RpcTimeout, RpcUnavailable

log = logging.getLogger("liqbot.logs")

_SUGGESTED_RANGE = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")


@dataclass
class LogReaderStats:
    queries: int = 0
    refusals: int = 0
    logs: int = 0


class LogReader:
    """Reads the logs of some addresses and topics over a block range, chunk by chunk."""

    def __init__(
        self,
        rpc: RpcClient,
        *,
        chunk: int = 2_000,
        min_chunk: int = 1,
        max_chunk: int = 50_000,
        grow_after: int = 3,
    ) -> None:
        if not 1 <= min_chunk <= chunk <= max_chunk:
            raise ValueError("need 1 <= min_chunk <= chunk <= max_chunk")
        self.rpc = rpc
        self.chunk = chunk
        self.min_chunk = min_chunk
        self.max_chunk = max_chunk
        self.grow_after = grow_after
        self.stats = LogReaderStats()
        self._streak = 0

    def chunks(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[Sequence[bytes] | bytes | None] = (),
    ) -> Iterator[tuple[int, int, list[LogEntry]]]:
        """Yield ``(first, last, logs)`` for consecutive sub-ranges covering the range."""
        start = from_block
        while start <= to_block:
            end = min(to_block, start + self.chunk - 1)
            self.stats.queries += 1
            try:
                # A wide range gets one try per endpoint: a timeout there more likely means
                # "too heavy" than "try again", and a smaller range is the better retry.
                attempts = None if end == start else len(self.rpc.endpoints)
                logs = self.rpc.get_logs(start, end, addresses, topics, attempts=attempts)
            except (RpcError, RpcTimeout, RpcUnavailable) as exc:
                if end == start or not _is_refusal(exc):
                    raise
                self._shrink(start, end, exc)
                continue
            self.stats.logs += len(logs)
            yield start, end, logs
            start = end + 1
            self._streak += 1
            if self._streak >= self.grow_after and self.chunk < self.max_chunk:
                self.chunk = min(self.max_chunk, self.chunk * 2)
                self._streak = 0

    def fetch(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[Sequence[bytes] | bytes | None] = (),
    ) -> list[LogEntry]:
        """Every log in the inclusive range, in chain order."""
        out: list[LogEntry] = []
        for _, _, logs in self.chunks(from_block, to_block, addresses, topics):
            out.extend(logs)
        return out

    def _shrink(self, start: int, end: int, exc: RpcFailure) -> None:
        span = end - start + 1
        suggested = _suggested_span(exc)
        new = suggested if suggested is not None and suggested < span else span // 2
        self.chunk = max(self.min_chunk, min(new, span - 1))
        self._streak = 0
        self.stats.refusals += 1
        log.info(
            "logs: %d-block range %d-%d refused (%s); trying %d blocks",
            span,
            start,
            end,
            _reason(exc),
            self.chunk,
        )


def _is_refusal(exc: RpcFailure) -> bool:
    """A refusal of the range (any error answer, a timeout), not a dead endpoint."""
    if isinstance(exc, RpcUnavailable):
        return isinstance(exc.last, RpcTimeout | RpcError)
    return True


def _suggested_span(exc: RpcFailure) -> int | None:
    error = exc.last if isinstance(exc, RpcUnavailable) else exc
    if not isinstance(error, RpcError):
        return None
    match = _SUGGESTED_RANGE.search(error.message)
    if not match:
        return None
    first, last = int(match.group(1), 16), int(match.group(2), 16)
    return last - first + 1 if last >= first else None


def _reason(exc: RpcFailure) -> str:
    error = exc.last if isinstance(exc, RpcUnavailable) and exc.last else exc
    text = error.message if isinstance(error, RpcError) else type(error).__name__
    return text[:120]
