"""The PDF of a report, laid out with reportlab's platypus on A4: the same sections as the HTML
page, the plots as images, a branded header and "page N of M" on every page.

Fonts are the DejaVu faces matplotlib ships (it is a dependency already): unlike the PDF's
built-in Helvetica they have the glyphs of most file names' scripts. Every text goes through
:func:`text` first, since a platypus paragraph reads its text as markup.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (Flowable, Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer,
                                Table, TableStyle)

from ... import __version__
from .content import Field, FileReport
from .html import GENERATOR, IndexRow

PAGE_W, PAGE_H = A4
MARGIN = 16 * mm
FRAME_PADDING = 6  # platypus's default frame padding, on each side
FRAME_W = PAGE_W - 2 * MARGIN - 2 * FRAME_PADDING
HEADER_H = 12 * mm
BRAND = colors.HexColor("#1f2a44")
MUTED = colors.HexColor("#5f6673")
RULE = colors.HexColor("#d9dde3")
SHADE = colors.HexColor("#f0f2f5")
RESULT_COLOURS = {"within": ("#1a7f37", "#eaf6ee"), "outside": ("#c62828", "#fdecec"),
                  "unknown": ("#8a6d00", "#fbf5e1")}
SANS, BOLD, MONO = "SyncdeskSans", "SyncdeskSans-Bold", "SyncdeskMono"


@functools.lru_cache(maxsize=1)
def _fonts() -> None:
    from matplotlib import get_data_path  # the fonts' folder only: loads no plotting

    folder = Path(get_data_path()) / "fonts" / "ttf"
    for name, file in ((SANS, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf"), (MONO, "DejaVuSansMono.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(SANS, normal=SANS, bold=BOLD, italic=SANS, boldItalic=BOLD)


@functools.lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    _fonts()
    body = ParagraphStyle("body", fontName=SANS, fontSize=9, leading=12)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=10, textColor=MUTED),
        "label": ParagraphStyle("label", parent=body, textColor=MUTED),
        "mono": ParagraphStyle("mono", parent=body, fontName=MONO, fontSize=7.5, leading=10),
        "title": ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=16, leading=20, spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=body, fontName=BOLD, fontSize=11, leading=14, textColor=BRAND,
                             spaceBefore=10, spaceAfter=4),
        "badge": ParagraphStyle("badge", parent=body, fontName=BOLD, fontSize=22, leading=26,
                                textColor=colors.white, alignment=1),
        "what": ParagraphStyle("what", parent=body, fontName=BOLD, fontSize=12, leading=15),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=10),
        "num": ParagraphStyle("num", parent=body, fontSize=8, leading=10, alignment=2),
    }


def text(value: object) -> str:
    """``value`` as paragraph text: markup characters escaped."""
    return escape(str(value))


def _para(value: object, style: str = "body") -> Paragraph:
    return Paragraph(text(value), _styles()[style])


def _png(data: bytes, width: float) -> Image:
    """A picture ``width`` wide, its height from its aspect."""
    reader = ImageReader(io.BytesIO(data))
    pixels_w, pixels_h = reader.getSize()
    return Image(io.BytesIO(data), width=width, height=width * pixels_h / pixels_w)


def _grid(rows: list[list[Any]], widths: Sequence[float], header: bool = True) -> Table:
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0, hAlign="LEFT")
    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    table.setStyle(TableStyle(commands))
    return table


def _result(result: str) -> Paragraph:
    """within / outside / unknown in its colour."""
    ink = RESULT_COLOURS.get(result, ("#1d2330",))[0]
    return Paragraph(f'<font color="{ink}"><b>{text(result)}</b></font>', _styles()["cell"])


def _header(names: Sequence[str], numbers: Sequence[int]) -> list[Paragraph]:
    """A grid's heading row, right-aligned over the columns of numbers."""
    return [_para(name, "num" if column in numbers else "cell") for column, name in enumerate(names)]


def _command(command: str) -> Table:
    box = Table([[_para(command, "mono")]], colWidths=[FRAME_W])
    box.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), SHADE), ("BOX", (0, 0), (-1, -1), 0.4, RULE)]))
    return box


def _fields(fields: Sequence[Field]) -> Table:
    rows = [[_para(f.label, "label"), _para(f.text, "mono" if f.mono else "body")] for f in fields]
    return _grid(rows, (0.3 * FRAME_W, 0.7 * FRAME_W), header=False)


