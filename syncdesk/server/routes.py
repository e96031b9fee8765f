"""The ``/v1`` routes behind the token: analyses, fixes, batches, their events, downloads and cancels.

Each route checks its request (:mod:`.bodies`, :mod:`.schemas`), queues a job (:mod:`.intake`) or
reads one back (:mod:`.views`). Plain ``def`` routes run in the thread pool (they touch SQLite and
the disk); the ``async`` ones only await.
"""

from __future__ import annotations

import json
import time
from pathlib import PurePosixPath
from typing import Any, AsyncIterator, Optional

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from . import schemas, views
from .bodies import json_or_form, openapi_body, read_json
from .config import ServerConfig
from .intake import Intake
from .manager import JobManager
from .schemas import AnalysisRequest, BatchRequest, FixRequest
from .security import Refused, attachment, safe_name
from .store import ANALYSIS, BATCH, FIX, JobRow, ServerStore

#: seconds between two looks at a job for its event stream, and between keep-alive comments
EVENT_EVERY_S, KEEPALIVE_S = 0.5, 15.0
#: an event stream ends after this long even if its job has not (the client reconnects)
EVENT_STREAM_S = 3600.0
_EVENTS = {200: {"content": {"text/event-stream": {}}, "description": "server-sent events: `status` at each change, "
                                                                        "then `end`"}}
_FIX_FORM = {"offset_ms": {"type": "number"}, "offset_frames": {"type": "integer"}, "auto": {"type": "boolean"},
             "force": {"type": "boolean"}, "segments": {"type": "string", "description": "JSON: a segment list"}}


def _created(kind: str, job_id: str) -> JSONResponse:
    location = f"{views.URL_PREFIX[kind]}/{job_id}"
    return JSONResponse({"id": job_id, "status": "queued", "url": location}, status_code=202,
                        headers={"Location": location})


