"""``syncdesk batch FOLDER``: analyse every video below FOLDER, classify, report, sort copies.

The queue lives in the user data folder: run the same command again after a Ctrl-C, a crash or
a kill and it resumes; files already analysed with the same settings are not analysed again
(so re-running with another ``--preset`` only re-classifies).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections import Counter
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from ..core import DEFAULT_PRESET, DEFAULT_TOLERANCE, PRESETS, SyncdeskError
from ..core.batch import (ERROR, EXECUTORS, FINISHED, QUEUED, RUNNING, BatchRunner, JobStore, JobUpdate,
                          default_workers)
from .analyze import add_analysis_options, add_tolerance_option, options_from, tolerance_from
from .argtypes import number_between
from .progress import _Bar, new_tqdm

if TYPE_CHECKING:
    from ..core import AnalysisOptions, Tolerance
    from ..core.batch import Row


def add_parser(commands: argparse._SubParsersAction) -> None:
    presets = ", ".join(f"{p.name} {p.min_confidence:g}/{p.max_offset_frames}" for p in PRESETS.values())
    parser = commands.add_parser(
        "batch", help="analyse every video in a folder: report, sort into good / poor",
        description=("Analyse every video file below FOLDER (recursively) and classify each as good or poor by "
                     f"a preset (minimum confidence / maximum absolute offset in frames: {presets}). "
                     "The queue survives Ctrl-C, crashes and restarts: run the same command again to resume; "
                     "files already analysed with the same settings are not analysed again."),
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER")
    parser.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                        help=f"quality preset that tells good from poor (default {DEFAULT_PRESET})")
    parser.add_argument("--workers", type=number_between(int, 1, 256, "a whole number"), metavar="N",
                        help=f"analysis processes on CPU (default: half the cores, here {default_workers()}); "
                             "a GPU is used by one process")
    parser.add_argument("--report", type=Path, metavar="OUT_DIR",
                        help="write OUT_DIR/report.json, report.csv and the QC report: index.html (a sortable "
                             "table), a page per file and report.pdf, judged against --tolerance (default: "
                             f"{DEFAULT_TOLERANCE})")
    parser.add_argument("--sort-into", type=Path, metavar="DIR",
                        help="copy (never move) the files into DIR/good and DIR/poor; existing files are never "
                             "replaced")
    parser.add_argument("--retry-errors", action="store_true",
                        help="analyse again the files that failed in an earlier run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tolerance_option(parser, "also judge each file (the report's tolerance and worst_ms columns)")
    scale = parser.add_argument_group("scale-out", "the same queue and report, with the analyses on a Ray cluster "
                                                    '(pip install "syncdesk[ray]")')
    scale.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="where the analyses run: local worker processes (default) or Ray actors")
    scale.add_argument("--ray-address", metavar="auto|HOST:PORT",
                       help="join a running Ray cluster (auto: RAY_ADDRESS, or the one `ray start` began here); "
                            "without it a local Ray is started for the batch")
    scale.add_argument("--ship-files", action="store_true",
                       help="send each file through Ray's object store (up to 1 GiB a file) instead of letting the "
                            "nodes read it by path from a shared file system")
    scale.add_argument("--cpus-per-worker", type=number_between(int, 1, 256, "a whole number"), metavar="K",
                       help="CPUs each Ray actor asks for: its torch threads (default 1), or with a GPU the files "
                            "it analyses at once (default: a GPU node's CPUs per GPU); with Ray, --workers is the "
                            "number of actors (default: one per K CPUs of each node, or one per GPU)")
    add_analysis_options(parser)
    parser.set_defaults(run=run, usage_error=parser.error)


class BatchBar(_Bar):
    """Files done of the total, failures and an ETA; running files count by their progress."""

    def __init__(self, total: int, done: int, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.done = done
        self.failed = 0
        self._running: dict[int, float] = {}
        self.total = total
        if self.enabled and total:
            self._bar = new_tqdm(total=total, initial=done, desc=self._text(), unit="file",
                                 bar_format="{desc} {bar} [{elapsed}<{remaining}]")

    def __call__(self, update: JobUpdate) -> None:
        job_id = update.job.id
        if update.state == RUNNING:
            self._running[job_id] = update.fraction
        else:
            self._running.pop(job_id, None)
            if update.state in FINISHED:
                self.done += 1
                self.failed += update.state == ERROR
        self._show()

    def _text(self) -> str:
        return f"files {self.done}/{self.total}, {self.failed} failed"

    def _show(self) -> None:
        if self._bar is None:
            return
        self._bar.n = self.done + sum(self._running.values())
        self._bar.set_description_str(self._text(), refresh=False)
        self._bar.refresh()


@contextmanager
def _stop_on_interrupt(runner: BatchRunner) -> Iterator[None]:
    """The first Ctrl-C stops the batch cleanly (running files are cancelled and queued
    again); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        runner.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _number(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[Row], base: Path) -> str:
    """One line per file (path below ``base``), the errors' reasons after the name; the tolerance's
    verdict when the files were judged against one."""
    judged = any(row.tolerance for row in rows)
    lines = [f"{'status':<8} {'offset':>6} {'conf':>7}  " + ("tolerance  " if judged else "") + "file"]
    for row in rows:
        try:
            name = str(row.path.relative_to(base))
        except ValueError:
            name = str(row.path)
        if row.error:
            name = f"{name}: {row.error}"
        tolerance = f"{row.tolerance or '':<9}  " if judged else ""
        lines.append(f"{row.status:<8} {_number(row.offset, '+d'):>6} {_number(row.confidence, '.2f'):>7}  "
                     f"{tolerance}{name}")
    return "\n".join(lines)


