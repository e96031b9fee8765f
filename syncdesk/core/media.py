"""Probe a file, stream its frames resampled to the analysis rate, and read its audio as 16 kHz PCM.

PyAV (which bundles FFmpeg, so nothing but pip is needed) is the decoder: it gives presentation
timestamps, which is how audio and video are aligned. OpenCV decodes faster, but decoding is a
few percent of an analysis (see bench/), and OpenCV cannot tell when a stream starts.

Timeline: analysis time 0 is the presentation time of the first video frame. Analysis frame ``n``
stands for time ``n / ANALYSIS_FPS`` and shows the source frame whose timestamp is nearest (as
FFmpeg's fps filter rounds); audio sample ``m`` stands for time ``m / AUDIO_RATE``. Audio that
starts after the first frame is preceded by silence; audio before it is dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .cancel import CancelToken
from .errors import MediaError
from .results import StreamDamage

ANALYSIS_FPS = 25
#: one analysis frame in milliseconds: the unit of ``offset_frames``
FRAME_MS = 1000 / ANALYSIS_FPS
AUDIO_RATE = 16000
#: a decoded file shorter than this share of its declared duration is reported as truncated
TRUNCATED_SHARE = 0.9
#: a stream with more than this share of its packets undecodable is refused: the verdict would be
#: read from the fragments between stretches of made-up silence or held pictures
MAX_DAMAGED_SHARE = 0.25
#: a frame interval that differs from the one before by more than this share is irregular, and a
#: stream with more than ``VFR_SHARE`` of its intervals irregular has a variable frame rate (a CFR
#: file's millisecond timestamps jitter by a few percent; a dropped frame makes two irregular ones)
VFR_JITTER = 0.1
VFR_SHARE = 0.1


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learns from the container headers (no decoding)."""

    path: str
    size: int
    container: str
    duration_s: float
    video_codec: str
    width: int
    height: int
    fps: float
    frames: int  # from the header when it says, else estimated from duration x fps
    video_start_s: float
    variable_frame_rate: bool
    audio_codec: Optional[str]
    audio_rate: Optional[int]
    audio_channels: Optional[int]
    audio_start_s: Optional[float]

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


@dataclass(frozen=True)
class AnalysisFrame:
    """One frame of the 25 fps analysis stream."""

    index: int  # analysis frame number
    source_index: int  # decoded frame number in the source stream
    time_s: float  # source presentation time minus the first frame's
    image: np.ndarray | Picture  # H x W x 3 uint8, BGR; or a decoded Picture, converted where cropped
    small: Optional[np.ndarray] = None  # beside a Picture: a small colour copy (BGR), for the cut detector


@dataclass
class VideoLog:
    """What one pass over the video saw: the packets that did not decode, the frames decoded, and
    how regular their timestamps are."""

    damage: StreamDamage = field(default_factory=lambda: StreamDamage("video"))
    frames: int = 0
    intervals: int = 0
    irregular: int = 0
    _step: Optional[Fraction] = None

    def frame(self, step: Optional[Fraction]) -> None:
        """One decoded frame, ``step`` after the one before (None: the first, or out of order)."""
        self.frames += 1
        if step is None:
            return
        if self._step is not None:
            self.intervals += 1
            self.irregular += abs(step - self._step) > VFR_JITTER * self._step
        self._step = step

    @property
    def variable_frame_rate(self) -> bool:
        return self.irregular > VFR_SHARE * self.intervals


def open_input(path: os.PathLike | str) -> av.container.InputContainer:
    """Open for reading; a missing file, a folder or an unreadable file is a :class:`MediaError`."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"no such file: {path}")
    if path.is_dir():
        raise MediaError(f"{path} is a folder, not a video file")
    if path.is_file() and path.stat().st_size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes): nothing to analyse")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read {path.name}: not a video file, or it is corrupt ({ffmpeg_reason(exc)})") from None


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error (its strerror), for the end of a one-line message."""
    return getattr(exc, "strerror", None) or str(exc)


