"""`syncdesk batch`: a folder the test builds, report and copies, re-runs, Ctrl-C and kill -9."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncdesk.cli import main
from syncdesk.core.batch.store import default_path

from .oracle import make_flash_clip, write_silent_wav

FAST = ["--detector", "whole-frame"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Good clips (one with spaces and quotes, a same-named one in a subfolder, one 10 frames
    off), a corrupt file, a clip without sound, a text file, and a sound file named .mp4."""
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    make_flash_clip(root / "a.avi")
    make_flash_clip(root / "it's a \"take\" 2.avi", audio_lead_s=0.12, seed=1)
    make_flash_clip(root / "sub" / "a.avi", seed=2)
    make_flash_clip(root / "far.avi", audio_lead_s=0.4, seed=3)
    make_flash_clip(root / "mute.avi", audio=False)
    (root / "corrupt.avi").write_bytes(b"\x00not a video" * 1000)
    (root / "notes.txt").write_text("shot list", encoding="utf-8")
    write_silent_wav(root / "podcast.mp4")
    return root


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _jobs(folder: Path) -> dict[str, tuple[str, int, float]]:
    """Path below ``folder`` -> (state, analyses, finished_at), read as another process would."""
    if not default_path().exists():
        return {}
    db = sqlite3.connect(default_path(), timeout=10)
    try:
        rows = db.execute("SELECT path, state, analyses, finished_at FROM jobs").fetchall()
    except sqlite3.OperationalError:  # the table is being created
        return {}
    finally:
        db.close()
    return {str(Path(os.fsdecode(path)).relative_to(folder)): (state, n, finished)
            for path, state, n, finished in rows}


def _report(folder: Path) -> dict[str, dict]:
    document = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    paths = [entry["path"] for entry in document["files"]]
    assert len(paths) == len(set(paths)), "a file is reported twice"
    return {entry["path"]: entry for entry in document["files"]}


