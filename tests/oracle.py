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

Those towers tell whole frames apart only; the sub-frame oracle (``subframe_oracle_state_dict``,
below) measures how much of each window is loud or bright, so offsets between frames read true.
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


# The sub-frame oracle ------------------------------------------------------------------------------
#
# The oracle above answers "any bright frame? any loud column?", so its distances change only when
# a whole frame changes and the parabola through D(k) has nothing to refine. The sub-frame oracle
# measures instead *how much* of its window is loud or bright, so that moving the sound by a few
# milliseconds moves the audio embedding by a proportional amount.
#
# Audio: an MFCC column c (25 ms from 10c ms) holds the log energy of its samples, which is nearly
# binary in the share f of them that are loud. Piecewise-linear knots undo the log (energy is
# linear in f), giving g(c) = f per column. The tower must add g over the window, but its max-pools
# would only keep the loudest column. Two facts get a sum through them:
#
# * the first pool (3 columns) keeps max and min of every 3 columns (g and COMPLEMENT - g, each
#   shifted by 0 or 1 column so both pooling phases are seen); on a 3-column stretch where g only
#   rises or only falls (always at the truth, nearly always elsewhere), (max + min) / 2 =
#   (g(t) + g(t+2)) / 2, a linear term. Their sum over t = 0..15 weighs columns 0..17 with 1/2, 1/2, 1, ..., 1, 1/2, 1/2
#   (columns 18 and 19 hear frame 5, which the video window never shows).
# * the second pool is made harmless: the zero padding of the next three convolutions tells the
#   pooled columns apart, so the sum is gathered onto pooled column 1 (t = 0..9) and column 7
#   (t = 10..15) and every other column is set to 0; each of them is alone in its pooling window.
#
# Video: the same weights integrated over each frame give each frame's weight, so the brightness of
# a window weighted frame by frame equals the audio sum when sound and picture are in sync.
#
# Embeddings: ``SUBFRAME_SCALE * (sum - SUBFRAME_MEAN)`` in output 0, and the video's also
# ``SUBFRAME_SCALE * SUBFRAME_SPREAD`` in output 1. That constant turns each window's distance,
# |shift| times its edges' weight, into a hyperbola, so D(k) is close to a parabola and the parabolic refinement
# reads the sub-frame offset instead of a V's bias towards whole frames. Centring on the mean sum
# keeps the demo's zero vector for audio beyond the clip's ends an average window, not a silent one.

#: the first pool's column windows start at t = 0..15, all weighted alike
SUBFRAME_WINDOWS = 16
SUBFRAME_SCALE = 3.0  # confidences come out in SyncNet's usual range
SUBFRAME_SPREAD = 4.0  # in loud columns: the constant that makes D(k) a parabola near its minimum
COMPLEMENT = 2.0  # g(c) stays below this, so a max-pool of COMPLEMENT - g gives the minimum of g
MASK = 64.0  # larger than any sum the tower gathers: a pooled column times 0 or 1
KNOT_STEP = 0.25  # log-energy knots (multiples of 1/8: exact in bfloat16 from 16 to 32)


def _energy(std: float) -> float:
    """Mean MFCC frame energy (not log) of Gaussian noise: a column's energy is linear in its loud share."""
    noise = np.random.default_rng(1).normal(0.0, std, 16000)
    return float(np.mean(np.exp(python_speech_features.mfcc(noise, 16000)[:, 0])))


def _loud_share_knots() -> tuple[np.ndarray, np.ndarray]:
    """Knots ``theta`` and slope changes ``alpha`` with ``sum(alpha * relu(x - theta))`` = the loud
    share of a column of log energy ``x`` (0 below about one loud sample in the column's 400)."""
    quiet, loud = _energy(QUIET_STD), _energy(LOUD_STD)
    top = np.round(np.log(loud) * 8) / 8 + KNOT_STEP
    theta = top - KNOT_STEP * np.arange(int(6.0 / KNOT_STEP), -1, -1)
    share = np.maximum((np.exp(theta) - quiet) / (loud - quiet), 0.0)
    share[0] = 0.0
    slopes = np.diff(share) / KNOT_STEP
    return theta[:-1], np.diff(slopes, prepend=0.0)


