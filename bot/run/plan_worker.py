"""The block's plan, made in a process of its own while this one signs and sends.

The plan is pure and the biggest share of a crash block's CPU; the loop's thread also signs,
journals and sends every batch. In one interpreter the two take turns; in two processes
they run on two cores, and each liquidation still leaves as soon as it is decided (the
worker streams the plan back as it goes).

The plan is deterministic, so the worker can be dropped at any point without changing a
decision: if it dies or hangs, this process plans the rest itself from the same inputs,
skipping what the worker had already decided (see :meth:`PlanWorker.plan`). A lost worker
is started again after a while (:data:`RESTART_AFTER_S`, doubled for each loss in a row),
so that one killed process (the OOM killer, an operator's signal) does not leave every
later crash block planned on the loop's thread. A first worker that cannot be started (no
process to be had) is tried again the same way.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import pickle
import time
import traceback
from collections.abc import Generator, Iterator, Sequence
from contextlib import suppress
from itertools import islice
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from operator import attrgetter
from typing import Any

from bot.model.liquidation import LiquidationAmounts
from bot.model.ranking import Opportunity, iter_plan
from bot.model.sizing import SizedPath
from bot.model.types import Account, MarketState, UserReserve

log = logging.getLogger("liqbot.run")

FLUSH_S = 0.002
"""How long the worker holds decided liquidations before sending them on together (one
message each would cost both processes a pickle and a system call per liquidation)."""

SILENCE_S = 10.0
"""How long this process waits for a word from a busy worker before giving up on it."""

RESTART_AFTER_S = 5.0
"""How long after losing the worker a new one is started (plans are made in this process
meanwhile). Doubled for each loss that comes before the new worker finished a plan, up to
:data:`RESTART_AFTER_MAX_S`: a worker that dies again at once is not restarted in a loop."""

RESTART_AFTER_MAX_S = 300.0

_READY = "ready"
_NOTHING = object()
"""No message waiting (``None`` is one: it ends the worker)."""


def _pickled_by_fields(cls: type[Any]) -> None:
    """Send ``cls`` (a dataclass built from its fields alone) as its constructor and its
    fields, read by one C-level getter. pickle's default for a frozen, slotted dataclass
    goes through copyreg and a state dict per object; this is 3 to 5 times faster both ways
    for a crash block's accounts and plan (~1,000 of each)."""
    fields = dataclasses.fields(cls)
    if not all(f.init for f in fields):
        raise TypeError(f"{cls.__name__} has fields its constructor does not take")
    names = tuple(f.name for f in fields)
    get = attrgetter(*names)
    if len(names) == 1:
        ForkingPickler.register(cls, lambda obj: (cls, (get(obj),)))
    else:
        ForkingPickler.register(cls, lambda obj: (cls, get(obj)))


for _cls in (Account, UserReserve, Opportunity, SizedPath, LiquidationAmounts):
    _pickled_by_fields(_cls)


class _WorkerLost(Exception):
    """The worker died, stopped answering, or could not be sent the plan."""


def _serve(conn: Connection) -> None:
    """The worker: plan each request, streaming ``(seq, "opps", [...])`` messages and one
    final ``(seq, "done", None)`` or ``(seq, "error", exception)``. A message that arrives
    mid-plan drops it: a cancel ``(seq, None)`` (the plan ends there, with "done"), or
    ``None``, which ends the worker."""
    # garbage is collected between plans, not during them, as the loop's process does
    # (see bot.run.collector): a plan allocates in bursts and frees it all at its end
    gc.disable()
    gc.collect()
    gc.freeze()
    conn.send(_READY)
    request: Any = _NOTHING
    while True:
        if request is _NOTHING:
            gc.collect()
            try:
                request = conn.recv()
            except EOFError:
                return
        if request is None:
            return
        seq, payload = request
        request = _NOTHING
        if payload is not None:  # else a cancel that came after its plan was done
            request = _plan_one(conn, seq, *payload)


