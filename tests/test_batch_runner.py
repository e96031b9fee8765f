"""The worker pool as the app drives it: updates in order, stop from a callback, a crashed worker."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

import pytest

from syncdesk.core.batch.runner import BatchRunner, JobUpdate
from syncdesk.core.batch.session import prepare
from syncdesk.core.batch.store import DONE, ERROR, QUEUED, RUNNING, JobStore
from syncdesk.core.cache import AnalysisCache
from syncdesk.core.options import AnalysisOptions

from .oracle import make_flash_clip


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    for index in range(3):
        make_flash_clip(folder / f"c{index}.avi", seconds=3.0, seed=index, audio_lead_s=0.04 * index)
    return folder


def test_updates_come_in_order_and_results_reach_the_store_and_the_cache(clips, oracle_weights):
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    updates: list[JobUpdate] = []
    with JobStore() as store:
        batch = prepare([clips], options, store)
        BatchRunner(store, options, workers=2, on_update=updates.append).run(batch.pending())
        jobs = batch.refreshed(store).jobs
    assert [job.state for job in jobs] == [DONE] * 3
    assert [job.result["offset_frames"] for job in jobs] == [0, 1, 2]
    for job in jobs:
        states = [u.state for u in updates if u.job.id == job.id]
        assert states[0] == RUNNING and states[-1] == DONE and set(states) == {RUNNING, DONE}
        last = [u for u in updates if u.job.id == job.id][-1]
        assert last.job == job and last.result == job.result  # the job as stored, for a live view
        fractions = [u.fraction for u in updates if u.job.id == job.id]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        # the whole document is in the app's cache: opening a batch job shows it at once
        cached = AnalysisCache().get(job.path, options)
        assert cached is not None and cached.offset_frames == job.result["offset_frames"]


def test_stop_cancels_what_runs_and_queues_it_again(clips, oracle_weights):
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    with JobStore() as store:
        batch = prepare([clips], options, store)
        runner = BatchRunner(store, options, workers=1)

        def on_update(update: JobUpdate) -> None:
            if update.state == DONE:
                runner.stop()  # as the app's cancel button would, after the first file

        runner.on_update = on_update
        runner.run(batch.pending())
        states = [job.state for job in batch.refreshed(store).jobs]
    assert runner.stopped and states[0] == DONE and states[1:] == [QUEUED, QUEUED]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_crashed_worker_is_one_error_row_and_the_batch_goes_on(clips, oracle_weights):
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    killed: list[int] = []

    def on_update(update: JobUpdate) -> None:
        if update.state == RUNNING and not killed:  # the first file "crashes" its process
            [worker] = [p for p in multiprocessing.active_children() if p.name == "syncdesk-batch-worker"]
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(update.job.id)

    with JobStore() as store:
        batch = prepare([clips], options, store)
        BatchRunner(store, options, workers=1, on_update=on_update).run(batch.pending())
        jobs = {job.id: job for job in batch.refreshed(store).jobs}
    crashed = jobs.pop(killed[0])
    assert crashed.state == ERROR and "stopped unexpectedly (killed by signal 9)" in crashed.message
    assert [job.state for job in jobs.values()] == [DONE, DONE]



def test_one_process_can_analyse_several_files_at_once_as_on_a_gpu(clips, oracle_weights, monkeypatch):
    """A GPU's process is sent ``workers`` files at once; the same path, forced on CPU."""
    monkeypatch.setattr(BatchRunner, "slots_for", lambda self, device_type: 3)
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    updates: list[JobUpdate] = []
    with JobStore() as store:
        batch = prepare([clips], options, store)
        BatchRunner(store, options, workers=1, on_update=updates.append).run(batch.pending())
        jobs = batch.refreshed(store).jobs
    assert [job.result["offset_frames"] for job in jobs] == [0, 1, 2]
    first_done = next(index for index, update in enumerate(updates) if update.state == DONE)
    started = {update.job.id for update in updates[:first_done] if update.state == RUNNING}
    assert started == {job.id for job in jobs}  # all three were running before any finished


def test_stopping_a_process_with_several_files_queues_them_all_again(clips, oracle_weights, monkeypatch):
    monkeypatch.setattr(BatchRunner, "slots_for", lambda self, device_type: 3)
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame", exact=True)
    with JobStore() as store:
        batch = prepare([clips], options, store)
        runner = BatchRunner(store, options, workers=1)

        def on_update(update: JobUpdate) -> None:
            if update.state == RUNNING and update.fraction > 0:
                runner.stop()  # while all three run

        runner.on_update = on_update
        runner.run(batch.pending())
        states = [job.state for job in batch.refreshed(store).jobs]
    assert states.count(QUEUED) >= 2 and RUNNING not in states  # nothing left "running"
