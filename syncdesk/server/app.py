"""The routes: each checks a request, writes a job into the queue or reads one back.

Blocking work (SQLite, the file system) runs in the thread pool (plain ``def`` routes, or
``anyio.to_thread``), never on the event loop; analyses and fixes run in the worker processes.
Every error is JSON, ``{"error": "...", "code": "..."}``, with a message a client can act on.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Any, AsyncIterator, Callable, Optional, TypeVar

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..core import SyncdeskError
from . import docs, page, schemas, views
from .config import ServerConfig, options_to_dict, with_changes
from .manager import JobManager
from .schemas import AnalysisRequest, BatchRequest, FixRequest
from .security import Refused, attachment, is_below, resolve, safe_name, safe_suffix, token_matches
from .store import ANALYSIS, BATCH, FIX, JobRow, new_id
from .uploads import receive_form

log = logging.getLogger("syncdesk.server")
#: a JSON body larger than this is refused (uploads have their own cap)
MAX_JSON_BYTES = 1024 * 1024
#: a batch may not queue more files than this
MAX_BATCH_FILES = 10_000
#: seconds between two looks at a job for its event stream, and between keep-alive comments
EVENT_EVERY_S, KEEPALIVE_S = 0.5, 15.0
#: an event stream ends after this long even if its job has not (the client reconnects)
EVENT_STREAM_S = 3600.0
T = TypeVar("T", bound=BaseModel)


def _error(status: int, message: str, code: str, headers: Optional[dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


class SecurityHeaders:
    """Headers on every answer: nothing sniffed, framed or cached, no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                                    (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")):
                    if name not in names:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _read_json(request: Request, model: type[T]) -> T:
    """The body as ``model``; 413 past :data:`MAX_JSON_BYTES`, 422 with the reasons otherwise."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise Refused(413, f"a JSON body may be at most {MAX_JSON_BYTES // 1024} KB", "too-large")
    return _validate(model, bytes(body))


def _validate(model: type[T], data: Any) -> T:
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data or b"{}")
        return model.model_validate(data)
    except ValidationError as exc:
        raise Refused(422, schemas.describe(exc), "invalid-request") from None


def _form_values(fields: dict[str, str]) -> dict[str, Any]:
    """A form's text fields as the JSON body's values (options and segments are JSON text)."""
    values: dict[str, Any] = dict(fields)
    for name in ("options", "segments"):
        if name in values:
            try:
                values[name] = json.loads(values[name])
            except ValueError:
                raise Refused(422, f"{name}: not JSON", "invalid-request") from None
    return values


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def _body_doc(model: str) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that takes JSON or a multipart upload."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "the video"},
            "options": {"type": "string", "description": "JSON: the analysis options"},
            **({"offset_ms": {"type": "number"}, "auto": {"type": "boolean"}, "force": {"type": "boolean"},
                "segments": {"type": "string", "description": "JSON: a segment list"}}
               if model == "FixRequest" else {}),
            "tolerance": {"type": "string"}}}}}}}


ERRORS = {status: {"model": schemas.ErrorBody, "description": text} for status, text in (
    (401, "no token, or a wrong one"), (403, "a path outside the roots"), (404, "no such job or file"),
    (409, "the job is not in a state for this"), (413, "the upload or body is too large"),
    (422, "the request is not valid: the message says which field and why"))}


def create_app(config: ServerConfig) -> FastAPI:
    """The server's ASGI app; its lifespan starts and stops the dispatcher and the workers."""
    manager = JobManager(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Start the manager unless the caller did (:func:`.run.serve` does, to report a problem
        before uvicorn starts), and stop it when the server stops (uvicorn then ends the process by
        the signal it was sent, so this is the last moment to put running jobs back in the queue)."""
        if not manager.started:
            await anyio.to_thread.run_sync(manager.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(manager.stop)

    app = FastAPI(title="syncdesk", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=docs.DESCRIPTION)
    app.state.manager = manager
    app.add_middleware(SecurityHeaders)
    bearer = HTTPBearer(auto_error=False, description="the server's token (printed once on first start)")

    def authorised(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        """Every /v1 route but health (``credentials`` puts the scheme in the OpenAPI document)."""
        if not token_matches(request.headers.get("authorization"), config.token):
            raise Refused(401, "this route needs the server's token: send 'Authorization: Bearer <token>' (the "
                               "token was printed when the server first started; it is in its token file)",
                          "unauthorised")

    _install_error_handlers(app)
    public = APIRouter()
    api = APIRouter(prefix="/v1", dependencies=[Depends(authorised)], responses=ERRORS)

    def store():  # type: ignore[no-untyped-def]
        assert manager.store is not None, "the server is starting"
        return manager.store

    def job_of(kind: str, job_id: str) -> JobRow:
        job = store().get(job_id)
        if job is None or job.kind != kind:
            raise Refused(404, f"no {kind} {job_id!r} (finished jobs are removed after {config.keep_hours:g} hours "
                               "or when deleted)", "not-found")
        return job

    # ------------------------------------------------------------------ public

    @public.get("/v1/health", response_model=schemas.Health, tags=["server"])
    async def health() -> dict[str, Any]:
        """Whether the server is up and its workers ready (no token needed)."""
        return {"version": __version__, **manager.health()}

    page.add_routes(public)
    docs.add_routes(public, app)

    # ------------------------------------------------------------------ analyses

    @api.get("/roots", tags=["server"])
    def roots() -> dict[str, Any]:
        """The folders requests may name files in (by name), and the upload limit."""
        return {"roots": [{"name": root.name} for root in config.roots],
                "max_upload_mb": config.max_upload_bytes / 1024 / 1024}

    def _job_folder(job_id: str) -> Path:
        folder = config.job_dir(job_id)
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def _source(body: schemas._FileRequest, upload: Optional[tuple[Path, str]], folder: Path
                ) -> tuple[Path, str, bool]:
        """The job's file (below a root, or the upload moved into the job's folder), its name for the
        client, and whether it was uploaded."""
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
        return resolve(config.roots, body.path, body.root), body.path, False

    def _options(body: Any) -> dict[str, Any]:
        from ..core import validate_options

        options = with_changes(config.options, body.options.changes() if body.options else None)
        try:
            validate_options(options)
        except SyncdeskError as exc:
            raise Refused(422, f"options: {exc}", "invalid-request") from None
        return options_to_dict(options)

    def _queue_analysis(body: AnalysisRequest, upload: Optional[tuple[Path, str]]) -> JSONResponse:
        job_id = new_id()
        folder = _job_folder(job_id)
        try:
            source, name, uploaded = _source(body, upload, folder)
            request = {"source": str(source), "name": name, "uploaded": uploaded, "options": _options(body),
                       "tolerance": body.tolerance, "document": str(folder / "analysis.json")}
            store().add(ANALYSIS, request, job_id)
        except BaseException:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _created(f"/v1/analyses/{job_id}", job_id)

    async def _receive(request: Request, model: type[T], handle: Callable[[T, Optional[tuple[Path, str]]], Response]
                       ) -> Response:
        """A JSON body, or a multipart one with its file streamed to disk; then ``handle`` in a thread."""
        if not _is_form(request):
            body = await _read_json(request, model)
            return await anyio.to_thread.run_sync(handle, body, None)
        form = await receive_form(request, config.incoming_dir, config.max_upload_bytes)
        try:
            body = _validate(model, _form_values(form.fields))
            if form.file is None:
                raise Refused(422, "file: the form has no field \"file\" with the video", "invalid-request")
            return await anyio.to_thread.run_sync(handle, body, (form.file, form.filename or "upload"))
        finally:
            if form.file is not None:
                form.file.unlink(missing_ok=True)  # moved into the job's folder unless refused

    @api.post("/analyses", status_code=202, response_model=schemas.Created, tags=["analyses"],
              openapi_extra=_body_doc("AnalysisRequest"))
    async def create_analysis(request: Request) -> Response:
        """Queue an analysis of a file below a root (JSON) or of an uploaded file (multipart)."""
        return await _receive(request, AnalysisRequest, _queue_analysis)

    @api.get("/analyses", tags=["analyses"])
    def list_analyses(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """The latest analyses, newest first (a batch's own are listed with the batch)."""
        return {"analyses": [views.status(job, manager.progress(job.id)) for job in store().recent(ANALYSIS, limit)]}

    @api.get("/analyses/{job_id}", response_model=schemas.AnalysisStatus, tags=["analyses"])
    def get_analysis(job_id: str, document: bool = Query(True, description="include the document once done")
                     ) -> Response:
        """The analysis's status, progress and, once done, its Analysis document."""
        job = job_of(ANALYSIS, job_id)
        return Response(views.analysis_body(job, manager.progress(job.id), document), media_type="application/json")

    @api.get("/analyses/{job_id}/document", tags=["analyses"],
             responses={200: {"content": {"application/json": {}}, "description": "the Analysis document"}})
    def download_document(job_id: str) -> Response:
        """The Analysis document as a file to save."""
        return _document_file(job_of(ANALYSIS, job_id))

    @api.get("/analyses/{job_id}/events", tags=["analyses"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}})
    async def analysis_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: a ``status`` event at each change, ``end`` when the job is finished."""
        return await _events(request, ANALYSIS, job_id)

    @api.delete("/analyses/{job_id}", tags=["analyses"], status_code=202,
                responses={204: {"description": "the finished job and its files are removed"}})
    def delete_analysis(job_id: str) -> Response:
        """Cancel a queued or running analysis (202); remove a finished one and its files (204)."""
        return _cancel_or_remove(job_of(ANALYSIS, job_id))

    # ------------------------------------------------------------------ fixes

    def _fix_source(body: FixRequest, upload: Optional[tuple[Path, str]], folder: Path
                    ) -> tuple[Path, str, bool, Optional[str]]:
        """The fix's file and name, whether uploaded, and the finished analysis to apply (auto)."""
        if body.analysis is None:
            source, name, uploaded = _source(body, upload, folder)
            return source, name, uploaded, None
        if upload is not None:
            raise Refused(422, "send an analysis id or a file, not both", "invalid-request")
        analysis = job_of(ANALYSIS, body.analysis)
        if body.auto and analysis.state != "done":
            raise Refused(409, f"analysis {analysis.id} is {analysis.state}: auto needs a finished analysis "
                               "(or send the file instead)", "not-finished")
        source = Path(analysis.request["source"])
        if analysis.request.get("uploaded"):
            target = folder / source.name  # its own link: deleting the analysis leaves the fix its file
            try:
                os.link(source, target)
            except FileNotFoundError:
                raise Refused(409, f"the file of analysis {analysis.id} is gone", "gone") from None
            source = target
        elif not is_below(source, config.roots):
            raise Refused(403, "the analysis's file is no longer below a root", "outside-root")
        document = str(views.document_path(analysis)) if body.auto else None
        return source, analysis.request["name"], bool(analysis.request.get("uploaded")), document

    def _queue_fix(body: FixRequest, upload: Optional[tuple[Path, str]]) -> JSONResponse:
        from ..core.export import ExportError, load_segments
        from ..core.export.paths import output_format

        job_id = new_id()
        folder = _job_folder(job_id)
        try:
            source, name, uploaded, document = _fix_source(body, upload, folder)
            suffix = source.suffix.lower()
            stem = PurePosixPath(safe_name(name)).stem or "fixed"
            download_name = f"{stem}.synced{suffix}"
            try:
                output_format(Path(download_name))
            except ExportError as exc:
                raise Refused(422, f"the fixed copy keeps the file's container, chosen by its suffix: {exc}",
                              "bad-container") from None
            request: dict[str, Any] = {
                "source": str(source), "name": name, "uploaded": uploaded, "options": _options(body),
                "tolerance": body.tolerance, "document": str(folder / "analysis.json"),
                "analysis_document": document, "output": str(folder / f"fixed{suffix}"),
                "download_name": download_name, "force": body.force, "lossless": body.lossless,
                "all_audio": body.all_audio, "offset_ms": body.wanted_offset_ms(),
                "mode": "auto" if body.auto else "segments" if body.segments is not None else "offset"}
            if body.segments is not None:
                segments = folder / "segments.json"
                segments.write_text(json.dumps([s.model_dump() for s in body.segments]), encoding="utf-8")
                try:
                    load_segments(segments)
                except ExportError as exc:
                    raise Refused(422, f"segments: {exc}".replace(str(segments), "the list"),
                                  "invalid-request") from None
                request["segments"] = str(segments)
            store().add(FIX, request, job_id)
        except BaseException:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _created(f"/v1/fixes/{job_id}", job_id)

    @api.post("/fixes", status_code=202, response_model=schemas.Created, tags=["fixes"],
              openapi_extra=_body_doc("FixRequest"))
    async def create_fix(request: Request) -> Response:
        """Queue a fixed copy: by offset, ``auto`` or a segment list, of a file below a root, an upload,
        or a finished analysis's file."""
        return await _receive(request, FixRequest, _queue_fix)

    @api.get("/fixes", tags=["fixes"])
    def list_fixes(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """The latest fixes, newest first."""
        return {"fixes": [views.status(job, manager.progress(job.id)) for job in store().recent(FIX, limit)]}

    @api.get("/fixes/{job_id}", response_model=schemas.FixStatus, tags=["fixes"])
    def get_fix(job_id: str) -> dict[str, Any]:
        """The fix's status and, once done, what was applied and where to download the file."""
        job = job_of(FIX, job_id)
        return views.fix_body(job, manager.progress(job.id))

    @api.get("/fixes/{job_id}/file", tags=["fixes"], response_class=FileResponse,
             responses={200: {"content": {"application/octet-stream": {}}, "description": "the fixed file"}})
    def download_fix(job_id: str) -> Response:
        """The fixed copy (audio shifted, video copied bit for bit)."""
        job = job_of(FIX, job_id)
        path = views.fixed_file(config, job)
        if path is None:
            why = (job.result or {}).get("message") if job.state == "done" else f"the fix is {job.state}"
            raise Refused(409 if job.state != "done" else 404, f"no fixed file: {why or 'nothing was written'}",
                          "no-file")
        return FileResponse(path, media_type="application/octet-stream",
                            headers={"Content-Disposition": attachment(job.request["download_name"])})

    @api.get("/fixes/{job_id}/document", tags=["fixes"])
    def fix_document(job_id: str) -> Response:
        """The Analysis document an ``auto`` fix applied."""
        return _document_file(job_of(FIX, job_id))

    @api.get("/fixes/{job_id}/events", tags=["fixes"], response_class=StreamingResponse)
    async def fix_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events, as for an analysis."""
        return await _events(request, FIX, job_id)

    @api.delete("/fixes/{job_id}", tags=["fixes"], status_code=202)
    def delete_fix(job_id: str) -> Response:
        """Cancel a queued or running fix (202); remove a finished one and its files (204)."""
        return _cancel_or_remove(job_of(FIX, job_id))

    # ------------------------------------------------------------------ batches

    def _queue_batch(body: BatchRequest) -> JSONResponse:
        from ..core.batch.scan import scan

        if body.folder.strip() in ("", ".", "./"):
            named = [root for root in config.roots if body.root in (None, root.name)]
            if not named:
                raise Refused(404 if config.roots else 403, "root: no such root" if config.roots else
                              "this server has no --root folder", "no-such-root")
            root, folder = named[0], named[0].path
        else:
            folder = resolve(config.roots, body.folder, body.root, folder=True)
            root = next(root for root in config.roots if folder.is_relative_to(root.path))
        found = scan([folder])
        if len(found.files) > MAX_BATCH_FILES:
            raise Refused(413, f"the folder holds {len(found.files)} video files: a batch may have at most "
                               f"{MAX_BATCH_FILES}; send its sub-folders", "too-many-files")
        options = _options(body)
        children, skipped = [], [{"name": str(s.path.relative_to(root.path)) if s.path.is_relative_to(root.path)
                                  else s.path.name, "reason": s.reason} for s in found.skipped]
        for item in found.files:
            name = str(item.path.relative_to(root.path))
            if not is_below(item.path, config.roots):
                skipped.append({"name": name, "reason": "a symlink that leads out of the root: not read"})
                continue
            child_id = new_id()
            children.append((child_id, {
                "source": str(item.path.resolve()), "name": name, "uploaded": False, "options": options,
                "tolerance": body.tolerance, "document": str(config.job_dir(child_id) / "analysis.json")}))
        name = str(folder.relative_to(root.path)) if folder != root.path else "."
        batch_id = store().add_batch({"name": name, "root": root.name, "preset": body.preset,
                                      "tolerance": body.tolerance, "skipped": skipped}, children)
        return _created(f"/v1/batches/{batch_id}", batch_id)

    @api.post("/batches", status_code=202, response_model=schemas.Created, tags=["batches"])
    async def create_batch(request: Request) -> Response:
        """Queue an analysis of every video file below a folder of a root."""
        body = await _read_json(request, BatchRequest)
        return await anyio.to_thread.run_sync(_queue_batch, body)

    @api.get("/batches", tags=["batches"])
    def list_batches(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """The latest batches, newest first (without their files)."""
        return {"batches": [views.status(job, (0.0, None)) for job in store().recent(BATCH, limit)]}

    @api.get("/batches/{job_id}", response_model=schemas.BatchStatus, tags=["batches"])
    def get_batch(job_id: str) -> dict[str, Any]:
        """The batch's progress and each file's result: good or poor by the preset, error, skipped."""
        return views.batch_body(job_of(BATCH, job_id), store())

    @api.get("/batches/{job_id}/events", tags=["batches"], response_class=StreamingResponse)
    async def batch_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events with the batch's progress and counts."""
        return await _events(request, BATCH, job_id)

    @api.delete("/batches/{job_id}", tags=["batches"], status_code=202)
    def delete_batch(job_id: str) -> Response:
        """Cancel the batch's unfinished analyses (202); remove a finished batch with its files (204)."""
        return _cancel_or_remove(job_of(BATCH, job_id))

    # ------------------------------------------------------------------ shared

    def _created(location: str, job_id: str) -> JSONResponse:
        return JSONResponse({"id": job_id, "status": "queued", "url": location}, status_code=202,
                            headers={"Location": location})

    def _document_file(job: JobRow) -> Response:
        path = views.document_path(job)
        if path is None:
            raise Refused(409, f"no document: the job is {job.state}" + (f" ({job.error})" if job.error else ""),
                          "no-document")
        stem = PurePosixPath(safe_name(job.request.get("name", "analysis"))).stem
        return FileResponse(path, media_type="application/json",
                            headers={"Content-Disposition": attachment(f"{stem}.analysis.json")})

    def _light(kind: str, job_id: str) -> Optional[dict[str, Any]]:
        job = store().get(job_id)
        if job is None or job.kind != kind:
            return None
        if kind == BATCH:
            view = views.batch_body(job, store())
            del view["files"]
            return view
        view = views.status(job, manager.progress(job.id))
        if kind == ANALYSIS:
            view["summary"] = job.result
        elif kind == FIX:
            view = views.fix_body(job, manager.progress(job.id))
        return view

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
        family = [job, *store().children(job.id)] if job.kind == BATCH else [job]
        if job.parent is not None and job.finished:
            raise Refused(409, f"analysis {job.id} belongs to batch {job.parent}: delete the batch", "in-batch")
        unfinished = [member.id for member in family if not member.finished]
        if unfinished:
            manager.cancel(unfinished)
            refreshed = store().get(job.id)
            assert refreshed is not None
            body = (views.batch_body(refreshed, store()) if job.kind == BATCH
                    else views.status(refreshed, manager.progress(job.id)))
            return JSONResponse(body, status_code=202)
        store().delete([member.id for member in family])
        manager.remove_files(family)
        return Response(status_code=204)

    app.include_router(public)
    app.include_router(api)
    docs.add_body_schemas(app, schemas.BODY_MODELS)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.message, exc.code, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for item in exc.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path"))
            parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return _error(422, "; ".join(parts), "invalid-request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        message = "no such route (GET /docs lists them)" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, message, code, getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        return _error(400, "the client went away before its request was read", "disconnected")

    @app.exception_handler(SyncdeskError)
    async def engine_error(request: Request, exc: SyncdeskError) -> JSONResponse:
        return _error(503, str(exc), "unavailable")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "unexpected error in the server (its log has the details)", "internal")
