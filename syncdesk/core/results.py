"""The Analysis document (contract.md): dataclasses, JSON save/load, schema version."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import SyncdeskError
from .outputs import atomic_output

SCHEMA = "syncdesk.analysis/1"


@dataclass
class StreamDamage:
    """Packets of one stream that did not decode and were skipped, as FFmpeg's own tools skip them
    (silence in the sound, the previous picture held on screen; the timestamps of the rest kept)."""

    stream: str  # "audio" or "video"
    packets: int = 0  # how many did not decode
    of_packets: int = 0  # packets read from the stream in all
    spans_s: list[list[float]] = field(default_factory=list)  # [start, end] on the file's clock, merged

    @property
    def share(self) -> float:
        """The share of the stream's packets that did not decode."""
        return self.packets / self.of_packets if self.of_packets else 0.0

    @property
    def lost_s(self) -> float:
        return sum(end - start for start, end in self.spans_s)

    def add(self, start_s: float, duration_s: float) -> None:
        """One packet that did not decode, at ``start_s`` on the file's clock; touching spans merge."""
        end_s = start_s + duration_s
        if self.spans_s and start_s <= self.spans_s[-1][1] + 1e-3:
            self.spans_s[-1][1] = round(max(self.spans_s[-1][1], end_s), 3)
        else:
            self.spans_s.append([round(start_s, 3), round(end_s, 3)])
        self.packets += 1


@dataclass
class Source:
    path: str
    size: int
    duration_s: float
    fps: float  # the file's own frame rate, from its header
    frames: int  # analysis frames (analysis_fps), not the file's own: see file_frames
    audio_rate: int
    analysis_fps: int = 25
    # added later (issue 20); older documents load with these defaults, which mean "not recorded"
    container: str = ""
    video_codec: str = ""
    audio_codec: Optional[str] = None
    width: int = 0
    height: int = 0
    file_frames: int = 0  # the file's own video frames, as decoded
    video_start_s: float = 0.0  # where each stream starts on the file's clock (its first timestamp)
    audio_start_s: Optional[float] = None
    variable_frame_rate: bool = False  # measured from the decoded frames' timestamps, not the header
    damage: list[StreamDamage] = field(default_factory=list)  # only streams with packets that did not decode

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Source":
        fields = dict(data)
        fields["damage"] = [StreamDamage(**d) for d in fields.get("damage", [])]
        return cls(**fields)


@dataclass
class Engine:
    version: str
    device: str
    detector: str
    syncnet: dict[str, str]  # {"path": ..., "sha256": ...}
    mode: str = "fast"  # "fast" or "exact"
    window_stride: int = 1
    silence_weighting: bool = False
    precision: str = "float32"  # the towers' arithmetic: "float32" or "bfloat16"


@dataclass
class Track:
    id: int
    start_frame: int
    end_frame: int  # inclusive
    boxes: list[list[float]]  # [frame, x1, y1, x2, y2] in source pixels
    offset_frames: int
    offset_ms: float
    min_dist: float
    confidence: float
    framewise_confidence: list[float]
    dists: Optional[list[list[float]]] = None
    windows: int = 0
    windows_scored: int = 0
    silent_windows: int = 0
    speaking_frames: int = 0  # frames where this track is the active speaker
    mean_dists: list[float] = field(default_factory=list)  # D(k), k = -vshift..vshift: the track's evidence


@dataclass
class SyncPoint:
    """The offset measured over one sliding window (contract.md, "Sync over time")."""

    t_s: float  # the window's centre, seconds on the file's own clock
    offset_ms: Optional[float]  # None: no evidence here (silence, nobody speaking, no face)
    confidence: float


@dataclass
class SyncSegment:
    """A piece of the file with one offset; with a ``drift`` model, the line's value at ``start_s``
    (``offset_ms``) and at ``end_s`` (``end_offset_ms``)."""

    start_s: float
    end_s: float
    offset_ms: Optional[float]
    confidence: float
    end_offset_ms: Optional[float] = None


