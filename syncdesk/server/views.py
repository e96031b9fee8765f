"""Jobs as the JSON a client reads: status, progress, the document, the fix, a batch's files."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Optional

from ..core.quality import PRESETS
from .store import ANALYSIS, BATCH, DONE, FIX, JobRow, ServerStore

URL_PREFIX = {ANALYSIS: "/v1/analyses", FIX: "/v1/fixes", BATCH: "/v1/batches"}


def _time(value: Optional[float]) -> Optional[str]:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat(timespec="milliseconds")


def url(job: JobRow) -> str:
    return f"{URL_PREFIX[job.kind]}/{job.id}"


def status(job: JobRow, progress: tuple[float, Optional[str]]) -> dict[str, Any]:
    """What every kind of job says about itself; ``progress`` is the live one of a running job."""
    fraction, stage = progress
    if job.finished:
        fraction, stage = (1.0 if job.state == DONE else fraction), None
    elif job.state == "queued":
        fraction, stage = 0.0, None
    return {
        "id": job.id, "kind": job.kind, "status": job.state, "progress": round(fraction, 4), "stage": stage,
        "error": job.error, "cancelled": job.cancelled, "name": job.request.get("name", ""),
        "created_at": _time(job.created_at), "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at), "runs": job.runs, "url": url(job),
    }


def document_path(job: JobRow) -> Optional[Path]:
    """The Analysis document a finished job wrote (an analysis, or a fix with ``auto``)."""
    if job.state != DONE or not job.request.get("document"):
        return None
    path = Path(job.request["document"])
    return path if path.is_file() else None


def analysis_body(job: JobRow, progress: tuple[float, Optional[str]], with_document: bool) -> bytes:
    """The analysis's status with its document (read as text and put in as is: a long file's
    document is large, and parsing it again for every poll would cost the server for nothing)."""
    view = status(job, progress)
    view.update(batch=job.parent, summary=job.result, document=None)
    path = document_path(job) if with_document else None
    if path is None:
        return json.dumps(view).encode()
    del view["document"]
    head = json.dumps(view)
    return (head[:-1] + ', "document": ' + path.read_text(encoding="utf-8").strip() + "}").encode()


def fix_body(job: JobRow, progress: tuple[float, Optional[str]]) -> dict[str, Any]:
    view = status(job, progress)
    written = job.state == DONE and bool(job.result and job.result.get("written"))
    view.update(result=job.result, file=f"{url(job)}/file" if written else None,
                document=f"{url(job)}/document" if document_path(job) is not None else None)
    return view


def fixed_file(job: JobRow) -> Optional[Path]:
    if job.state != DONE or not (job.result and job.result.get("written")):
        return None
    path = Path(job.request["output"])
    return path if path.is_file() else None


def _file_row(child: JobRow, preset_name: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": child.id, "path": child.request.get("name"), "status": child.state,
                           "error": child.error, "offset_frames": None, "offset_ms": None, "confidence": None,
                           "tolerance": None}
    result = child.result
    if child.state == DONE and result is not None:
        accepted = PRESETS[preset_name].accepts(result["offset_frames"], result["confidence"])
        row.update(status="good" if accepted else "poor", offset_frames=result["offset_frames"],
                   offset_ms=round(result["offset_ms"], 3), confidence=round(result["confidence"], 4),
                   tolerance=result.get("tolerance"))
    return row


def batch_body(job: JobRow, store: ServerStore) -> dict[str, Any]:
    """A batch: its files (good or poor by its preset, error, skipped, or still queued or running)."""
    children = store.children(job.id)
    preset = job.request.get("preset", "high")
    files = [_file_row(child, preset) for child in children]
    files += [{"id": None, "path": skipped["name"], "status": "skipped", "error": skipped["reason"],
               "offset_frames": None, "offset_ms": None, "confidence": None, "tolerance": None}
              for skipped in job.request.get("skipped", [])]
    counts: dict[str, int] = {}
    for row in files:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    finished = sum(1 for child in children if child.finished)
    view = status(job, (finished / len(children) if children else 1.0, None))
    view.update(preset=preset, counts=counts, files=files)
    return view
