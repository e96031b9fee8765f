"""The fix over time: a drift resampled away, steps shifted one segment at a time, and the refusals."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

import syncdesk.core
from syncdesk.cli import main
from syncdesk.core import SyncOverTime, SyncPoint, SyncSegment, correct_audio
from syncdesk.core.export import ExportError, load_segments

from .test_export import _add_audio, _encode_audio, audio_of, duration_s, packets, sha256

RATE = 48000
SECONDS = 12.0
CLICKS_S = (0.5, 1.5, 2.5, 3.5, 5.5, 6.5, 7.5, 9.5, 10.5, 11.5)  # none near a step boundary (4 s, 8 s)
STEPS = [(0.0, 4.0, 0.0), (4.0, 8.0, 200.0), (8.0, SECONDS, -120.0)]


def clip_with(path: Path, signal: np.ndarray, audio_codec: str = "pcm_s16le") -> Path:
    """Grey frames that change every frame (25 fps) and ``signal`` as mono sound."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = _add_audio(container, audio_codec, RATE, 1)
        rng = np.random.default_rng(0)
        for index in range(int(len(signal) / RATE * 25)):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), rng.integers(0, 255), np.uint8), format="bgr24")
            frame.pts = index
            frame.time_base = Fraction(1, 25)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        _encode_audio(container, audio, signal, RATE, 1)
    return path


def clicks(seconds: float = SECONDS) -> np.ndarray:
    signal = np.zeros(int(seconds * RATE), np.int16)
    for t in CLICKS_S:
        if t < seconds:
            signal[round(t * RATE)] = 20000
    return signal


def tone(seconds: float = SECONDS) -> np.ndarray:
    return (10000 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE)).astype(np.int16)


@pytest.fixture(scope="module")
def click_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_with(tmp_path_factory.mktemp("clicks") / "clicks.mkv", clicks())


@pytest.fixture(scope="module")
def tone_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_with(tmp_path_factory.mktemp("tone") / "tone.mkv", tone())


@pytest.fixture(scope="module")
def aac_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_with(tmp_path_factory.mktemp("aac") / "clicks.mp4", clicks(6.0), "aac")


def steps(model: str = "steps") -> SyncOverTime:
    """STEPS as the engine would write them: every 0.5 s window confidently at its segment's level."""
    segments = [SyncSegment(start, end, offset, 8.0) for start, end, offset in STEPS]
    points = [SyncPoint(t, offset, 8.0) for start, end, offset in STEPS for t in np.arange(start + 0.25, end, 0.5)]
    return SyncOverTime(window_s=1.0, hop_s=0.5, points=points, model=model, segments=segments)


def drift(start_ms: float, end_ms: float) -> SyncOverTime:
    """A line over the whole clip, as the engine writes a drift: the value at each end of one segment."""
    return SyncOverTime(window_s=8.0, hop_s=1.0, points=[], model="drift",
                        drift_ms_per_min=60 * (end_ms - start_ms) / SECONDS,
                        segments=[SyncSegment(0.0, SECONDS, start_ms, 1.0, end_offset_ms=end_ms)])


def click_at(samples: np.ndarray, expected: float, reach: int = 2000) -> float:
    """Where the click nearest ``expected`` (in samples) peaks, to a fraction of a sample (parabola)."""
    lo = max(0, int(expected) - reach)
    window = np.abs(samples[lo:int(expected) + reach])
    peak = int(np.argmax(window))
    if 0 < peak < len(window) - 1:
        a, b, c = window[peak - 1:peak + 2]
        peak += 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c else 0.0
    return lo + peak


def copied_as_before(src: Path, out: Path) -> None:
    assert packets(out) == packets(src)
    assert duration_s(out) == pytest.approx(duration_s(src), abs=0.04)