#: what ``SyncOverTime.model`` may say
SYNC_MODELS = ("constant", "drift", "steps", "unknown")


@dataclass
class SyncOverTime:
    """The offset as a function of time and the model of the whole file chosen from it."""

    window_s: float
    hop_s: float
    points: list[SyncPoint]
    model: str  # one of SYNC_MODELS
    drift_ms_per_min: Optional[float] = None  # with "drift": > 0 means the audio's lead grows
    segments: list[SyncSegment] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SyncOverTime":
        fields = dict(data)
        fields["points"] = [SyncPoint(**point) for point in fields["points"]]
        fields["segments"] = [SyncSegment(**segment) for segment in fields.get("segments", [])]
        return cls(**fields)


@dataclass
class ToleranceVerdict:
    """The file against a broadcast tolerance (contract.md, "Tolerances"; :mod:`.tolerance` judges)."""

    name: str  # "ebu-r37", "atsc-is191", "itu-bt1359" or "custom"
    lead_ms: float
    lag_ms: float
    result: str  # "within", "outside" or "unknown" (no confident evidence)
    worst_ms: Optional[float]  # the confident offset furthest outside, or nearest a limit when within
    limit: Optional[str] = None  # the limit worst_ms is judged against: "lead" (audio early) or "lag"
    excess_ms: Optional[float] = None  # worst_ms beyond that limit (> 0), or its margin (<= 0)
    #: the out-of-tolerance stretches: [{"start_s", "end_s", "offset_ms", "confidence"[, "end_offset_ms"]}]
    outside: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Analysis:
    source: Source
    engine: Engine
    offset_frames: int
    offset_ms: float
    min_dist: float
    confidence: float
    tracks: list[Track]
    shots: list[list[int]]
    active_speaker: list[Optional[int]]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    #: where the clip's verdict comes from: "speaking-tracks", "whole-frame" or "no-confident-speaker"
    verdict_source: str = "whole-frame"
    verdict_tracks: list[int] = field(default_factory=list)  # the tracks it combines
    sync_over_time: Optional[SyncOverTime] = None
    tolerance: Optional[ToleranceVerdict] = None  # only when judged against one
    #: the most the verdict's words may claim ("medium", "low"; None: no cap), the reason in ``warnings``;
    #: offset and confidence are the measurement's, uncapped
    tier_cap: Optional[str] = None
    evidence_s: Optional[float] = None  # seconds of sound under the verdict's faces (None: not measured)
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for track in data["tracks"]:
            if track["dists"] is None:
                del track["dists"]
        for optional in ("sync_over_time", "tolerance"):
            if data[optional] is None:
                del data[optional]
        ordered = {"schema": data.pop("schema")}
        ordered.update(data)
        return ordered

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Analysis":
        if data.get("schema") != SCHEMA:
            raise SyncdeskError(f"not a {SCHEMA} document (schema: {data.get('schema')!r})")
        fields = dict(data)
        fields.pop("schema")
        fields["source"] = Source.from_dict(fields["source"])
        fields["engine"] = Engine(**fields["engine"])
        fields["tracks"] = [Track(**track) for track in fields["tracks"]]
        if fields.get("sync_over_time") is not None:
            fields["sync_over_time"] = SyncOverTime.from_dict(fields["sync_over_time"])
        if fields.get("tolerance") is not None:
            fields["tolerance"] = ToleranceVerdict(**fields["tolerance"])
        return cls(**fields)


def save(analysis: Analysis, path: os.PathLike | str) -> Path:
    """Write the document atomically (:func:`~syncdesk.core.outputs.atomic_output`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as part, open(part, "w", encoding="utf-8") as stream:
        json.dump(analysis.to_dict(), stream, ensure_ascii=False, allow_nan=False)
        stream.write("\n")
    return path


def load(path: os.PathLike | str) -> Analysis:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SyncdeskError(f"cannot read analysis {path}: {exc}") from None
    try:
        return Analysis.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise SyncdeskError(f"{path} is not a valid analysis document ({exc})") from None