def _seconds(value: Optional[int], time_base: Optional[Fraction]) -> Optional[float]:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def decode_packets(container: av.container.InputContainer, stream: av.stream.Stream,
                   damage: Optional[StreamDamage] = None) -> Iterator[av.frame.Frame]:
    """The stream's decoded frames; a packet that does not decode is skipped and noted in ``damage``.

    This is what FFmpeg's own tools do with a few bad packets (a flipped bit in a broadcast or
    camera file): the frames around them keep their timestamps, so the sound placed by timestamp
    gets silence in the hole and the picture stays on the frame before. Demuxing errors still
    raise: the container itself cannot be read on.
    """
    for packet in container.demux(stream):
        yield from decode_packet(packet, damage)


def decode_packet(packet: av.Packet, damage: Optional[StreamDamage] = None) -> list[av.frame.Frame]:
    """One packet's frames; none, noted in ``damage``, when it does not decode (see :func:`decode_packets`)."""
    if packet.size and damage is not None:
        damage.of_packets += 1
    try:
        return packet.decode()
    except av.error.FFmpegError:
        if packet.size and damage is not None:
            damage.add(*_packet_span(packet))
        return []


def _packet_span(packet: av.Packet) -> tuple[float, float]:
    """A packet's start and duration in seconds on the file's clock (0 where it does not say)."""
    time = packet.pts if packet.pts is not None else packet.dts
    return _seconds(time, packet.time_base) or 0.0, _seconds(packet.duration, packet.time_base) or 0.0


def check_damage(damage: StreamDamage, name: str) -> None:
    """Refuse a stream with more than :data:`MAX_DAMAGED_SHARE` of its packets undecodable."""
    if damage.share <= MAX_DAMAGED_SHARE:
        return
    made_up = "silence" if damage.stream == "audio" else "the picture before them held"
    raise MediaError(
        f"{name} is too damaged to analyse: {damage.packets} of {damage.of_packets} {damage.stream} packets "
        f"({damage.lost_s:.1f} s) did not decode, more than {MAX_DAMAGED_SHARE:.0%} of the {damage.stream}; "
        f"with {made_up} in their place a verdict would rest on too little. Re-export or re-fetch the file"
    )


def probe(path: os.PathLike | str) -> MediaInfo:
    """Read the headers. Raises :class:`MediaError` for anything that is not a video."""
    with open_input(path) as container:
        if not container.streams.video:
            raise MediaError(f"{Path(path).name} has no video stream")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = video.average_rate or video.base_rate or video.guessed_rate
        fps = float(rate) if rate else 0.0
        video_start = _seconds(video.start_time, video.time_base) or 0.0
        duration = _seconds(video.duration, video.time_base)
        if duration is None and container.duration is not None:
            # the container's span: the video's part of it starts at its own first timestamp
            start = (container.start_time or 0) / av.time_base
            duration = max(0.0, container.duration / av.time_base - max(0.0, video_start - start))
        duration = duration or 0.0
        frames = video.frames or (round(duration * fps) if fps else 0)
        base = video.base_rate
        vfr = bool(rate and base and abs(float(base) - float(rate)) > 0.01 * float(rate))
        return MediaInfo(
            path=str(path),
            size=Path(path).stat().st_size,
            container=container.format.name,
            duration_s=duration,
            video_codec=video.codec_context.name,
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=fps,
            frames=int(frames),
            video_start_s=video_start,
            variable_frame_rate=vfr,
            audio_codec=audio.codec_context.name if audio else None,
            audio_rate=audio.codec_context.sample_rate if audio else None,
            audio_channels=audio.codec_context.channels if audio else None,
            audio_start_s=(_seconds(audio.start_time, audio.time_base) or 0.0) if audio else None,
        )


