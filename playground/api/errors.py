"""Every error the API and the playground answer with, in one shape.

{"error": {code, message, field?}}: `field` is the dotted path of the culprit. The
exceptions services raise map to it in one place, `api_error_of`, which the /v1 API's
handlers and the playground's views share.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from sandbox.errors import (
    BuildsBusy,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    Invalid,
    NameTaken,
    SessionError,
    TenantBusy,
)

log = logging.getLogger(__name__)
# What a client is told to wait when the database does not answer.
DATABASE_RETRY_S = 5


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    error: ErrorBody


# Every status an endpoint may answer with the one error shape, for the OpenAPI document.
ERROR_RESPONSES: dict[int, type[Schema]] = dict.fromkeys(
    (400, 401, 404, 409, 413, 429, 500, 503), ErrorOut
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s


UNAUTHORIZED = ApiError(
    401, "unauthorized", "send a valid, unrevoked API key as 'Authorization: Bearer <key>'"
)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "request_too_large",
        f"the request body is larger than {limit} bytes; send less code, input or files",
    )


def api_error_of(exc: Exception) -> ApiError:
    """The answer to an exception a service or a guard raised; 500 for anything else."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SessionError):
        return ApiError(exc.status, exc.code, str(exc))
    if isinstance(exc, NameTaken):
        return ApiError(409, "conflict", str(exc), exc.field)
    if isinstance(exc, Invalid):
        return ApiError(400, "invalid_request", str(exc), exc.field)
    if isinstance(exc, BuildsBusy):
        return ApiError(429, "too_many_builds", str(exc), retry_after_s=exc.retry_after_s)
    if isinstance(exc, TenantBusy):
        return ApiError(429, "too_many_runs", str(exc), retry_after_s=exc.retry_after_s)
    if isinstance(exc, EngineUnavailable):
        message = "the sandbox engine is unavailable; try again later"
        return ApiError(503, "engine_unavailable", message, retry_after_s=exc.retry_after_s)
    if isinstance(exc, EngineBusy | EngineError):
        message = f"the sandbox engine is busy: {exc}"
        return ApiError(503, "engine_busy", message, retry_after_s=exc.retry_after_s)
    if isinstance(exc, DatabaseError):
        message = "Sandpit cannot reach its database just now; try again in a few seconds"
        return ApiError(503, "database_unavailable", message, retry_after_s=DATABASE_RETRY_S)
    if isinstance(exc, Http404):
        return ApiError(404, "not_found", str(exc) or "not found")
    if isinstance(exc, RequestDataTooBig):
        return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return ApiError(500, "internal_error", "Sandpit failed to answer; the error is in its log")


def error_body(error: ApiError) -> dict[str, Any]:
    """The one error shape: {"error": {code, message, field?}}."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    return {"error": body}


def _headers(error: ApiError) -> dict[str, str]:
    return {} if error.retry_after_s is None else {"Retry-After": str(error.retry_after_s)}


def error_json(error: ApiError) -> JsonResponse:
    """The error as a response, outside ninja: the guard's and the playground's."""
    return JsonResponse(error_body(error), status=error.status, headers=_headers(error))


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


def validation_error(first: dict[str, Any], field: str) -> ApiError:
    return ApiError(400, "invalid_request", validation_message(first, field), field or None)


def install_error_handlers(api: NinjaAPI) -> None:
    def respond(request: HttpRequest, error: ApiError) -> HttpResponse:
        response = api.create_response(request, error_body(error), status=error.status)
        for name, value in _headers(error).items():
            response[name] = value
        return response

    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        return respond(request, validation_error(first, _ninja_field_of(first.get("loc", ()))))

    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc.__cause__, ApiError):
            return respond(request, exc.__cause__)
        if isinstance(exc, AuthenticationError):
            return respond(request, UNAUTHORIZED)
        return respond(request, ApiError(exc.status_code, "error", str(exc)))

    def on_error(request: HttpRequest, exc: Any) -> HttpResponse:
        error = api_error_of(exc)
        if error.status >= 500 and not isinstance(exc, EngineError | DatabaseError):
            log.error("%s %s failed", request.method, request.path, exc_info=exc)
        return respond(request, error)

    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_error)
    api.add_exception_handler(Exception, on_error)


def json_not_found(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Django's own 404 and 405 pages under /v1/, as the API's JSON error instead."""
    if response.status_code == 404:
        message = f"there is no API endpoint {request.path}; see /v1/docs"
        return error_json(ApiError(404, "not_found", message))
    allowed = response.get("Allow", "")
    message = f"{request.path} does not take {request.method}; it takes {allowed}"
    answer = error_json(ApiError(405, "method_not_allowed", message))
    answer["Allow"] = allowed
    return answer
