"""Reading a request's body: JSON under a cap, or a multipart form with its file streamed to disk.

The routes that take a file accept both (contract.md: ``{"path": ...}`` or a multipart upload, field
``file``); they read the body themselves, so its OpenAPI description is given here.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Optional, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from . import schemas
from .security import Refused
from .uploads import receive_form

#: a JSON body larger than this is refused (uploads have their own cap)
MAX_JSON_BYTES = 1024 * 1024
#: text fields of a form that hold JSON
JSON_FIELDS = ("options", "segments")
T = TypeVar("T", bound=BaseModel)
#: an uploaded file in the incoming folder, and the client's name for it
Upload = tuple[Path, str]


def validate(model: type[T], data: Any) -> T:
    """``data`` (JSON bytes or values) as ``model``; 422 with every reason in one line otherwise."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data or b"{}")
        return model.model_validate(data)
    except ValidationError as exc:
        raise Refused(422, schemas.describe(exc), "invalid-request") from None


async def read_json(request: Request, model: type[T]) -> T:
    """The body as ``model``; 413 past :data:`MAX_JSON_BYTES`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise Refused(413, f"a JSON body may be at most {MAX_JSON_BYTES // 1024} KB", "too-large")
    return validate(model, bytes(body))


def form_values(fields: dict[str, str]) -> dict[str, Any]:
    """A form's text fields as the JSON body's values."""
    values: dict[str, Any] = dict(fields)
    for name in JSON_FIELDS:
        if name in values:
            try:
                values[name] = json.loads(values[name])
            except ValueError:
                raise Refused(422, f"{name}: not JSON", "invalid-request") from None
    return values


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


@asynccontextmanager
async def json_or_form(request: Request, model: type[T], incoming: Path, max_bytes: int
                       ) -> AsyncIterator[tuple[T, Optional[Upload]]]:
    """The body as ``model`` and the uploaded file, if the body was a form. The file is deleted on
    leaving unless it was moved away (into its job's folder)."""
    if not is_form(request):
        yield await read_json(request, model), None
        return
    form = await receive_form(request, incoming, max_bytes)
    try:
        body = validate(model, form_values(form.fields))
        if form.file is None:
            raise Refused(422, "file: the form has no field \"file\" with the video", "invalid-request")
        yield body, (form.file, form.filename or "upload")
    finally:
        if form.file is not None:
            form.file.unlink(missing_ok=True)


def openapi_body(model: str, form_fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that takes ``model`` as JSON or a form with a file."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "the video"},
            "options": {"type": "string", "description": "JSON: the analysis options"},
            "tolerance": {"type": "string"}, **form_fields}}}}}}
