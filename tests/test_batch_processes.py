"""The worker-process pool behind the batch's local executor and the server's workers, with a job
of its own (no model): outcomes and progress, cancel (and the kill of a job that ignores it), a
process that dies, a start that fails."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from typing import Any

import pytest

from syncdesk.core.batch import processes
from syncdesk.core.batch.executors import Event, Fatal, Finished, Lost, Progress
from syncdesk.core.batch.processes import CANCELLED, JobFunctions, WorkerPool
from syncdesk.core.batch.store import DONE, ERROR
from syncdesk.core.cancel import CancelToken
from syncdesk.core.errors import SyncdeskError

#: a bound on every wait (seconds)
WAIT_S = 60.0


class Echo(JobFunctions):
    """A job is a word: what to do."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse

    def warm_up(self, index: int, threads: int) -> str:
        if self.refuse:
            raise SyncdeskError(self.refuse)
        return "cpu"

    def run(self, job_id: Any, payload: Any, progress: Any, cancel: CancelToken) -> Any:
        if payload == "bad":
            raise SyncdeskError("a bad file")
        if payload == "bug":
            raise KeyError("oops")
        progress(0.5, "half")
        if payload == "wait":  # until cancelled
            while True:
                cancel.check()
                time.sleep(0.01)
        if payload == "stubborn":  # ignores a cancel
            time.sleep(WAIT_S)
        return DONE, {"pid": os.getpid(), "job": job_id}, None


def _until(pool: WorkerPool, done: Any, timeout: float = WAIT_S) -> list[Event]:
    seen: list[Event] = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        assert time.monotonic() < deadline, f"not in {timeout:g} s: {seen}"
        seen += pool.events(0.1)
    return seen


def _ready(pool: WorkerPool, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while pool.free_slots() < count:
        assert time.monotonic() < deadline and pool.fatal is None, pool.fatal
        pool.events(0.1)


def _finished(seen: list[Event]) -> dict[Any, Finished]:
    return {event.job_id: event for event in seen if isinstance(event, Finished)}


@pytest.fixture
def pool():
    made = WorkerPool(Echo(), "syncdesk-test-worker")
    yield made
    made.close()


def test_outcomes_and_progress_come_back_for_any_kind_of_job_id(pool):
    pool.launch(2)
    _ready(pool, 2)
    assert pool.submit("a", "fine") and pool.submit(7, "bad")
    assert pool.free_slots() == 0 and sorted(map(str, pool.running())) == ["7", "a"]
    seen = _until(pool, lambda seen: len(_finished(seen)) == 2)
    assert pool.submit("c", "bug")
    seen += _until(pool, lambda seen: "c" in _finished(seen))
    finished = _finished(seen)
    assert finished["a"].outcome == DONE and finished["a"].result["job"] == "a"
    assert (finished[7].outcome, finished[7].message) == (ERROR, "a bad file")
    assert finished["c"].outcome == ERROR and finished["c"].message == "unexpected error: KeyError: 'oops'"
    assert Progress("a", 0.5, "half") in seen and not pool.busy() and pool.ready == 2


def test_a_cancel_ends_one_job_and_a_job_that_ignores_it_loses_its_process(pool, monkeypatch):
    monkeypatch.setattr(processes, "CANCEL_GRACE_S", 1.0)
    pool.launch(2)
    _ready(pool, 2)
    pool.submit("polite", "wait")
    pool.submit("stubborn", "stubborn")
    _until(pool, lambda seen: sum(isinstance(event, Progress) for event in seen) == 2)
    pool.cancel("polite")
    seen = _until(pool, lambda seen: "polite" in _finished(seen))
    assert _finished(seen)["polite"].outcome == CANCELLED and pool.running() == ["stubborn"]
    pool.cancel()  # every job: the stubborn one is killed after the grace, and counts as cancelled
    started = time.monotonic()
    seen = _until(pool, lambda seen: "stubborn" in _finished(seen))
    assert _finished(seen)["stubborn"].outcome == CANCELLED and 0.9 < time.monotonic() - started < 10
    _ready(pool, 2)  # a fresh process took the killed one's place
    pool.submit("after", "fine")
    assert _finished(_until(pool, lambda seen: "after" in _finished(seen)))["after"].outcome == DONE


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_process_that_dies_loses_its_job_and_is_replaced(pool):
    pool.launch(1)
    _ready(pool, 1)
    pool.submit(1, "wait")
    pid = None
    deadline = time.monotonic() + WAIT_S
    while pid is None and time.monotonic() < deadline:
        pool.events(0.1)
        pid = next((p.pid for p in multiprocessing.active_children() if p.name == "syncdesk-test-worker"), None)
    os.kill(pid, signal.SIGKILL)
    seen = _until(pool, lambda seen: any(isinstance(event, Lost) for event in seen))
    lost = next(event for event in seen if isinstance(event, Lost))
    assert lost.job_id == 1 and "stopped unexpectedly (killed by signal 9)" in lost.message
    assert not any(isinstance(event, Fatal) for event in seen)
    _ready(pool, 1)
    pool.submit(2, "fine")
    done = _finished(_until(pool, lambda seen: 2 in _finished(seen)))[2]
    assert done.outcome == DONE and done.result["pid"] != pid


def test_a_start_that_fails_is_one_fatal_event_and_nothing_is_started_again():
    pool = WorkerPool(Echo(refuse="no such device: cuda:7"), "syncdesk-test-worker")
    try:
        pool.launch(2)
        seen = _until(pool, lambda seen: not pool.busy())
        assert seen == [Fatal("no such device: cuda:7")] and pool.fatal == "no such device: cuda:7"
        assert pool.free_slots() == 0 and pool.ready == 0 and pool.events(0.1) == []
    finally:
        pool.close()
