"""Test clips that flash in a seeded pattern, and "oracle" SyncNet weights that can read them.

The oracle weights keep the published architecture and key names but turn the network into a
brightness-versus-loudness correlator, so an end-to-end analysis has a known right answer:

* video tower: the mean brightness of frames i+1..i+3 of window i, mapped to 1 if any is bright;
* audio tower: the MFCC log-energy row (row 0) of MFCC columns 4..10 of the window (the sound of
  frames i+1..i+3), mapped to 1 if loud. The max-pools mix MFCC rows, so row 0 is isolated with
  the second convolution's zero padding: a constant channel read one row up is 0 only on row 0,
  and subtracting a large multiple of it silences every other row.

Both embeddings are ``SCALE * [0 or 1, 0, 0, ...]``: aligned windows are at distance ~0, and a
wrong shift costs ``SCALE`` for each window where the patterns differ.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import av
import numpy as np
import python_speech_features
import torch

from syncdesk.core.sync.model import SyncNet

DARK, BRIGHT = 40, 200  # frame grey levels
QUIET_STD, LOUD_STD = 30.0, 3000.0  # noise levels in int16 units (40 dB apart)
SCALE = 10.0  # embedding size of "on": confidences come out in SyncNet's usual range
BN_EPS = 1e-5
BIG = 1000.0  # larger than any MFCC value

#: the audio's lead in seconds: a constant, or a function of time (seconds, a numpy array) on the audio's clock
Lead = Union[float, Callable[[np.ndarray], np.ndarray]]


def flash_pattern(slots: int, seed: int = 0, p_on: float = 0.35) -> np.ndarray:
    """On/off per 25 fps slot."""
    return np.random.default_rng(seed).random(slots) < p_on


def _log_energy(std: float) -> float:
    noise = np.random.default_rng(1).normal(0.0, std, 16000)
    return float(np.mean(python_speech_features.mfcc(noise, 16000)[:, 0]))


def _identity_bn(state: dict[str, torch.Tensor], prefix: str) -> None:
    state[f"{prefix}.weight"].fill_(1.0)
    state[f"{prefix}.bias"].zero_()
    state[f"{prefix}.running_mean"].zero_()
    state[f"{prefix}.running_var"].fill_(1.0 - BN_EPS)


def _clamp_head(state: dict[str, torch.Tensor], prefix: str, gain: float, offset: float) -> None:
    """Head computing ``SCALE * clamp(gain * x0 + offset, 0, 1)`` in output 0."""
    state[f"{prefix}.0.weight"][0, 0] = gain
    state[f"{prefix}.0.bias"][0] = offset
    state[f"{prefix}.0.weight"][1, 0] = gain
    state[f"{prefix}.0.bias"][1] = offset - 1.0
    _identity_bn(state, f"{prefix}.1")
    state[f"{prefix}.3.weight"][0, 0] = SCALE
    state[f"{prefix}.3.weight"][0, 1] = -SCALE


def oracle_state_dict() -> dict[str, torch.Tensor]:
    state = {key: torch.zeros_like(value) for key, value in SyncNet().state_dict().items()}
    for key in state:
        if key.endswith("running_var"):
            state[key].fill_(1.0)
    for index in (1, 5, 9, 12, 15, 19):
        _identity_bn(state, f"netcnnaud.{index}")
        _identity_bn(state, f"netcnnlip.{index}")

    # audio: channel 0 carries MFCC row 0 only; channel 1 of the first conv is a constant 1
    state["netcnnaud.0.weight"][0, 0, 1, 1] = 1.0
    state["netcnnaud.0.bias"][1] = 1.0
    state["netcnnaud.4.weight"][0, 0, 1, 1] = 1.0
    state["netcnnaud.4.weight"][0, 1, 0, 1] = -BIG  # reads the constant one row up: 0 on row 0
    for index in (8, 11, 14):
        state[f"netcnnaud.{index}.weight"][0, 0, 1, 1] = 1.0
    state["netcnnaud.18.weight"][0, 0, 0, 1] = 1.0  # pooled columns 4..10 = frames i+1..i+3
    quiet, loud = _log_energy(QUIET_STD), _log_energy(LOUD_STD)
    # "loud" from 3 log units above quiet (one loud sample leaking through pre-emphasis into a quiet
    # column adds ~2.6) to 40% of the way up (a column 20% inside a loud frame is ~80% up)
    span = 0.4 * (loud - quiet)
    _clamp_head(state, "netfcaud", 1.0 / span, -(quiet + 3.0) / span)

    # video: channel 0 is the mean brightness of frames i+1..i+3
    state["netcnnlip.0.weight"][0, :, 1:4] = 1.0 / (3 * 3 * 49)
    state["netcnnlip.4.weight"][0, 0, 0, 2, 2] = 1.0
    for index in (8, 11, 14):
        state[f"netcnnlip.{index}.weight"][0, 0, 0, 1, 1] = 1.0
    state["netcnnlip.18.weight"][0, 0, 0, 2, 2] = 1.0
    # bright frames among the three = 3 (v - DARK) / (BRIGHT - DARK); "any" = clamp((n - 0.25) / 0.5)
    gain = 3.0 / (BRIGHT - DARK) / 0.5
    _clamp_head(state, "netfclip", gain, (-3.0 * DARK / (BRIGHT - DARK) - 0.25) / 0.5)
    return state


def save_oracle(path: Path) -> Path:
    torch.save(oracle_state_dict(), path)
    return path


def _frame_times(seconds: float, fps: Fraction, vfr: bool) -> list[Fraction]:
    if not vfr:
        return [k / fps for k in range(int(seconds * fps))]
    steps = [Fraction(1, 30), Fraction(1, 50), Fraction(1, 40), Fraction(1, 30), Fraction(1, 60)]
    times, t, k = [], Fraction(0), 0
    while t < seconds:
        times.append(t)
        t += steps[k % len(steps)]
        k += 1
    return times


def make_flash_clip(
    path: Path,
    seconds: float = 4.0,
    fps: Fraction | int = 25,
    audio_lead_s: Lead = 0.0,
    audio_rate: int = 16000,
    channels: int = 1,
    vfr: bool = False,
    video_start_s: float = 0.0,
    seed: int = 0,
    size: int = 64,
    video_codec: Optional[str] = None,
    audio_codec: Optional[str] = None,
    pattern: Optional[Sequence[bool]] = None,
    video_pattern: Optional[Sequence[bool]] = None,
    audio: bool = True,
    audio_seconds: Optional[float] = None,
) -> Path:
    """A clip whose frames flash and whose sound is loud in the same seeded pattern.

    Slot ``n`` of the pattern is shown from ``video_start_s + n/25``; its sound plays
    ``audio_lead_s`` earlier (positive: the audio leads, the contract's positive offset); a
    function of time makes the lead vary along the clip (drift, steps).
    The audio stream starts at time 0, the video stream at ``video_start_s``. ``video_pattern``
    (default: ``pattern``) lets the picture disagree with the sound, for weaker evidence.
    """
    fps = Fraction(fps)
    suffix = path.suffix.lower()
    slots = int(seconds * 25) + 2
    on = np.asarray(pattern if pattern is not None else flash_pattern(slots, seed), dtype=bool)
    shown = np.asarray(video_pattern, dtype=bool) if video_pattern is not None else on
    video_codec = video_codec or {".avi": "mpeg4", ".mkv": "ffv1", ".mp4": "libx264", ".mov": "libx264"}[suffix]
    audio_codec = audio_codec or {".mp4": "aac"}.get(suffix, "pcm_s16le")
    with av.open(str(path), "w") as container:
        video = container.add_stream(video_codec, rate=fps if not vfr else 1000)
        video.width = video.height = size
        video.pix_fmt = "yuv420p" if video_codec != "ffv1" else "yuv444p"
        if video_codec == "libx264":
            video.options = {"crf": "12", "preset": "ultrafast"}
        elif video_codec == "mpeg4":
            video.options = {"qscale": "2"}
        time_base = Fraction(1, 1000) if (vfr or video_start_s) else 1 / fps
        video.time_base = time_base
        astream = None
        if audio:
            astream = container.add_stream(audio_codec, rate=audio_rate)
            astream.layout = "mono" if channels == 1 else "stereo"
        for t in _frame_times(seconds, fps, vfr):
            slot = round(t * 25)
            level = BRIGHT if slot < len(shown) and shown[slot] else DARK
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), level, np.uint8), format="bgr24")
            frame.pts = round((t + Fraction(video_start_s)) / time_base)
            frame.time_base = time_base
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if astream is not None:
            audio_length = audio_seconds if audio_seconds is not None else seconds + video_start_s
            _write_audio(container, astream, on, audio_length, video_start_s, audio_lead_s,
                         audio_rate, channels, seed)
    return path


def _write_audio(container: av.container.OutputContainer, stream: av.AudioStream, on: np.ndarray,
                 seconds: float, video_start_s: float, lead_s: Lead, rate: int, channels: int, seed: int) -> None:
    samples = int(seconds * rate)
    t = np.arange(samples) / rate
    lead = lead_s(t) if callable(lead_s) else lead_s
    slot = np.floor((t - video_start_s + lead) * 25).astype(int)
    loud = (slot >= 0) & (slot < len(on)) & on[np.clip(slot, 0, len(on) - 1)]
    noise = np.random.default_rng(seed + 1).normal(0.0, 1.0, samples)
    signal = np.clip(noise * np.where(loud, LOUD_STD, QUIET_STD), -32767, 32767).astype(np.int16)
    layout = "mono" if channels == 1 else "stereo"
    chunk = 1024
    for start in range(0, samples, chunk):
        block = signal[start : start + chunk]
        data = np.repeat(block, channels)[None, :]  # packed s16: samples interleaved per channel
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="s16", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def write_silent_wav(path: Path) -> Path:
    """One second of 16 kHz mono silence as WAV, whatever ``path``'s extension says."""
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(16000)
        stream.writeframes(np.zeros(16000, np.int16).tobytes())
    return path
