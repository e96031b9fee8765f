"""`syncdesk serve` across restarts: a `kill -9` mid-analysis, a clean stop, one server per data folder,
the token generated once. Each test starts its own servers on the same data folder, one after another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncdesk.core.batch.store import store_path
from syncdesk.server.store import ANALYSIS, ERROR, MAX_RUNS, QUEUED, ServerStore

from .oracle import make_flash_clip
from .test_server import JOB_S, start_server, wait_job, worker_pids


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    make_flash_clip(root / "quick.avi", audio_lead_s=0.12)
    make_flash_clip(root / "slow.avi", seconds=30.0, audio_lead_s=0.08, seed=3)
    return root


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0].lower()
    except (OSError, IndexError):
        return "gone"


def test_kill_9_mid_analysis_then_restart_completes_the_job_exactly_once(tmp_path, media, oracle_weights):
    data = tmp_path / "data"
    first = start_server(data, media, oracle_weights, workers=1, own_token=True)
    try:
        assert "a new access token was generated" in first.output() and first.token in first.output()
        with first.client() as client:
            finished = wait_job(client, client.post("/v1/analyses", json={"path": "quick.avi"}).json()["url"])
            slow = client.post("/v1/analyses", json={"path": "slow.avi"}).json()
            behind = client.post("/v1/analyses", json={"path": "quick.avi", "options": {"vshift": 9}}).json()
            deadline = time.monotonic() + JOB_S
            while time.monotonic() < deadline:
                job = client.get(slow["url"]).json()
                if job["status"] == "running" and job["progress"] > 0.05:
                    break
                time.sleep(0.05)
            assert job["status"] == "running", job
            children = worker_pids(first)  # the worker, and multiprocessing's resource tracker
            assert sum(b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children) == 1
    finally:
        first.kill()
    assert _gone(children), "a worker outlived its server"

    second = start_server(data, media, oracle_weights, workers=1, own_token=True)
    try:
        assert "a new access token" not in second.output() and second.token == first.token
        with second.client() as client:
            done = wait_job(client, slow["url"])
            assert done["status"] == "done" and done["runs"] == 2 and done["document"]["offset_frames"] == 2
            again = client.get(finished["url"]).json()
            assert again["runs"] == 1 and again["finished_at"] == finished["finished_at"]  # not run again
            after = wait_job(client, behind["url"])
            assert after["status"] == "done" and after["runs"] == 1
    finally:
        second.stop()
    assert second.process.returncode == -signal.SIGTERM  # uvicorn ends by the signal, after a clean stop


def test_a_clean_stop_queues_the_running_job_for_the_next_start(tmp_path, media, oracle_weights):
    data = tmp_path / "data"
    first = start_server(data, media, oracle_weights, workers=1)
    try:
        # a second server on the same data folder is refused while this one runs
        refused = subprocess.run([sys.executable, "-m", "syncdesk", "serve", "--port", "1", "--weights",
                                  str(oracle_weights)], capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "SYNCDESK_DATA_DIR": str(data)})
        assert refused.returncode == 1 and "another syncdesk serve is using" in refused.stderr
        with first.client() as client:
            slow = client.post("/v1/analyses", json={"path": "slow.avi"}).json()
            deadline = time.monotonic() + JOB_S
            while client.get(slow["url"]).json()["status"] != "running" and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        first.stop()
    assert first.process.returncode == -signal.SIGTERM  # uvicorn ends by the signal, after a clean stop
    assert not (data / "server.sqlite3").exists()  # the batch store holds the server's jobs: one file for both
    store = ServerStore(store_path(data))
    interrupted = store.get(slow["id"])
    store.close()
    assert interrupted.state == QUEUED and interrupted.runs == 0
    second = start_server(data, media, oracle_weights, workers=1)
    try:
        with second.client() as client:
            done = wait_job(client, slow["url"])
            assert done["status"] == "done" and done["runs"] == 1  # a clean stop does not count as a run
    finally:
        second.stop()


def test_a_job_interrupted_too_often_fails_with_the_reason(tmp_path):
    store = ServerStore(tmp_path / "q.sqlite3")
    job_id = store.add(ANALYSIS, {"name": "x.avi"})
    for run in range(MAX_RUNS):
        assert store.claim().id == job_id  # the server dies while it runs...
        queued, failed = store.recover()  # ...and a new one starts
        assert (queued, failed) == ((1, 0) if run < MAX_RUNS - 1 else (0, 1))
    job = store.get(job_id)
    assert job.state == ERROR and f"{MAX_RUNS} times" in job.error and job.runs == MAX_RUNS
    cancelled = store.add(ANALYSIS, {"name": "y.avi"})
    store.claim()
    store.cancel([cancelled])
    store.recover()
    assert store.get(cancelled).state == ERROR and store.get(cancelled).cancelled
    assert store.claim() is None and store.get(cancelled).state != QUEUED
    store.close()