def _column_weights() -> np.ndarray:
    """Weight of each of the 20 MFCC columns in the audio sum: (max + min) / 2 over columns t..t+2
    counts columns t and t+2 by half each."""
    weights = np.zeros(20)
    for t in range(SUBFRAME_WINDOWS):
        weights[t] += 0.5
        weights[t + 2] += 0.5
    return weights


def subframe_frame_weights() -> np.ndarray:
    """Weight of each of the 5 frames in the video sum: the columns' weights times the share of
    each column (10c .. 10c+25 ms) inside the frame (40n .. 40n+40 ms)."""
    columns = _column_weights()
    start = 10.0 * np.arange(20)
    frames = np.zeros(5)
    for n in range(5):
        overlap = np.clip(np.minimum(start + 25.0, 40.0 * n + 40.0) - np.maximum(start, 40.0 * n), 0.0, None)
        frames[n] = np.sum(columns * overlap / 25.0)
    return frames


#: the mean window sum of the default clips (``flash_pattern``: frames on with probability 0.35)
SUBFRAME_MEAN = float(0.35 * subframe_frame_weights().sum())


def _shift_path(displacement: int) -> tuple[int, int, int]:
    """Column offsets (each -1, 0 or 1) read by convolutions 8, 11 and 14, adding to ``displacement``."""
    first = int(np.clip(displacement, -1, 1))
    second = int(np.clip(displacement - first, -1, 1))
    return first, second, displacement - first - second


def _subframe_columns(state: dict[str, torch.Tensor]) -> None:
    """Convolutions 0 and 4: g(c + s) in channel s and COMPLEMENT - g(c + s) in channel 2 + s
    (s = 0, 1), on MFCC row 0 only; channel 4 is a constant 1 for the masks further on.

    After the first pool, pooled column p holds the max of g (channel s) and COMPLEMENT minus its
    min (channel 2 + s) over columns 2p+s .. 2p+s+2: the stretch t = 2p + s.
    """
    theta, alpha = _loud_share_knots()
    state["netcnnaud.0.bias"][0] = 1.0  # a constant, for the row mask
    for k, knot in enumerate(theta):  # relu(x - theta_k) on every MFCC row
        state["netcnnaud.0.weight"][1 + k, 0, 1, 1] = 1.0
        state["netcnnaud.0.bias"][1 + k] = -knot
    conv4 = state["netcnnaud.4.weight"]
    knots = torch.as_tensor(alpha, dtype=conv4.dtype)
    for s in (0, 1):
        conv4[s, 1 : 1 + len(alpha), 1, 1 + s] = knots
        conv4[2 + s, 1 : 1 + len(alpha), 1, 1 + s] = -knots
        state["netcnnaud.4.bias"][2 + s] = COMPLEMENT
        # the constant read one row up is 0 on row 0 (padding) and silences every other row
        conv4[s, 0, 0, 1] = conv4[2 + s, 0, 0, 1] = -BIG
    state["netcnnaud.4.bias"][4] = 1.0


#: the pooled columns that survive the second pool (each alone in its pooling window) -> the pooled
#: columns each gathers, and the two conv 11 masks whose difference is 1 only there
#: ([p >= 1] - [p >= 2] and [p <= 7] - [p <= 6])
SURVIVORS = {1: (range(5), 0, 3), 7: (range(5, 8), 1, 4)}


