"""`syncdesk fix`: what it prints, the --auto round trip with the oracle weights, refusals, exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from syncdesk.cli import main

from .oracle import flash_pattern, make_flash_clip
from .test_export import audio_of, measured_shift_ms, packets


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Through a real process: exit code, stdout and stderr as a user sees them."""
    return subprocess.run([sys.executable, "-m", "syncdesk", *args], capture_output=True, text=True, timeout=300)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def analysed(path: Path, weights: Path, tmp_path: Path, *extra: str) -> dict:
    doc = tmp_path / f"{path.stem}.json"
    assert main(["analyze", str(path), "--detector", "whole-frame", "--weights", str(weights), "--json", str(doc), "--quiet", *extra]) == 0
    return json.loads(doc.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def early(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Audio 120 ms early: the oracle weights analyse it as +3 frames."""
    return make_flash_clip(tmp_path_factory.mktemp("early") / "early.mp4", seconds=4.0, audio_lead_s=0.12)


@pytest.fixture(scope="module")
def weak(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A picture that flashes in another pattern than the sound: a low-confidence verdict."""
    path = tmp_path_factory.mktemp("weak") / "weak.avi"
    return make_flash_clip(path, seconds=4.0, audio_lead_s=0.12, video_pattern=flash_pattern(102, seed=7))


def test_offset_ms_prints_what_it_did(early, tmp_path, capsys):
    before = sha256(early)
    out = tmp_path / "early.synced.mp4"
    assert main(["fix", str(early), "-o", str(out), "--offset-ms", "120", "--quiet"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"audio delayed by 120 ms; video copied; wrote {out}"
    assert "aac re-encoded as aac" in printed[1] and "+1920 samples at 16000 Hz" in printed[1]
    assert packets(out) == packets(early)
    assert measured_shift_ms(audio_of(early, 16000), audio_of(out, 16000), 16000) == pytest.approx(120, abs=1)
    assert sha256(early) == before


def test_offset_frames_are_40_ms_each(early, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["fix", str(early), "-o", str(out), "--offset-frames", "-2", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"audio advanced by 80 ms; video copied; wrote {out}")
    assert measured_shift_ms(audio_of(early, 16000), audio_of(out, 16000), 16000) == pytest.approx(-80, abs=1)


def test_auto_round_trip_with_the_oracle_weights(early, oracle_weights, tmp_path, capsys):
    before = sha256(early)
    assert analysed(early, oracle_weights, tmp_path)["offset_frames"] == 3
    out = tmp_path / "fixed.mp4"
    assert main(["fix", str(early), "-o", str(out), "--auto", "--force", "--detector", "whole-frame", "--weights", str(oracle_weights),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "\nanalysis (loaded from cache: same file and settings): audio leads video by" in printed and "(+3 frames" in printed
    assert "audio delayed by" in printed and f"wrote {out}" in printed
    doc = analysed(out, oracle_weights, tmp_path, "--exact")
    assert doc["offset_frames"] == 0 and abs(doc["offset_ms"]) <= 10
    assert packets(out) == packets(early)
    assert sha256(early) == before


def test_auto_refuses_a_low_confidence_verdict_unless_forced(weak, oracle_weights, tmp_path, capsys):
    out = tmp_path / "out.avi"
    assert main(["fix", str(weak), "-o", str(out), "--auto", "--detector", "whole-frame", "--weights", str(oracle_weights), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "below 4" in err[0] and "medium" in err[0] and "--force" in err[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main(["fix", str(weak), "-o", str(out), "--auto", "--force", "--detector", "whole-frame", "--weights", str(oracle_weights),
                 "--quiet"]) == 0
    assert out.is_file()


def test_an_offset_of_zero_writes_nothing_unless_forced(early, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    for args in (["--offset-ms", "0"], ["--offset-frames", "0"]):
        assert main(["fix", str(early), "-o", str(out), *args, "--quiet"]) == 0
        assert "in sync: nothing written" in capsys.readouterr().out
        assert not out.exists()
    assert main(["fix", str(early), "-o", str(out), "--offset-ms", "0", "--force", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"audio not shifted; video copied; wrote {out}")
    assert packets(out) == packets(early)


def test_lossless_flag(early, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["fix", str(early), "-o", str(out), "--offset-ms", "-80", "--lossless", "--quiet"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"audio advanced by 80 ms; video copied; wrote {out}" and "edit list" in printed[1]
    assert packets(out, "audio") == packets(early, "audio")
    assert measured_shift_ms(audio_of(early, 16000), audio_of(out, 16000), 16000) == pytest.approx(-80, abs=1)
    assert main(["fix", str(early), "-o", str(tmp_path / "out.mkv"), "--offset-ms", "40", "--lossless"]) == 1
    assert "lossless" in capsys.readouterr().err


def test_names_with_spaces_quotes_and_accents_into_another_folder(early, tmp_path):
    folder = tmp_path / "my clips"
    folder.mkdir()
    src = folder / "it's a \"take\" ü.mp4"
    src.write_bytes(early.read_bytes())
    before = sha256(src)
    target = tmp_path / "sortie été"
    target.mkdir()
    out = target / "résultat \"1\" ñ.mp4"
    result = run_cli("fix", str(src), "-o", str(out), "--offset-ms", "120")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"audio delayed by 120 ms; video copied; wrote {out}"
    assert result.stderr == ""  # not a terminal: no progress bar
    assert packets(out) == packets(src) and sha256(src) == before
    assert sorted(p.name for p in target.iterdir()) == [out.name]


def test_refusals_exit_1_with_one_line_and_no_traceback(early, tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    src = folder / "clip.mp4"
    src.write_bytes(early.read_bytes())
    before = sha256(src)
    (tmp_path / "link.mp4").symlink_to(src)
    os.link(src, tmp_path / "hard.mp4")
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"keep me")
    cases = {
        str(folder / ".." / "work" / "clip.mp4"): "is the input file",
        str(tmp_path / "link.mp4"): "is the input file",
        str(tmp_path / "hard.mp4"): "is the input file",
        str(existing): "already exists: pass --overwrite",
    }
    for out, message in cases.items():
        for extra in ([], ["--overwrite"]) if "input" in message else ([],):
            result = run_cli("fix", str(src), "-o", out, "--offset-ms", "120", *extra)
            assert result.returncode == 1, (out, result.stdout)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("syncdesk: error:") and message in lines[0]
            assert "Traceback" not in result.stderr
    missing = run_cli("fix", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4"), "--offset-ms", "40")
    assert missing.returncode == 1 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    assert existing.read_bytes() == b"keep me" and sha256(src) == before
    assert not [p for p in (*folder.iterdir(), *tmp_path.iterdir()) if p.name.endswith(".part")]


def test_overwrite_replaces_an_existing_output(early, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    assert main(["fix", str(early), "-o", str(out), "--offset-ms", "40", "--overwrite", "--quiet"]) == 0
    assert packets(out) == packets(early)


@pytest.mark.parametrize("args", [
    [],  # no offset choice
    ["--offset-ms", "40", "--auto"],  # two
    ["--offset-ms", "40", "--offset-frames", "1"],
    ["--offset-frames", "1.5"],
    ["--offset-ms", "forty"],
    ["--offset-ms", "nan"],
])
def test_bad_usage_exits_2(early, tmp_path, args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fix", str(early), "-o", str(tmp_path / "out.mp4"), *args])
    assert exit_info.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_missing_output_option_exits_2(early):
    result = run_cli("fix", str(early), "--offset-ms", "40")
    assert result.returncode == 2 and "-o" in result.stderr


def test_fix_auto_reuses_the_analysis_analyze_just_made(early, oracle_weights, tmp_path, capsys):
    flags = ["--weights", str(oracle_weights), "--detector", "whole-frame", "--quiet"]
    forced = [*flags, "--force"]  # the oracle reads this clip with medium-low confidence
    assert main(["analyze", str(early), *flags]) == 0
    capsys.readouterr()
    assert main(["fix", str(early), "-o", str(tmp_path / "same.mp4"), "--auto", *forced]) == 0
    assert "analysis (loaded from cache: same file and settings): audio leads" in capsys.readouterr().out
    # other settings: measured again
    assert main(["fix", str(early), "-o", str(tmp_path / "other.mp4"), "--auto", "--vshift", "10", *forced]) == 0
    assert "loaded from cache" not in capsys.readouterr().out


def test_one_process_analyses_and_the_next_fixes_from_its_cache_entry(early, oracle_weights, tmp_path):
    """Through real processes whose output is a block-buffered pipe: what `analyze` printed and its
    document are complete, and `fix --auto` in the next process reuses the cache entry it left."""
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "syncdesk", *args, "--weights", str(oracle_weights),
                               "--detector", "whole-frame", "--quiet"], capture_output=True, text=True, timeout=300,
                              env=buffered)

    document = tmp_path / "early.json"
    analysed = run("analyze", str(early), "--json", str(document))
    assert analysed.returncode == 0, analysed.stderr
    assert analysed.stdout.startswith("early.mp4: ") and analysed.stdout.endswith(f"  wrote       {document}\n")
    assert json.loads(document.read_text(encoding="utf-8"))["offset_frames"] == 3
    fixed = tmp_path / "fixed.mp4"
    result = run("fix", str(early), "-o", str(fixed), "--auto", "--force")
    assert result.returncode == 0, result.stderr
    assert "analysis (loaded from cache: same file and settings): audio leads" in result.stdout
    assert f"wrote {fixed}" in result.stdout and result.stdout.endswith("copied unchanged\n")
    assert packets(fixed) == packets(early)
