"""A batch's QC report: ``index.html`` (a sortable table of the files), one page per file in
``files/``, and ``report.pdf`` (the table, then each file's section).

A page's name comes from the file's position in the batch and an ASCII-only rendering of its name,
never from the name as it is: a media file's name is hostile input (slashes, dots, markup, names
that differ only in case). A new report replaces only files an earlier syncdesk report wrote.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from ..errors import SyncdeskError
from ..outputs import atomic_output
from ..results import Analysis
from ..tolerance import Tolerance
from . import html, pdf
from .content import FileReport, display, file_report, missing_report, now
from .write import save

if TYPE_CHECKING:
    from ..batch.report import Row

INDEX_NAME, PDF_NAME, PAGES_DIR = "index.html", "report.pdf", "files"
#: what a batch's QC report puts in its folder (a batch never scans them)
OUTPUT_NAMES = (INDEX_NAME, PDF_NAME, PAGES_DIR)
#: a page this module names: ``0001-clip-name.html``
_PAGE_NAME = re.compile(r"\d{4,}-[A-Za-z0-9_-]*\.html")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch: its row of the batch report (status ``good``, ``poor``, ``error``,
    ``skipped``...; ``error``: why it has no result; ``note``: the analysis's first warning) and
    its document when there is one (from the analysis cache)."""

    path: Path
    status: str
    error: Optional[str] = None
    note: Optional[str] = None
    analysis: Optional[Analysis] = None

    @classmethod
    def from_row(cls, row: "Row", analysis: Optional[Analysis] = None) -> "BatchItem":
        """An item from a row of :func:`syncdesk.core.batch.rows`."""
        return cls(Path(row.path), row.status, row.error, row.note, analysis)


def page_name(number: int, path: Path) -> str:
    """``0007-my-clip.html`` for the 7th file: ASCII letters, digits, ``-`` and ``_`` only."""
    stem = _UNSAFE.sub("-", path.stem).strip("-")[:40].strip("-")
    return f"{number:04d}-{stem or 'file'}.html"


def _missing(item: BatchItem) -> str:
    if item.status in ("error", "skipped"):
        return f"{item.status}: {item.error or 'no reason recorded'}"
    if item.status in ("queued", "running"):
        return f"not analysed yet ({item.status})"
    return "its analysis document is not available (no longer in the analysis cache): analyse it again"


def _check(target: Path, ours: bool) -> None:
    if target.exists() and not ours:
        raise SyncdeskError(f"{target} exists and is not a syncdesk QC report: choose another folder "
                            "(it is never overwritten)")


def _html_is_ours(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return html.is_ours(stream.read(2048))
    except OSError:
        return False


def check_batch_report_dir(folder: os.PathLike | str) -> Path:
    """Refuse a folder where the report would replace someone else's index or PDF (checked before a
    long batch starts, and again when writing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SyncdeskError(f"{folder} is a file: the batch's QC report needs a folder")
    _check(folder / INDEX_NAME, _html_is_ours(folder / INDEX_NAME))
    _check(folder / PDF_NAME, pdf.is_ours(folder / PDF_NAME))
    return folder


def write_batch_report(folder: os.PathLike | str, items: Iterable[BatchItem], tolerance: Tolerance,
                       preset_name: str) -> Path:
    """Write the batch's report in ``folder`` (created if needed); returns ``folder/index.html``.

    ``preset_name``: the preset the items' statuses were classified by (named in the report)."""
    folder = check_batch_report_dir(folder)
    items = list(items)
    pages_dir = folder / PAGES_DIR
    index_path, pdf_path = folder / INDEX_NAME, folder / PDF_NAME
    created = now()
    try:
        pages_dir.mkdir(parents=True, exist_ok=True)
        reports, rows = _write_pages(pages_dir, items, tolerance, created)
        _remove_stale_pages(pages_dir, {Path(row.href).name for row in rows})
        title = f"Batch of {len(items)} file{'s' if len(items) != 1 else ''}"
        where = _common_folder(items)
        counts = _counts(items, reports)
        with atomic_output(index_path) as part:
            part.write_text(html.index_page(title, where, rows, counts, tolerance, preset_name, PDF_NAME, created),
                            encoding="utf-8")
        story = pdf.batch_story(title, where, rows, counts, tolerance.label(), preset_name, reports)
        with atomic_output(pdf_path) as part:
            pdf.write_pdf(part, story, title, created)
    except OSError as exc:
        raise SyncdeskError(f"cannot write the QC report in {folder}: {exc.strerror or exc}") from None
    return index_path


def _write_pages(pages_dir: Path, items: Sequence[BatchItem], tolerance: Tolerance,
                 created: str) -> tuple[list[FileReport], list[html.IndexRow]]:
    reports, rows = [], []
    for number, item in enumerate(items, 1):
        target = pages_dir / page_name(number, item.path)
        _check(target, _html_is_ours(target))
        if item.analysis is None:
            badge = item.status.upper() if item.status in ("error", "skipped") else "NO DATA"
            report = missing_report(item.path, _missing(item), created, badge)
        else:
            report = file_report(item.analysis, tolerance, created, media=item.path)
        save(report, target, pdf=False, back=f"../{INDEX_NAME}")
        reports.append(report)
        rows.append(_row(item, report, f"{PAGES_DIR}/{target.name}"))
    return reports, rows


def _row(item: BatchItem, report: FileReport, href: str) -> html.IndexRow:
    analysis = item.analysis
    if analysis is None:
        return html.IndexRow(report.name, href, item.status, "", None, None, "", display(item.error or ""))
    model = analysis.sync_over_time.model if analysis.sync_over_time is not None else ""
    note = "; ".join(display(text) for text in (report.reason, item.note) if text)
    return html.IndexRow(report.name, href, item.status, report.result, analysis.offset_ms, analysis.confidence,
                         model, note)


def _counts(items: Sequence[BatchItem], reports: Sequence[FileReport]) -> list[tuple[str, int]]:
    results = [report.result for report in reports if report.analysis is not None]
    return [("files", len(items)), *((name, results.count(name)) for name in ("within", "outside", "unknown")),
            ("without a result", len(items) - len(results))]


def _common_folder(items: Sequence[BatchItem]) -> str:
    try:
        return display(os.path.commonpath([str(item.path.parent) for item in items])) if items else ""
    except ValueError:  # paths on different drives, or relative and absolute mixed
        return ""


def _remove_stale_pages(pages_dir: Path, keep: set[str]) -> None:
    """Remove the pages an earlier report wrote for files this one does not have."""
    for page in pages_dir.iterdir():
        if _PAGE_NAME.fullmatch(page.name) and page.name not in keep and _html_is_ours(page):
            page.unlink(missing_ok=True)