def api_routes(config: ServerConfig, manager: JobManager, router: APIRouter) -> None:
    """Add the job routes to ``router`` (which checks the token)."""

    def store() -> ServerStore:
        if manager.store is None:
            raise Refused(503, "the server is starting: try again in a moment", "starting")
        return manager.store

    intake = Intake(config, store)

    @router.get("/roots", tags=["server"])
    def roots() -> dict[str, Any]:
        """The folders requests may name files in (by name), and the upload limit."""
        return {"roots": [{"name": root.name} for root in config.roots],
                "max_upload_mb": config.max_upload_bytes / 1024 / 1024}

    # ------------------------------------------------------------------ analyses

    @router.post("/analyses", status_code=202, response_model=schemas.Created, tags=["analyses"],
                 openapi_extra=openapi_body("AnalysisRequest", {}))
    async def create_analysis(request: Request) -> Response:
        """Queue an analysis of a file below a root (JSON) or of an uploaded file (multipart)."""
        async with json_or_form(request, AnalysisRequest, config.incoming_dir, config.max_upload_bytes) as received:
            return _created(ANALYSIS, await anyio.to_thread.run_sync(intake.analysis, *received))

    @router.get("/analyses", tags=["analyses"])
    def list_analyses(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """The latest analyses, newest first (a batch's own are listed with the batch)."""
        return {"analyses": [views.status(job, manager.progress(job.id)) for job in store().recent(ANALYSIS, limit)]}

    @router.get("/analyses/{job_id}", response_model=schemas.AnalysisStatus, tags=["analyses"])
    def get_analysis(job_id: str, document: bool = Query(True, description="include the document once done")
                     ) -> Response:
        """The analysis's status, progress and, once done, its Analysis document."""
        job = intake.job(ANALYSIS, job_id)
        return Response(views.analysis_body(job, manager.progress(job.id), document), media_type="application/json")

    @router.get("/analyses/{job_id}/document", tags=["analyses"],
                responses={200: {"content": {"application/json": {}}, "description": "the Analysis document"}})
    def download_document(job_id: str) -> Response:
        """The Analysis document as a file to save."""
        return _document_file(intake.job(ANALYSIS, job_id))

    @router.get("/analyses/{job_id}/events", tags=["analyses"], response_class=StreamingResponse, responses=_EVENTS)
    async def analysis_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: a ``status`` event at each change, ``end`` when the job is finished."""
        return await _events(request, ANALYSIS, job_id)

    @router.delete("/analyses/{job_id}", tags=["analyses"], status_code=202,
                   responses={204: {"description": "the finished job and its files are removed"}})
    def delete_analysis(job_id: str) -> Response:
        """Cancel a queued or running analysis (202); remove a finished one and its files (204)."""
        return _cancel_or_remove(intake.job(ANALYSIS, job_id))

    # ------------------------------------------------------------------ fixes

    @router.post("/fixes", status_code=202, response_model=schemas.Created, tags=["fixes"],
                 openapi_extra=openapi_body("FixRequest", _FIX_FORM))
    async def create_fix(request: Request) -> Response:
        """Queue a fixed copy (by offset, ``auto`` or a segment list) of a file below a root, an upload,
        or a finished analysis's file."""
        async with json_or_form(request, FixRequest, config.incoming_dir, config.max_upload_bytes) as received:
            return _created(FIX, await anyio.to_thread.run_sync(intake.fix, *received))

    @router.get("/fixes", tags=["fixes"])
    def list_fixes(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """The latest fixes, newest first."""
        return {"fixes": [views.status(job, manager.progress(job.id)) for job in store().recent(FIX, limit)]}

    @router.get("/fixes/{job_id}", response_model=schemas.FixStatus, tags=["fixes"])
    def get_fix(job_id: str) -> dict[str, Any]:
        """The fix's status and, once done, what was applied and where to download the file."""
        job = intake.job(FIX, job_id)
        return views.fix_body(job, manager.progress(job.id))

    @router.get("/fixes/{job_id}/file", tags=["fixes"], response_class=FileResponse,
                responses={200: {"content": {"application/octet-stream": {}}, "description": "the fixed file"}})
    def download_fix(job_id: str) -> Response:
        """The fixed copy (audio shifted, video copied bit for bit)."""
        job = intake.job(FIX, job_id)
        path = views.fixed_file(job)
        if path is None:
            why = (job.result or {}).get("message") if job.state == "done" else f"the fix is {job.state}"
            raise Refused(404 if job.state == "done" else 409, f"no fixed file: {why or 'nothing was written'}",
                          "no-file")
        return FileResponse(path, media_type="application/octet-stream",
                            headers={"Content-Disposition": attachment(job.request["download_name"])})

    @router.get("/fixes/{job_id}/document", tags=["fixes"])
    def fix_document(job_id: str) -> Response:
        """The Analysis document an ``auto`` fix applied."""
        return _document_file(intake.job(FIX, job_id))

    @router.get("/fixes/{job_id}/events", tags=["fixes"], response_class=StreamingResponse, responses=_EVENTS)
    async def fix_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events, as for an analysis."""
        return await _events(request, FIX, job_id)

    @router.delete("/fixes/{job_id}", tags=["fixes"], status_code=202)
    def delete_fix(job_id: str) -> Response:
        """Cancel a queued or running fix (202); remove a finished one and its files (204)."""
        return _cancel_or_remove(intake.job(FIX, job_id))

    # ------------------------------------------------------------------ batches

    @router.post("/batches", status_code=202, response_model=schemas.Created, tags=["batches"],
                 openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/BatchRequest"}}}}})
    async def create_batch(request: Request) -> Response:
        """Queue an analysis of every video file below a folder of a root."""
        body = await read_json(request, BatchRequest)
        return _created(BATCH, await anyio.to_thread.run_sync(intake.batch, body))

    @router.get("/batches", tags=["batches"])
    def list_batches(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """The latest batches, newest first (without their files)."""
        return {"batches": [views.status(job, (0.0, None)) for job in store().recent(BATCH, limit)]}

    @router.get("/batches/{job_id}", response_model=schemas.BatchStatus, tags=["batches"])
    def get_batch(job_id: str) -> dict[str, Any]:
        """The batch's progress and each file's result: good or poor by the preset, error, skipped."""
        return views.batch_body(intake.job(BATCH, job_id), store())

    @router.get("/batches/{job_id}/events", tags=["batches"], response_class=StreamingResponse, responses=_EVENTS)
    async def batch_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events with the batch's progress and counts."""
        return await _events(request, BATCH, job_id)

    @router.delete("/batches/{job_id}", tags=["batches"], status_code=202)
    def delete_batch(job_id: str) -> Response:
        """Cancel the batch's unfinished analyses (202); remove a finished batch with its files (204)."""
        return _cancel_or_remove(intake.job(BATCH, job_id))

    # ------------------------------------------------------------------ shared

    def _document_file(job: JobRow) -> Response:
        path = views.document_path(job)
        if path is None:
            raise Refused(409, f"no document: the job is {job.state}" + (f" ({job.error})" if job.error else ""),
                          "no-document")
        stem = PurePosixPath(safe_name(job.request.get("name", "analysis"))).stem
        return FileResponse(path, media_type="application/json",
                            headers={"Content-Disposition": attachment(f"{stem}.analysis.json")})

    def _light(kind: str, job_id: str) -> Optional[dict[str, Any]]:
        """A job's status for its event stream (an analysis's summary, not its document)."""
        job = store().get(job_id)
        if job is None or job.kind != kind:
            return None
        if kind == BATCH:
            view = views.batch_body(job, store())
            del view["files"]
            return view
        if kind == FIX:
            return views.fix_body(job, manager.progress(job.id))
        return {**views.status(job, manager.progress(job.id)), "summary": job.result}

    async def _events(request: Request, kind: str, job_id: str) -> StreamingResponse:
        first = await anyio.to_thread.run_sync(_light, kind, job_id)
        if first is None:
            raise Refused(404, f"no {kind} {job_id!r}", "not-found")

        async def stream() -> AsyncIterator[str]:
            view: Optional[dict[str, Any]] = first
            last, sent_at, ends_at = "", time.monotonic(), time.monotonic() + EVENT_STREAM_S
            while view is not None and time.monotonic() < ends_at:
                text = json.dumps(view)
                if text != last:
                    yield f"event: status\ndata: {text}\n\n"
                    last, sent_at = text, time.monotonic()
                elif time.monotonic() - sent_at > KEEPALIVE_S:
                    yield ": still working\n\n"
                    sent_at = time.monotonic()
                if view["status"] in ("done", "error"):
                    yield f"event: end\ndata: {text}\n\n"
                    return
                await anyio.sleep(EVENT_EVERY_S)
                if await request.is_disconnected():
                    return
                view = await anyio.to_thread.run_sync(_light, kind, job_id)
            if view is None:
                yield f"event: end\ndata: {json.dumps({'id': job_id, 'status': 'error', 'error': 'removed'})}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    def _cancel_or_remove(job: JobRow) -> Response:
        """Cancel what is unfinished (202, the job as it is now), or forget a finished job and remove
        its files (204); a batch's analyses go with their batch."""
        family = [job, *store().children(job.id)] if job.kind == BATCH else [job]
        if job.parent is not None and job.finished:
            raise Refused(409, f"analysis {job.id} belongs to batch {job.parent}: delete the batch", "in-batch")
        unfinished = [member.id for member in family if not member.finished]
        if unfinished:
            manager.cancel(unfinished)
            now = store().get(job.id)
            assert now is not None
            body = views.batch_body(now, store()) if job.kind == BATCH else views.status(now, manager.progress(job.id))
            return JSONResponse(body, status_code=202)
        store().delete([member.id for member in family])
        manager.remove_files(family)
        return Response(status_code=204)