def _verdict(report: FileReport) -> Table:
    styles = _styles()
    ink, paper = RESULT_COLOURS[report.result]
    badge_w = 44 * mm
    size = min(22.0, (badge_w - 16) / pdfmetrics.stringWidth(report.badge, BOLD, 1.0))
    badge = ParagraphStyle("b", parent=styles["badge"], fontSize=size, leading=size * 1.2)
    headline = ParagraphStyle("w", parent=styles["what"], textColor=colors.HexColor(ink))
    box = Table([[Paragraph(text(report.badge), badge),
                  [Paragraph(text(report.headline), headline), Spacer(1, 2), _para(report.reason)]]],
                colWidths=[badge_w, FRAME_W - badge_w])
    box.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (0, 0), colors.HexColor(ink)), ("BACKGROUND", (1, 0), (1, 0), colors.HexColor(paper)),
        ("BOX", (0, 0), (-1, -1), 1.5, colors.HexColor(ink)), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 8), ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
        ("LEFTPADDING", (1, 0), (1, 0), 10)]))
    return box


def file_story(report: FileReport, anchor: str = "") -> list[Flowable]:
    """A file's section: the result, its plot and segments on a first page, then the faces, the
    speaking timeline, the file's facts and how to reproduce the result."""
    name = f'<a name="{anchor}"/>' if anchor else ""
    story: list[Flowable] = [Paragraph(name + text(report.name), _styles()["title"]), _para(report.path, "small"),
                             Spacer(1, 6), _verdict(report)]
    if report.analysis is None:
        return story
    story += [Spacer(1, 3), _para("Sign convention: + means the audio is early (it leads the picture), − that it is "
                                  "late. To fix an offset, delay the audio by it.", "small"),
              _para("Result", "h2"), _fields(report.summary),
              KeepTogether([_para("Offset over time", "h2"), _png(report.plot_png, FRAME_W),
                            _para(report.plot_caption, "small")])]
    if report.segments:
        rows = [_header(("#", "from", "to", "offset", "confidence", "evidence", "tolerance"), numbers=(1, 2, 3, 4))]
        rows += [[_para(s.number, "cell"), _para(f"{s.start_s:.1f} s", "num"), _para(f"{s.end_s:.1f} s", "num"),
                  _para(s.offset_text, "num"), _para(f"{s.confidence:.2f}", "num"), _para(s.evidence, "cell"),
                  _result(s.judged)] for s in report.segments]
        story += [Spacer(1, 4), _grid(rows, [w * FRAME_W for w in (0.06, 0.12, 0.12, 0.24, 0.14, 0.16, 0.16)])]
    story += [PageBreak(), _para("Faces", "h2")]
    if report.tracks:
        rows = [_header(("face", "track", "on screen", "offset", "confidence", "speaking", "in the clip verdict"),
                        numbers=(3, 4, 5))]
        rows += [[Image(io.BytesIO(t.thumbnail), 16 * mm, 16 * mm, kind="proportional") if t.thumbnail else
                  _para("—", "cell"), _para(t.id, "cell"), _para(t.on_screen, "cell"),
                  _para(f"{t.offset_ms:+.1f} ms", "num"), _para(f"{t.confidence:.2f}", "num"),
                  _para(f"{t.speaking_s:.1f} s", "num"), _para("yes" if t.in_verdict else "no", "cell")]
                 for t in report.tracks]
        story.append(_grid(rows, [w * FRAME_W for w in (0.14, 0.08, 0.2, 0.14, 0.13, 0.12, 0.19)]))
    else:
        story.append(_para("No face was tracked in this file."))
    story.append(_para("Who speaks when", "h2"))
    story.append(_png(report.timeline_png, FRAME_W) if report.timeline_png else
                 _para("No face was tracked, so there is no speaker to show."))
    story += [KeepTogether([_para("The file", "h2"), _fields(report.facts)]),
              KeepTogether([_para("Reproducing this result", "h2"), _fields(report.reproduce), Spacer(1, 6),
                            _command(report.command)])]
    if report.warnings:
        story += [_para("Warnings", "h2"), *(_para(f"• {w}") for w in report.warnings)]
    return story


