"""The page at ``/``: plain HTML, CSS and JavaScript shipped in the package (no build step, no CDN).

The files are public (they hold no data); everything the page shows comes from the ``/v1`` routes
with the token the person types in. A strict Content-Security-Policy lets the page load nothing
but its own files and talk to nothing but this server.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from .security import Refused

#: the files the page is made of, and their types: nothing else is served from the folder
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "app.css": "text/css; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _read(name: str) -> bytes:
    return resources.files("syncdesk.server").joinpath("static", name).read_bytes()


def add_routes(router: APIRouter) -> None:
    @router.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(_read("index.html"), media_type=FILES["index.html"], headers={"Content-Security-Policy": CSP})

    @router.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in FILES:
            raise Refused(404, f"no such file: {name}", "not-found")
        return Response(_read(name), media_type=FILES[name], headers={"Content-Security-Policy": CSP})