class FrameConverter:
    """Decoded frames to ``H x W x 3`` uint8 arrays in ``pixel_format`` (``bgr24``, ``rgb24``).

    ``VideoFrame.to_ndarray(format=...)`` builds a new swscale context for every frame, and since
    PyAV 17 one that starts its own threads: 0.75 ms per 224x224 frame measured, against 0.14 ms
    for one cached context on one thread (the decoder runs beside the network, which has the cores).
    """

    def __init__(self, pixel_format: str) -> None:
        self._format = pixel_format
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        return self._reformatter.reformat(frame, format=self._format, threads=1).to_ndarray()


class Picture:
    """A decoded 8-bit 4:2:0 video-range frame of even size, converted to BGR only where asked
    (:meth:`region`): the faces pass, which crops faces, need not convert every pixel of every frame.
    The pixels are those swscale gives for the whole frame, give or take a rounding step."""

    def __init__(self, frame: av.VideoFrame) -> None:
        import cv2  # only here: the crop path's

        self._cv2 = cv2
        self.shape = (frame.height, frame.width, 3)
        half = (frame.height // 2, frame.width // 2)
        self._planes = [_plane(frame, 0, frame.height, frame.width), _plane(frame, 1, *half), _plane(frame, 2, *half)]

    @property
    def luma(self) -> np.ndarray:
        """The grey picture: a view of the luma plane, no copy (what a grey face detector searches)."""
        return self._planes[0]

    def small(self, width: int, height: int, samples: int = 1) -> np.ndarray:
        """A ``width`` x ``height`` (even) BGR copy, each pixel the mean of ``samples`` x ``samples``
        pixels picked evenly from each plane: not a colour conversion of every pixel (what the cut
        detector needs). The planes are averaged before the conversion, which is linear: a 2 x 2 block
        of this copy averages to what the same block of a copy picked at ``samples`` times the size,
        converted and then averaged, gives, up to rounding, for a fraction of the conversions."""
        cv2 = self._cv2
        sizes = ((width, height), (width // 2, height // 2), (width // 2, height // 2))
        picked = []
        for plane, (plane_width, plane_height) in zip(self._planes, sizes, strict=True):
            plane = cv2.resize(plane, (plane_width * samples, plane_height * samples), interpolation=cv2.INTER_NEAREST)
            if samples > 1:
                plane = cv2.resize(plane, (plane_width, plane_height), interpolation=cv2.INTER_AREA)
            picked.append(plane)
        i420 = np.concatenate([plane.ravel() for plane in picked]).reshape(height * 3 // 2, width)
        return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)

    @staticmethod
    def fits(frame: av.VideoFrame) -> bool:
        return frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0

    def region(self, rows: slice, columns: slice) -> np.ndarray:
        """``rows`` x ``columns`` (within the frame, steps of 1) as BGR."""
        top, left = rows.start - rows.start % 2, columns.start - columns.start % 2
        bottom, right = rows.stop + rows.stop % 2, columns.stop + columns.stop % 2
        if bottom <= top or right <= left:
            return np.zeros((max(0, rows.stop - rows.start), max(0, columns.stop - columns.start), 3), np.uint8)
        luma, u, v = self._planes
        parts = [luma[top:bottom, left:right], u[top // 2:bottom // 2, left // 2:right // 2],
                 v[top // 2:bottom // 2, left // 2:right // 2]]
        i420 = np.concatenate([part.ravel() for part in parts]).reshape((bottom - top) * 3 // 2, right - left)
        bgr = self._cv2.cvtColor(i420, self._cv2.COLOR_YUV2BGR_I420)
        return bgr[rows.start - top:rows.stop - top, columns.start - left:columns.stop - left]


def bgr_region(image: np.ndarray | Picture, rows: slice, columns: slice) -> np.ndarray:
    """``rows`` x ``columns`` (within the frame) of a BGR frame (a view) or of a decoded
    :class:`Picture` (only that region converted)."""
    return image.region(rows, columns) if isinstance(image, Picture) else image[rows, columns]


def _plane(frame: av.VideoFrame, index: int, rows: int, columns: int) -> np.ndarray:
    """A view of one plane of ``frame`` (its rows may be padded past ``columns``)."""
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :columns]


def _frame_time(frame: av.VideoFrame) -> Optional[Fraction]:
    if frame.pts is None or frame.time_base is None:
        return None
    return frame.pts * frame.time_base


def first_video_time(path: os.PathLike | str) -> Fraction:
    """Presentation time of the first decodable video frame: analysis time zero."""
    with open_input(path) as container:
        stream = container.streams.video[0]
        try:
            for frame in decode_packets(container, stream):
                time = _frame_time(frame)
                return time if time is not None else Fraction(0)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot decode the video of {Path(path).name} ({ffmpeg_reason(exc)})") from None
    raise MediaError(f"{Path(path).name}: the video stream has no decodable frame")


def iter_analysis_frames(
    path: os.PathLike | str,
    fps: int = ANALYSIS_FPS,
    cancel: Optional[CancelToken] = None,
    log: Optional[VideoLog] = None,
    pictures: bool = False,
    small: Optional[tuple[int, int, int]] = None,
) -> Iterator[AnalysisFrame]:
    """Stream the video resampled to ``fps`` by presentation time; one decoded frame in memory.

    Each analysis tick ``t_n = t0 + n/fps`` shows the source frame whose timestamp is nearest to
    ``t_n`` (ties go to the earlier frame). A source frame is converted to BGR only if some tick
    selects it, so 50/60 fps sources cost little more than 25 fps ones. A packet that does not
    decode is skipped (:func:`decode_packets`) and noted in ``log``, with the frames and their timing.
    ``pictures``: frames that can be are given as :class:`Picture` (converted where cropped), with,
    when ``small`` (width, height, samples) is given, a small colour copy of that size, each pixel
    the mean of samples x samples picked ones (:meth:`Picture.small`); other frames as BGR.
    """
    name = Path(path).name
    with open_input(path) as container:
        if not container.streams.video:
            raise MediaError(f"{name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frames decoded on several threads, slices too (bench/engine_notes.md)
        tick = Fraction(1, fps)
        t0: Optional[Fraction] = None
        prev: Optional[tuple[int, Fraction, av.VideoFrame]] = None
        next_tick = 0
        decoded = 0
        last_step = tick
        to_bgr = FrameConverter("bgr24")

        def emit(item: tuple[int, Fraction, av.VideoFrame], until: Fraction, inclusive: bool) -> Iterator[AnalysisFrame]:
            nonlocal next_tick
            source_index, time, frame = item
            image: Optional[np.ndarray | Picture] = None
            copy: Optional[np.ndarray] = None
            while True:
                t = next_tick * tick
                if t > until or (t == until and not inclusive):
                    return
                if image is None and pictures and Picture.fits(frame):
                    image = Picture(frame)
                    copy = image.small(*small) if small is not None else None
                elif image is None:
                    image = to_bgr(frame)
                yield AnalysisFrame(next_tick, source_index, float(time), image, copy)
                next_tick += 1

        try:
            for frame in decode_packets(container, stream, log.damage if log is not None else None):
                if cancel is not None:
                    cancel.check()
                time = _frame_time(frame)
                if t0 is None:
                    t0 = time if time is not None else Fraction(0)
                rel = (time - t0) if time is not None else decoded * tick
                step = rel - prev[1] if prev is not None and rel > prev[1] else None
                if log is not None:
                    log.frame(step)
                if prev is not None:
                    if step is None:  # out-of-order or duplicate timestamp: keep the first
                        decoded += 1
                        continue
                    last_step = step
                    # ticks nearer to prev than to this frame (midpoint goes to prev)
                    yield from emit(prev, (prev[1] + rel) / 2, inclusive=True)
                prev = (decoded, rel, frame)
                decoded += 1
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"decoding {name} failed after {decoded} frames: the file is corrupt or truncated ({ffmpeg_reason(exc)})"
            ) from None
        if log is not None:
            check_damage(log.damage, name)
        if prev is None:
            raise MediaError(f"{name}: the video stream has no decodable frame")
        # the last frame is shown for one more frame interval: ticks within half of it are its own
        yield from emit(prev, prev[1] + last_step / 2, inclusive=False)


def stream_audio(
    path: os.PathLike | str,
    start: Fraction,
    rate: int = AUDIO_RATE,
    cancel: Optional[CancelToken] = None,
    seek: bool = False,
    damage: Optional[StreamDamage] = None,
) -> Iterator[np.ndarray]:
    """Decode the first audio stream as chunks of mono int16 at ``rate``, sample 0 at time ``start``.

    Chunks are placed by their timestamps: a gap in the stream becomes silence and an overlap is
    dropped, as FFmpeg's ``aresample=async`` would do, so a stream that starts late or has holes
    keeps its sync with the video. ``seek``: start decoding near ``start`` instead of at the
    beginning (a player starting mid-file); what is decoded before ``start`` is dropped. A packet
    that does not decode is skipped (:func:`decode_packets`: silence in its place) and noted in ``damage``.
    """
    name = Path(path).name
    with open_input(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{name} has no audio stream: there is nothing to sync")
        stream = container.streams.audio[0]
        if seek and start > 1 and stream.time_base is not None:
            container.seek(int((start - 1) / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        cursor = 0  # samples placed so far, relative to ``start``
        tolerance = rate // 500  # 2 ms of timestamp jitter is not a gap

        def place(chunk: av.AudioFrame) -> Iterator[np.ndarray]:
            nonlocal cursor
            samples = chunk.to_ndarray().reshape(-1)
            time = _frame_time(chunk)
            position = cursor if time is None else round((time - start) * rate)
            if abs(position - cursor) <= tolerance:
                position = cursor
            if position > cursor:
                yield np.zeros(position - cursor, dtype=np.int16)
                cursor = position
            skip = cursor - position
            if skip < len(samples):
                yield samples[skip:]
                cursor += len(samples) - skip

        try:
            for frame in decode_packets(container, stream, damage):
                if cancel is not None:
                    cancel.check()
                for chunk in resampler.resample(frame):
                    yield from place(chunk)
            for chunk in resampler.resample(None):
                yield from place(chunk)
        except av.error.FFmpegError as exc:
            raise MediaError(f"decoding the audio of {name} failed: the file is corrupt or truncated ({ffmpeg_reason(exc)})") from None


def read_audio(
    path: os.PathLike | str,
    start: Fraction,
    rate: int = AUDIO_RATE,
    cancel: Optional[CancelToken] = None,
    damage: Optional[StreamDamage] = None,
) -> np.ndarray:
    """All of :func:`stream_audio` in one array (16 kHz mono: 32 kB a second); refused when
    ``damage`` (filled as it decodes) says too much of it did not decode (:func:`check_damage`)."""
    pieces = list(stream_audio(path, start, rate, cancel, damage=damage))
    if damage is not None:
        check_damage(damage, Path(path).name)
    if not pieces:
        raise MediaError(f"{Path(path).name}: the audio stream has no decodable sound")
    return np.concatenate(pieces)


def check_complete(info: MediaInfo, decoded_frames: int, fps: int = ANALYSIS_FPS) -> None:
    """Raise if far fewer frames decoded than the header promised (a truncated file)."""
    declared = max(info.duration_s, info.frames / info.fps if info.fps else 0.0)
    if declared <= 0:
        return
    decoded_s = decoded_frames / fps
    if decoded_s < TRUNCATED_SHARE * declared - 1.0 / fps:
        raise MediaError(
            f"{Path(info.path).name} looks truncated: its header says {declared:.1f} s "
            f"but only {decoded_s:.1f} s of video could be decoded"
        )
