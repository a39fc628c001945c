"""The plan worker: a crash block's plan made in a process of its own must be, liquidation
for liquidation, the plan :func:`iter_plan` makes here, whatever happens to the worker.

What must hold: the same plan (and the same error, raised here, after the same
liquidations); a plan dropped half-way leaves the next one exact; a worker that dies or
goes silent mid-plan is dropped with an error naming it, and the plan still comes out
whole, the rest made in this process, nothing decided twice; a new worker is started later,
later still while they keep dying (or cannot be started at all), and plans as the first did.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from bot.model.gas import GasTable
from bot.model.liquidation import NotEnoughLiquidity
from bot.model.ranking import Opportunity, iter_plan
from bot.model.types import Account, MarketState, UserReserve
from bot.run import plan_worker
from bot.run.loop import LiquidationLoop, Strategy
from bot.run.plan_worker import PlanWorker
from tests.model.factories import USDC, WETH, reserve
from tests.model.test_plan_incremental import PRICES, _state, plan_inputs
from tests.model.test_plan_lazy import crash_on_one_pair


@pytest.fixture
def worker() -> Iterator[PlanWorker]:
    started = PlanWorker()
    assert started.wait_ready(60), "the plan worker did not start"
    try:
        yield started
    finally:
        started.close()


def _here(case: dict[str, object]) -> list[Opportunity]:
    args, kwargs = plan_inputs(case)
    return list(iter_plan(*args, **kwargs))


def test_the_worker_plans_what_this_process_plans(worker: PlanWorker) -> None:
    for count, limit in ((300, None), (120, 7), (60, None)):
        case = crash_on_one_pair(count, seed=count)
        case["max_liquidations"] = limit
        args, kwargs = plan_inputs(case)
        made = list(worker.plan(*args, **kwargs))
        assert made == _here(case)
        assert len(made) == (limit or len(made)) and len(made) > 5
    assert worker.plans == 3 and not worker.lost and worker.why_lost is None


def test_a_closed_worker_leaves_the_plans_to_this_process(worker: PlanWorker) -> None:
    case = crash_on_one_pair(40)
    args, kwargs = plan_inputs(case)
    worker.close()
    assert list(worker.plan(*args, **kwargs)) == _here(case)
    assert worker.plans == 0 and not worker.lost and not worker.ready()
    worker.close()  # twice is harmless


@pytest.mark.parametrize("idle", [0.0, 2.0], ids=["at-once", "pipe-full"])
def test_a_plan_dropped_half_way_leaves_the_next_one_exact(worker: PlanWorker, idle: float) -> None:
    """Dropped at once, or after the worker has filled the pipe with the rest of a large
    plan and waits for it to be read, while the next plan's inputs (~280 KB) are more than
    the pipe holds: sending them then would block both processes, each writing to the
    other."""
    case = crash_on_one_pair(1_500)
    args, kwargs = plan_inputs(case)
    first = worker.plan(*args, **kwargs)
    taken = [next(first) for _ in range(5)]
    time.sleep(idle)  # the worker plans on, and writes it all to the pipe
    first.close()  # the loop stopped taking: an error while sending, say
    assert taken == _here(case)[:5]
    case = crash_on_one_pair(3_000, seed=3)
    args, kwargs = plan_inputs(case)
    done: list[list[Opportunity]] = []
    thread = threading.Thread(target=lambda: done.append(list(worker.plan(*args, **kwargs))))
    thread.start()
    thread.join(120)
    assert done and done[0] == _here(case), "the next plan did not come back"
    assert worker.plans == 2 and not worker.lost


def _short_of_cash() -> dict[str, object]:
    """The pool holds WETH for one liquidation only: the plan's second raises."""
    reserves = (
        reserve(WETH, 18, state=_state(5, 10**18)),
        reserve(USDC, 6, state=_state(5, 10**30)),
    )
    market = MarketState(reserves, {**PRICES, WETH: PRICES[WETH] * 80 // 100})
    accounts = [
        Account(
            f"0x{i:040x}",
            (
                UserReserve(WETH, scaled_supply=10 * 10**18, using_as_collateral=True),
                UserReserve(USDC, scaled_debt=(19_500 + 50 * i) * 10**6),
            ),
        )
        for i in range(5)
    ]
    return {
        "market": market,
        "accounts": accounts,
        "pairs": [],
        "inventory": {USDC: 10**15},
        "max_liquidations": None,
        "config": crash_on_one_pair(1)["config"],
    }


def test_a_plan_error_is_raised_here_after_the_same_liquidations(worker: PlanWorker) -> None:
    case = _short_of_cash()
    args, kwargs = plan_inputs(case)
    here = iter_plan(*args, **kwargs)
    expected = next(here)
    with pytest.raises(NotEnoughLiquidity):
        next(here)
    made: list[Opportunity] = []
    with pytest.raises(NotEnoughLiquidity):
        made.extend(worker.plan(*args, **kwargs))
    assert made == [expected]
    assert not worker.lost  # an error of the plan, not of the worker: it plans on
    case = crash_on_one_pair(80)
    args, kwargs = plan_inputs(case)
    assert list(worker.plan(*args, **kwargs)) == _here(case)


def _stop_mid_plan(
    worker: PlanWorker, how: signal.Signals, caplog: pytest.LogCaptureFixture
) -> None:
    case = crash_on_one_pair(400)
    args, kwargs = plan_inputs(case)
    made = worker.plan(*args, **kwargs)
    taken = [next(made) for _ in range(3)]  # the first made here, two by the worker
    assert worker.pid is not None
    os.kill(worker.pid, how)
    with caplog.at_level(logging.ERROR, logger="liqbot.run"):
        taken.extend(made)
    assert taken == _here(case)
    assert worker.lost and worker.why_lost is not None
    assert any(
        "plan worker" in r.getMessage() and worker.why_lost in r.getMessage()
        for r in caplog.records
    )
    # until a new worker is started (RESTART_AFTER_S later), plans are made here
    case = crash_on_one_pair(50)
    args, kwargs = plan_inputs(case)
    assert list(worker.plan(*args, **kwargs)) == _here(case)
    assert worker.plans == 1


def test_a_worker_killed_mid_plan_leaves_the_plan_whole(
    worker: PlanWorker, caplog: pytest.LogCaptureFixture
) -> None:
    _stop_mid_plan(worker, signal.SIGKILL, caplog)


def test_a_silent_worker_is_dropped_and_the_plan_made_here(
    worker: PlanWorker, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_worker, "SILENCE_S", 0.5)
    _stop_mid_plan(worker, signal.SIGSTOP, caplog)


def _no_process(*args: object, **kwargs: object) -> None:
    """``Process.start`` out of processes (EAGAIN from fork/spawn)."""
    raise BlockingIOError(11, "Resource temporarily unavailable")


def test_a_worker_that_cannot_start_leaves_the_plans_to_the_loop_until_one_can(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Out of processes (EAGAIN from fork/spawn) at start-up: the loop runs on, planning
    itself, and a worker is started once one can be, as after a loss."""
    monkeypatch.setattr(plan_worker, "RESTART_AFTER_S", 0.2)

    strategy = Strategy(gas_table=GasTable(), plan_process_from=1)
    # start_plan_worker reads the strategy alone; the chain's parts are not needed here
    loop = LiquidationLoop(None, None, None, None, None, strategy)  # type: ignore[arg-type]
    try:
        with monkeypatch.context() as patched:
            patched.setattr(plan_worker.multiprocessing.context.SpawnProcess, "start", _no_process)
            with caplog.at_level(logging.ERROR, logger="liqbot.run"):
                worker = loop.start_plan_worker()
            assert worker is not None and loop.plan_worker is worker
            assert worker.lost and worker.pid is None and not worker.ready()
            assert any("cannot start it" in r.getMessage() for r in caplog.records)
            # the cause, for a caller that reports a worker that never came up
            assert worker.why_lost == (
                "cannot start it ([Errno 11] Resource temporarily unavailable)"
            )
            case = crash_on_one_pair(40, seed=7)
            args, kwargs = plan_inputs(case)
            assert list(worker.plan(*args, **kwargs)) == _here(case)  # made here
            assert worker.plans == 0
            # still none to be had when it is due: tried again later still
            due = worker.restart_due
            assert due is not None
            time.sleep(max(0.0, due - time.monotonic()) + 0.01)
            assert not worker.ready() and worker.lost
            later = worker.restart_due
            assert later is not None and later >= due + 0.4  # the wait doubled
            assert worker.why_lost is not None and "cannot start a new one" in worker.why_lost
        _wait_for_restart(worker)
        assert worker.restarts == 1 and not worker.lost and worker.pid is not None
        assert worker.why_lost is None
        case = crash_on_one_pair(60, seed=8)
        args, kwargs = plan_inputs(case)
        assert list(worker.plan(*args, **kwargs)) == _here(case)
        assert worker.plans == 1
    finally:
        loop.close()
    assert worker.restart_due is None and loop.plan_worker is None


def test_a_worker_never_started_closes_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_worker.multiprocessing.context.SpawnProcess, "start", _no_process)
    worker = PlanWorker()
    worker.close()
    worker.close()
    assert worker.restart_due is None and not worker.ready() and worker.pid is None


def _wait_for_restart(worker: PlanWorker) -> None:
    due = worker.restart_due
    assert due is not None
    time.sleep(max(0.0, due - time.monotonic()))
    assert worker.wait_ready(60), "the new plan worker did not start"


def _plan_with_a_dead_worker(worker: PlanWorker, seed: int) -> tuple[float, float]:
    """Kill the idle worker, then plan: the loss is found mid-plan and the plan made here.
    Returns when the plan started and ended (the loss is between)."""
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    case = crash_on_one_pair(60, seed=seed)
    args, kwargs = plan_inputs(case)
    start = time.monotonic()
    assert list(worker.plan(*args, **kwargs)) == _here(case)
    return start, time.monotonic()


def test_a_lost_worker_is_started_again_later_and_later_while_it_keeps_dying(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A new worker after RESTART_AFTER_S; after twice that if it is lost before it has
    finished a plan; after RESTART_AFTER_S again once one has. It plans as the first did."""
    delay = 0.3
    monkeypatch.setattr(plan_worker, "RESTART_AFTER_S", delay)
    worker = PlanWorker()
    try:
        assert worker.wait_ready(60)
        pids = {worker.pid}
        with caplog.at_level(logging.WARNING, logger="liqbot.run"):
            start, end = _plan_with_a_dead_worker(worker, seed=1)
            assert worker.lost and worker.restarts == 0
            due = worker.restart_due
            assert due is not None and start + delay <= due <= end + delay
            _wait_for_restart(worker)
            assert not worker.lost and worker.restarts == 1 and worker.pid not in pids
            pids.add(worker.pid)
            # lost again before finishing a plan: the wait doubles
            start, end = _plan_with_a_dead_worker(worker, seed=2)
            due = worker.restart_due
            assert due is not None and start + 2 * delay <= due <= end + 2 * delay
            _wait_for_restart(worker)
            assert worker.restarts == 2 and worker.pid not in pids
            # the new worker plans, exactly as this process does
            case = crash_on_one_pair(120, seed=3)
            args, kwargs = plan_inputs(case)
            plans = worker.plans
            assert list(worker.plan(*args, **kwargs)) == _here(case)
            assert worker.plans == plans + 1 and not worker.lost
            # a sound worker's loss waits RESTART_AFTER_S again
            start, end = _plan_with_a_dead_worker(worker, seed=4)
            due = worker.restart_due
            assert due is not None and start + delay <= due <= end + delay
        messages = [r.getMessage() for r in caplog.records]
        assert sum("started again" in m for m in messages) == 2
        assert sum("a new worker in" in m for m in messages) == 3
    finally:
        worker.close()
    assert worker.restart_due is None  # closed: never started again


def test_a_worker_that_cannot_be_started_again_is_tried_later(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(plan_worker, "RESTART_AFTER_S", 0.05)
    worker = PlanWorker()
    try:
        assert worker.wait_ready(60)
        _plan_with_a_dead_worker(worker, seed=5)

        with monkeypatch.context() as patched:
            patched.setattr(plan_worker.multiprocessing.context.SpawnProcess, "start", _no_process)
            time.sleep(0.06)
            with caplog.at_level(logging.ERROR, logger="liqbot.run"):
                assert not worker.ready()
            assert worker.lost and worker.restarts == 0
            assert any("cannot start a new one" in r.getMessage() for r in caplog.records)
            due = worker.restart_due
            assert due is not None and due > time.monotonic()
            case = crash_on_one_pair(40, seed=6)
            args, kwargs = plan_inputs(case)
            assert list(worker.plan(*args, **kwargs)) == _here(case)  # made here
        _wait_for_restart(worker)
        assert worker.restarts == 1 and not worker.lost
    finally:
        worker.close()
