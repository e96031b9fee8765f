"""The server's ASGI app: the routes (:mod:`.routes`, the page, the docs), the token check, the
security headers, and errors as JSON (``{"error": "...", "code": "..."}``) with a message a client
can act on, never a traceback. Its lifespan runs the dispatcher and the workers (:mod:`.manager`).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..core import SyncdeskError
from . import docs, page, schemas
from .config import ServerConfig
from .manager import JobManager
from .routes import api_routes
from .security import Refused, token_matches

log = logging.getLogger("syncdesk.server")
ERRORS = {status: {"model": schemas.ErrorBody, "description": text} for status, text in (
    (401, "no token, or a wrong one"), (403, "a path outside the roots"), (404, "no such job or file"),
    (409, "the job is not in a state for this"), (413, "the upload or body is too large"),
    (422, "the request is not valid: the message says which field and why"))}
_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"))


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
                headers += [(name, value) for name, value in _HEADERS if name not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(config: ServerConfig) -> FastAPI:
    """The server's ASGI app; ``app.state.manager`` is its :class:`.JobManager`."""
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
    _install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="the server's token (printed once on first start)")

    def authorised(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        """Every /v1 route but health (``credentials`` puts the scheme in the OpenAPI document)."""
        if not token_matches(request.headers.get("authorization"), config.token):
            raise Refused(401, "this route needs the server's token: send 'Authorization: Bearer <token>' (the "
                               "token was printed when the server first started; it is in its token file)",
                          "unauthorised")

    public = APIRouter()

    @public.get("/v1/health", response_model=schemas.Health, tags=["server"])
    async def health() -> dict[str, Any]:
        """Whether the server is up and its workers ready (no token needed)."""
        return {"version": __version__, **manager.health()}

    page.add_routes(public)
    docs.add_routes(public, app)
    api = APIRouter(prefix="/v1", dependencies=[Depends(authorised)], responses=ERRORS)
    api_routes(config, manager, api)
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