def _subframe_sum(state: dict[str, torch.Tensor]) -> None:
    """Convolutions 8, 11 and 14: the sum of (max + min) / 2 over stretches t = 0..15, gathered
    onto the survivors (pooled columns 1 and 7) of row 0, every other place 0.

    The masks come from the zero padding: convolution 8 reads the constant one column left,
    one column right and one row up ([p >= 1], [p <= 7], [row >= 1]); convolution 11 keeps them
    and reads the first two once more ([p >= 2], [p <= 6]); [p == 1] = [p >= 1] - [p >= 2].
    """
    conv8, conv11, conv14 = (state[f"netcnnaud.{i}.weight"] for i in (8, 11, 14))
    conv8[0, 4, 1, 0] = conv8[1, 4, 1, 2] = conv8[2, 4, 0, 1] = 1.0
    for mask in range(3):
        conv11[mask, mask, 1, 1] = 1.0
    conv11[3, 0, 1, 0] = conv11[4, 1, 1, 2] = 1.0
    path = 0  # one channel per gathered pooled column, from conv 8 (channel 3+) through conv 11 (5+)
    for channel, (survivor, (gathered, inner, outer)) in enumerate(SURVIVORS.items()):
        for pooled in gathered:
            first, second, third = _shift_path(pooled - survivor)
            # (max + min) / 2 of both stretches = (max - (COMPLEMENT - min) + COMPLEMENT) / 2 each
            conv8[3 + path, 0:2, 1, 1 + first] = 0.5
            conv8[3 + path, 2:4, 1, 1 + first] = -0.5
            state["netcnnaud.8.bias"][3 + path] = COMPLEMENT
            conv11[5 + path, 3 + path, 1, 1 + second] = 1.0
            conv14[channel, 5 + path, 1, 1 + third] = 1.0
            path += 1
        # minus MASK everywhere but on row 0 at the survivor: relu leaves 0 there
        conv14[channel, inner, 1, 1] = MASK
        conv14[channel, outer, 1, 1] = -MASK
        conv14[channel, 2, 1, 1] = -MASK
        state["netcnnaud.14.bias"][channel] = -MASK


def _subframe_audio(state: dict[str, torch.Tensor]) -> None:
    _subframe_columns(state)
    _subframe_sum(state)
    # after the second pool, pooled column 0 holds the sum over t = 0..9 and column 3 over 10..15
    state["netcnnaud.18.weight"][0, 0, 0, 0] = 1.0
    state["netcnnaud.18.weight"][0, 1, 0, 3] = 1.0
    _subframe_head(state, "netfcaud", spread=0.0)


def _subframe_video(state: dict[str, torch.Tensor]) -> None:
    """Convolution 0: the frames' weights times their mean level, from DARK = 0 to BRIGHT = 1;
    the other layers pass the centre of that uniform map on, as the binary oracle's do."""
    weights = subframe_frame_weights()
    for n, weight in enumerate(weights):
        state["netcnnlip.0.weight"][0, :, n] = float(weight) / (3 * 49 * (BRIGHT - DARK))
    state["netcnnlip.0.bias"][0] = -float(weights.sum()) * DARK / (BRIGHT - DARK)
    state["netcnnlip.4.weight"][0, 0, 0, 2, 2] = 1.0
    for index in (8, 11, 14):
        state[f"netcnnlip.{index}.weight"][0, 0, 0, 1, 1] = 1.0
    state["netcnnlip.18.weight"][0, 0, 0, 2, 2] = 1.0
    _subframe_head(state, "netfclip", spread=SUBFRAME_SPREAD)


def _subframe_head(state: dict[str, torch.Tensor], prefix: str, spread: float) -> None:
    """Head: ``SUBFRAME_SCALE * (sum - SUBFRAME_MEAN)`` in output 0, ``SUBFRAME_SCALE * spread`` in output 1."""
    state[f"{prefix}.0.weight"][0, 0] = 1.0
    _identity_bn(state, f"{prefix}.1")
    state[f"{prefix}.3.weight"][0, 0] = SUBFRAME_SCALE
    state[f"{prefix}.3.bias"][0] = -SUBFRAME_SCALE * SUBFRAME_MEAN
    state[f"{prefix}.3.bias"][1] = SUBFRAME_SCALE * spread


def subframe_oracle_state_dict() -> dict[str, torch.Tensor]:
    """SyncNet weights whose embeddings are the loud and bright shares of a window (see above)."""
    state = {key: torch.zeros_like(value) for key, value in SyncNet().state_dict().items()}
    for key, value in state.items():
        if key.endswith("running_var"):
            value.fill_(1.0)
    for index in (1, 5, 9, 12, 15, 19):
        _identity_bn(state, f"netcnnaud.{index}")
        _identity_bn(state, f"netcnnlip.{index}")
    _subframe_audio(state)
    _subframe_video(state)
    return state


def save_subframe_oracle(path: Path) -> Path:
    torch.save(subframe_oracle_state_dict(), path)
    return path
