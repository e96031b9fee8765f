"""Batch queue: the scan, the SQLite store (WAL, resume, changed files) and the settings key."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from syncdesk.core.batch.scan import FoundFile, scan
from syncdesk.core.batch.session import Settings, prepare
from syncdesk.core.batch.store import (ANALYSIS, DONE, ERROR, QUEUED, RUNNING, SKIPPED, STORE_VERSION, JobStore,
                                      RequestedJobs, default_path)
from syncdesk.core.errors import SyncdeskError, WeightsError
from syncdesk.core.options import AnalysisOptions


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in ("b.mp4", "A.MOV", "it's a \"take\".mkv", "sub/b.mp4", "sub/deeper/c.avi", "notes.txt",
                 "noext", ".hidden.mp4", ".cache/d.mp4", "sorted/good/e.mp4", "report.json"):
        _touch(root / name)
    return root


def test_scan_walks_recursively_in_sorted_order_and_skips_non_video_by_extension(tree):
    found = scan([tree], exclude=[tree / "sorted", tree / "report.json"])
    relative = [str(f.path.relative_to(tree)) for f in found.files]
    assert relative == ["A.MOV", "b.mp4", "it's a \"take\".mkv", "sub/b.mp4", "sub/deeper/c.avi"]
    assert {str(s.path.relative_to(tree)): s.reason for s in found.skipped} == {
        "noext": "not a video file (by its extension)", "notes.txt": "not a video file (by its extension)"}
    first = found.files[0]
    assert (first.size, first.mtime_ns) == (1, first.path.stat().st_mtime_ns)


def test_scan_excludes_by_identity_not_spelling(tree, monkeypatch):
    monkeypatch.chdir(tree)
    found = scan([Path(".")], exclude=[Path("sub/../sorted")])
    assert all("sorted" not in f.path.parts for f in found.files)
    assert any(f.path == tree / "sub" / "b.mp4" for f in found.files)  # paths are absolute


def test_scan_of_a_missing_path_is_a_user_error(tmp_path):
    with pytest.raises(SyncdeskError, match="no such file or folder"):
        scan([tmp_path / "nope"])


def _found(path: Path) -> FoundFile:
    st = path.stat()
    return FoundFile(path, st.st_size, st.st_mtime_ns)


def test_store_is_a_wal_sqlite_file_in_the_data_dir(_private_data_dir):
    with JobStore() as store:
        assert store.path == default_path() == _private_data_dir / "batch.sqlite3"
    db = sqlite3.connect(default_path())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_enqueue_keeps_finished_jobs_and_requeues_changed_or_abandoned_ones(tmp_path):
    files = [_touch(tmp_path / f"{name}.mp4") for name in ("done", "error", "running", "changed")]
    with JobStore(tmp_path / "q.sqlite3") as store:
        jobs = store.enqueue([_found(f) for f in files], "key1")
        assert [j.state for j in jobs] == [QUEUED] * 4 and [j.path for j in jobs] == files
        for job in jobs:
            store.start(job.id)
        store.finish(jobs[0].id, DONE, {"offset_frames": 1, "confidence": 7.5}, None)
        store.finish(jobs[1].id, ERROR, None, "corrupt")
        store.finish(jobs[3].id, DONE, {"offset_frames": 0, "confidence": 9.0}, None)
        finished_at = store.jobs([jobs[0].id])[0].finished_at
        # jobs[2] stays "running": its process was killed
    _touch(files[3], b"new content")  # size and mtime change

    with JobStore(tmp_path / "q.sqlite3") as store:  # a new process
        again = store.enqueue([_found(f) for f in files], "key1")
        assert [j.id for j in again] == [j.id for j in jobs]
        assert [j.state for j in again] == [DONE, ERROR, QUEUED, QUEUED]
        assert again[0].result == {"offset_frames": 1, "confidence": 7.5}
        assert again[0].finished_at == finished_at and again[0].analyses == 1
        assert again[3].result is None and again[3].size == len(b"new content")
        assert store.enqueue([_found(files[1])], "key1", retry_errors=True)[0].state == QUEUED
        # other settings: other jobs for the same files
        other = store.enqueue([_found(files[0])], "key2")
        assert other[0].id not in {j.id for j in jobs} and other[0].state == QUEUED


def test_release_puts_only_running_jobs_back(tmp_path):
    with JobStore(tmp_path / "q.sqlite3") as store:
        job, finished = store.enqueue([_found(_touch(tmp_path / "a.mp4")), _found(_touch(tmp_path / "b.mp4"))], "k")
        store.start(job.id)
        store.start(finished.id)
        store.finish(finished.id, SKIPPED, None, "no video")
        store.release(job.id)
        store.release(finished.id)
        assert [j.state for j in store.jobs([job.id, finished.id])] == [QUEUED, SKIPPED]
        assert store.jobs([job.id])[0].analyses == 1


def test_odd_file_names_round_trip(tmp_path):
    name = os.fsdecode(b"caf\xe9 \xff.mp4") if os.name == "posix" else "café.mp4"  # not valid UTF-8
    path = _touch(tmp_path / name)
    with JobStore(tmp_path / "q.sqlite3") as store:
        [job] = store.enqueue([_found(path)], "k")
        assert store.jobs([job.id])[0].path == path


def test_a_damaged_store_is_a_one_line_user_error(tmp_path):
    damaged = _touch(tmp_path / "q.sqlite3", b"this is not a database" * 100)
    with pytest.raises(SyncdeskError, match="damaged .*delete it"):
        JobStore(damaged)


def test_settings_key_follows_what_changes_a_result(tmp_path):
    weights = _touch(tmp_path / "w.model", b"one")
    base = Settings.of(AnalysisOptions(weights=weights, detector="whole-frame"))
    assert Settings.of(AnalysisOptions(weights=weights, detector="whole-frame", device="cpu")).key == base.key
    assert Settings.of(AnalysisOptions(weights=weights, detector="whole-frame", vshift=10)).key != base.key
    assert Settings.of(AnalysisOptions(weights=weights, detector="whole-frame", exact=True)).key != base.key
    _touch(weights, b"two")
    assert Settings.of(AnalysisOptions(weights=weights, detector="whole-frame")).key != base.key
    # "auto" is keyed by the detector it resolves to (haar here: no S3FD weights downloaded)
    haar = Settings.of(AnalysisOptions(weights=weights, detector="haar"))
    assert Settings.of(AnalysisOptions(weights=weights, detector="auto")).key == haar.key
    with pytest.raises(WeightsError):
        Settings.of(AnalysisOptions(weights=tmp_path / "missing.model"))


def test_prepare_queues_a_scan_once(tree, tmp_path):
    options = AnalysisOptions(weights=_touch(tmp_path / "w.model"), detector="whole-frame")
    with JobStore(tmp_path / "q.sqlite3") as store:
        batch = prepare([tree], options, store, exclude=[tree / "sorted"])
        assert len(batch.pending()) == len(batch.jobs) == 5
        store.start(batch.jobs[0].id)
        store.finish(batch.jobs[0].id, DONE, {"offset_frames": 0, "confidence": 5.0}, None)
        again = prepare([tree], options, store, exclude=[tree / "sorted"])
        assert [j.id for j in again.jobs] == [j.id for j in batch.jobs]
        assert len(again.pending()) == 4
        assert again.refreshed(store).jobs == again.jobs


# --------------------------------------------------------------------------- one store for batch and the server

_V1_JOBS = """CREATE TABLE jobs (id INTEGER PRIMARY KEY, path BLOB NOT NULL, settings TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, state TEXT NOT NULL, result TEXT, message TEXT,
    analyses INTEGER NOT NULL DEFAULT 0, queued_at REAL NOT NULL, started_at REAL, finished_at REAL,
    UNIQUE (path, settings))"""


def test_a_batch_queue_of_the_first_layout_keeps_its_jobs_and_gains_the_servers_table(tmp_path):
    clip = _touch(tmp_path / "a.mp4")
    found = _found(clip)
    old = sqlite3.connect(tmp_path / "q.sqlite3")
    old.execute(_V1_JOBS)
    old.execute("INSERT INTO jobs (path, settings, size, mtime_ns, state, result, analyses, queued_at) "
                "VALUES (?, 'k', ?, ?, 'done', '{\"offset_frames\": 2}', 1, 0)", (os.fsencode(clip), found.size,
                                                                                found.mtime_ns))
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    with closing(RequestedJobs(tmp_path / "q.sqlite3")) as requested:  # the server may be the first to open it
        job_id = requested.add(ANALYSIS, {"name": "b.avi"})
    with JobStore(tmp_path / "q.sqlite3") as store:
        [job] = store.enqueue([found], "k")  # a resumed batch: the finished job is kept, not queued again
        assert (job.state, job.result, job.analyses) == (DONE, {"offset_frames": 2}, 1)
    db = sqlite3.connect(tmp_path / "q.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == STORE_VERSION == 2
    assert db.execute("SELECT id, state FROM requests").fetchall() == [(job_id, QUEUED)]


def test_a_store_from_a_newer_syncdesk_is_refused_and_left_as_it_is(tmp_path):
    newer = sqlite3.connect(tmp_path / "q.sqlite3")
    newer.execute("CREATE TABLE future (x)")
    newer.execute(f"PRAGMA user_version={STORE_VERSION + 1}")
    newer.commit()
    newer.close()
    for opener in (JobStore, RequestedJobs):
        with pytest.raises(SyncdeskError, match="newer syncdesk"):
            opener(tmp_path / "q.sqlite3")
    assert sqlite3.connect(tmp_path / "q.sqlite3").execute("SELECT name FROM sqlite_master").fetchall() == [("future",)]


def test_the_servers_jobs_and_a_batch_share_one_file_without_touching_each_other(tmp_path):
    clip = _found(_touch(tmp_path / "a.mp4"))
    with JobStore(tmp_path / "q.sqlite3") as store, closing(RequestedJobs(tmp_path / "q.sqlite3")) as requested:
        [batch_job] = store.enqueue([clip], "k")
        store.start(batch_job.id)  # a batch runs while a server starts
        job_id = requested.add(ANALYSIS, {"name": "x.avi"})
        requested.claim()
        assert requested.recover() == (1, 0)  # the server's running job, not the batch's
        assert store.jobs([batch_job.id])[0].state == RUNNING
        assert store.enqueue([clip], "k")[0].state == QUEUED  # the batch's resume, not the server's job
        assert requested.get(job_id).state == QUEUED and requested.get(job_id).runs == 1


def test_a_requested_job_is_claimed_once_by_concurrent_claims(tmp_path):
    with closing(RequestedJobs(tmp_path / "q.sqlite3")) as requested:
        ids = {requested.add(ANALYSIS, {"name": f"{n}.avi"}) for n in range(40)}
    claimed: list[str] = []

    def claim_all() -> None:
        with closing(RequestedJobs(tmp_path / "q.sqlite3")) as own:  # a connection each, as two processes would have
            while (job := own.claim()) is not None:
                claimed.append(job.id)

    threads = [threading.Thread(target=claim_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