def test_a_folder_gives_a_report_copies_and_a_table(project, tmp_path, oracle_weights, capsys):
    before = _tree(project)
    out, sorted_dir = tmp_path / "out", tmp_path / "sorted"
    code = main(["batch", str(project), "--preset", "relaxed", "--workers", "2", "--report", str(out),
                 "--sort-into", str(sorted_dir), "--weights", str(oracle_weights), *FAST])
    assert code == 0
    entries = _report(out)
    status = {str(Path(path).relative_to(project)): entry["status"] for path, entry in entries.items()}
    assert status == {
        "a.avi": "good", "sub/a.avi": "good", "it's a \"take\" 2.avi": "good",
        "far.avi": "poor",  # 10 frames off: more than relaxed's 8
        "corrupt.avi": "error", "mute.avi": "error", "notes.txt": "skipped", "podcast.mp4": "skipped",
    }
    by_name = {str(Path(path).relative_to(project)): entry for path, entry in entries.items()}
    assert by_name["it's a \"take\" 2.avi"]["offset"] == 3 and by_name["far.avi"]["offset"] == 10
    assert by_name["a.avi"]["offset"] == 0 and by_name["a.avi"]["confidence"] >= 2.0
    assert "not a video file, or it is corrupt" in by_name["corrupt.avi"]["error"]
    assert "has no audio stream" in by_name["mute.avi"]["error"]
    assert "no video stream" in by_name["podcast.mp4"]["error"]
    assert by_name["a.avi"]["error"] is None and by_name["notes.txt"]["offset"] is None

    with open(out / "report.csv", encoding="utf-8", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [row["path"] for row in table] == list(entries)
    for row in table:
        entry = entries[row["path"]]
        assert row["status"] == entry["status"] and row["error"] == (entry["error"] or "")
        assert row["offset"] == ("" if entry["offset"] is None else str(entry["offset"]))
        assert (float(row["confidence"]) if row["confidence"] else None) == entry["confidence"]

    assert _tree(project) == before  # copies, not moves; nothing written in the input folder
    copies = _tree(sorted_dir)
    assert copies == {"good/a.avi": before["a.avi"], "good/sub/a.avi": before["sub/a.avi"],
                      "good/it's a \"take\" 2.avi": before["it's a \"take\" 2.avi"], "poor/far.avi": before["far.avi"]}

    printed = capsys.readouterr().out
    assert "8 files: 3 good, 1 poor, 2 error, 2 skipped (preset relaxed" in printed
    assert "sorted: 4 files in" in printed


def test_a_second_run_analyses_nothing_and_another_preset_reclassifies(project, oracle_weights, capsys):
    out, sorted_dir = project / "report", project / "sorted"  # inside the folder: left out of the scan
    args = ["batch", str(project), "--report", str(out), "--sort-into", str(sorted_dir),
            "--weights", str(oracle_weights), "--workers", "2", *FAST]
    assert main([*args, "--preset", "relaxed", "--quiet"]) == 0
    first = _jobs(project)
    assert sum(n for _, n, _ in first.values()) == 7  # every video-named file handed to a worker once
    copies = _tree(sorted_dir)
    assert len(copies) == 4

    start = time.monotonic()
    assert main([*args, "--preset", "strict", "--quiet"]) == 0
    elapsed = time.monotonic() - start
    assert _jobs(project) == first  # no analysis, no state change
    entries = {str(Path(path).relative_to(project)): entry for path, entry in _report(out).items()}
    assert entries["it's a \"take\" 2.avi"]["status"] == "poor"  # 3 frames off: strict allows 2
    for name in ("a.avi", "far.avi"):
        entry = entries[name]
        expected = "good" if entry["confidence"] >= 8.0 and abs(entry["offset"]) <= 2 else "poor"
        assert entry["status"] == expected
    assert elapsed < 10, f"a run with everything analysed took {elapsed:.1f} s"
    assert len(entries) == 8  # neither the report nor the copies were scanned
    # copies of the first run are found again; those of files that became poor move to poor/
    now_poor = {name for name, entry in entries.items() if entry["status"] == "poor"}
    moved = {name for name in now_poor if f"good/{name}" in copies}
    assert moved  # the test means something: at least one file changed class
    assert _tree(sorted_dir) == ({path: digest for path, digest in copies.items()
                                  if path.removeprefix("good/") not in moved}
                                 | {f"poor/{name}": copies[f"good/{name}"] for name in moved})
    assert "preset strict" in capsys.readouterr().out


def _wait_for(predicate, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.fixture
def four_clips(tmp_path: Path) -> Path:
    folder = tmp_path / "four"
    folder.mkdir()
    for index in range(4):
        make_flash_clip(folder / f"clip {index}.avi", seed=index)
    return folder


def _batch_process(folder: Path, out: Path, weights: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "syncdesk", "batch", str(folder), "--workers", "1",
                             "--report", str(out), "--weights", str(weights), *FAST],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(jobs: dict) -> dict:
    return {name: job for name, job in jobs.items() if job[0] in ("done", "error", "skipped")}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_then_run_again_reports_each_file_once_and_redoes_nothing_finished(four_clips, tmp_path,
                                                                                   oracle_weights):
    out = tmp_path / "out"
    process = _batch_process(four_clips, out, oracle_weights)
    _wait_for(lambda: _finished(_jobs(four_clips)), process)
    workers = _children(process.pid)
    assert workers or not sys.platform.startswith("linux")
    process.kill()
    process.wait(30)
    killed = _jobs(four_clips)
    done_before = _finished(killed)
    assert 1 <= len(done_before) < 4 and not out.exists()
    deadline = time.monotonic() + 30  # orphaned workers notice their parent is gone and exit
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)

    assert main(["batch", str(four_clips), "--report", str(out), "--weights", str(oracle_weights),
                 "--workers", "1", "--quiet", *FAST]) == 0
    after = _jobs(four_clips)
    for name, job in done_before.items():
        assert after[name] == job  # not redone: same finished time, same number of analyses
    assert all(state == "done" for state, _, _ in after.values())
    assert sorted(Path(path).name for path in _report(out)) == [f"clip {i}.avi" for i in range(4)]
    assert sorted(after) == [f"clip {i}.avi" for i in range(4)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_without_a_report_and_the_queue_resumes(four_clips, tmp_path, oracle_weights):
    out = tmp_path / "out"
    process = _batch_process(four_clips, out, oracle_weights)
    _wait_for(lambda: _finished(_jobs(four_clips)) and "running" in {s for s, _, _ in _jobs(four_clips).values()},
              process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith("syncdesk: interrupted: ") and "run the same command again to resume" in stderr
    assert stdout == "" and not out.exists()  # no report, not even a partial one
    stopped = _jobs(four_clips)
    assert "running" not in {state for state, _, _ in stopped.values()}
    done_before = _finished(stopped)
    assert 1 <= len(done_before) < 4
    assert f"{4 - len(done_before)} of 4 files left" in stderr

    assert main(["batch", str(four_clips), "--report", str(out), "--weights", str(oracle_weights),
                 "--workers", "1", "--quiet", *FAST]) == 0
    after = _jobs(four_clips)
    assert all(after[name] == job for name, job in done_before.items())
    assert len(_report(out)) == 4 and all(state == "done" for state, _, _ in after.values())


def test_bad_input_exits_1_with_one_line(tmp_path, oracle_weights, capsys):
    assert main(["batch", str(tmp_path / "nope"), "--weights", str(oracle_weights)]) == 1
    assert capsys.readouterr().err == f"syncdesk: error: no such folder: {tmp_path / 'nope'}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["batch", str(empty), "--weights", str(oracle_weights)]) == 1
    assert "no files in" in capsys.readouterr().err
    assert main(["batch", str(empty), "--weights", str(tmp_path / "missing.model")]) == 1
    assert "weights file not found" in capsys.readouterr().err
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.csv").write_text("my,own\n", encoding="utf-8")
    assert main(["batch", str(empty), "--report", str(tmp_path / "out"), "--weights", str(oracle_weights)]) == 1
    assert "is not a syncdesk batch report" in capsys.readouterr().err
    assert (tmp_path / "out" / "report.csv").read_text(encoding="utf-8") == "my,own\n"


def test_damaged_weights_stop_the_batch_and_leave_it_queued(four_clips, tmp_path, capsys):
    damaged = tmp_path / "damaged.model"
    damaged.write_bytes(b"not torch" * 100)
    assert main(["batch", str(four_clips), "--weights", str(damaged), "--workers", "1", "--quiet", *FAST]) == 1
    assert "is not a PyTorch weights file" in capsys.readouterr().err
    assert {state for state, _, _ in _jobs(four_clips).values()} == {"queued"}


@pytest.mark.parametrize("args", [["--workers", "0"], ["--preset", "lax"], []])
def test_bad_usage_exits_2(tmp_path, args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", *args] if args else ["batch"])
    assert exit_info.value.code == 2
