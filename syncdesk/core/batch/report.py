"""A batch's outcome: classification by preset, the JSON and CSV report, and sorted copies.

Classification reads the results kept in the queue, so another preset re-classifies a batch
without analysing anything again.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from ... import __version__
from ..errors import SyncdeskError
from ..outputs import atomic_output, create_part, remove_quietly
from ..quality import PRESETS, Preset
from ..tolerance import Part, Tolerance, judge_parts
from .scan import Skipped
from .store import DONE, Job

REPORT_SCHEMA = "syncdesk.batch-report/1"
JSON_NAME, CSV_NAME = "report.json", "report.csv"
GOOD, POOR = "good", "poor"
#: the first reports' row fields: a CSV starting with them is ours
FIRST_COLUMNS = ("path", "status", "offset", "offset_ms", "confidence", "min_dist", "error", "note")
#: the report's row fields, in CSV column order; the tolerance's are empty when none was given
COLUMNS = (*FIRST_COLUMNS, "tolerance", "worst_ms")
#: the CSV's columns: the row fields, then the id of the run that wrote it (the JSON's ``run``)
CSV_COLUMNS = (*COLUMNS, "run")


@dataclass(frozen=True)
class Row:
    """One file of the report. ``offset`` is in analysis frames (40 ms), the preset's unit;
    ``error`` is why a file is ``error`` or ``skipped``; ``note`` the analysis's first warning."""

    path: Path
    status: str  # good, poor, error, skipped (queued or running only in a report of an unfinished batch)
    offset: Optional[int] = None
    offset_ms: Optional[float] = None
    confidence: Optional[float] = None
    min_dist: Optional[float] = None
    error: Optional[str] = None
    note: Optional[str] = None
    tolerance: Optional[str] = None  # within, outside or unknown, when judged against one
    worst_ms: Optional[float] = None  # the tolerance verdict's worst confident offset

    def to_dict(self) -> dict[str, Any]:
        return {name: str(self.path) if name == "path" else getattr(self, name) for name in COLUMNS}


def classify(offset_frames: int, confidence: float, preset: Preset) -> str:
    return GOOD if preset.accepts(offset_frames, confidence) else POOR


def job_row(job: Job, preset: Preset, tolerance: Optional[Tolerance] = None) -> Row:
    if job.state != DONE or job.result is None:
        return Row(job.path, job.state, error=job.message)
    result = job.result
    judged = judge_parts(result_parts(result), tolerance) if tolerance is not None else None
    return Row(job.path, classify(result["offset_frames"], result["confidence"], preset),
               offset=result["offset_frames"], offset_ms=round(result["offset_ms"], 3),
               confidence=round(result["confidence"], 4), min_dist=round(result["min_dist"], 4), note=job.message,
               tolerance=judged.result if judged else None, worst_ms=judged.worst_ms if judged else None)


def result_parts(result: dict[str, Any]) -> list[Part]:
    """A queued result's confident parts; a result queued before they were kept is judged by its
    clip verdict alone."""
    if "parts" in result:
        return [Part(**part) for part in result["parts"]]
    if result.get("verdict_source") == "no-confident-speaker" or result["confidence"] < PRESETS["relaxed"].min_confidence:
        return []
    return [Part(0.0, result.get("duration_s", 0.0), result["offset_ms"], result["confidence"])]


def rows(jobs: Iterable[Job], skipped: Iterable[Skipped], preset: Preset,
         tolerance: Optional[Tolerance] = None) -> list[Row]:
    """Every file once, sorted by path; judged against ``tolerance`` too when given."""
    found = [job_row(job, preset, tolerance) for job in jobs]
    found += [Row(s.path, "skipped", error=s.reason) for s in skipped]
    return sorted(found, key=lambda row: row.path.parts)


def counts(report: Iterable[Row]) -> dict[str, int]:
    totals = {GOOD: 0, POOR: 0, "error": 0, "skipped": 0}
    for row in report:
        totals[row.status] = totals.get(row.status, 0) + 1
    return totals


def _is_ours(path: Path) -> bool:
    """Whether ``path`` is a report syncdesk wrote (the only files a new report replaces)."""
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            if path.suffix == ".json":
                return json.load(stream).get("schema") == REPORT_SCHEMA
            header = next(csv.reader(stream), None) or []
            return header[: len(FIRST_COLUMNS)] == list(FIRST_COLUMNS)  # an older report's columns, too
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, csv.Error):
        return False


def check_report_dir(folder: Path) -> None:
    """Refuse a report folder where the report would replace someone else's file (checked
    before a long batch starts, and again when writing)."""
    if folder.exists() and not folder.is_dir():
        raise SyncdeskError(f"{folder} is a file: --report takes a folder")
    for name in (JSON_NAME, CSV_NAME):
        target = folder / name
        if target.exists() and not _is_ours(target):
            raise SyncdeskError(f"{target} exists and is not a syncdesk batch report: choose another folder "
                                "(it is never overwritten)")