def batch_story(title: str, folder: str, rows: Sequence[IndexRow], counts: Sequence[tuple[str, int]],
                tolerance_label: str, preset: str, reports: Sequence[FileReport]) -> list[Flowable]:
    """A batch's first pages, the counts and one line per file linking to its section, then each
    file's section from a new page."""
    styles = _styles()
    story: list[Flowable] = [_para(title, "title"), _para(folder, "small"), Spacer(1, 8), _counts(counts),
                             Spacer(1, 6), _para(f"Tolerance: {tolerance_label}. Status: the {preset} preset.", "body"),
                             _para("Files", "h2")]
    lines = [_header(("file", "status", "tolerance", "offset", "confidence", "model", "note"), numbers=(3, 4))]
    for number, row in enumerate(rows):
        link = Paragraph(f'<a href="#{section_anchor(number)}" color="#0072b2">{text(row.name)}</a>', styles["cell"])
        lines.append([link, _para(row.status, "cell"), _result(row.result or "—"),
                      _para("—" if row.offset_ms is None else f"{row.offset_ms:+.1f} ms", "num"),
                      _para("—" if row.confidence is None else f"{row.confidence:.2f}", "num"),
                      _para(row.model or "—", "cell"), _para(row.note, "cell")])
    story.append(_grid(lines, [w * FRAME_W for w in (0.24, 0.08, 0.11, 0.11, 0.12, 0.1, 0.24)]))
    for number, report in enumerate(reports):
        story += [PageBreak(), *file_story(report, section_anchor(number))]
    return story


def _counts(counts: Sequence[tuple[str, int]]) -> Table:
    """The batch's totals as a row of boxes: the number big, what it counts below."""
    styles = _styles()
    number = ParagraphStyle("count", parent=styles["body"], fontName=BOLD, fontSize=16, leading=19)
    cells = [[[Paragraph(str(count), number), _para(name, "cell")] for name, count in counts]]
    width = FRAME_W / len(counts)
    table = Table(cells, colWidths=[width] * len(counts), hAlign="LEFT")
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), SHADE), ("LINEAFTER", (0, 0), (-2, -1), 3, colors.white),
                               ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    return table


def section_anchor(number: int) -> str:
    return f"file-{number}"


class _NumberedCanvas(Canvas):
    """Draws "page N of M" once the number of pages is known (the pages are kept until ``save``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for number, page in enumerate(self._pages, 1):
            self.__dict__.update(page)
            self.setFont(SANS, 7.5)
            self.setFillColor(MUTED)
            self.drawRightString(PAGE_W - MARGIN, 9 * mm, f"page {number} of {len(self._pages)}")
            super().showPage()
        super().save()


def write_pdf(path: os.PathLike | str, story: list[Flowable], title: str, created: str) -> None:
    """Lay ``story`` out on A4 pages in ``path`` (the caller's temporary file)."""
    _fonts()

    def furniture(canvas: Canvas, _doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFillColor(BRAND)
        canvas.rect(0, PAGE_H - HEADER_H, PAGE_W, HEADER_H, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(BOLD, 11)
        canvas.drawString(MARGIN, PAGE_H - HEADER_H + 4.2 * mm, "syncdesk")
        canvas.setFont(SANS, 11)
        canvas.drawString(MARGIN + canvas.stringWidth("syncdesk ", BOLD, 11), PAGE_H - HEADER_H + 4.2 * mm,
                          "QC report")
        canvas.setFont(SANS, 8.5)
        canvas.drawRightString(PAGE_W - MARGIN, PAGE_H - HEADER_H + 4.4 * mm, created)
        canvas.setStrokeColor(RULE)
        canvas.line(MARGIN, 13 * mm, PAGE_W - MARGIN, 13 * mm)
        canvas.setFont(SANS, 7.5)
        canvas.setFillColor(MUTED)
        label = title if len(title) <= 90 else title[:87] + "…"
        canvas.drawString(MARGIN, 9 * mm, f"{label} · syncdesk {__version__}")
        canvas.restoreState()

    document = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                                 topMargin=HEADER_H + 8 * mm, bottomMargin=18 * mm, title=f"{title}: syncdesk QC report",
                                 author="syncdesk", creator=f"{GENERATOR} {__version__}",
                                 subject="lip-sync QC report")
    document.build(story, onFirstPage=furniture, onLaterPages=furniture, canvasmaker=_NumberedCanvas)


def is_ours(path: Path) -> bool:
    """Whether a PDF says syncdesk made it: its document information names syncdesk's report as the
    creator (reportlab writes it among the objects, so the file is searched in chunks)."""
    marker = f"/Creator ({GENERATOR} ".encode()
    tail = b""
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                if marker in tail + chunk:
                    return True
                tail = chunk[-len(marker):]
    except OSError:
        pass
    return False
