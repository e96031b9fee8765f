"""The API's browsable documentation at ``/docs``, made from the OpenAPI document.

FastAPI's own pages (Swagger UI, ReDoc) load their scripts from a CDN, which an offline machine or
a locked-down network cannot reach; this page is plain HTML built on the server, with nothing to
load but the package's style sheet. Any OpenAPI viewer can also read ``/openapi.json``.
"""

from __future__ import annotations

from html import escape
from typing import Any, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

DESCRIPTION = """The syncdesk engine over HTTP: analyses (a file below a root, or uploaded), fixes (by offset,
`auto`, or a segment list), batches over a folder, progress by polling or server-sent events, cancel,
downloads. Every `/v1` route but `/v1/health` needs `Authorization: Bearer <token>`. Errors are JSON:
`{"error": "...", "code": "..."}`. Sign: a positive offset means the audio leads (contract.md)."""

_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"


def add_body_schemas(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Put the request bodies' schemas in the OpenAPI document's components: those routes read
    their body themselves (JSON or a streamed upload), so FastAPI does not see the models."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            _, definitions = models_json_schema([(model, "validation") for model in models],
                                                ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(repr(value) for value in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def render(schema: dict[str, Any]) -> str:
    """The OpenAPI document as one HTML page: each route, then each schema's fields."""
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>syncdesk API</title>"
           f"<link rel='stylesheet' href='/static/app.css'></head><body class='docs'><main>"
           f"<h1>{escape(schema['info']['title'])} API {escape(schema['info']['version'])}</h1>"
           f"<p>{escape(schema['info'].get('description', ''))}</p>"
           "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. The page: <a href='/'>/</a>.</p>"]
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            out.append(f"<section class='route'><h2><code>{escape(method.upper())} {escape(path)}</code></h2>"
                       f"<p>{escape(operation.get('description') or operation.get('summary', ''))}</p>")
            parameters = operation.get("parameters", [])
            if parameters:
                out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>")
                for parameter in parameters:
                    out.append(f"<tr><td>{escape(parameter['name'])}</td><td>{escape(parameter['in'])}</td>"
                               f"<td>{escape(_type(parameter.get('schema', {})))}</td>"
                               f"<td>{escape(parameter.get('description', ''))}</td></tr>")
                out.append("</table>")
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                kinds = ", ".join(f"{escape(kind)} ({escape(_type(content.get('schema', {})))})"
                                  for kind, content in body.items())
                out.append(f"<p>Body: {kinds}</p>")
            codes = ", ".join(escape(code) for code in operation.get("responses", {}))
            out.append(f"<p>Answers: {codes}</p></section>")
    out.append("<h2>Schemas</h2>")
    for name, definition in schema.get("components", {}).get("schemas", {}).items():
        out.append(f"<section class='schema'><h3 id='{escape(name)}'>{escape(name)}</h3>"
                   f"<p>{escape(definition.get('description', ''))}</p>")
        properties = definition.get("properties", {})
        if properties:
            required = set(definition.get("required", []))
            out.append("<table><tr><th>field</th><th>type</th><th>about</th></tr>")
            for field, spec in properties.items():
                mark = " (required)" if field in required else ""
                out.append(f"<tr><td>{escape(field)}{mark}</td><td>{escape(_type(spec))}</td>"
                           f"<td>{escape(spec.get('description', ''))}</td></tr>")
            out.append("</table>")
        out.append("</section>")
    out.append("</main></body></html>")
    return "".join(out)


def add_routes(router: APIRouter, app: FastAPI) -> None:
    @router.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(render(app.openapi()), headers={"Content-Security-Policy": _CSP})
