"""``--tolerance`` on analyze, fix --auto and batch: the document's block, the summary, the report columns,
and malformed values as bad usage."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from syncdesk.cli import main

from .oracle import make_flash_clip

FLAGS = ["--detector", "whole-frame", "--quiet"]


def _slip(t: np.ndarray) -> np.ndarray:
    """In sync until 20 s, then the audio 160 ms early."""
    return np.where(t < 20.0, 0.0, 0.16)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tolerance")
    return {
        "in-sync": make_flash_clip(folder / "in-sync.avi", seconds=6.0),
        "early": make_flash_clip(folder / "early.avi", seconds=6.0, audio_lead_s=0.16),
        "slip": make_flash_clip(folder / "slip.avi", seconds=40.0, audio_lead_s=_slip),
        # the picture never flashes: nothing to measure the sound against
        "blank": make_flash_clip(folder / "blank.avi", seconds=6.0, video_pattern=[False] * 160),
    }


def _analyse(clip: Path, weights: Path, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / f"{clip.stem}.json"
    assert main(["analyze", str(clip), "--weights", str(weights), "--json", str(out), *FLAGS, *extra]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("value", ["ebu", "40", "40/60/80", "-40/60", "lots/60", "99999/1"])
def test_a_malformed_tolerance_is_one_line_of_bad_usage(value: str):
    result = subprocess.run([sys.executable, "-m", "syncdesk", "analyze", "x.mp4", "--tolerance", value],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--tolerance" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_slip_is_outside_from_where_it_happens(clips, oracle_weights, tmp_path, capsys):
    doc = _analyse(clips["slip"], oracle_weights, tmp_path, "--tolerance", "ebu-r37")
    block = doc["tolerance"]
    assert (block["name"], block["lead_ms"], block["lag_ms"], block["result"]) == ("ebu-r37", 40.0, 60.0, "outside")
    assert block["limit"] == "lead" and 140 <= block["worst_ms"] <= 180
    [stretch] = block["outside"]
    assert abs(stretch["start_s"] - 20.0) <= 1.0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.strip().startswith("tolerance"))
    assert "outside: audio 1" in line and "ms early from" in line and "EBU R37 allows 40" in line


def test_within_and_unknown_are_said_too(clips, oracle_weights, tmp_path):
    assert _analyse(clips["in-sync"], oracle_weights, tmp_path, "--tolerance", "20/30")["tolerance"]["result"] == "within"
    blank = _analyse(clips["blank"], oracle_weights, tmp_path, "--tolerance", "ebu-r37")["tolerance"]
    assert (blank["result"], blank["worst_ms"]) == ("unknown", None)
    assert "tolerance" not in _analyse(clips["early"], oracle_weights, tmp_path)


def test_fix_auto_corrects_only_a_file_outside(clips, oracle_weights, tmp_path, capsys):
    within = tmp_path / "within.avi"
    assert main(["fix", str(clips["early"]), "-o", str(within), "--auto", "--tolerance", "200/200",
                 "--weights", str(oracle_weights), *FLAGS]) == 0
    out = capsys.readouterr().out
    assert "within custom tolerance (+200/-200 ms)" in out and ": nothing written (pass --force" in out
    assert not within.exists()
    outside = tmp_path / "outside.avi"
    assert main(["fix", str(clips["early"]), "-o", str(outside), "--auto", "--tolerance", "ebu-r37", "--force",
                 "--weights", str(oracle_weights), *FLAGS]) == 0  # --force: the oracle's confidence here is medium-low
    assert "outside: audio" in capsys.readouterr().out and outside.exists()


def test_fix_tolerance_without_auto_is_bad_usage(clips, tmp_path, capsys):
    assert main(["fix", str(clips["early"]), "-o", str(tmp_path / "o.avi"), "--offset-ms", "40",
                 "--tolerance", "ebu-r37"]) == 2
    assert "--tolerance only applies to --auto" in capsys.readouterr().err


def test_batch_report_judges_every_file(clips, oracle_weights, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("in-sync", "early"):
        (folder / clips[name].name).symlink_to(clips[name])
    (folder / "broken.avi").write_bytes(b"not a video" * 50)
    report = tmp_path / "report"
    assert main(["batch", str(folder), "--tolerance", "ebu-r37", "--report", str(report), "--workers", "1",
                 "--weights", str(oracle_weights), *FLAGS]) == 0
    assert "EBU R37 (+40/-60 ms): 1 within, 1 outside, 0 unknown" in capsys.readouterr().out
    data = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert data["tolerance"] == {"name": "ebu-r37", "lead_ms": 40.0, "lag_ms": 60.0}
    judged = {Path(row["path"]).name: (row["tolerance"], row["worst_ms"]) for row in data["files"]}
    assert judged["in-sync.avi"][0] == "within" and judged["broken.avi"] == (None, None)
    assert judged["early.avi"][0] == "outside" and 140 <= judged["early.avi"][1] <= 180
    with open(report / "report.csv", encoding="utf-8", newline="") as stream:
        rows = {Path(row["path"]).name: row for row in csv.DictReader(stream)}
    assert rows["early.avi"]["tolerance"] == "outside" and float(rows["early.avi"]["worst_ms"]) == judged["early.avi"][1]
    # the QC report beside them: an index linking a page per file, and one PDF
    index = (report / "index.html").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (report / "files").iterdir())
    assert len(pages) == 3 and all(f'href="files/{page}"' in index for page in pages)
    early_page = next((report / "files" / p).read_text(encoding="utf-8") for p in pages if "early" in p)
    assert "EBU R37 allows 40" in early_page
    assert (report / "report.pdf").read_bytes().startswith(b"%PDF")


def test_batch_report_without_a_tolerance_judges_against_the_default(clips, oracle_weights, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "early.avi").symlink_to(clips["early"])
    report = tmp_path / "report"
    (report / "index.html").parent.mkdir()
    (report / "index.html").write_text("<p>my own page</p>", encoding="utf-8")
    args = ["batch", str(folder), "--report", str(report), "--workers", "1", "--weights", str(oracle_weights), *FLAGS]
    assert main(args) == 1  # refused before the batch: someone else's index.html is never replaced
    assert "is not a syncdesk QC report" in capsys.readouterr().err
    assert (report / "index.html").read_text(encoding="utf-8") == "<p>my own page</p>"
    (report / "index.html").unlink()
    assert main(args) == 0
    assert "EBU R37 (+40/-60 ms): 0 within, 1 outside" in capsys.readouterr().out
    assert json.loads((report / "report.json").read_text(encoding="utf-8"))["tolerance"]["name"] == "ebu-r37"


def test_analyze_report_from_the_command_line(clips, oracle_weights, tmp_path, capsys):
    page = tmp_path / "slip.html"
    doc = _analyse(clips["slip"], oracle_weights, tmp_path, "--report", str(page), "--tolerance", "atsc-is191")
    text = page.read_text(encoding="utf-8")
    assert doc["tolerance"]["name"] == "atsc-is191" and "ATSC IS-191" in text and "http://" not in text
    assert main(["analyze", str(clips["slip"]), "--report", str(tmp_path / "r.docx"), *FLAGS]) == 1
    assert "written as .html or .pdf" in capsys.readouterr().err


def test_markers_from_the_command_line(clips, oracle_weights, tmp_path, capsys):
    import opentimelineio as otio

    otio_path = tmp_path / "slip.otio"
    assert main(["analyze", str(clips["slip"]), "--weights", str(oracle_weights), "--markers", str(otio_path),
                 *FLAGS]) == 0  # no --tolerance: markers judge against EBU R37
    assert f"wrote       {otio_path} (1 marker)" in capsys.readouterr().out
    timeline = otio.adapters.read_from_file(str(otio_path))
    [marker] = [m for clip in timeline.find_clips() for m in clip.markers]
    assert abs(marker.marked_range.start_time.to_seconds() - 20.0) <= 1.0 and "EBU R37 allows 40" in marker.name
    # refused before the analysis: an unknown format, an existing file
    assert main(["analyze", str(clips["slip"]), "--markers", str(tmp_path / "m.txt"), *FLAGS]) == 1
    assert "markers are written as" in capsys.readouterr().err
    assert main(["analyze", str(clips["slip"]), "--markers", str(otio_path), *FLAGS]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Constant leads in ms, for the sub-frame oracle (which reads them to a few ms)."""
    folder = tmp_path_factory.mktemp("leads")
    return {ms: make_flash_clip(folder / f"lead{ms:+d}.avi", seconds=12.0, audio_lead_s=ms / 1000)
            for ms in (30, -50, 50, 25, -35)}


@pytest.mark.parametrize("lead_ms, tolerance, result", [
    (30, "ebu-r37", "within"), (30, "atsc-is191", "outside"), (-50, "ebu-r37", "within"),
    (50, "ebu-r37", "outside"), (-50, "atsc-is191", "outside"), (25, "20/30", "outside"), (-35, "20/30", "outside"),
    (-35, "ebu-r37", "within"),
])
def test_the_standards_judge_sub_frame_offsets(leads, subframe_oracle_weights, tmp_path, lead_ms, tolerance, result):
    block = _analyse(leads[lead_ms], subframe_oracle_weights, tmp_path, "--tolerance", tolerance)["tolerance"]
    assert block["result"] == result
    assert abs(block["worst_ms"] - lead_ms) <= 8.0
