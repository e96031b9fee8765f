"""One file's QC report, as a self-contained HTML page or a PDF, chosen by the output's suffix."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SyncdeskError
from ..outputs import atomic_output
from ..results import Analysis
from ..tolerance import Tolerance
from .content import FileReport, file_report, now
from .html import file_page
from .pdf import file_story, write_pdf

#: what a report may be written as
SUFFIXES = (".html", ".htm", ".pdf")


def write_report(analysis: Analysis, path: os.PathLike | str, tolerance: Tolerance, *,
                 overwrite: bool = False) -> Path:
    """Write ``analysis``'s report judged against ``tolerance`` (the document's own verdict when it
    was judged against the same one) to ``path``: ``.html`` or ``.pdf``. An existing file is
    refused unless ``overwrite``; the report appears complete or not at all."""
    path = check_report_output(path, overwrite)
    report = file_report(analysis, tolerance, now())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save(report, path, pdf=path.suffix.lower() == ".pdf")
    except OSError as exc:
        raise SyncdeskError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def check_report_output(path: os.PathLike | str, overwrite: bool = False) -> Path:
    """Refuse an unknown suffix, a folder or an existing file (unless ``overwrite``): before an analysis."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise SyncdeskError(f"a QC report is written as .html or .pdf, not {path.name!r}")
    if path.is_dir():
        raise SyncdeskError(f"{path} is a folder: give the report's file name")
    if path.exists() and not overwrite:
        raise SyncdeskError(f"{path} exists: use --overwrite to replace it")
    return path


def save(report: FileReport, path: Path, pdf: bool, back: str | None = None) -> None:
    """Write a gathered report through a temporary file (``back``: an HTML page's link to its index)."""
    with atomic_output(path) as part:
        if pdf:
            write_pdf(part, file_story(report), report.name, report.created)
        else:
            part.write_text(file_page(report, back), encoding="utf-8")
