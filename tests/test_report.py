"""QC reports: a real analysis of an oracle clip whose audio slips by +160 ms at 20 s, written as
HTML and PDF, then read back: the page's numbers are the document's, nothing is loaded from the
network, a hostile file name stays text, the PDF has its pages and its plot; bare documents still
make a report; a batch's index links every file's page."""

from __future__ import annotations

import dataclasses
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest

from syncdesk.core.analysis import analyze
from syncdesk.core.batch.report import Row
from syncdesk.core.errors import SyncdeskError
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.report import BatchItem, write_batch_report, write_report
from syncdesk.core.report.plot import BAND
from syncdesk.core.results import Analysis, Engine, Source, SyncOverTime, SyncPoint
from syncdesk.core.tolerance import TOLERANCES, describe, judge

from .oracle import make_flash_clip

EBU = TOLERANCES["ebu-r37"]
HOSTILE = "<script>alert(\"x\")<script> 'q' & ünï 😀.avi"


@pytest.fixture(scope="module")
def steps(tmp_path_factory, oracle_weights) -> tuple[Path, Analysis]:
    """A 40 s clip in sync until 20 s, then with the audio 160 ms early; analysed and judged
    against EBU R37 as ``analyze --tolerance`` does."""
    folder = tmp_path_factory.mktemp("report-clip")
    clip = make_flash_clip(folder / "steps.avi", seconds=40.0,
                           audio_lead_s=lambda t: np.where(np.asarray(t) < 20.0, 0.0, 0.160))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNCDESK_DATA_DIR", str(folder / "data"))
        analysis = analyze(clip, AnalysisOptions(weights=oracle_weights, detector="whole-frame"))
    analysis.tolerance = judge(analysis, EBU)
    return clip, analysis


@pytest.fixture(scope="module")
def html_page(steps, tmp_path_factory) -> str:
    return write_report(steps[1], tmp_path_factory.mktemp("html") / "clip-qc.html", EBU).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pdf_path(steps, tmp_path_factory) -> Path:
    return write_report(steps[1], tmp_path_factory.mktemp("pdf") / "clip-qc.pdf", EBU)