def write_report(folder: Path, report: Sequence[Row], preset: Preset, settings: dict[str, Any],
                 tolerance: Optional[Tolerance] = None) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.csv`` in ``folder``, each through a hidden ``.part`` file.

    Both carry this run's id (the JSON's ``run``, the CSV's ``run`` column). Both are written in
    full before either is renamed into place; the CSV is renamed first, and if the JSON's rename
    then fails the previous CSV is put back (or the new one removed), so the two files always come
    from one run. Only a crash between the two renames can leave them apart, and their run ids
    then differ, which tells a reader the pair is not one report."""
    check_report_dir(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SyncdeskError(f"cannot create {folder}: {exc.strerror or exc}") from None
    run = uuid.uuid4().hex
    document = {
        "schema": REPORT_SCHEMA,
        "run": run,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "syncdesk": __version__,
        "preset": {"name": preset.name, "min_confidence": preset.min_confidence,
                   "max_offset_frames": preset.max_offset_frames},
        "settings": settings,
        "tolerance": None if tolerance is None else {"name": tolerance.name, "lead_ms": tolerance.lead_ms,
                                                     "lag_ms": tolerance.lag_ms},
        "counts": counts(report),
        "files": [row.to_dict() for row in report],
    }
    targets = (folder / JSON_NAME, folder / CSV_NAME)
    json_target, csv_target = targets
    previous_csv = _keep_a_link(csv_target)
    csv_replaced = False
    try:
        with atomic_output(json_target) as json_part:
            # a file name that is not valid UTF-8 keeps its bytes: in the JSON as \udcXX (a valid JSON
            # escape, read back as Python reads such names), in the CSV as they are on disk
            with open(json_part, "w", encoding="utf-8", errors="backslashreplace") as stream:
                json.dump(document, stream, ensure_ascii=False, indent=1, allow_nan=False)
                stream.write("\n")
            with atomic_output(csv_target) as csv_part:
                with open(csv_part, "w", encoding="utf-8", errors="surrogateescape", newline="") as stream:
                    writer = csv.writer(stream)
                    writer.writerow(CSV_COLUMNS)
                    writer.writerows([*("" if value is None else value for value in row.to_dict().values()), run]
                                     for row in report)
            csv_replaced = True
    except (OSError, SyncdeskError) as exc:
        if csv_replaced:
            _put_back(previous_csv, csv_target)
        reason = exc.strerror or exc if isinstance(exc, OSError) else exc
        raise SyncdeskError(f"cannot write the report in {folder}: {reason}") from None
    finally:
        if previous_csv is not None:
            remove_quietly(previous_csv)
    return targets



def _keep_a_link(path: Path) -> Optional[Path]:
    """A hidden second name for ``path``'s current file (a hard link, else a copy), or None if
    there is no such file; the caller removes it."""
    if not path.is_file():
        return None
    keep = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.previous"
    try:
        os.link(path, keep)
    except OSError:
        try:
            shutil.copy2(path, keep)
        except OSError as exc:
            raise SyncdeskError(f"cannot write the report in {path.parent}: {exc.strerror or exc}") from None
    return keep


def _put_back(previous: Optional[Path], path: Path) -> None:
    """Undo a replaced ``path``: its previous file again, or none if it had none."""
    try:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            os.replace(previous, path)
    except OSError:
        pass  # the run ids still tell the pair apart


@dataclass
class Sorted:
    copied: list[tuple[Path, Path]] = field(default_factory=list)  # (source, copy), made now or by an earlier run
    failed: list[tuple[Path, str]] = field(default_factory=list)


def sort_into(folder: Path, report: Iterable[Row], base: Path) -> Sorted:
    """Copy (never move) each good or poor file into ``folder/good`` or ``folder/poor``, at its
    path below ``base`` (so same-named files of different subfolders stay apart). An existing
    file is never replaced: the copy gets a free name ("clip (2).mp4"), unless that file is this
    one's copy from an earlier run (same size and modification time), which is kept. When an
    earlier run put this file's copy in the other folder (another preset), that copy is moved
    over, so the folders agree with the report."""
    done = Sorted()
    for row in report:
        if row.status not in (GOOD, POOR):
            continue
        try:
            relative = row.path.relative_to(base)
        except ValueError:
            relative = Path(row.path.name)
        target = folder / row.status / relative
        try:
            _move_earlier_copy(row.path, folder / (POOR if row.status == GOOD else GOOD) / relative, target)
            done.copied.append((row.path, copy_new(row.path, target)))
        except SyncdeskError as exc:
            done.failed.append((row.path, str(exc)))
    return done


def _move_earlier_copy(source: Path, earlier: Path, target: Path) -> None:
    """Move ``earlier`` to ``target`` if it is ``source``'s untouched copy and ``target`` is free."""
    try:
        original = source.stat()
    except OSError:
        return  # copy_new reports it
    if not _same_copy(original, earlier) or os.path.lexists(target):
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(earlier, target)
    except OSError as exc:
        raise SyncdeskError(f"cannot move the earlier copy of {source.name} to {target.parent}: "
                            f"{exc.strerror or exc}") from None


def copy_new(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` or, when that exists, the first free ``target (N)``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        original = source.stat()
    except OSError as exc:
        raise SyncdeskError(f"cannot copy {source.name}: {exc.strerror or exc}") from None
    for number in range(1, 1000):
        candidate = target if number == 1 else target.with_name(f"{target.stem} ({number}){target.suffix}")
        if os.path.lexists(candidate):
            if _same_copy(original, candidate):
                return candidate
            continue
        if _copy_to(source, candidate):
            return candidate
    raise SyncdeskError(f"cannot find a free name for {target}")


def _same_copy(original: os.stat_result, candidate: Path) -> bool:
    try:
        st = candidate.stat()
    except OSError:
        return False
    # copies keep the source's modification time; 2 s: FAT's resolution
    return st.st_size == original.st_size and abs(st.st_mtime_ns - original.st_mtime_ns) < 2_000_000_000


def _copy_to(source: Path, target: Path) -> bool:
    """Copy through a ``.part`` file; False if ``target`` appeared meanwhile (left alone)."""
    part = create_part(target)
    try:
        shutil.copy2(source, part)
        try:
            os.link(part, target)  # unlike a rename, fails rather than replacing a file that appeared
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system (FAT, some shares)
            if os.path.lexists(target):
                return False
            os.replace(part, target)
        return True
    except OSError as exc:
        raise SyncdeskError(f"cannot copy {source.name} to {target.parent}: {exc.strerror or exc}") from None
    finally:
        remove_quietly(part)
