"""The request and response bodies (pydantic): validation, and the OpenAPI document's schemas.

Options are the analysis options by their command-line names with underscores (contract.md,
"Server"); the weights are the server's and cannot be named by a request (that would let a client
make the server read any file).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..core.options import DETECTORS, DEVICES, MIN_FACE_RANGE, MIN_TRACK_RANGE, PRECISIONS, VSHIFT_RANGE
from ..core.quality import DEFAULT_PRESET, PRESETS

#: as ``syncdesk fix``: beyond a minute it is a typo, not a lip-sync offset
MAX_OFFSET_MS = 60_000.0
FRAME_MS = 40.0


class Options(BaseModel):
    """Analysis options for this job; what is left out is the server's (``syncdesk serve`` options)."""

    model_config = ConfigDict(extra="forbid")

    detector: Optional[Literal[DETECTORS]] = Field(None, description="how faces are found")  # type: ignore[valid-type]
    device: Optional[Literal[DEVICES]] = Field(None, description="compute device")  # type: ignore[valid-type]
    vshift: Optional[int] = Field(None, ge=VSHIFT_RANGE[0], le=VSHIFT_RANGE[1],
                                  description="largest offset searched, in frames either way")
    min_track: Optional[int] = Field(None, ge=MIN_TRACK_RANGE[0], le=MIN_TRACK_RANGE[1],
                                     description="shortest face track kept, in frames")
    min_face_size: Optional[int] = Field(None, ge=MIN_FACE_RANGE[0], le=MIN_FACE_RANGE[1],
                                         description="smallest mean face size kept, in pixels")
    exact: Optional[bool] = Field(None, description="score every window in float32 as the published demo")
    precision: Optional[Literal[PRECISIONS]] = Field(None, description="fast mode's arithmetic")  # type: ignore[valid-type]
    save_dists: Optional[bool] = Field(None, description="include the distance matrix in the document")

    @model_validator(mode="before")
    @classmethod
    def _no_files(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("weights", "s3fd_weights"):
                if name in data:
                    raise ValueError(f"{name} cannot be chosen per request: the server's are used "
                                     "(syncdesk serve --weights / --s3fd-weights)")
        return data

    @model_validator(mode="after")
    def _exact_is_float32(self) -> "Options":
        if self.exact and self.precision == "bfloat16":
            raise ValueError("exact computes in float32: it cannot be combined with precision bfloat16")
        return self

    def changes(self) -> dict[str, Any]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


def _check_tolerance(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    from ..core.tolerance import parse_tolerance

    try:
        parse_tolerance(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return value


class FileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Optional[str] = Field(None, description="the file, relative to a root (GET /v1/roots); "
                                                  "or upload it instead (multipart, field \"file\")")
    root: Optional[str] = Field(None, description="the root's name (default: the first root that has the path)")
    options: Optional[Options] = None
    tolerance: Optional[str] = Field(None, description="judge against a broadcast tolerance: ebu-r37, atsc-is191, "
                                                       "itu-bt1359 or LEAD/LAG in ms")

    _tolerance = field_validator("tolerance")(_check_tolerance)


class AnalysisRequest(FileRequest):
    """``POST /v1/analyses`` as JSON (a file below a root), or as multipart with the file uploaded."""


class Segment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    start_s: float
    end_s: float
    offset_ms: Optional[float]
    end_offset_ms: Optional[float] = None
    confidence: float = 0.0


class FixRequest(FileRequest):
    """``POST /v1/fixes``: the file (``path``, an upload, or a finished ``analysis``'s file) and how to
    fix it: ``offset_ms``, ``offset_frames``, ``auto`` (the analysis's verdict or its offset over
    time, as ``syncdesk fix --auto``) or an edited ``segments`` list."""

    analysis: Optional[str] = Field(None, description="the id of an analysis: its file, and with auto its result")
    offset_ms: Optional[float] = Field(None, description="offset to remove (positive: the audio leads, it is delayed)")
    offset_frames: Optional[int] = Field(None, description="offset to remove in analysis frames of 40 ms")
    auto: bool = Field(False, description="apply the analysis (a constant shift, a drift or steps)")
    segments: Optional[list[Segment]] = Field(None, description="apply these pieces of constant offset (or lines)")
    force: bool = Field(False, description="apply a low-confidence auto verdict, or write a copy when in sync")
    lossless: bool = Field(False, description="mp4/mov: shift with an edit list instead of re-encoding the audio")
    all_audio: bool = Field(False, description="shift every audio track (default: the first)")

    @field_validator("offset_ms")
    @classmethod
    def _finite(cls, value: Optional[float]) -> Optional[float]:
        if value is not None and (not math.isfinite(value) or abs(value) > MAX_OFFSET_MS):
            raise ValueError(f"must be a number of milliseconds within ±{MAX_OFFSET_MS:g}")
        return value

    @field_validator("offset_frames")
    @classmethod
    def _frames(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and abs(value * FRAME_MS) > MAX_OFFSET_MS:
            raise ValueError(f"must be within ±{MAX_OFFSET_MS / FRAME_MS:g} frames")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> "FixRequest":
        ways = [name for name in ("offset_ms", "offset_frames", "segments") if getattr(self, name) is not None]
        ways += ["auto"] if self.auto else []
        if len(ways) != 1:
            raise ValueError("give exactly one of offset_ms, offset_frames, auto or segments"
                             + (f" (got {', '.join(ways)})" if ways else ""))
        if self.path is not None and self.analysis is not None:
            raise ValueError("give the file by path or by analysis, not both")
        return self

    def wanted_offset_ms(self) -> Optional[float]:
        if self.offset_frames is not None:
            return self.offset_frames * FRAME_MS
        return self.offset_ms


class BatchRequest(BaseModel):
    """``POST /v1/batches``: every video file below a folder of a root, analysed with the same options."""

    model_config = ConfigDict(extra="forbid")

    folder: str = Field(description="the folder, relative to a root (\"\" or \".\": the whole root)")
    root: Optional[str] = None
    options: Optional[Options] = None
    preset: Literal[tuple(PRESETS)] = Field(DEFAULT_PRESET, description="how files are classified good or poor")  # type: ignore[valid-type]
    tolerance: Optional[str] = None

    _tolerance = field_validator("tolerance")(_check_tolerance)


# ------------------------------------------------------------------ responses (for the OpenAPI document)


class Created(BaseModel):
    id: str
    status: str = "queued"
    url: str = Field(description="where to poll the job")


class ErrorBody(BaseModel):
    error: str = Field(description="what went wrong and what to do, in words")
    code: str = Field(description="a stable slug for programs")


class Health(BaseModel):
    status: Literal["ok", "starting", "degraded"]
    version: str
    workers: dict[str, int]
    running: int
    problem: Optional[str] = None


class JobStatus(BaseModel):
    id: str
    kind: Literal["analysis", "fix", "batch"]
    status: Literal["queued", "running", "done", "error"]
    progress: float = Field(ge=0, le=1)
    stage: Optional[str] = None
    error: Optional[str] = None
    cancelled: bool = False
    name: str = Field(description="the file (or folder) as the client named it")
    created_at: str
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    runs: int = Field(description="times the job was started (more than one after a server restart)")
    url: str = Field(description="this job's address")


class AnalysisStatus(JobStatus):
    batch: Optional[str] = None
    summary: Optional[dict[str, Any]] = None
    document: Optional[dict[str, Any]] = Field(None, description="the Analysis document, once done")


class FixStatus(JobStatus):
    result: Optional[dict[str, Any]] = None
    file: Optional[str] = Field(None, description="where to download the fixed file, once written")
    document: Optional[str] = Field(None, description="where to download the Analysis document auto applied")


class BatchStatus(JobStatus):
    preset: str
    counts: dict[str, int]
    files: list[dict[str, Any]]


BODY_MODELS = (AnalysisRequest, FixRequest, BatchRequest)


def describe(error: ValidationError) -> str:
    """A validation error in one line a client can act on: ``options.vshift: must be ...``."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
