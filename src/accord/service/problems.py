"""Errors as `application/problem+json` (RFC 9457): a title, the status, one sentence, the field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.errors import AccordError, outcome

MEDIA = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Answer every error as a problem."""

    @app.exception_handler(AccordError)
    async def accord_error(_: Request, exc: AccordError) -> JSONResponse:
        o = outcome(exc)
        return problem(o.http_status, o.title, str(exc), field=getattr(exc, "field", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        where = _field(tuple(first.get("loc", ())))
        return problem(
            422,
            "Invalid request",
            f"{where}: {first.get('msg', 'invalid')}",
            field=where,
            errors=[{"field": _field(tuple(e.get("loc", ()))), "reason": e.get("msg")} for e in errors[:20]],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            413: "Too large",
        }
        return problem(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        return problem(500, "Internal error", f"unexpected {type(exc).__name__}: {exc}"[:300])
