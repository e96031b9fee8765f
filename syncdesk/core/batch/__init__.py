"""Batch processing: a folder in, a report out, surviving Ctrl-C, kills and restarts.

* :mod:`.scan` finds the files (recursively; non-video files become ``skipped`` rows);
* :mod:`.store` is the persistent job queue (SQLite, WAL) in the user data folder, the server's jobs too;
* :mod:`.session` puts a scan into the queue under a settings key;
* :mod:`.runner` hands the queued jobs to an executor (:mod:`.executors`) and writes the outcomes:
  worker processes on this machine (:mod:`.local_executor`, :mod:`.worker`) or actors on a Ray
  cluster (:mod:`.ray_executor`, :mod:`.ray_actor`; Ray is an optional dependency);
* :mod:`.processes` is the pool of worker processes with a pluggable job: the local executor's,
  and the server's (which keeps its jobs in the store's ``requests`` table);
* :mod:`.report` classifies the results by preset, writes JSON/CSV and sorts copies.

No Qt here: the CLI and the GUI both drive these.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("CSV_NAME", "GOOD", "JSON_NAME", "POOR", "Row", "check_report_dir", "counts", "job_row", "rows",
                     "sort_into", "write_report"), "report"),
    **dict.fromkeys(("BatchRunner", "JobUpdate"), "runner"),
    "default_workers": "processes",
    **dict.fromkeys(("EXECUTORS", "Executor", "make_ray_executor"), "executors"),
    **dict.fromkeys(("Batch", "prepare"), "session"),
    **dict.fromkeys(("DONE", "ERROR", "FINISHED", "QUEUED", "RUNNING", "Job", "JobStore"), "store"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
