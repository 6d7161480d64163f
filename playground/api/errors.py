"""Every error the API answers with, in one shape: {"error": {code, message, field?}}."""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from sandbox.errors import EngineBusy, EngineUnavailable, JobInvalid

# JSON deeper than this is refused before anything else looks at it: nobody's real
# input nests 64 levels, and deep nesting is how a parser's stack is attacked.
MAX_JSON_DEPTH = 64


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    error: ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_response(
    api: NinjaAPI, request: HttpRequest, error: ApiError, headers: dict[str, str] | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    response = api.create_response(request, {"error": body}, status=error.status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _too_deep_at(value: Any) -> str | None:
    """The dotted path where `value` nests deeper than MAX_JSON_DEPTH, else None."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            return ".".join(path[:3]) or "body"
        if isinstance(node, dict):
            stack.extend((v, (*path, str(k))) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, str(i))) for i, v in enumerate(node))
    return None


def _deep_key(text: str) -> str | None:
    """The top-level key under which `text` nests past MAX_JSON_DEPTH (too deep to parse)."""
    depth, key, in_string, escaped, start = 0, None, False, False, 0
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if depth == 1:
                    key = text[start + 1 : i]
        elif char == '"':
            in_string, start = True, i
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH + 1:
                return key
        elif char in "]}":
            depth -= 1
    return None


class JsonParser(Parser):
    """json.loads with clear errors: bad JSON, a body that is not an object, deep nesting."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            data = json.loads(request.body)
        except RecursionError:
            where = _deep_key(request.body.decode(errors="replace"))
            message = f"{where or 'the body'} nests deeper than {MAX_JSON_DEPTH} levels"
            raise ApiError(400, "invalid_request", message, where) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "the body must be a JSON object")
        where = _too_deep_at(data)
        if where:
            raise ApiError(
                400, "invalid_request", f"{where} nests deeper than {MAX_JSON_DEPTH} levels", where
            )
        return data


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic error location as a dotted path: ("files", 0, "path") -> "files.0.path"."""
    return ".".join(str(p) for p in loc)


def _ninja_field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    # ninja puts ("body", "<parameter name>") or ("query",) in front of the model's path.
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[2:]
    elif parts and parts[0] in ("query", "path"):
        parts = parts[1:]
    return field_of(parts)


def validation_message(error: dict[str, Any], field: str) -> str:
    if error.get("type") == "missing":
        return f"{field} is required"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


def install_error_handlers(api: NinjaAPI) -> None:
    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        field = _ninja_field_of(first.get("loc", ()))
        message = validation_message(first, field)
        return error_response(
            api, request, ApiError(400, "invalid_request", message, field or None)
        )

    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc.__cause__, ApiError):
            return error_response(api, request, exc.__cause__)
        if isinstance(exc, AuthenticationError):
            return error_response(
                api,
                request,
                ApiError(
                    401,
                    "unauthorized",
                    "send a valid, unrevoked API key as 'Authorization: Bearer <key>'",
                ),
            )
        return error_response(api, request, ApiError(exc.status_code, "error", str(exc)))

    def on_api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(api, request, exc)

    def on_job_invalid(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(api, request, ApiError(400, "invalid_request", str(exc), exc.field))

    def on_busy(request: HttpRequest, exc: Any) -> HttpResponse:
        error = ApiError(503, "engine_busy", f"the sandbox engine is busy: {exc}")
        return error_response(api, request, error, {"Retry-After": str(exc.retry_after_s)})

    def on_unavailable(request: HttpRequest, exc: Any) -> HttpResponse:
        error = ApiError(
            503, "engine_unavailable", "the sandbox engine is unavailable; try again later"
        )
        return error_response(api, request, error, {"Retry-After": str(exc.retry_after_s)})

    def on_too_big(request: HttpRequest, exc: Any) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"the request body is larger than {limit} bytes; send less code, input or files"
        return error_response(api, request, ApiError(413, "request_too_large", message))

    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(JobInvalid, on_job_invalid)
    api.add_exception_handler(EngineBusy, on_busy)
    api.add_exception_handler(EngineUnavailable, on_unavailable)
