"""Batch report: preset classification at the boundaries, JSON and CSV, sorted copies."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Optional

import pytest

from syncdesk.core import outputs
from syncdesk.core.batch import report
from syncdesk.core.batch.report import Row, classify, copy_new, rows, sort_into, write_report
from syncdesk.core.batch.scan import Skipped
from syncdesk.core.batch.store import DONE, ERROR, SKIPPED, Job
from syncdesk.core.errors import SyncdeskError
from syncdesk.core.quality import PRESETS


def _job(path: str, state: str = DONE, offset: int = 0, confidence: float = 10.0,
         message: Optional[str] = None) -> Job:
    result: Optional[dict[str, Any]] = None
    if state == DONE:
        result = {"offset_frames": offset, "offset_ms": offset * 40.0 + 1.5, "confidence": confidence,
                  "min_dist": 6.25}
    return Job(1, Path(path), 1, 1, state, result, message, 1, 1.0, 2.0)


@pytest.mark.parametrize("name, min_confidence, max_offset", [
    ("strict", 8.0, 2), ("high", 6.0, 3), ("medium", 4.0, 5), ("relaxed", 2.0, 8)])
def test_presets_at_their_boundaries(name, min_confidence, max_offset):
    preset = PRESETS[name]
    assert (preset.min_confidence, preset.max_offset_frames) == (min_confidence, max_offset)
    for offset in (max_offset, -max_offset, 0):
        assert classify(offset, min_confidence, preset) == "good"  # both limits are inclusive
    assert classify(max_offset + 1, 100.0, preset) == "poor"
    assert classify(-max_offset - 1, 100.0, preset) == "poor"
    assert classify(0, min_confidence - 1e-9, preset) == "poor"
    assert classify(0, 0.0, preset) == "poor"  # "no confident speaker" results have confidence 0


def test_high_preset_on_hand_made_jobs():
    jobs = [_job("/d/exact.mp4", offset=3, confidence=6.0), _job("/d/lag.mp4", offset=-3, confidence=6.0),
            _job("/d/far.mp4", offset=4, confidence=12.0), _job("/d/weak.mp4", offset=0, confidence=5.999),
            _job("/d/bad.mp4", ERROR, message="cannot read bad.mp4"), _job("/d/audio.mp4", SKIPPED, message="no video")]
    found = {row.path.name: row for row in rows(jobs, [Skipped(Path("/d/a.txt"), "not a video file")], PRESETS["high"])}
    assert {name: row.status for name, row in found.items()} == {
        "exact.mp4": "good", "lag.mp4": "good", "far.mp4": "poor", "weak.mp4": "poor",
        "bad.mp4": "error", "audio.mp4": "skipped", "a.txt": "skipped"}
    assert found["exact.mp4"] == Row(Path("/d/exact.mp4"), "good", 3, 121.5, 6.0, 6.25)
    assert found["bad.mp4"].error == "cannot read bad.mp4" and found["bad.mp4"].offset is None
    assert found["a.txt"].error == "not a video file"
    # the same stored results under another preset: re-classified, nothing else changes
    relaxed = {row.path.name: row.status for row in rows(jobs, [], PRESETS["relaxed"])}
    assert relaxed["far.mp4"] == relaxed["weak.mp4"] == "good"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as stream:
        return list(csv.DictReader(stream))


def test_json_and_csv_hold_the_same_rows(tmp_path):
    odd = Path(os.fsdecode(b"/d/caf\xe9.mp4")) if os.name == "posix" else Path("/d/café.mp4")
    found = [Row(Path("/d/it's a \"take\", 2.mp4"), "good", -2, -81.25, 7.123456789, 5.5),
             Row(Path("/d/x.mp4"), "error", error="line one, \"quoted\"\nline two"),
             Row(odd, "poor", 9, 360.0, 2.5, 8.0, note="3 of 10 scored windows were silent")]
    json_path, csv_path = write_report(tmp_path / "out", found, PRESETS["high"], {"detector": "whole-frame"})
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["schema"] == "syncdesk.batch-report/1"
    assert document["preset"] == {"name": "high", "min_confidence": 6.0, "max_offset_frames": 3}
    assert document["counts"] == {"good": 1, "poor": 1, "error": 1, "skipped": 0}
    assert [entry["path"] for entry in document["files"]] == [str(row.path) for row in found]
    table = _read_csv(csv_path)
    assert len(table) == len(document["files"]) == 3
    assert len(document["run"]) == 32 and {line["run"] for line in table} == {document["run"]}
    for entry, line in zip(document["files"], table, strict=True):
        assert list(line) == [*report.COLUMNS, "run"] and list(entry) == list(report.COLUMNS)
        del line["run"]
        for name, value in entry.items():
            if value is None:
                assert line[name] == ""
            elif isinstance(value, (int, float)):
                assert type(value)(line[name]) == value
            else:
                assert line[name] == value
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.csv", "report.json"]


def test_a_report_replaces_its_own_files_but_nobody_elses(tmp_path):
    out = tmp_path / "out"
    write_report(out, [Row(Path("/d/a.mp4"), "good", 0, 0.0, 9.0, 1.0)], PRESETS["high"], {})
    write_report(out, [Row(Path("/d/b.mp4"), "poor", 5, 200.0, 9.0, 1.0)], PRESETS["high"], {})
    assert [row["path"] for row in _read_csv(out / "report.csv")] == ["/d/b.mp4"]
    mine = out / "report.json"
    mine.write_text('{"my": "data"}', encoding="utf-8")
    with pytest.raises(SyncdeskError, match="is not a syncdesk batch report"):
        write_report(out, [], PRESETS["high"], {})
    assert mine.read_text(encoding="utf-8") == '{"my": "data"}'
    assert sorted(p.name for p in out.iterdir()) == ["report.csv", "report.json"]  # no .part left
    (tmp_path / "file").write_text("x")
    with pytest.raises(SyncdeskError, match="takes a folder"):
        report.check_report_dir(tmp_path / "file")


def _runs(out: Path) -> tuple[str, set[str]]:
    """The JSON's run id and the CSV's run ids."""
    return (json.loads((out / "report.json").read_text(encoding="utf-8"))["run"],
            {line["run"] for line in _read_csv(out / "report.csv")})


def test_each_report_has_its_own_run_id(tmp_path):
    out = tmp_path / "out"
    write_report(out, [Row(Path("/d/a.mp4"), "good", 0, 0.0, 9.0, 1.0)], PRESETS["high"], {})
    first, in_csv = _runs(out)
    assert in_csv == {first}
    write_report(out, [Row(Path("/d/a.mp4"), "good", 0, 0.0, 9.0, 1.0)], PRESETS["high"], {})
    second, in_csv = _runs(out)
    assert in_csv == {second} and second != first


@pytest.mark.parametrize("earlier_report", [True, False])
def test_a_failed_json_rename_puts_the_previous_csv_back(tmp_path, monkeypatch, earlier_report):
    out = tmp_path / "out"
    if earlier_report:
        write_report(out, [Row(Path("/d/a.mp4"), "good", 0, 0.0, 9.0, 1.0)], PRESETS["high"], {})
    before = {p.name: p.read_bytes() for p in out.iterdir()} if earlier_report else {}
    renamed: list[str] = []
    real = outputs.move_into_place

    def second_rename_fails(part: Path, dst: Path) -> None:
        if renamed:
            raise OSError(28, "No space left on device")
        renamed.append(dst.name)
        real(part, dst)

    monkeypatch.setattr(outputs, "move_into_place", second_rename_fails)
    with pytest.raises(SyncdeskError, match="report.json"):
        write_report(out, [Row(Path("/d/b.mp4"), "poor", 5, 200.0, 9.0, 1.0)], PRESETS["high"], {})
    assert renamed == ["report.csv"]  # the CSV was in place first...
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # ...and is the previous one again (or gone): one run's pair, nothing left over
    if earlier_report:
        json_run, csv_runs = _runs(out)
        assert csv_runs == {json_run}


def test_a_report_from_before_the_run_column_is_still_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.csv").write_text(",".join(report.COLUMNS) + "\n", encoding="utf-8")
    write_report(out, [Row(Path("/d/a.mp4"), "good", 0, 0.0, 9.0, 1.0)], PRESETS["high"], {})
    assert [line["path"] for line in _read_csv(out / "report.csv")] == ["/d/a.mp4"]


def _clip(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_sort_into_copies_below_the_base_and_never_replaces(tmp_path):
    base = tmp_path / "in"
    a = _clip(base / "a.mp4", b"top a")
    sub_a = _clip(base / "sub" / "a.mp4", b"sub a")
    poor = _clip(base / "p.mp4", b"poor one")
    dest = tmp_path / "sorted"
    theirs = _clip(dest / "good" / "a.mp4", b"someone else's file")
    found = [Row(a, "good"), Row(sub_a, "good"), Row(poor, "poor"), Row(base / "e.mp4", "error"),
             Row(base / "n.txt", "skipped")]
    done = sort_into(dest, found, base)
    assert not done.failed
    copies = {src: dst for src, dst in done.copied}
    assert copies == {a: dest / "good" / "a (2).mp4", sub_a: dest / "good" / "sub" / "a.mp4",
                      poor: dest / "poor" / "p.mp4"}
    assert theirs.read_bytes() == b"someone else's file"
    for src, dst in copies.items():
        assert dst.read_bytes() == src.read_bytes() and src.exists()  # copied, not moved
    # a second run finds its own copies: no "a (3).mp4", no "p (2).mp4"
    again = sort_into(dest, found, base)
    assert dict(again.copied) == copies
    assert sorted(p.name for p in (dest / "good").iterdir()) == ["a (2).mp4", "a.mp4", "sub"]
    # a different file under a taken name gets the next free one
    a.write_bytes(b"top a, edited")
    assert sort_into(dest, [Row(a, "good")], base).copied == [(a, dest / "good" / "a (3).mp4")]


def test_a_failed_copy_is_reported_and_leaves_no_part_file(tmp_path):
    dest = tmp_path / "sorted"
    done = sort_into(dest, [Row(tmp_path / "gone.mp4", "good")], tmp_path)
    assert done.copied == [] and [src for src, _ in done.failed] == [tmp_path / "gone.mp4"]
    assert "cannot copy gone.mp4" in done.failed[0][1]
    source = _clip(tmp_path / "x.mp4", b"data")
    assert copy_new(source, dest / "good" / "x.mp4").read_bytes() == b"data"
    assert [p.name for p in (dest / "good").iterdir()] == ["x.mp4"]


def test_a_file_that_changes_class_has_its_earlier_copy_moved(tmp_path):
    base = tmp_path / "in"
    clip = _clip(base / "sub" / "c.mp4", b"a clip")
    dest = tmp_path / "sorted"
    assert sort_into(dest, [Row(clip, "good")], base).copied == [(clip, dest / "good" / "sub" / "c.mp4")]
    # another preset: now poor; the earlier, untouched copy moves over instead of staying in good/
    assert sort_into(dest, [Row(clip, "poor")], base).copied == [(clip, dest / "poor" / "sub" / "c.mp4")]
    assert not (dest / "good" / "sub" / "c.mp4").exists() and clip.read_bytes() == b"a clip"
    # a copy someone edited is theirs: it stays where it is
    edited = dest / "poor" / "sub" / "c.mp4"
    edited.write_bytes(b"a clip, trimmed by hand")
    assert sort_into(dest, [Row(clip, "good")], base).copied == [(clip, dest / "good" / "sub" / "c.mp4")]
    assert edited.read_bytes() == b"a clip, trimmed by hand"