class Page(HTMLParser):
    """Tags, attributes and text of a page, and each ``data-field`` element's value and text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.fields: dict[str, list[tuple[str, str]]] = {}
        self.text: list[str] = []
        self._open: list[tuple[str, str, list[str]]] = []  # (tag, field, its text) of open data-field elements
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if "data-field" in attributes:
            self._open.append((tag, attributes["data-field"], [attributes["data-value"]]))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, field, (value, *words) = self._open.pop()
            self.fields.setdefault(field, []).append((value, "".join(words).strip()))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for _, _, words in self._open:
            words.append(data)


def test_the_clip_slips_as_made(steps):
    over_time = steps[1].sync_over_time
    assert over_time.model == "steps"
    assert [round(s.offset_ms / 40) for s in over_time.segments] == [0, 4]  # 0 ms, then 160 ms
    assert steps[1].tolerance.result == "outside"


def test_the_page_shows_the_documents_numbers(steps, html_page):
    analysis = steps[1]
    verdict = analysis.tolerance
    page = Page(html_page)
    one = {field: values[0] for field, values in page.fields.items() if len(values) == 1}
    assert float(one["offset_ms"][0]) == analysis.offset_ms
    assert one["offset_ms"][1].startswith(f"{analysis.offset_ms:+.1f} ms")
    assert int(one["offset_frames"][0]) == analysis.offset_frames
    assert float(one["confidence"][0]) == analysis.confidence
    assert one["confidence"][1].startswith(f"{analysis.confidence:.2f} (")
    assert one["tolerance.result"] == ("outside", "outside")
    assert (float(one["tolerance.lead_ms"][0]), float(one["tolerance.lag_ms"][0])) == (40.0, 60.0)
    assert (one["tolerance.lead_ms"][1], one["tolerance.lag_ms"][1]) == ("40 ms", "60 ms")
    assert float(one["tolerance.worst_ms"][0]) == verdict.worst_ms
    assert one["tolerance.worst_ms"][1].startswith(f"{verdict.worst_ms:+.1f} ms")
    assert one["sync_over_time.model"][0] == "steps"
    segments = analysis.sync_over_time.segments
    assert [float(v) for v, _ in page.fields["segment.offset_ms"]] == [s.offset_ms for s in segments]
    assert [t for _, t in page.fields["segment.offset_ms"]] == [f"{s.offset_ms:+.1f} ms" for s in segments]
    assert [float(v) for v, _ in page.fields["segment.confidence"]] == [s.confidence for s in segments]
    assert [float(v) for v, _ in page.fields["track.offset_ms"]] == [t.offset_ms for t in analysis.tracks]
    text = " ".join(" ".join(page.text).split())
    assert "FAIL" in text and describe(verdict) in text and "+ audio early" in text


def test_the_page_loads_nothing_from_anywhere(html_page):
    page = Page(html_page)
    assert "http://" not in html_page and "https://" not in html_page
    for tag, attributes in page.tags:
        for name in ("src", "href"):
            if name in attributes:
                assert not re.match(r"\s*(https?:)?//", attributes[name], re.I), (tag, attributes)
        if tag == "img":
            assert attributes["src"].startswith(("data:image/svg+xml;base64,", "data:image/jpeg;base64,"))
        assert tag != "link" and not (tag == "script" and "src" in attributes)
    images = [attributes["src"] for tag, attributes in page.tags if tag == "img"]
    assert len(images) == 3  # the plot, the face, the speaking timeline
    assert "Content-Security-Policy" in html_page


def test_a_hostile_file_name_stays_text(steps, tmp_path):
    clip, analysis = steps
    hostile = shutil.copy(clip, tmp_path / HOSTILE)
    document = dataclasses.replace(analysis, source=dataclasses.replace(analysis.source, path=str(hostile)))
    raw = write_report(document, tmp_path / "hostile.html", EBU).read_text(encoding="utf-8")
    page = Page(raw)
    assert "<script>alert" not in raw and "&lt;script&gt;alert(&#34;x&#34;)" in raw
    assert [tag for tag, _ in page.tags if tag == "script"] == []
    assert HOSTILE in " ".join(page.text)
    pdf = pdfium.PdfDocument(write_report(document, tmp_path / "hostile.pdf", EBU))
    assert "<script>alert" in pdf[0].get_textpage().get_text_range()


def _pixels(page: pdfium.PdfPage) -> np.ndarray:
    return np.asarray(page.render(scale=1.5).to_pil().convert("RGB")).astype(int)


def test_the_pdf_has_its_pages_and_the_plot(steps, pdf_path):
    pdf = pdfium.PdfDocument(pdf_path)
    assert len(pdf) == 2  # the result and its plot; then faces, speakers, the file and how to reproduce it
    first, second = _pixels(pdf[0]), _pixels(pdf[1])
    for image in (first, second):
        assert (image.min(axis=2) < 200).mean() > 0.03  # not blank
    band = np.array([int(BAND[i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(first - band).max(axis=2) <= 6).sum() > 5000  # the tolerance band, drawn on page 1
    text = pdf[0].get_textpage().get_text_range()
    assert "FAIL" in text and "steps.avi" in text and describe(steps[1].tolerance) in " ".join(text.split())
    assert "page 1 of 2" in text
    assert "SHA-256" in pdf[1].get_textpage().get_text_range()


def test_an_unknown_suffix_is_refused(steps, tmp_path):
    with pytest.raises(SyncdeskError, match="html or .pdf"):
        write_report(steps[1], tmp_path / "clip-qc.docx", EBU)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_report_is_kept_unless_overwrite(steps, tmp_path):
    target = tmp_path / "clip-qc.pdf"
    target.write_bytes(b"the client's copy")
    with pytest.raises(SyncdeskError, match="exists"):
        write_report(steps[1], target, EBU)
    assert target.read_bytes() == b"the client's copy"
    write_report(steps[1], target, EBU, overwrite=True)
    assert target.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir()] == ["clip-qc.pdf"]  # no temporary file left


def _bare(over_time: SyncOverTime | None) -> Analysis:
    """A document with no tracks and a file that is not there any more."""
    return Analysis(
        source=Source("/nowhere/gone.mp4", 1000, 12.0, 25.0, 300, 48000),
        engine=Engine(version="test", device="cpu", detector="haar", syncnet={"path": "w", "sha256": "0" * 64}),
        offset_frames=0, offset_ms=0.0, min_dist=9.0, confidence=0.5, tracks=[], shots=[[0, 299]],
        active_speaker=[None] * 300, timings={}, verdict_source="no-confident-speaker", sync_over_time=over_time)


@pytest.mark.parametrize("over_time", [
    None,
    SyncOverTime(8.0, 2.0, [SyncPoint(t, None, 0.0) for t in range(4, 10, 2)], "unknown"),
], ids=["no-sync-over-time", "unknown-model"])
def test_a_bare_document_still_makes_a_report(over_time, tmp_path):
    document = _bare(over_time)
    page = Page(write_report(document, tmp_path / "bare.html", EBU).read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert "UNKNOWN" in text and "No face was tracked" in text and "cannot be read now" in text
    assert page.fields["tolerance.result"] == [("unknown", "unknown")]
    pdf = pdfium.PdfDocument(write_report(document, tmp_path / "bare.pdf", EBU))
    assert len(pdf) == 2 and "UNKNOWN" in pdf[0].get_textpage().get_text_range()


def test_a_batch_report_links_a_page_per_file(steps, tmp_path):
    clip, analysis = steps
    hostile = Path(shutil.copy(clip, tmp_path / HOSTILE))
    items = [BatchItem.from_row(Row(clip, "good", 0, analysis.offset_ms, analysis.confidence), analysis),
             BatchItem(hostile, "poor", note="a <b>warning</b>", analysis=dataclasses.replace(
                 analysis, source=dataclasses.replace(analysis.source, path=str(hostile)))),
             BatchItem.from_row(Row(tmp_path / "broken.mov", "error", error="cannot read broken.mov: not a video"))]
    folder = tmp_path / "qc"
    index = write_batch_report(folder, items, EBU, "medium")
    assert index == folder / "index.html"
    page = Page(index.read_text(encoding="utf-8"))
    assert any(tag == "table" and "sortable" in attributes.get("class", "") for tag, attributes in page.tags)
    assert any(tag == "script" and "src" not in attributes for tag, attributes in page.tags)
    links = [attributes["href"] for tag, attributes in page.tags if tag == "a" and attributes["href"].startswith("files/")]
    assert len(links) == len(items) == sum(1 for tag, attributes in page.tags if attributes.get("class") == "file")
    for link in links:
        target = folder / link
        assert target.is_file() and re.fullmatch(r"\d{4}-[A-Za-z0-9_-]*\.html", target.name)
        assert 'href="../index.html"' in target.read_text(encoding="utf-8")
    assert "<script>alert" not in (folder / links[1]).read_text(encoding="utf-8")
    assert "cannot read broken.mov" in (folder / links[2]).read_text(encoding="utf-8")
    assert [value for value, _ in page.fields["tolerance.name"]] == ["ebu-r37"]
    pdf = pdfium.PdfDocument(folder / "report.pdf")
    assert len(pdf) == 1 + 2 + 2 + 1  # the table, two files with results, one without
    assert "broken.mov" in pdf[0].get_textpage().get_text_range()
    write_batch_report(folder, items[:1], EBU, "medium")  # a new run replaces its own files ...
    assert sorted(p.name for p in (folder / "files").iterdir()) == [Path(links[0]).name]
    (folder / "index.html").write_text("<html>someone else's page</html>", encoding="utf-8")
    with pytest.raises(SyncdeskError, match="not a syncdesk QC report"):  # ... and nobody else's
        write_batch_report(folder, items, EBU, "medium")
