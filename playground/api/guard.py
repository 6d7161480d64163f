"""Before ninja sees a /v1 request: for a POST, the key, then the body, parsed off the
event loop; after it, Django's HTML 404 and 405 pages become the API's JSON error.

Order matters: a request without a valid key never makes the server parse its body
(Django's ASGI handler has spooled it already, to disk past a size), and no body is
parsed on the event loop, where a large one would stall every other request and run.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest, HttpResponse

from playground.api.bodies import aparse_json_object
from playground.api.errors import (
    UNAUTHORIZED,
    ApiError,
    api_error_of,
    error_json,
    json_not_found,
    too_large,
)
from playground.models import ApiKey
from playground.ratelimits import over_rate, rate_limited
from playground.runs import services
from playground.web.middleware import AsyncMiddleware

API_PREFIX = "/v1/"
# Where playground/front_door.py leaves the key it checked before the body was read.
SCOPE_API_KEY = "sandpit.api_key"

T = TypeVar("T")


def bearer_token(request: HttpRequest) -> str:
    return bearer_of(request.headers.get("Authorization", ""))


def bearer_of(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header, or ""."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def key_in_use(token: str) -> ApiKey:
    """The active key behind a bearer token, counted against its owner's requests a
    minute: UNAUTHORIZED without one, ApiError(429) past the rate. The API's and /mcp's,
    asked before Django's handler."""
    api_key, over = await sync_to_async(as_a_request)(_look_up_and_count, token)
    if api_key is None:
        raise UNAUTHORIZED
    if over:
        per_minute = settings.SANDPIT_API_RUNS_PER_MINUTE
        raise rate_limited(per_minute, "this key's owner may send requests:")
    return api_key


def as_a_request(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on a database connection treated as Django treats a request's.

    Before Django's handler no request_started or request_finished closes a connection
    that the database dropped (a restart, a failover): reused, it fails every query
    after, and every key would be a 503 until the server restarted.
    """
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


def _look_up_and_count(token: str) -> tuple[ApiKey | None, bool]:
    """The key, and whether its owner is past the rate: one trip to a thread for both."""
    api_key = services.api_key_lookup(key=token) if token else None
    if api_key is None:
        return None, False
    return api_key, over_rate(f"owner:{api_key.owner_id}", settings.SANDPIT_API_RUNS_PER_MINUTE)


def declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def read_body(request: HttpRequest, max_bytes: int) -> bytes:
    """The body, or ApiError(413) past max_bytes: declared or sent."""
    if declared_length(request) > max_bytes:
        raise too_large(max_bytes)
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large(max_bytes) from None
    if len(body) > max_bytes:
        raise too_large(max_bytes)
    return body


def _is_json(response: HttpResponse) -> bool:
    return str(response.get("Content-Type", "")).startswith("application/json")


class ApiBodyGuard(AsyncMiddleware):
    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return await self.get_response(request)
        if request.method == "POST":
            try:
                await self._guard(request)
            except (ApiError, DatabaseError) as exc:
                return error_json(api_error_of(exc))
        response = await self.get_response(request)
        if response.status_code in (404, 405) and not _is_json(response):
            return json_not_found(request, response)
        return response

    async def _guard(self, request: HttpRequest) -> None:
        api_key = getattr(request, "scope", {}).get(SCOPE_API_KEY)
        if api_key is None:  # not through the front door (a test client): check it here
            api_key = await key_in_use(bearer_token(request))
        request.sandpit_api_key = api_key  # type: ignore[attr-defined]
        body = read_body(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if body:
            request.sandpit_json = await aparse_json_object(  # type: ignore[attr-defined]
                body, max_elements=settings.MAX_REQUEST_ELEMENTS, owner=f"owner:{api_key.owner_id}"
            )
