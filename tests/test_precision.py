"""Fast mode's cheaper arithmetic: bfloat16 towers where the CPU computes them natively."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from syncdesk.core.analysis import analyze
from syncdesk.core.errors import SyncdeskError
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.models.device import resolve_precision
from syncdesk.core.sync.embed import AudioEmbeddings, WindowScorer
from syncdesk.core.sync.model import SyncNet, load_syncnet
from syncdesk.core.sync.synthetic import random_state_dict

from .oracle import make_flash_clip


def _rows(model: SyncNet, frames: list[np.ndarray], mfcc: np.ndarray, windows: int) -> np.ndarray:
    with torch.inference_mode():
        audio = AudioEmbeddings(model, mfcc, windows, torch.device("cpu"))
        scorer = WindowScorer(model, audio, vshift=3, stride=5, windows_per_batch=2)
        for frame in frames:
            scorer.add(frame)
        scorer.finish()
    return scorer.distances()


def test_loading_builds_no_throwaway_model_and_keeps_the_file_values(tmp_path):
    path = tmp_path / "w.model"
    torch.save(random_state_dict(4), path)
    net = load_syncnet(path)
    assert all(not t.is_meta for t in [*net.parameters(), *net.buffers()])
    reference = SyncNet()
    reference.load_state_dict(random_state_dict(4))
    mfcc = torch.randn(3, 1, 13, 20) * 5
    with torch.inference_mode():
        torch.testing.assert_close(net.forward_audio(mfcc), reference.eval().forward_audio(mfcc), rtol=1e-4, atol=1e-3)


def test_bfloat16_distances_stay_within_a_percent_of_float32(tmp_path):
    path = tmp_path / "w.model"
    torch.save(random_state_dict(6), path)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(16)]
    mfcc = rng.normal(0, 5, (13, 4 * 16 + 20)).astype(np.float32)
    full = _rows(load_syncnet(path), frames, mfcc, 11)
    cheap_model = load_syncnet(path, dtype=torch.bfloat16)
    assert cheap_model.netcnnlip[0].weight.dtype == torch.bfloat16
    cheap = _rows(cheap_model, frames, mfcc, 11)
    assert cheap.dtype == np.float32 and cheap.shape == full.shape == (3, 7)
    assert np.abs(cheap - full).max() / np.abs(full).max() < 0.01
    assert not np.array_equal(cheap, full)  # it really computed in the other precision


@pytest.mark.parametrize(("avx512_bf16", "amx", "device", "expected"), [
    (True, False, "cpu", torch.bfloat16),
    (False, True, "cpu", torch.bfloat16),
    (False, False, "cpu", torch.float32),  # emulated bfloat16 is slower than float32
    (True, True, "cuda", torch.float32),
])
def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(monkeypatch, avx512_bf16, amx, device, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert resolve_precision("auto", torch.device(device)) == expected
    assert resolve_precision("float32", torch.device(device)) == torch.float32
    if device == "cpu":
        assert resolve_precision("bfloat16", torch.device(device)) == torch.bfloat16


def test_unknown_precision_is_refused():
    with pytest.raises(SyncdeskError, match="unknown precision"):
        resolve_precision("int4", torch.device("cpu"))


@pytest.mark.parametrize(("options", "message"), [
    (AnalysisOptions(precision="half"), "--precision must be one of"),
])
def test_bad_precision_options_fail_before_any_work(tmp_path, options, message):
    with pytest.raises(SyncdeskError, match=message):
        analyze(tmp_path / "never-read.avi", options)


@pytest.mark.parametrize(("precision", "exact", "recorded"), [
    ("bfloat16", False, "bfloat16"),
    ("float32", False, "float32"),
    ("auto", True, "float32"),
    ("bfloat16", True, "float32"),  # exact is always float32 (the app keeps a fast-mode choice while exact is on)
])
def test_the_known_shift_holds_in_each_precision_and_the_document_says_which(
        tmp_path: Path, oracle_weights: Path, precision: str, exact: bool, recorded: str):
    clip = make_flash_clip(tmp_path / "clip.avi", audio_lead_s=0.12)
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame", device="cpu",
                              precision=precision, exact=exact)
    result = analyze(clip, options)
    assert result.engine.precision == recorded
    assert result.offset_frames == 3
    assert result.confidence > 3.0


def test_the_precision_is_part_of_the_cache_key():
    assert AnalysisOptions().fingerprint() != AnalysisOptions(precision="float32").fingerprint()
    assert AnalysisOptions(exact=True).fingerprint() == AnalysisOptions(exact=True, precision="float32").fingerprint()
    assert AnalysisOptions().fingerprint("bfloat16") == AnalysisOptions(precision="bfloat16").fingerprint()


@pytest.mark.parametrize("native", [True, False])
def test_cache_and_queue_keys_use_the_arithmetic_auto_settles_on(monkeypatch, tmp_path, native):
    """``auto`` means bfloat16 on one machine and float32 on another: the keys say which."""
    from syncdesk.core.batch.session import Settings
    from syncdesk.core.cache import AnalysisCache

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    weights = tmp_path / "w.model"
    weights.write_bytes(b"weights")
    video = tmp_path / "clip.mp4"
    video.write_bytes(bytes(range(256)) * 64)
    cache = AnalysisCache(tmp_path / "cache")
    keys = {precision: (cache.key(video, options), Settings.of(options).key)
            for precision in ("auto", "float32", "bfloat16")
            for options in [AnalysisOptions(weights=weights, device="cpu", precision=precision)]}
    settled = "bfloat16" if native else "float32"
    other = "float32" if native else "bfloat16"
    assert keys["auto"] == keys[settled]
    assert keys["auto"][0] != keys[other][0] and keys["auto"][1] != keys[other][1]


def test_bfloat16_is_refused_on_a_gpu():
    with pytest.raises(SyncdeskError, match="for CPUs"):
        resolve_precision("bfloat16", torch.device("cuda"))
    assert resolve_precision("auto", torch.device("cuda")) == torch.float32


def test_cli_precision_option_reaches_the_document_and_refuses_a_contradiction(tmp_path, oracle_weights, capsys):
    from syncdesk.cli import main

    clip = make_flash_clip(tmp_path / "clip.avi", audio_lead_s=0.12)
    out = tmp_path / "out.json"
    common = ["analyze", str(clip), "--detector", "whole-frame", "--weights", str(oracle_weights), "--quiet"]
    assert main([*common, "--precision", "float32", "--json", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["engine"]["precision"] == "float32"
    assert "fast mode on cpu" in capsys.readouterr().out
    assert main([*common, "--precision", "bfloat16"]) == 0
    assert "fast mode (bfloat16) on cpu" in capsys.readouterr().out
    assert main([*common, "--exact", "--precision", "bfloat16"]) == 1
    err = capsys.readouterr().err
    assert "cannot be combined" in err and "Traceback" not in err


def test_a_half_precision_file_loads_as_float32(tmp_path):
    """The weights are assigned, not copied: a float16 file must still give float32 networks."""
    from syncdesk.core.faces.s3fd import S3FD, load_s3fd

    def halved(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: value.half() if value.is_floating_point() else value for key, value in state.items()}

    torch.save(halved(random_state_dict(4)), tmp_path / "syncnet.model")
    torch.save(halved(S3FD().state_dict()), tmp_path / "s3fd.pth")
    for net in (load_syncnet(tmp_path / "syncnet.model"), load_s3fd(tmp_path / "s3fd.pth")):
        assert {p.dtype for p in net.parameters()} == {torch.float32}
