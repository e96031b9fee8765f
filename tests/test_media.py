"""Media: probe, 25 fps resampling by nearest timestamp, audio placed by timestamps."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from syncdesk.core import media
from syncdesk.core.analysis import analyze
from syncdesk.core.options import AnalysisOptions

from .oracle import make_flash_clip


def analysis_frames(path):
    return [(f.index, f.source_index, f.time_s) for f in media.iter_analysis_frames(path)]


def test_example_avi_is_read_as_the_demo_reads_it(example_avi):
    info = media.probe(example_avi)
    assert (info.fps, info.frames, info.width, info.height) == (25.0, 317, 224, 224)
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("pcm_s16le", 16000, 1)
    frames = analysis_frames(example_avi)
    assert [f[1] for f in frames] == list(range(317))  # 25 fps in, 25 fps out: identity
    pcm = media.read_audio(example_avi, media.first_video_time(example_avi))
    assert pcm.dtype == np.int16 and len(pcm) == 202880  # = 317 x 640, as FFmpeg resamples it


@pytest.mark.parametrize(
    ("name", "fps"),
    [("thirty.mp4", Fraction(30)), ("sixty.mkv", Fraction(60)), ("ntsc.mov", Fraction(30000, 1001)),
     ("fifty.avi", Fraction(50))],
)
def test_each_tick_takes_the_source_frame_with_the_nearest_timestamp(tmp_path, name, fps):
    clip = make_flash_clip(tmp_path / name, seconds=2.0, fps=fps)
    info = media.probe(clip)
    assert info.fps == pytest.approx(float(fps), rel=1e-3)
    assert info.frames == pytest.approx(int(2 * fps), abs=1)
    frames = analysis_frames(clip)
    last = (info.frames - 1) / fps  # the last frame counts for half a frame interval after it
    assert len(frames) == sum(1 for n in range(60) if Fraction(n, 25) < last + 1 / (2 * fps))
    for index, source, time_s in frames:
        assert source == round(Fraction(index, 25) * fps)  # nearest, never "the frame on screen"
        assert abs(time_s - index / 25) <= 0.5 / float(fps) + 1e-3


def test_variable_frame_rate_lands_on_the_same_grid(tmp_path):
    clip = make_flash_clip(tmp_path / "vfr.mkv", seconds=2.0, vfr=True)
    frames = analysis_frames(clip)
    assert len(frames) == 50
    assert all(abs(time_s - index / 25) <= 1 / 60 + 1e-3 for index, _, time_s in frames)
    sources = [source for _, source, _ in frames]
    assert sources == sorted(sources)


def test_video_starting_after_its_audio(tmp_path):
    clip = make_flash_clip(tmp_path / "late.mkv", seconds=2.0, video_start_s=0.4)
    info = media.probe(clip)
    assert info.video_start_s == pytest.approx(0.4, abs=1e-3)
    assert info.audio_start_s == pytest.approx(0.0, abs=1e-3)
    start = media.first_video_time(clip)
    assert float(start) == pytest.approx(0.4, abs=1e-3)
    pcm = media.read_audio(clip, start)
    assert len(pcm) == pytest.approx(2.0 * 16000, abs=64)  # the 0.4 s before the picture is dropped
    assert analysis_frames(clip)[0][2] == 0.0


def test_audio_starting_after_the_video_is_preceded_by_silence(tmp_path):
    clip = make_flash_clip(tmp_path / "clip.mkv", seconds=2.0)
    pcm = media.read_audio(clip, Fraction(-1, 4))  # pretend the picture began 0.25 s earlier
    assert len(pcm) == pytest.approx(2.25 * 16000, abs=64)
    assert not pcm[:3990].any()
    assert pcm[4010:].any()


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (48000, 2), (44100, 1), (22050, 2)])
def test_audio_is_16k_mono_int16_of_the_right_length(tmp_path, rate, channels):
    clip = make_flash_clip(tmp_path / "a.mkv", seconds=2.0, audio_rate=rate, channels=channels)
    info = media.probe(clip)
    assert (info.audio_rate, info.audio_channels) == (rate, channels)
    pcm = media.read_audio(clip, media.first_video_time(clip))
    assert pcm.dtype == np.int16
    assert len(pcm) == pytest.approx(32000, abs=64)
    reference = media.read_audio(make_flash_clip(tmp_path / "ref.mkv", seconds=2.0), Fraction(0))
    envelope = lambda x: np.convolve(np.abs(x.astype(float)), np.ones(160) / 160, "same")[:31000]  # noqa: E731
    assert np.corrcoef(envelope(pcm), envelope(reference))[0, 1] > 0.95


def test_audio_shorter_than_video_limits_the_windows(tmp_path, oracle_weights):
    clip = make_flash_clip(tmp_path / "short-audio.mkv", seconds=3.0, audio_seconds=2.0)
    assert len(media.read_audio(clip, Fraction(0))) == pytest.approx(32000, abs=64)
    result = analyze(clip, AnalysisOptions(detector="whole-frame", weights=oracle_weights, exact=True))
    assert result.source.frames == 75
    assert result.tracks[0].windows == 50 - 5  # the demo's count: min(75 frames, 50 of audio) - 5
    assert result.offset_frames == 0


def test_probe_reports_a_missing_audio_stream(tmp_path):
    info = media.probe(make_flash_clip(tmp_path / "mute.mkv", seconds=1.0, audio=False))
    assert not info.has_audio


@pytest.mark.parametrize("pixel_format", ["yuv420p", "yuvj420p", "yuv444p", "gray", "nv12", "rgb24"])
@pytest.mark.parametrize("target", ["bgr24", "rgb24"])
def test_the_frame_converter_gives_the_pixels_pyav_gives(pixel_format, target):
    rng = np.random.default_rng(7)
    converter = media.FrameConverter(target)
    for width, height in [(224, 224), (320, 180), (224, 224)]:  # a size change re-creates the cached context
        source = av.VideoFrame.from_ndarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), format="rgb24")
        frame = source.reformat(format=pixel_format)
        converted = converter(frame)
        assert converted.shape == (height, width, 3) and converted.dtype == np.uint8
        np.testing.assert_array_equal(converted, frame.to_ndarray(format=target))


def test_a_picture_gives_its_luma_as_the_grey_picture_and_a_small_colour_copy():
    """The faces pass: the grey picture a detector searches (a view, no copy), and a small colour copy
    of the frame for the cut detector, without converting every pixel to BGR."""
    import cv2

    from syncdesk.core.shots import _Thumbnail

    rng = np.random.default_rng(8)
    coarse = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
    picture = cv2.resize(coarse, (1920, 1080), interpolation=cv2.INTER_CUBIC)  # smooth colour blobs
    frame = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
    decoded = media.Picture(frame)
    grey, small = decoded.luma, decoded.small(384, 216)
    assert grey.shape == (1080, 1920) and grey.dtype == np.uint8 and not grey.flags.owndata
    reference = frame.to_ndarray(format="bgr24")
    brightness = cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY)
    assert np.corrcoef(grey.ravel(), brightness.ravel())[0, 1] > 0.99  # luma: limited range for 4:2:0 video
    assert small.shape == (216, 384, 3)
    shrunk = cv2.resize(reference, (384, 216), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - shrunk).mean() < 6
    # each pixel the mean of 2 x 2 picked ones, averaged before the (linear) colour conversion: the same
    # pixels picked as above, and the cut detector's thumbnail of it the same, up to rounding
    halved = decoded.small(192, 108, samples=2)
    assert halved.shape == (108, 192, 3)
    thumbnails = [_Thumbnail(copy).small.astype(int) for copy in (small, halved)]
    assert thumbnails[0].shape == (54, 96, 3) and np.abs(thumbnails[0] - thumbnails[1]).max() <= 2


def test_pictures_and_their_colour_copies_find_the_cuts_bgr_frames_find(tmp_path):
    import cv2

    from syncdesk.core.shots import ShotDetector, colour_copy_size

    rng = np.random.default_rng(9)
    scenes = [cv2.resize(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8), (1280, 720), interpolation=cv2.INTER_CUBIC)
              for _ in range(3)]
    clip = tmp_path / "cuts.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index in range(75):  # cuts at 25 and 50
            noisy = np.clip(scenes[index // 25].astype(np.int16) + rng.integers(-6, 7, (720, 1280, 3)), 0, 255)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noisy.astype(np.uint8), format="bgr24")))
        container.mux(stream.encode())
    found = []
    for small in (None, colour_copy_size(1280, 720)):
        shots = ShotDetector()
        for frame in media.iter_analysis_frames(clip, pictures=small is not None, small=small):
            assert isinstance(frame.image, media.Picture) == (small is not None) == (frame.small is not None)
            shots.process(frame.small if frame.small is not None else frame.image)
        found.append(shots.cuts)
    assert found == [[25, 50], [25, 50]]


def test_a_picture_converts_only_the_crop_and_gives_swscale_s_pixels_give_or_take_a_step():
    """The embedding pass crops faces from each frame: a 4:2:0 frame converts only its crop to BGR."""
    from syncdesk.core.faces.crop import crop_face

    rng = np.random.default_rng(10)
    import cv2

    picture = cv2.resize(rng.integers(0, 256, (27, 48, 3), dtype=np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    frame = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
    assert media.Picture.fits(frame)
    whole, lazy = frame.to_ndarray(format="bgr24"), media.Picture(frame)
    assert lazy.shape == whole.shape
    for box in [(1371, 174, 1644, 447), (-50, -30, 200, 220), (1801, 901, 1999, 1099), (3000, 3000, 3100, 3100)]:
        difference = np.abs(crop_face(lazy, box).astype(int) - crop_face(whole, box))
        assert difference.mean() < 1.5 and difference.max() <= 6, box
    region = lazy.region(slice(11, 16), slice(7, 10))  # odd edges: the even-aligned block, trimmed
    assert region.shape == (5, 3, 3) and np.abs(region.astype(int) - whole[11:16, 7:10]).max() <= 6
    odd = av.VideoFrame.from_ndarray(picture[:1079, :1919], format="bgr24").reformat(format="yuv420p")
    assert not media.Picture.fits(odd) and not media.Picture.fits(frame.reformat(format="yuv444p"))


@pytest.mark.parametrize("pixel_format", ["yuv420p", "yuv444p"])
def test_frames_that_are_not_4_2_0_come_as_bgr_when_pictures_are_asked_for(tmp_path, pixel_format):
    clip = tmp_path / f"{pixel_format}.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 180, pixel_format
        for value in range(0, 250, 10):
            picture = np.full((180, 320, 3), value, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        container.mux(stream.encode())
    frames = list(media.iter_analysis_frames(clip, pictures=True))
    assert len(frames) == 25
    kinds = {type(frame.image) for frame in frames}
    assert kinds == ({media.Picture} if pixel_format == "yuv420p" else {np.ndarray})
