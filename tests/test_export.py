"""core/export/: sample-accurate shifts in avi/mp4/mov/mkv, video copied bit for bit, streams kept, safety."""

from __future__ import annotations

import hashlib
import os
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

import av
import imageio_ffmpeg
import numpy as np
import pytest

from syncdesk.core import media
from syncdesk.core.cancel import CancelToken
from syncdesk.core.errors import Cancelled, MediaError
from syncdesk.core.export import ExportError, SampleShifter, shift_audio
from syncdesk.core.export import audio as export_audio
from syncdesk.core.export import writer as export_writer

FPS = 25
#: container -> (video codec, audio codec, sample rate, channels): PCM, AAC, 24-bit PCM and FLAC
CASES = {
    "avi": ("mpeg4", "pcm_s16le", 44100, 1),
    "mp4": ("libx264", "aac", 48000, 2),
    "mov": ("libx264", "pcm_s24le", 48000, 2),
    "mkv": ("libx264", "flac", 44100, 2),
}


# --- clips -------------------------------------------------------------------------------------


def burst_signal(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Noise bursts in random 10 ms slots over a quiet floor: one clear cross-correlation peak."""
    rng = np.random.default_rng(seed)
    slots = rng.random(int(seconds * 100) + 1) < 0.3
    t = np.arange(int(seconds * rate))
    loud = slots[t * 100 // rate]
    return np.clip(rng.normal(0, 1, len(t)) * np.where(loud, 8000, 200), -32767, 32767).astype(np.int16)


def _add_audio(container: av.container.OutputContainer, codec: str, rate: int, channels: int,
               language: Optional[str] = None) -> av.audio.stream.AudioStream:
    stream = container.add_stream(codec, rate=rate)
    stream.layout = "mono" if channels == 1 else "stereo"
    if language:
        stream.metadata["language"] = language
    return stream


def _encode_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                  signal: np.ndarray, rate: int, channels: int) -> None:
    layout = "mono" if channels == 1 else "stereo"
    for start in range(0, len(signal), 1000):
        block = np.repeat(signal[start:start + 1000], channels)[None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="s16", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def make_clip(path: Path, video_codec: str, audio_codec: str, rate: int, channels: int, *,
              seconds: float = 3.0, seed: int = 0, extra_audio: bool = False, subtitles: bool = False,
              chapters: bool = False, size: int = 32) -> Path:
    """A small clip: grey frames that change every frame, burst-noise sound; optionally a second
    audio track (French), a German subtitle track, two chapters and a title."""
    with av.open(str(path), "w") as container:
        video = container.add_stream(video_codec, rate=FPS)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast"} if video_codec == "libx264" else {"qscale": "3"}
        audio = _add_audio(container, audio_codec, rate, channels, language="eng" if extra_audio else None)
        second = _add_audio(container, "pcm_s16le", rate, 1, language="fra") if extra_audio else None
        sub = None
        if subtitles:
            sub = container.add_mux_stream("subrip" if path.suffix == ".mkv" else "mov_text")
            sub.time_base = Fraction(1, 1000)
            sub.metadata["language"] = "deu"
        if chapters:
            container.metadata["title"] = "Clip title"
            container.set_chapters([
                {"id": 1, "start": 0, "end": 1000, "time_base": Fraction(1, 1000), "metadata": {"title": "One"}},
                {"id": 2, "start": 1000, "end": int(seconds * 1000), "time_base": Fraction(1, 1000),
                 "metadata": {"title": "Two"}},
            ])
        rng = np.random.default_rng(seed)
        for index in range(int(seconds * FPS)):
            image = np.full((size, size, 3), rng.integers(0, 255), np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
            if sub is not None and index in (10, 40):
                text = f"line {index}".encode()
                payload = text if path.suffix == ".mkv" else len(text).to_bytes(2, "big") + text
                packet = av.Packet(payload)
                packet.stream, packet.time_base = sub, Fraction(1, 1000)
                packet.pts = packet.dts = index * 40
                packet.duration = 500
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        _encode_audio(container, audio, burst_signal(seconds, rate, seed + 1), rate, channels)
        if second is not None:
            _encode_audio(container, second, burst_signal(seconds, rate, seed + 2), rate, 1)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {ext: make_clip(folder / f"in.{ext}", *CASES[ext]) for ext in CASES}


@pytest.fixture(scope="module")
def rich_mkv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("rich") / "rich.mkv", "libx264", "pcm_s16le", 48000, 2,
                     extra_audio=True, subtitles=True, chapters=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _inputs_untouched(clips: dict[str, Path], rich_mkv: Path):
    """Whatever a test does, the shared input clips stay byte for byte the same."""
    paths = [*clips.values(), rich_mkv]
    before = [sha256(path) for path in paths]
    yield
    assert [sha256(path) for path in paths] == before


# --- measurements ------------------------------------------------------------------------------


def audio_of(path: Path, rate: int, track: int = 0) -> np.ndarray:
    """Track ``track`` as mono samples placed by timestamp, sample 0 at the first video frame."""
    if track == 0:
        return media.read_audio(path, media.first_video_time(path), rate).astype(np.float64)
    start = media.first_video_time(path)
    with av.open(str(path)) as container:
        stream = container.streams.audio[track]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        pieces = []
        for frame in container.decode(stream):
            first = round((frame.pts * frame.time_base - start) * rate) if not pieces else None
            if first is not None and first > 0:
                pieces.append(np.zeros(first, np.int16))
            for chunk in resampler.resample(frame):
                pieces.append(chunk.to_ndarray().reshape(-1))
    return np.concatenate(pieces).astype(np.float64)


def measured_shift_ms(before: np.ndarray, after: np.ndarray, rate: int, search_ms: float = 300) -> float:
    """Lag of ``after`` behind ``before`` by cross-correlation (positive: the sound comes later)."""
    n = min(len(before), len(after))
    size = 2 * n
    corr = np.fft.irfft(np.fft.rfft(after[:n], size) * np.conj(np.fft.rfft(before[:n], size)), size)
    reach = int(search_ms * rate / 1000)
    lags = np.r_[np.arange(-reach, 0), np.arange(0, reach + 1)]
    return float(lags[np.argmax(corr[lags])]) * 1000 / rate


def packets(path: Path, kind: str = "video", index: int = 0) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[index]
        return [bytes(p) for p in container.demux(stream) if p.size]


def timed_packets(path: Path, kind: str, index: int = 0) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[index]
        return [(round(float(p.pts * p.time_base), 3), bytes(p)) for p in container.demux(stream) if p.size]


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1e6


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# --- shifting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [120.0, -80.0, 7.0])
@pytest.mark.parametrize("ext", list(CASES))
def test_shift_is_sample_accurate_and_the_video_is_copied(clips, tmp_path, ext, offset_ms):
    src = clips[ext]
    before = sha256(src)
    _, audio_codec, rate, _ = CASES[ext]
    out = tmp_path / f"out.{ext}"
    result = shift_audio(src, out, offset_ms)

    assert measured_shift_ms(audio_of(src, rate), audio_of(out, rate), rate) == pytest.approx(offset_ms, abs=1.0)
    assert packets(out) == packets(src)  # the video, bit for bit
    assert abs(duration_s(out) - duration_s(src)) <= 1 / FPS
    assert abs(len(audio_of(out, rate)) - len(audio_of(src, rate))) <= rate / FPS
    assert result.shift_samples == round(offset_ms * rate / 1000)
    assert result.applied_ms == pytest.approx(offset_ms, abs=1000 / rate)
    assert (result.delay_ms > 0) == (offset_ms > 0) and (result.advance_ms > 0) == (offset_ms < 0)
    assert result.audio_codec_in == result.audio_codec_out == audio_codec
    assert result.method == "re-encode" and result.note is None
    verb = "delayed" if offset_ms > 0 else "advanced"
    assert result.describe() == f"audio {verb} by {abs(offset_ms):.0f} ms; video copied; wrote {out}"
    assert sha256(src) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("offset_ms", [120.0, -80.0])
@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_lossless_moves_the_audio_without_re_encoding(clips, tmp_path, ext, offset_ms):
    src = clips[ext]
    before = sha256(src)
    rate = CASES[ext][2]
    out = tmp_path / f"out.{ext}"
    result = shift_audio(src, out, offset_ms, lossless=True)
    # FFmpeg honours the edit list: the decoded sound moved, sample-exact
    assert measured_shift_ms(audio_of(src, rate), audio_of(out, rate), rate) == pytest.approx(offset_ms, abs=1.0)
    assert packets(out) == packets(src)
    written, original = packets(out, "audio"), packets(src, "audio")
    # not re-encoded: the same bytes (the mov demuxer regroups PCM into packets its own way),
    # less the packets a delay pushes past the original end
    written, original = b"".join(written), b"".join(original)
    assert written == original[: len(written)] and len(written) >= 0.9 * len(original)
    if offset_ms < 0:
        assert written == original
    assert result.method == "lossless" and result.audio_bit_rate is None
    assert "edit list" in result.details()[0]
    assert sha256(src) == before


def test_lossless_needs_mp4_or_mov(clips, tmp_path):
    for ext in ("avi", "mkv"):
        with pytest.raises(ExportError, match="lossless"):
            shift_audio(clips[ext], tmp_path / f"out.{ext}", 40, lossless=True)
    assert list(tmp_path.iterdir()) == []


def test_mkv_keeps_other_tracks_subtitles_chapters_and_metadata(rich_mkv, tmp_path):
    before = sha256(rich_mkv)
    out = tmp_path / "out.mkv"
    result = shift_audio(rich_mkv, out, 120)
    with av.open(str(rich_mkv)) as a, av.open(str(out)) as b:
        assert [s.type for s in b.streams] == [s.type for s in a.streams] == ["video", "audio", "audio", "subtitle"]
        assert [s.language for s in b.streams] == [s.language for s in a.streams]
        assert [s.language for s in b.streams][1:] == ["eng", "fra", "deu"]
        assert [int(s.disposition) for s in b.streams] == [int(s.disposition) for s in a.streams]
        assert b.metadata.get("title") == "Clip title"
        assert [c["metadata"]["title"] for c in b.chapters()] == ["One", "Two"]
        assert [(c["start"] * c["time_base"], c["end"] * c["time_base"]) for c in b.chapters()] == \
            [(c["start"] * c["time_base"], c["end"] * c["time_base"]) for c in a.chapters()]
    assert packets(out, "audio", 1) == packets(rich_mkv, "audio", 1)  # the other track, untouched
    assert timed_packets(out, "subtitles") == timed_packets(rich_mkv, "subtitles") == [(0.4, b"line 10"),
                                                                                          (1.6, b"line 40")]
    assert packets(out) == packets(rich_mkv)
    assert measured_shift_ms(audio_of(rich_mkv, 48000), audio_of(out, 48000), 48000) == pytest.approx(120, abs=1)
    assert measured_shift_ms(audio_of(rich_mkv, 48000, 1), audio_of(out, 48000, 1), 48000) == pytest.approx(0, abs=1)
    assert result.shifted_streams == (1,) and set(result.copied_streams) == {0, 2, 3} and result.chapters == 2
    assert sha256(rich_mkv) == before


def test_all_audio_shifts_every_track(rich_mkv, tmp_path):
    out = tmp_path / "out.mkv"
    result = shift_audio(rich_mkv, out, -80, all_audio=True)
    for track in (0, 1):
        shift = measured_shift_ms(audio_of(rich_mkv, 48000, track), audio_of(out, 48000, track), 48000)
        assert shift == pytest.approx(-80, abs=1)
    assert result.shifted_streams == (1, 2) and "every audio track" in result.details()[0]


def test_mp4_keeps_rotation_subtitles_chapters_and_languages(tmp_path):
    plain = make_clip(tmp_path / "plain.mp4", "libx264", "aac", 48000, 2, extra_audio=True, subtitles=True,
                      chapters=True)
    src = tmp_path / "rotated.mp4"
    # PyAV cannot write a display matrix: let FFmpeg's own tool add one (argument list, no shell)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-display_rotation:v:0",
                    "90", "-i", str(plain), "-map", "0", "-map", "-0:d", "-c", "copy", str(src)], check=True)
    out = tmp_path / "out.mp4"
    shift_audio(src, out, 40)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert next(b.decode(video=0)).rotation == next(a.decode(video=0)).rotation != 0
    with av.open(str(src)) as a, av.open(str(out)) as b:
        kinds = [s.type for s in b.streams if s.type != "data"]
        assert kinds == ["video", "audio", "audio", "subtitle"]
        assert [s.language for s in b.streams][1:4] == ["eng", "fra", "deu"]
        assert [c["metadata"]["title"] for c in b.chapters()] == ["One", "Two"]
        assert len([s for s in b.streams if s.type == "data"]) == len([s for s in a.streams if s.type == "data"])
    # the muxer writes its own empty samples between subtitles: compare the lines
    lines = [p for p in timed_packets(out, "subtitles") if p[1] != b"\x00\x00"]
    assert lines == [p for p in timed_packets(src, "subtitles") if p[1] != b"\x00\x00"]
    assert lines == [(0.4, b"\x00\x07line 10"), (1.6, b"\x00\x07line 40")]
    assert packets(out) == packets(src)


def test_fallback_codec_when_there_is_no_encoder(clips, tmp_path, monkeypatch):
    real = export_audio._encoder
    monkeypatch.setattr(export_audio, "_encoder", lambda name: None if name == "flac" else real(name))
    out = tmp_path / "out.mkv"
    result = shift_audio(clips["mkv"], out, 120)
    assert result.audio_codec_in == "flac" and result.audio_codec_out.startswith("pcm_s")
    assert "no usable flac encoder" in (result.note or "")
    rate = CASES["mkv"][2]
    assert measured_shift_ms(audio_of(clips["mkv"], rate), audio_of(out, rate), rate) == pytest.approx(120, abs=1)


def test_progress_goes_to_one(clips, tmp_path):
    seen: list[tuple[str, float]] = []
    shift_audio(clips["mp4"], tmp_path / "out.mp4", 40, progress=lambda stage, f: seen.append((stage, f)))
    exporting = [f for stage, f in seen if stage == "exporting"]
    assert exporting[0] == 0.0 and exporting[-1] == 1.0 and exporting == sorted(exporting) and len(exporting) > 3
    assert seen[-1] == ("verifying", 1.0)


def test_names_with_spaces_quotes_and_accents_in_another_folder(clips, tmp_path):
    folder = tmp_path / "my clips ü"
    folder.mkdir()
    src = folder / "it's a \"take\" é.mp4"
    src.write_bytes(clips["mp4"].read_bytes())
    elsewhere = tmp_path / "sortie «1»"
    elsewhere.mkdir()
    out = elsewhere / "résultat \"1\" ß.mp4"
    result = shift_audio(src, out, 120)
    assert out.is_file() and result.output == out
    assert packets(out) == packets(src)
    assert leftovers(folder) == [] and leftovers(elsewhere) == []


def test_a_gap_in_the_audio_stays_a_gap(tmp_path):
    """Sound after a hole in the stream keeps its place (it is not pulled earlier by the hole)."""
    src = tmp_path / "gap.mkv"
    rate = 48000
    with av.open(str(src), "w") as container:
        video = container.add_stream("ffv1", rate=FPS)
        video.width = video.height = 16
        audio = _add_audio(container, "pcm_s16le", rate, 1)
        for index in range(3 * FPS):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), index, np.uint8), format="bgr24")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        signal = burst_signal(3.0, rate, 5)
        for start in range(0, len(signal), 960):
            if rate <= start < 1.2 * rate:  # 200 ms missing from the stream
                continue
            frame = av.AudioFrame.from_ndarray(signal[None, start:start + 960], format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
    out = tmp_path / "out.mkv"
    shift_audio(src, out, 120)
    before, after = audio_of(src, rate), audio_of(out, rate)
    assert len(after) == len(before)
    tail = slice(int(1.3 * rate), int(2.8 * rate))  # after the hole only
    assert measured_shift_ms(before[tail], after[tail], rate) == pytest.approx(120, abs=1)
    assert np.abs(after[int(1.13 * rate):int(1.31 * rate)]).max() == 0  # the hole, moved by 120 ms


def test_sample_shifter_keeps_the_length():
    signal = np.arange(1, 1001, dtype=np.int16).reshape(-1, 1)
    chunks = np.split(signal, [7, 300, 301, 650])
    for shift in (0, 5, 250, -5, -250, 2000, -2000):
        shifter = SampleShifter(shift, 1, np.dtype(np.int16))
        out = np.concatenate([shifter.push(c) for c in chunks] + [shifter.finish()]).ravel()
        expected = np.zeros(1000, np.int16)
        if shift >= 0:
            expected[shift:] = signal.ravel()[: max(1000 - shift, 0)]
        else:
            expected[: max(1000 + shift, 0)] = signal.ravel()[-shift:]
        assert np.array_equal(out, expected), shift


# --- safety ------------------------------------------------------------------------------------


def test_refuses_the_input_under_any_spelling(clips, tmp_path, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    src = folder / "clip.mp4"
    src.write_bytes(clips["mp4"].read_bytes())
    before = sha256(src)
    symlink = tmp_path / "link.mp4"
    symlink.symlink_to(src)
    hardlink = tmp_path / "hard.mp4"
    os.link(src, hardlink)
    monkeypatch.chdir(folder)
    spellings: Sequence[Path] = [src, folder / ".." / "work" / "clip.mp4", Path("clip.mp4"), Path("./clip.mp4"),
                                 symlink, hardlink]
    for dst in spellings:
        for overwrite in (False, True):
            with pytest.raises(ExportError, match="is the input file"):
                shift_audio(src, dst, 120, overwrite=overwrite)
    # and the other way round: the input given through the link, the output as the real file
    with pytest.raises(ExportError, match="is the input file"):
        shift_audio(symlink, src, 120, overwrite=True)
    assert sha256(src) == before and os.path.samefile(hardlink, src) and symlink.resolve() == src
    assert leftovers(folder) == leftovers(tmp_path) == []


def test_refuses_an_existing_output_unless_overwrite(clips, tmp_path):
    src = clips["avi"]
    out = tmp_path / "out.avi"
    out.write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists.*--overwrite"):
        shift_audio(src, out, 120)
    assert out.read_bytes() == b"precious"
    shift_audio(src, out, 120, overwrite=True)
    assert packets(out) == packets(src)


@pytest.mark.parametrize("name, message", [
    ("out.xyz", "cannot tell the container"),
    ("out.mkv", "must keep the container"),
    ("missing/out.mp4", "does not exist"),
    ("folder.mp4", "is a folder"),
])
def test_refuses_bad_outputs(clips, tmp_path, name, message):
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(ExportError, match=message):
        shift_audio(clips["mp4"], tmp_path / name, 120)
    assert leftovers(tmp_path) == []


def test_refuses_inputs_that_are_not_videos(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        shift_audio(tmp_path / "nothing.mp4", tmp_path / "out.mp4", 40)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(MediaError, match="cannot read"):
        shift_audio(junk, tmp_path / "out.mp4", 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]


def test_no_partial_file_after_a_failure(clips, tmp_path, monkeypatch):
    src = clips["mp4"]
    before = sha256(src)

    def broken(*args, **kwargs):
        raise ExportError("the written file does not read back (forced)")

    monkeypatch.setattr(export_writer, "verify", broken)
    out = tmp_path / "out.mp4"
    with pytest.raises(ExportError, match="forced"):
        shift_audio(src, out, 120)
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"old result")  # a failed --overwrite keeps the old file
    with pytest.raises(ExportError, match="forced"):
        shift_audio(src, out, 120, overwrite=True)
    assert out.read_bytes() == b"old result" and leftovers(tmp_path) == []
    assert sha256(src) == before


def test_no_partial_file_after_a_muxer_error(clips, tmp_path, monkeypatch):
    def failing_mux(self, packets, out, last=False):
        raise av.error.InvalidDataError(1094995529, "forced muxer failure")

    monkeypatch.setattr(export_audio.AudioJob, "_mux", failing_mux)
    with pytest.raises(ExportError, match="writing out.mp4 failed"):
        shift_audio(clips["mp4"], tmp_path / "out.mp4", 120)
    assert list(tmp_path.iterdir()) == []


def test_no_partial_file_after_cancellation(clips, tmp_path):
    token = CancelToken()

    def progress(stage: str, fraction: float) -> None:
        if fraction > 0.2:
            token.cancel()

    with pytest.raises(Cancelled):
        shift_audio(clips["mkv"], tmp_path / "out.mkv", 120, progress=progress, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_no_partial_file_after_ctrl_c(clips, tmp_path):
    def progress(stage: str, fraction: float) -> None:
        if fraction > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shift_audio(clips["avi"], tmp_path / "out.avi", -80, progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_the_part_file_is_hidden_beside_the_output(clips, tmp_path, monkeypatch):
    seen: list[Path] = []
    real = export_writer.verify

    def spy(path, *args, **kwargs):
        seen.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(export_writer, "verify", spy)
    out = tmp_path / "out.mp4"
    shift_audio(clips["mp4"], out, 40)
    [part] = seen
    assert part.parent == out.parent and part.name.startswith(".out.mp4.") and part.suffix == ".part"
    assert not part.exists() and out.is_file()
