"""QC reports: one file's result against a broadcast tolerance, as a self-contained HTML page or a
PDF, and a batch's report (an index page, a page per file and one PDF).

Nothing here is imported until a report is made (jinja2, reportlab and matplotlib load then).
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {"write_report": "write", "check_report_output": "write", "BatchItem": "batch",
            "write_batch_report": "batch", "check_batch_report_dir": "batch",
            "BATCH_REPORT_NAMES": "batch:OUTPUT_NAMES"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
