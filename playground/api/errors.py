"""Every error the API answers with, in one shape: {"error": {code, message, field?}}."""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from sandbox.errors import EngineBusy, EngineUnavailable, JobInvalid, TenantBusy


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


UNAUTHORIZED = ApiError(
    401, "unauthorized", "send a valid, unrevoked API key as 'Authorization: Bearer <key>'"
)


def error_body(error: ApiError) -> dict[str, Any]:
    """The one error shape: {"error": {code, message, field?}}."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    return {"error": body}


def error_response(
    api: NinjaAPI, request: HttpRequest, error: ApiError, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = api.create_response(request, error_body(error), status=error.status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


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
            return error_response(api, request, UNAUTHORIZED)
        return error_response(api, request, ApiError(exc.status_code, "error", str(exc)))

    def on_api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(api, request, exc)

    def on_job_invalid(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(api, request, ApiError(400, "invalid_request", str(exc), exc.field))

    def on_busy(request: HttpRequest, exc: Any) -> HttpResponse:
        error = ApiError(503, "engine_busy", f"the sandbox engine is busy: {exc}")
        return error_response(api, request, error, {"Retry-After": str(exc.retry_after_s)})

    def on_tenant_busy(request: HttpRequest, exc: Any) -> HttpResponse:
        error = ApiError(429, "too_many_runs", str(exc))
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
    api.add_exception_handler(TenantBusy, on_tenant_busy)
    api.add_exception_handler(EngineUnavailable, on_unavailable)
