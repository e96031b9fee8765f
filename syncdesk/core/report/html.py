"""The HTML pages: one self-contained page per file and a batch's index, from jinja2 templates.

Self-contained: the style sheet is inline, pictures are ``data:`` URIs, and the page's Content
Security Policy forbids loading anything, so a page mailed to a client shows the same offline and
leaks nothing when opened. Every text is escaped by jinja2's autoescape: file names (and the paths,
tags and warnings that quote them) are hostile input.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from typing import Optional, Sequence

import jinja2

from ... import __version__
from ..tolerance import Tolerance
from .content import FileReport

GENERATOR = "syncdesk QC report"


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    env.globals.update(generator=f"{GENERATOR} {__version__}", version=__version__)
    return env


def file_page(report: FileReport, back: Optional[str] = None) -> str:
    """A file's page; ``back``: the relative link to the batch's index, if any."""
    return environment().get_template("file.html").render(r=report, back=back, anchor="report",
                                                          created=report.created)


@dataclass(frozen=True)
class IndexRow:
    """One line of the batch's table; ``href`` is the page's relative link."""

    name: str
    href: str
    status: str
    result: str  # within, outside, unknown; "" without a document
    offset_ms: Optional[float]
    confidence: Optional[float]
    model: str  # the model over time; "" without one
    note: str


def index_page(title: str, folder: str, rows: Sequence[IndexRow], counts: Sequence[tuple[str, int]],
               tolerance: Tolerance, preset: str, pdf: str, created: str) -> str:
    return environment().get_template("index.html").render(
        title=title, folder=folder, rows=rows, counts=counts, tolerance=tolerance, preset=preset, pdf=pdf,
        created=created)


def is_ours(text: str) -> bool:
    """Whether an HTML file's start says syncdesk wrote it (the only pages a new report replaces)."""
    return f'<meta name="generator" content="{GENERATOR} ' in text