def _write_qc_report(folder: Path, found: list[Row], options: AnalysisOptions, tolerance: Tolerance,
                     preset_name: str) -> Path:
    """The batch's QC report (index page, a page per file, one PDF), from the documents the
    analysis cache still holds (a page says so where one was evicted)."""
    from ..core import AnalysisCache
    from ..core.batch import GOOD, POOR
    from ..core.report import BatchItem, write_batch_report

    cache = AnalysisCache()
    items = [BatchItem.from_row(row, cache.get(row.path, options) if row.status in (GOOD, POOR) else None)
             for row in found]
    return write_batch_report(folder, items, tolerance, preset_name)


def run(args: argparse.Namespace) -> int:
    # the report's and the session's modules: not needed to build the parser (start-up of every command)
    from ..core.batch import (CSV_NAME, GOOD, JSON_NAME, POOR, check_report_dir, counts, prepare, rows, sort_into,
                              write_report)

    folder: Path = args.folder
    if args.executor != "ray" and (args.ray_address or args.ship_files or args.cpus_per_worker):
        args.usage_error("--ray-address, --ship-files and --cpus-per-worker go with --executor ray")
    if not folder.is_dir():
        raise SyncdeskError(f"{folder} is not a folder" if folder.exists() else f"no such folder: {folder}")
    base = Path(os.path.abspath(folder))  # as the scan spells the files' paths
    preset = PRESETS[args.preset]
    options = options_from(args)
    # reports judge against a tolerance: the one given, else the default one
    tolerance = args.tolerance or (tolerance_from(args) if args.report else None)
    if args.report:
        from ..core.report import check_batch_report_dir

        check_report_dir(args.report)  # before a long batch, not after it
        check_batch_report_dir(args.report)
    if args.sort_into and args.sort_into.exists() and not args.sort_into.is_dir():
        raise SyncdeskError(f"{args.sort_into} is a file: --sort-into takes a folder")
    exclude = []  # what this command writes is never scanned, even inside FOLDER
    if args.sort_into:
        exclude += [args.sort_into / GOOD, args.sort_into / POOR]
    if args.report:
        from ..core.report import BATCH_REPORT_NAMES

        exclude += [args.report / name for name in (JSON_NAME, CSV_NAME, *BATCH_REPORT_NAMES)]
    executor = None
    if args.executor == "ray":
        from ..core.batch import make_ray_executor

        executor = make_ray_executor(options, args.workers, args.ray_address, args.ship_files, args.cpus_per_worker)
    with JobStore() as store, executor or nullcontext():  # an unreachable cluster is refused before the scan
        batch = prepare([folder], options, store, exclude, retry_errors=args.retry_errors)
        if not batch.jobs and not batch.skipped:
            raise SyncdeskError(f"no files in {folder}")
        pending = batch.pending()
        with BatchBar(len(batch.jobs), len(batch.jobs) - len(pending), args.quiet) as bar:
            runner = BatchRunner(store, options, args.workers, on_update=bar, executor=executor)
            with _stop_on_interrupt(runner):
                runner.run(pending)
        batch = batch.refreshed(store)
    if runner.stopped:
        left = sum(1 for job in batch.jobs if job.state == QUEUED)
        print(f"syncdesk: interrupted: {left} of {len(batch.jobs)} files left in the queue; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    found = rows(batch.jobs, batch.skipped, preset, tolerance)
    totals = counts(found)
    print(table(found, base))
    print(f"{len(found)} files: " + ", ".join(f"{count} {status}" for status, count in totals.items())
          + f" (preset {preset.name}: confidence >= {preset.min_confidence:g}, "
            f"|offset| <= {preset.max_offset_frames} frames)")
    if tolerance is not None:
        judged = Counter(row.tolerance for row in found if row.tolerance)
        print(f"{tolerance.label()}: " + ", ".join(f"{judged[result]} {result}"
                                                   for result in ("within", "outside", "unknown")))
    if args.report:
        json_path, csv_path = write_report(args.report, found, preset, batch.settings.fields, tolerance)
        index = _write_qc_report(args.report, found, options, tolerance, preset.name)
        print(f"report: {json_path}, {csv_path}, {index} (QC report, with report.pdf)")
    if args.sort_into:
        done = sort_into(args.sort_into, found, base)
        print(f"sorted: {len(done.copied)} files in {args.sort_into} (good/, poor/)")
        for _, message in done.failed:
            print(f"syncdesk: not copied: {message}", file=sys.stderr)
        if done.failed:
            return 1
    return 0
