"""Consistent JSON error bodies (agent.wire.ErrorBody) and the request size limit.

Every error the registry answers — its own domain errors, FastAPI's
validation errors, unknown routes, oversized bodies, and unexpected
exceptions — has the same shape: ``{"wire_version": ..., "error": {"code",
"message", "detail"}}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.wire import ErrorBody, ErrorCode, ErrorDetail
from registry.errors import RegistryError

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type"}

_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.TOO_MANY_REQUESTS,
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Malformed request (not JSON, bad signature)"),
        (401, "Missing, unknown, revoked or expired bearer token"),
        (403, "Token not allowed here (wrong token kind or role; a rig naming another production or rig)"),
        (404, "Unknown id, or an id of another production (answered exactly alike)"),
        (409, "Conflicts with what the registry holds"),
        (413, "Request body too large"),
        (422, "Request does not match the schema or breaks a rule"),
        (429, "Too many failed authentications from this address; wait for Retry-After seconds"),
        (500, "Registry fault"),
    )
}


def error_body(code: ErrorCode, message: str, detail: Any = None) -> dict[str, Any]:
    """An ErrorBody as a JSON-ready dict."""
    return ErrorBody(error=ErrorDetail(code=code, message=message, detail=detail)).model_dump(mode="json")


def error_response(status: int, code: ErrorCode, message: str, detail: Any = None) -> JSONResponse:
    """A JSON error response; 401 answers also carry the Bearer challenge."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, message, detail), status_code=status, headers=headers)


def _validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    problems = []
    for err in exc.errors():
        message = (
            "unknown member (not part of the schema)" if err["type"] == "extra_forbidden" else err["msg"]
        )
        problems.append({"loc": [str(part) for part in err["loc"]], "msg": message, "type": err["type"]})
    return problems


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with an ErrorBody."""

    @app.exception_handler(RegistryError)
    async def _registry_error(_request: Request, exc: RegistryError) -> JSONResponse:
        message = f"{exc.where}: {exc.what}" if exc.where else exc.what
        if exc.hint:
            message += f" (hint: {exc.hint})"
        return error_response(exc.status_code, exc.code, message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = _validation_problems(exc)
        if any(problem["type"] == "json_invalid" for problem in problems):
            return error_response(400, ErrorCode.BAD_REQUEST, "the request body is not valid JSON", problems)
        if any(p["loc"] == ["body"] and p["type"] in _NOT_AN_OBJECT for p in problems):
            return error_response(
                400,
                ErrorCode.BAD_REQUEST,
                "the request body must be a JSON object sent with Content-Type: application/json",
                problems,
            )
        summary = "; ".join(f"{'.'.join(p['loc'])}: {p['msg']}" for p in problems)
        return error_response(422, ErrorCode.VALIDATION_FAILED, f"invalid request: {summary}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected registry error", exc_info=exc)
        return error_response(
            500, ErrorCode.INTERNAL_ERROR, "internal registry error; the administrator can find it in the log"
        )


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with a 413 ErrorBody.

    Checks the declared Content-Length up front and counts streamed (chunked)
    bodies as they arrive, so an oversized body is never read into memory whole.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _send_error(self, send: Send, status: int, code: ErrorCode, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _too_large_message(self) -> str:
        return f"request body larger than the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._send_error(
                        send, 400, ErrorCode.BAD_REQUEST, "malformed Content-Length header"
                    )
                    return
                if declared > self.max_bytes:
                    await self._send_error(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, self._too_large_message())
                    return
        received = 0
        too_large = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise ValueError(self._too_large_message())
            return message

        async def checked_send(message: Message) -> None:
            nonlocal replaced
            if too_large:
                # The app saw the read fail and is answering with some error: answer 413 instead.
                if not replaced:
                    replaced = True
                    await self._send_error(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, self._too_large_message())
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, checked_send)
        except ValueError:
            if not too_large:
                raise
            if not replaced:
                await self._send_error(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, self._too_large_message())