# --- drift -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("start_ms", "end_ms"), [(-40.0, 80.0), (150.0, -90.0)])
def test_a_drift_is_resampled_so_each_click_sits_on_the_line(click_clip, tmp_path, start_ms, end_ms):
    before = sha256(click_clip)
    out = tmp_path / "fixed.mkv"
    result = correct_audio(click_clip, out, drift(start_ms, end_ms))
    fixed = audio_of(out, RATE)
    slope = (end_ms - start_ms) / 1000 / SECONDS  # seconds of offset per second
    for t in CLICKS_S:
        # output at video time tau plays input at tau - offset(tau): the click lands where that equals t
        tau = (t + start_ms / 1000) / (1 - slope)
        assert abs(click_at(fixed, tau * RATE) - tau * RATE) <= 1.5, t
        # positive offset (audio led): the click comes later
        assert (tau > t) == (start_ms / 1000 + slope * tau > 0)
    copied_as_before(click_clip, out)
    assert len(fixed) == pytest.approx(len(audio_of(click_clip, RATE)), abs=2)
    assert result.describe() == (f"audio resampled to remove a drift of {60 * (end_ms - start_ms) / SECONDS:+.0f} "
                                 f"ms/min (from {start_ms:+.0f} ms at 00:00:00 to {end_ms:+.0f} ms at 00:00:12); "
                                 f"video copied; wrote {out}")
    assert sha256(click_clip) == before


def test_a_drift_keeps_the_sound(tone_clip, tmp_path):
    """Interpolation between samples: a tone stays a clean tone at the same level."""
    out = tmp_path / "fixed.mkv"
    correct_audio(tone_clip, out, drift(-40.0, 80.0))
    fixed = audio_of(out, RATE)[RATE:-RATE]
    assert np.abs(fixed).max() == pytest.approx(10000, rel=0.01)
    spectrum = np.abs(np.fft.rfft(fixed * np.hanning(len(fixed))))
    peak = int(np.argmax(spectrum))
    assert peak * RATE / len(fixed) == pytest.approx(440 * (1 - 0.01), abs=1)  # slowed by the drift's 1 %
    far = np.r_[spectrum[:peak - 200], spectrum[peak + 200:]]
    assert far.max() < spectrum[peak] * 1e-3


# --- steps -------------------------------------------------------------------------------------


def test_steps_move_each_segment_by_its_offset_exactly(click_clip, tmp_path):
    out = tmp_path / "fixed.mkv"
    result = correct_audio(click_clip, out, steps())
    source, fixed = audio_of(click_clip, RATE), audio_of(out, RATE)
    for t in CLICKS_S:
        offset = next(offset for start, end, offset in STEPS if start <= t < end)
        where = round(t * RATE) + round(offset * RATE / 1000)
        assert fixed[where] == source[round(t * RATE)] == 20000, t
        assert np.count_nonzero(fixed[where - 2000:where + 2000]) == 1
    copied_as_before(click_clip, out)
    assert result.describe() == ("3 segments shifted: 00:00:00-00:00:04 +0 ms, 00:00:04-00:00:08 +200 ms, "
                                 f"00:00:08-00:00:12 -120 ms; video copied; wrote {out}")
    assert "8 ms crossfade" in result.details()[0]


def test_no_click_at_a_boundary_and_silence_where_the_delay_grows(tone_clip, tmp_path):
    out = tmp_path / "fixed.mkv"
    correct_audio(tone_clip, out, steps())
    source, fixed = audio_of(tone_clip, RATE), audio_of(out, RATE)
    steepest = np.abs(np.diff(source)).max()
    for boundary in (4.0, 4.2, 8.0):
        around = fixed[int((boundary - 0.05) * RATE):int((boundary + 0.05) * RATE)]
        assert np.abs(np.diff(around)).max() <= 1.1 * steepest, boundary
    # the delay grows by 200 ms at 4 s: the sound already played is not played again
    assert np.abs(fixed[int(4.01 * RATE):int(4.19 * RATE)]).max() == 0
    # away from the fades, plain whole-sample copies
    assert np.array_equal(fixed[RATE:int(3.9 * RATE)], source[RATE:int(3.9 * RATE)])
    assert np.array_equal(fixed[9 * RATE:11 * RATE], source[9 * RATE + 5760:11 * RATE + 5760])