def _plan_one(
    conn: Connection,
    seq: int,
    market: MarketState,
    accounts: Sequence[Account],
    timestamp: int,
    kwargs: dict[str, Any],
) -> Any:
    """Stream one plan; return the message that interrupted it, if any (a cancel of this
    plan counts as none)."""
    batch: list[Opportunity] = []
    flushed: float | None = None  # the first liquidation is sent alone, at once
    try:
        for opp in iter_plan(market, accounts, timestamp, **kwargs):
            batch.append(opp)
            now = time.monotonic()
            if flushed is None or now - flushed >= FLUSH_S:
                conn.send((seq, "opps", batch))
                batch, flushed = [], now
                if conn.poll():  # looked at when sending only: a poll is a system call
                    interrupt = conn.recv()
                    if interrupt is None or interrupt[0] != seq:
                        return interrupt
                    conn.send((seq, "done", None))  # cancelled: the plan's end, as ever
                    return _NOTHING
        if batch:
            conn.send((seq, "opps", batch))
        conn.send((seq, "done", None))
    except Exception as exc:  # sent back whole: the loop handles it as its own
        conn.send((seq, "error", _picklable(exc)))
    return _NOTHING


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    return exc


class PlanWorker:
    """A planner process (started again after a while should it be lost); :meth:`plan` is
    :func:`iter_plan` made there."""

    def __init__(self) -> None:
        self._ready = False
        self._why_lost: str | None = None
        """Why the worker was dropped after a failure, as logged (None: it is not lost;
        closed is not lost)."""
        self._closed = False
        self._seq = 0
        self._open: int | None = None
        """A plan sent and not yet seen to its end (its "done" or "error")."""
        self.restarts = 0
        """New workers started after a loss."""
        self._delay = RESTART_AFTER_S
        self._restart_at: float | None = None
        """When a lost worker is to be started again (None: not lost)."""
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        # out of processes: plan here, and try again as after a loss (``_try_start``
        # records why, which makes the worker lost)
        self._try_start("cannot start it")

    @staticmethod
    def _start() -> tuple[Connection, multiprocessing.process.BaseProcess]:
        """A worker process and this end of its pipe (OSError where none can be had)."""
        # spawn, not fork: the bot's process runs threads (the sender, the node's round
        # trips), and a fork copies their locks in whatever state they are in
        ctx = multiprocessing.get_context("spawn")
        conn, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child,), name="liqbot-plan", daemon=True)
        try:
            process.start()
        except BaseException:
            conn.close()
            raise
        finally:
            child.close()
        return conn, process

    @property
    def plans(self) -> int:
        """Plans handed to the worker so far."""
        return self._seq

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def _pipe(self) -> Connection:
        """The pipe to the worker: there is one whenever the worker is not lost."""
        if self._conn is None:
            raise _WorkerLost("no worker process was started")
        return self._conn

    def ready(self) -> bool:
        """Whether the worker is up (it takes a second to start; plans before then are
        made in this process). A lost worker whose restart is due is started here."""
        if self.lost and not self._closed:
            self._restart_if_due()
        if self._ready or self.lost or self._closed:
            return self._ready
        try:
            if self._pipe.poll():
                self._ready = self._pipe.recv() == _READY
        except (EOFError, OSError):
            self._lose("it exited while starting")
        return self._ready

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the worker to be up."""
        deadline = time.monotonic() + timeout
        while not self.ready() and not (self.lost or self._closed):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._pipe.poll(min(left, 0.05))
        return self._ready

    def plan(
        self,
        market: MarketState,
        accounts: Sequence[Account],
        timestamp: int,
        **kwargs: Any,
    ) -> Generator[Opportunity, None, None]:
        """:func:`iter_plan`'s liquidations, in its order, decided by the worker (the
        first comes back alone, the rest every :data:`FLUSH_S`). Should the worker fail,
        the rest of the plan is made here; an error of the plan itself (such as
        :class:`LiquidationReverted`) is raised here as :func:`iter_plan` would raise it."""
        if not self.ready():
            yield from iter_plan(market, accounts, timestamp, **kwargs)
            return
        taken = 0
        try:
            if self._open is not None:  # a plan dropped half-way: read to its end
                for _ in self._stream(self._open):
                    pass
            # Only now, with the worker idle, is the next plan sent: a plan sent while the
            # worker still wrote into a full pipe would leave both processes blocked, each
            # writing to the other.
            self._seq += 1
            self._open = self._seq
            try:
                self._pipe.send((self._seq, (market, list(accounts), timestamp, kwargs)))
            except (OSError, ValueError) as exc:
                raise _WorkerLost(f"sending it the plan failed ({exc})") from exc
            for opp in self._stream(self._seq):
                yield opp
                taken += 1
        except _WorkerLost as exc:
            self._lose(str(exc))
            # the plan is deterministic: this process's is the worker's, the same liquidations
            # in the same order; skip the ones the worker already decided
            yield from islice(iter_plan(market, accounts, timestamp, **kwargs), taken, None)
        finally:
            if self._open is not None and not (self.lost or self._closed):
                self._cancel(self._open)

    def _stream(self, seq: int) -> Iterator[Opportunity]:
        """The worker's liquidations for plan ``seq``, the one open, to its end."""
        while True:
            try:
                if not self._pipe.poll(SILENCE_S):
                    raise _WorkerLost(f"it said nothing for {SILENCE_S:.0f} s")
                got, kind, payload = self._pipe.recv()
            except (EOFError, OSError) as exc:
                raise _WorkerLost(f"it exited ({type(exc).__name__})") from exc
            if got != seq:  # cannot be: one plan is open at a time
                raise _WorkerLost(f"it answered plan {got} while plan {seq} was open")
            if kind == "opps":
                yield from payload
                continue
            self._open = None
            self._delay = RESTART_AFTER_S  # this worker has done a plan: it is a sound one
            if kind == "done":
                return
            raise payload

    def _cancel(self, seq: int) -> None:
        """Ask the worker to drop plan ``seq`` (its end is read before the next plan)."""
        try:
            self._pipe.send((seq, None))
        except (OSError, ValueError) as exc:
            self._lose(f"cancelling its plan failed ({exc})")

    def _lose(self, why: str) -> None:
        """Plan in this process until a new worker is started (see :meth:`ready`): this
        one cannot be trusted to answer."""
        wait = self._schedule_restart()
        if not self.lost:
            log.error(
                "plan worker: %s; planning in the loop's own process, a new worker in %.0f s",
                why,
                wait,
            )
        self._why_lost, self._ready, self._open = why, False, None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(1)

    def _schedule_restart(self) -> float:
        """Set when the next worker is started (the wait then doubles, see
        :data:`RESTART_AFTER_S`); returns the wait."""
        wait = self._delay
        self._restart_at = time.monotonic() + wait
        self._delay = min(wait * 2, RESTART_AFTER_MAX_S)
        return wait

    @property
    def restart_due(self) -> float | None:
        """When (``time.monotonic``) a new worker is to be started; None unless lost."""
        return self._restart_at if self.lost and not self._closed else None

    def _try_start(self, failure: str) -> bool:
        """Start a worker process in place of the one held, if any; where none can be had,
        log ``failure``, keep it as why the worker is lost and schedule the next try
        (False)."""
        try:
            conn, process = self._start()
        except OSError as exc:
            wait = self._schedule_restart()
            self._why_lost = f"{failure} ({exc})"
            log.error(
                "plan worker: %s (%s); planning in the loop's own process, again in %.0f s",
                failure,
                exc,
                wait,
            )
            return False
        if self._conn is not None:
            self._conn.close()
        self._conn, self._process = conn, process
        return True

    def _restart_if_due(self) -> None:
        if self._restart_at is None or time.monotonic() < self._restart_at:
            return
        if not self._try_start("cannot start a new one"):
            return
        self._ready, self._why_lost, self._open, self._restart_at = False, None, None, None
        self.restarts += 1
        log.warning("plan worker: started again (restart %d)", self.restarts)

    @property
    def lost(self) -> bool:
        return self._why_lost is not None

    @property
    def why_lost(self) -> str | None:
        """Why the worker is lost (None: it is not), as logged: for a caller that reports
        a worker that never came up."""
        return self._why_lost

    def close(self) -> None:
        """Stop the worker; plans are made in this process from then on."""
        self._ready = False
        if self._closed:
            return
        self._closed = True
        if self._conn is None or self._process is None:
            return  # none was ever started
        if not self.lost and self._process.is_alive():
            with suppress(OSError, ValueError):  # gone already: killed below
                self._conn.send(None)
            self._process.join(2)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(1)
        self._conn.close()
