"""Turning a checked request into a queued job: the file found (below a root, or the upload moved
into the job's folder), the options settled, everything the worker needs written in the queue.

Blocking (the file system, the queue): the routes call it in a worker thread. A refusal leaves
nothing behind (the job's folder is removed).
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, Optional

from ..core import SyncdeskError
from . import views
from .bodies import Upload
from .config import ServerConfig, options_to_dict, with_changes
from .schemas import AnalysisRequest, BatchRequest, FixRequest, FileRequest
from .security import Refused, Root, is_below, resolve, safe_name, safe_suffix
from .store import ANALYSIS, FIX, JobRow, ServerStore, new_id

#: a batch may not queue more files than this
MAX_BATCH_FILES = 10_000


class Intake:
    """Queues jobs for the routes; ``store`` gives the queue (there once the server has started)."""

    def __init__(self, config: ServerConfig, store: Callable[[], ServerStore]) -> None:
        self.config = config
        self.store = store

    def job(self, kind: str, job_id: str) -> JobRow:
        """The job, or 404."""
        job = self.store().get(job_id)
        if job is None or job.kind != kind:
            raise Refused(404, f"no {kind} {job_id!r} (finished jobs are removed after {self.config.keep_hours:g} "
                               "hours, or when deleted)", "not-found")
        return job

    @contextmanager
    def _new_folder(self) -> Iterator[tuple[str, Path]]:
        """A new job's id and folder; the folder goes again if the job is not queued."""
        job_id = new_id()
        folder = self.config.job_dir(job_id)
        folder.mkdir(parents=True)
        try:
            yield job_id, folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _options(self, body: Any) -> dict[str, Any]:
        from ..core import validate_options

        options = with_changes(self.config.options, body.options.changes() if body.options else None)
        try:
            validate_options(options)
        except SyncdeskError as exc:
            raise Refused(422, f"options: {exc}", "invalid-request") from None
        return options_to_dict(options)

    def _source(self, body: FileRequest, upload: Optional[Upload], folder: Path) -> tuple[Path, str, bool]:
        """The job's file, its name for the client, and whether it was uploaded."""
        if upload is not None:
            if body.path is not None:
                raise Refused(422, "send a path or a file, not both", "invalid-request")
            incoming, filename = upload
            target = folder / f"upload{safe_suffix(filename)}"
            os.replace(incoming, target)
            return target, safe_name(filename), True
        if body.path is None:
            raise Refused(422, "path: give the file's path below a root, or upload the file (multipart, field "
                               "\"file\")", "invalid-request")
        return resolve(self.config.roots, body.path, body.root), body.path, False

    # ------------------------------------------------------------------ analyses

    def analysis(self, body: AnalysisRequest, upload: Optional[Upload]) -> str:
        with self._new_folder() as (job_id, folder):
            source, name, uploaded = self._source(body, upload, folder)
            self.store().add(ANALYSIS, {
                "source": str(source), "name": name, "uploaded": uploaded, "options": self._options(body),
                "tolerance": body.tolerance, "document": str(folder / "analysis.json")}, job_id)
        return job_id

    # ------------------------------------------------------------------ fixes

    def _fix_source(self, body: FixRequest, upload: Optional[Upload], folder: Path
                    ) -> tuple[Path, str, bool, Optional[str]]:
        """The fix's file and name, whether uploaded, and the finished analysis's document (auto)."""
        if body.analysis is None:
            return (*self._source(body, upload, folder), None)
        if upload is not None:
            raise Refused(422, "send an analysis id or a file, not both", "invalid-request")
        analysis = self.job(ANALYSIS, body.analysis)
        if body.auto and analysis.state != "done":
            raise Refused(409, f"analysis {analysis.id} is {analysis.state}: auto needs a finished analysis "
                               "(or send the file instead)", "not-finished")
        source = Path(analysis.request["source"])
        if analysis.request.get("uploaded"):
            target = folder / source.name  # a link of its own: deleting the analysis leaves the fix its file
            try:
                os.link(source, target)
            except FileNotFoundError:
                raise Refused(409, f"the file of analysis {analysis.id} is gone", "gone") from None
            source = target
        elif not is_below(source, self.config.roots):
            raise Refused(403, "the analysis's file is no longer below a root", "outside-root")
        document = str(views.document_path(analysis)) if body.auto else None
        return source, analysis.request["name"], bool(analysis.request.get("uploaded")), document

    def fix(self, body: FixRequest, upload: Optional[Upload]) -> str:
        from ..core.export import ExportError, load_segments
        from ..core.export.paths import output_format

        with self._new_folder() as (job_id, folder):
            source, name, uploaded, document = self._fix_source(body, upload, folder)
            suffix = source.suffix.lower()
            download_name = f"{PurePosixPath(safe_name(name)).stem or 'fixed'}.synced{suffix}"
            try:
                output_format(Path(download_name))
            except ExportError as exc:
                raise Refused(422, f"the fixed copy keeps the file's container, chosen by its suffix: {exc}",
                              "bad-container") from None
            request: dict[str, Any] = {
                "source": str(source), "name": name, "uploaded": uploaded, "options": self._options(body),
                "tolerance": body.tolerance, "document": str(folder / "analysis.json"),
                "analysis_document": document, "output": str(folder / f"fixed{suffix}"),
                "download_name": download_name, "force": body.force, "lossless": body.lossless,
                "all_audio": body.all_audio, "offset_ms": body.wanted_offset_ms(),
                "mode": "auto" if body.auto else "segments" if body.segments is not None else "offset"}
            if body.segments is not None:
                segments = folder / "segments.json"
                segments.write_text(json.dumps([s.model_dump() for s in body.segments]), encoding="utf-8")
                try:
                    load_segments(segments)  # the engine's own checks, before the job is queued
                except ExportError as exc:
                    raise Refused(422, f"segments: {exc}".replace(str(segments), "the list"),
                                  "invalid-request") from None
                request["segments"] = str(segments)
            self.store().add(FIX, request, job_id)
        return job_id

    # ------------------------------------------------------------------ batches

    def _batch_folder(self, body: BatchRequest) -> tuple[Root, Path]:
        roots = self.config.roots
        if body.folder.strip() not in ("", ".", "./"):
            folder = resolve(roots, body.folder, body.root, folder=True)
            return next(root for root in roots if folder.is_relative_to(root.path)), folder
        named = [root for root in roots if body.root in (None, root.name)]
        if not named:
            raise Refused(404 if roots else 403, "root: no such root (GET /v1/roots lists them)" if roots else
                          "this server has no --root folder", "no-such-root")
        return named[0], named[0].path

    def batch(self, body: BatchRequest) -> str:
        """Every video file below the folder (as ``syncdesk batch`` finds them), one analysis each;
        files whose symlinks lead out of the roots are skipped unread."""
        from ..core.batch.scan import scan

        root, folder = self._batch_folder(body)
        found = scan([folder])
        if len(found.files) > MAX_BATCH_FILES:
            raise Refused(413, f"the folder holds {len(found.files)} video files: a batch may have at most "
                               f"{MAX_BATCH_FILES}; send its sub-folders", "too-many-files")

        def shown(path: Path) -> str:
            return str(path.relative_to(root.path)) if path.is_relative_to(root.path) else path.name

        options = self._options(body)
        skipped = [{"name": shown(item.path), "reason": item.reason} for item in found.skipped]
        children = []
        for item in found.files:
            if not is_below(item.path, self.config.roots):
                skipped.append({"name": shown(item.path), "reason": "a symlink that leads out of the root: not read"})
                continue
            child_id = new_id()
            children.append((child_id, {
                "source": str(item.path.resolve()), "name": shown(item.path), "uploaded": False, "options": options,
                "tolerance": body.tolerance, "document": str(self.config.job_dir(child_id) / "analysis.json")}))
        return self.store().add_batch({"name": shown(folder) if folder != root.path else ".", "root": root.name,
                                       "preset": body.preset, "tolerance": body.tolerance, "skipped": skipped},
                                      children)