def test_a_constant_model_is_one_sample_accurate_shift(click_clip, tmp_path):
    out = tmp_path / "fixed.mkv"
    over_time = SyncOverTime(8.0, 1.0, [], "constant", segments=[SyncSegment(0.0, SECONDS, 120.0, 1.0)])
    result = correct_audio(click_clip, out, over_time)
    assert result.describe() == f"audio delayed by 120 ms; video copied; wrote {out}"
    assert audio_of(out, RATE)[round(0.5 * RATE) + 5760] == 20000


def test_an_unknown_model_is_refused(click_clip, tmp_path):
    out = tmp_path / "fixed.mkv"
    with pytest.raises(ExportError, match="unknown"):
        correct_audio(click_clip, out, SyncOverTime(8.0, 1.0, [], "unknown"))
    assert list(tmp_path.iterdir()) == []


# --- the command line --------------------------------------------------------------------------


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_segments_file_from_a_whole_document(click_clip, tmp_path, capsys):
    document = {"schema": "syncdesk.analysis/1", "sync_over_time": {
        "window_s": 8.0, "hop_s": 1.0, "points": [], "model": "steps", "drift_ms_per_min": None,
        "segments": [{"start_s": s, "end_s": e, "offset_ms": o, "confidence": 1.0} for s, e, o in STEPS]}}
    out = tmp_path / "fixed.mkv"
    assert main(["fix", str(click_clip), "-o", str(out), "--segments",
                 str(write_json(tmp_path / "doc.json", document)), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("3 segments shifted: 00:00:00-00:00:04 +0 ms")
    assert audio_of(out, RATE)[round(5.5 * RATE) + 9600] == 20000


def test_segments_file_with_a_drift_line(click_clip, tmp_path, capsys):
    segments = write_json(tmp_path / "s.json", [{"start_s": 0, "end_s": 12, "offset_ms": -40, "end_offset_ms": 80}])
    assert load_segments(segments).model == "drift"
    out = tmp_path / "fixed.mkv"
    assert main(["fix", str(click_clip), "-o", str(out), "--segments", str(segments), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("audio resampled to remove a drift of +600 ms/min")


BAD_SEGMENTS = [
    ("not json", "is not JSON"),
    ({"nothing": []}, "holds no segment list"),
    ([], "the segment list is empty"),
    ([{"start_s": 0, "end_s": 4}], "needs start_s, end_s and offset_ms"),
    ([{"start_s": 0, "end_s": 4, "offset_ms": "40"}], "offset_ms is not a number"),
    ([{"start_s": 0, "end_s": 4, "offset_ms": True}], "offset_ms is not a number"),
    ([{"start_s": 0, "end_s": 6, "offset_ms": 0}, {"start_s": 4, "end_s": 12, "offset_ms": 40}], "must not overlap"),
    ([{"start_s": 4, "end_s": 12, "offset_ms": 0}, {"start_s": 0, "end_s": 4, "offset_ms": 40}], "must be in order"),
    ([{"start_s": 0, "end_s": 4, "offset_ms": 0}, {"start_s": 6, "end_s": 12, "offset_ms": 40}], "leave a gap"),
    ([{"start_s": 0, "end_s": 4, "offset_ms": 0}, {"start_s": 4, "end_s": 30, "offset_ms": 40}], "beyond the end"),
    ([{"start_s": 0, "end_s": 4, "offset_ms": None}, {"start_s": 4, "end_s": 12, "offset_ms": 9}], "has no offset"),
    ([{"start_s": 5, "end_s": 4, "offset_ms": 0}], "end after it starts"),
]


@pytest.mark.parametrize(("content", "message"), BAD_SEGMENTS)
def test_bad_segment_lists_are_refused_and_nothing_is_written(click_clip, tmp_path, capsys, content, message):
    path = tmp_path / "segments.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    out = tmp_path / "out" / "fixed.mkv"
    out.parent.mkdir()
    assert main(["fix", str(click_clip), "-o", str(out), "--segments", str(path), "--quiet"]) == 1
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) <= 2
    assert list(out.parent.iterdir()) == []


def test_lossless_refuses_anything_but_a_constant_shift(aac_clip, tmp_path, capsys):
    out = tmp_path / "fixed.mp4"
    segments = write_json(tmp_path / "s.json", [{"start_s": 0, "end_s": 3, "offset_ms": 0},
                                               {"start_s": 3, "end_s": 6, "offset_ms": 80}])
    assert main(["fix", str(aac_clip), "-o", str(out), "--segments", str(segments), "--lossless", "--quiet"]) == 1
    assert "--lossless can only apply one constant shift" in capsys.readouterr().err
    assert not out.exists()
    constant = write_json(tmp_path / "c.json", [{"start_s": 0, "end_s": 6, "offset_ms": 80}])
    assert main(["fix", str(aac_clip), "-o", str(out), "--segments", str(constant), "--lossless", "--quiet"]) == 0
    assert "audio delayed by 80 ms" in capsys.readouterr().out


def fake_analysis(over_time: SyncOverTime | None, offset_ms: float = 40.0) -> SimpleNamespace:
    return SimpleNamespace(offset_ms=offset_ms, offset_frames=round(offset_ms / 40), confidence=8.0,
                           sync_over_time=over_time)


def test_auto_applies_the_model_of_the_analysis(click_clip, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(syncdesk.core, "analyze_cached", lambda *a, **k: (fake_analysis(steps()), False), raising=False)
    out = tmp_path / "fixed.mkv"
    assert main(["fix", str(click_clip), "-o", str(out), "--auto", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "sync over time: steps" in printed and "3 segments shifted" in printed
    assert audio_of(out, RATE)[round(9.5 * RATE) - 5760] == 20000


def test_auto_without_a_model_applies_the_verdict(click_clip, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(syncdesk.core, "analyze_cached", lambda *a, **k: (fake_analysis(None), False), raising=False)
    out = tmp_path / "fixed.mkv"
    assert main(["fix", str(click_clip), "-o", str(out), "--auto", "--quiet"]) == 0
    assert f"audio delayed by 40 ms; video copied; wrote {out}" in capsys.readouterr().out


def test_auto_with_a_low_confidence_segment_writes_nothing(click_clip, tmp_path, capsys, monkeypatch):
    model = steps()
    for point in model.points[8:14]:  # 6 of the 8 windows of the second segment (4-8 s): nothing confident
        point.confidence = 1.0
    monkeypatch.setattr(syncdesk.core, "analyze_cached", lambda *a, **k: (fake_analysis(model), False), raising=False)
    out = tmp_path / "fixed.mkv"
    assert main(["fix", str(click_clip), "-o", str(out), "--auto", "--quiet"]) == 1
    assert "pass --force" in capsys.readouterr().err
    assert not out.exists()


def test_auto_lossless_refuses_a_drift(aac_clip, tmp_path, capsys, monkeypatch):
    line = SyncOverTime(8.0, 1.0, [], "drift", 120.0, [SyncSegment(0.0, 6.0, -40.0, 8.0, end_offset_ms=80.0)])
    monkeypatch.setattr(syncdesk.core, "analyze_cached", lambda *a, **k: (fake_analysis(line), False), raising=False)
    out = tmp_path / "fixed.mp4"
    assert main(["fix", str(aac_clip), "-o", str(out), "--auto", "--lossless", "--quiet"]) == 1
    assert "--lossless can only apply one constant shift" in capsys.readouterr().err
    assert not out.exists()


def test_aac_drift_lands_within_a_sample_or_two(aac_clip, tmp_path):
    """A lossy codec: the encoder's delay is compensated, the clicks still sit on the line."""
    out = tmp_path / "fixed.mp4"
    correct_audio(aac_clip, out, SyncOverTime(8.0, 1.0, [], "drift", 120.0,
                                              [SyncSegment(0.0, 6.0, -40.0, 1.0, end_offset_ms=80.0)]))
    source, fixed = audio_of(aac_clip, RATE), audio_of(out, RATE)
    for t in (0.5, 2.5, 5.5):
        found = click_at(source, t * RATE) / RATE  # where the source's decoded click sits
        tau = (found - 0.04) / (1 - 0.02)
        assert abs(click_at(fixed, tau * RATE) - tau * RATE) <= 2.5, t
    copied_as_before(aac_clip, out)
