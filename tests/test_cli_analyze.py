"""`syncdesk analyze`: the document on example.avi, and every bad input named in the issue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from syncdesk.cli import main

from .oracle import make_flash_clip, write_silent_wav


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Through a real process: exit code and stderr as a user sees them."""
    return subprocess.run([sys.executable, "-m", "syncdesk", *args], capture_output=True, text=True, timeout=300)


def test_example_document_has_one_track_over_all_frames(tmp_path, example_avi, random_weights, capsys):
    out = tmp_path / "out.json"
    assert main(["analyze", str(example_avi), "--detector", "whole-frame", "--weights", str(random_weights),
                 "--json", str(out), "--save-dists", "--exact", "--quiet"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["schema"] == "syncdesk.analysis/1"
    assert doc["source"]["frames"] == 317 and doc["source"]["analysis_fps"] == 25
    assert doc["source"]["audio_rate"] == 16000 and doc["source"]["size"] == example_avi.stat().st_size
    assert doc["engine"]["device"] == "cpu" and doc["engine"]["detector"] == "whole-frame"
    assert len(doc["engine"]["syncnet"]["sha256"]) == 64
    [track] = doc["tracks"]
    assert (track["start_frame"], track["end_frame"]) == (0, 316)
    assert len(track["boxes"]) == 317 and track["boxes"][5] == [5, 0, 0, 224, 224]
    assert len(track["framewise_confidence"]) == 312  # min(317 frames, 317 audio frames) - 5
    dists = np.array(track["dists"])
    assert dists.shape == (312, 31)
    mean = dists.mean(axis=0)
    assert doc["offset_frames"] == 15 - int(np.argmin(mean))
    assert doc["min_dist"] == pytest.approx(mean.min(), rel=1e-5)
    # float32 like the demo: distances near 1e4 leave ~1e-3 of absolute precision
    assert doc["confidence"] == pytest.approx(np.median(mean) - mean.min(), abs=0.01)
    assert len(doc["active_speaker"]) == 317
    assert doc["shots"] == [[0, 316]]
    assert set(doc["timings"]) >= {"audio", "embeddings", "scoring", "total"}
    printed = capsys.readouterr().out
    assert "AV offset" in printed and "confidence" in printed and "verdict" in printed


def test_summary_says_the_direction_in_words(tmp_path, oracle_weights, capsys):
    clip = make_flash_clip(tmp_path / "early.avi", audio_lead_s=0.12)
    assert main(["analyze", str(clip), "--detector", "whole-frame", "--weights", str(oracle_weights), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "audio leads video by" in printed
    assert "+3 frames" in printed and "delay the audio" in printed


def test_names_with_spaces_quotes_and_accents(tmp_path, oracle_weights):
    folder = tmp_path / "my clips"
    folder.mkdir()
    clip = make_flash_clip(folder / "it's a \"take\" ü.avi", seconds=3.0)
    out = folder / "résultat \"1\".json"
    result = run_cli("analyze", str(clip), "--detector", "whole-frame", "--weights", str(oracle_weights), "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["offset_frames"] == 0



def _truncate(path: Path, share: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


BAD_INPUTS = {
    "missing": (lambda d: d / "nothing here.mp4", "no such file"),
    "folder": (lambda d: d, "is a folder"),
    "text": (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", "not a video file"),
    "audio-only": (lambda d: write_silent_wav(d / "voice.wav"), "no video stream"),
    "no-audio": (lambda d: make_flash_clip(d / "mute.mkv", seconds=1.0, audio=False), "no audio stream"),
    "corrupt-mp4": (lambda d: _truncate(make_flash_clip(d / "cut.mp4", seconds=2.0), 0.5), "corrupt"),
    "truncated-avi": (lambda d: _truncate(make_flash_clip(d / "cut.avi", seconds=4.0), 0.4), "truncated"),
    "too-short": (lambda d: make_flash_clip(d / "blink.avi", seconds=0.16), "too short"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_line_and_exit_1(tmp_path, oracle_weights, case):
    make, message = BAD_INPUTS[case]
    target = make(tmp_path)
    result = run_cli("analyze", str(target), "--detector", "whole-frame", "--weights", str(oracle_weights))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 2
    assert result.stdout == ""


def test_bad_weights_file(tmp_path):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=1.0)
    weights = tmp_path / "syncnet.model"
    weights.write_bytes(b"\x00garbage" * 100)
    result = run_cli("analyze", str(clip), "--detector", "whole-frame", "--weights", str(weights))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not a PyTorch weights file" in result.stderr


def test_missing_weights_say_how_to_get_them(tmp_path):
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=1.0)
    result = run_cli("analyze", str(clip))
    assert result.returncode == 1
    assert "syncdesk models download" in result.stderr and "--weights" in result.stderr


def test_bad_usage_is_exit_2():
    assert run_cli("analyze").returncode == 2
    assert run_cli("analyze", "x.mp4", "--vshift", "many").returncode == 2
    for option, value in (("--vshift", "0"), ("--vshift", "101"), ("--min-track", "3"), ("--min-face-size", "-3")):
        result = run_cli("analyze", "x.mp4", option, value)
        assert result.returncode == 2, (option, value)
        assert result.stderr.count("\n") == 1 and f"argument {option}: must be between" in result.stderr
    help_text = run_cli("analyze", "--help")
    assert help_text.returncode == 0 and "--exact" in help_text.stdout


def test_an_empty_file_says_it_is_empty(tmp_path, oracle_weights):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    result = run_cli("analyze", str(empty), "--weights", str(oracle_weights))
    assert result.returncode == 1
    assert result.stderr == "syncdesk: error: empty.mp4 is empty (0 bytes): nothing to analyse\n"


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path, oracle_weights):
    """`syncdesk analyze clip | head -1`: no BrokenPipeError traceback."""
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=1.0)
    process = subprocess.Popen([sys.executable, "-m", "syncdesk", "analyze", str(clip), "--detector", "whole-frame", "--weights", str(oracle_weights)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before anything is printed
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_help_and_version_do_not_load_torch():
    code = "import sys; from syncdesk.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_an_existing_json_is_kept_unless_overwrite(tmp_path, oracle_weights, capsys):
    clip = make_flash_clip(tmp_path / "clip.mp4", seconds=2)
    out = tmp_path / "mine.json"
    out.write_text("my notes")
    args = ["analyze", str(clip), "--detector", "whole-frame", "--weights", str(oracle_weights), "--json", str(out),
            "--quiet"]
    assert main(args) == 1 and out.read_text() == "my notes"
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0 and json.loads(out.read_text())["schema"] == "syncdesk.analysis/1"


def test_version_names_syncdesk_torch_and_the_device():
    import torch

    from syncdesk import __version__

    result = subprocess.run([sys.executable, "-m", "syncdesk", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"syncdesk {__version__}" and lines[1] == f"torch {torch.__version__}"
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert lines[2].startswith(f"device: {expected} (")
    from syncdesk.core.models.device import native_bfloat16, resolve_device

    native = native_bfloat16(resolve_device("auto"))
    assert lines[3] == f"fast mode computes in: {'bfloat16' if native else 'float32'}"
