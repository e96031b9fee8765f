"""Frame-accurate access for the viewer, and the player's audio placement (no device needed)."""

from __future__ import annotations

import bisect
from fractions import Fraction

import av
import numpy as np
import pytest

from syncdesk.core.errors import MediaError
from syncdesk.core.frames import FrameReader
from syncdesk.core.media import read_audio
from syncdesk.core.timecodes import timecode
from syncdesk.gui.audio_out import audio_start, pcm_feed

from .oracle import make_flash_clip


def decoded(path):
    with av.open(str(path)) as container:
        frames = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    t0 = frames[0][0]
    return [(t - t0, image) for t, image in frames]


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    """12 s of 29.97 fps H.264: one keyframe every 250 frames, so seeking is really exercised."""
    return make_flash_clip(tmp_path_factory.mktemp("frames") / "ntsc.mp4", seconds=12.0, fps=Fraction(30000, 1001))


def test_frame_at_is_the_frame_on_screen_at_that_time(long_gop):
    frames = decoded(long_gop)
    times = [t for t, _ in frames]
    with FrameReader(long_gop) as reader:
        for query in (0.0, 9.5, 1.0, 3.3367, 0.5, 11.9, 4.0, 4.01, 100.0):  # forward, back, far, past the end
            shown = reader.frame_at(query)
            index = max(0, bisect.bisect_right(times, query + 1e-9) - 1)
            assert shown.time_s == pytest.approx(times[index], abs=1e-6)
            assert np.array_equal(shown.image, frames[index][1])


def test_stepping_walks_every_frame_once_both_ways(long_gop):
    times = [t for t, _ in decoded(long_gop)]
    with FrameReader(long_gop) as reader:
        reader.frame_at(5.0)
        start = reader.current.time_s
        forward = [start]
        while (frame := reader.next_frame()) is not None:
            forward.append(frame.time_s)
        backward = [reader.current.time_s]
        while (frame := reader.previous_frame()) is not None:
            backward.append(frame.time_s)
    first = times.index(pytest.approx(start, abs=1e-6))
    assert forward == pytest.approx(times[first:], abs=1e-6)
    assert backward[::-1] == pytest.approx(times, abs=1e-6)


def test_a_video_that_starts_late_counts_from_its_first_frame(tmp_path):
    clip = make_flash_clip(tmp_path / "late.mkv", seconds=2.0, video_start_s=0.4)
    with FrameReader(clip) as reader:
        assert float(reader.start_time) == pytest.approx(0.4, abs=1e-3)
        assert reader.current.time_s == 0.0 and reader.frame_at(1.0).time_s == pytest.approx(1.0, abs=1e-6)


def test_unreadable_files_are_media_errors(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="junk.mp4"):
        FrameReader(junk)
    with pytest.raises(MediaError, match="no such file"):
        FrameReader(tmp_path / "missing.mp4")


def test_timecode_counts_frames_at_the_nominal_rate():
    assert timecode(0.0, 25) == "00:00:00:00"
    assert timecode(3723.48, 25) == "01:02:03:12"
    assert timecode(1.0, 30000 / 1001) == "00:00:01:00" and timecode(0.5, 30000 / 1001) == "00:00:00:15"
    assert timecode(-2.0, 25) == "00:00:00:00"


def test_playback_audio_is_shifted_by_the_nudge(tmp_path):
    """With a +120 ms shift (audio delayed), video time t plays what was recorded at t - 0.12 s."""
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=4.0)
    t0 = Fraction(0)
    assert audio_start(t0, 2.0, 120.0) == Fraction(188, 100)
    assert audio_start(Fraction(4, 10), 1.0, -40.0) == Fraction(144, 100)
    rate = 16000
    whole = read_audio(clip, t0, rate)
    start = audio_start(t0, 2.0, 120.0)
    feed = pcm_feed(iter([whole[round(start * rate):]]))
    next(feed)
    first = np.frombuffer(feed.send(800), np.int16)
    assert np.array_equal(first, whole[30080:30880])
    rest = np.frombuffer(feed.send(10 ** 6), np.int16)  # past the end: silence, never an error
    assert len(rest) == 10 ** 6 and not rest[-1000:].any()


def test_the_frames_kept_for_back_steps_are_bounded_in_bytes(tmp_path, monkeypatch):
    from syncdesk.core import frames

    clip = make_flash_clip(tmp_path / "clip.avi", seconds=2.0, size=64)
    monkeypatch.setattr(frames, "RECENT_BYTES", 10 * 64 * 64 * 3)  # room for 10 frames of 64x64
    with FrameReader(clip) as reader:
        for _ in range(30):
            reader.next_frame()
        assert len(reader._recent) == 10
        times = [reader.current.time_s]
        for _ in range(9):  # back-steps within the kept frames need no decoding
            times.append(reader.previous_frame().time_s)
        assert times == sorted(times, reverse=True) and len(set(times)) == 10
