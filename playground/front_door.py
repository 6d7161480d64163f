"""Before Django: who sends a body, and how much of one they may send, for every path.

Django's ASGI handler reads a whole body (spooling it to disk past a size) before any
middleware runs, so a check in a middleware comes after the upload. Here, in front of
it, a request with a body is refused before a byte of it is read:

- on /v1/ and /mcp, without a valid API key (401, RFC 6750's `WWW-Authenticate`) or past
  the key owner's rate (429); the key found is handed on in the scope, looked up once;
- anywhere, when its `Content-Length` passes the sender's allowance (413): the API's
  limit for key holders and signed-in users, the guests' for everyone else;
- and a body streamed without a length is cut off at the allowance (413).
"""

import json
from collections.abc import Awaitable, Callable, Sequence
from http.cookies import CookieError, SimpleCookie
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import DatabaseError
from django.utils.module_loading import import_string

from playground.api.errors import ApiError, api_error_of, error_body, too_large
from playground.api.guard import SCOPE_API_KEY, as_a_request, bearer_of, key_in_use

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Any, Any], Awaitable[None]]

# An MCP message is a tool call an assistant wrote: far smaller than a run's files.
MCP_MAX_REQUEST_BYTES = 4 * 1024 * 1024
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
AUTH_USER = "_auth_user_id"  # django.contrib.auth's key in a signed-in session


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _declared(headers: dict[str, str]) -> int | None:
    """The body's declared length; None when streamed (or not a number: Django decides)."""
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


def _is_keyed(path: str) -> bool:
    return path.startswith("/v1/") or path.rstrip("/") == "/mcp"


def _signed_in(headers: dict[str, str]) -> bool:
    """Whether the session cookie is a signed-in user's (sizing only: views authenticate)."""
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except CookieError:
        return False
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None or not morsel.value:
        return False
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(morsel.value)
    return AUTH_USER in store.load()


async def respond(send: Send, error: ApiError, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """The one error shape, straight on the ASGI connection."""
    body = json.dumps(error_body(error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.retry_after_s is not None:
        headers.append((b"retry-after", str(error.retry_after_s).encode()))
    await send(
        {"type": "http.response.start", "status": error.status, "headers": [*headers, *extra]}
    )
    await send({"type": "http.response.body", "body": body})


def www_authenticate(token: str) -> list[tuple[bytes, bytes]]:
    """RFC 6750: a bad key says so, so that clients tell their user instead of trying OAuth."""
    if not token:
        return [(b"www-authenticate", b'Bearer realm="sandpit"')]
    return [
        (
            b"www-authenticate",
            b'Bearer realm="sandpit", error="invalid_token", '
            b'error_description="the API key is not valid, or it was revoked"',
        )
    ]


class FrontDoor:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            limit = await self._allowance(scope, headers)
        except (ApiError, DatabaseError) as exc:
            error = api_error_of(exc)
            token = bearer_of(headers.get("authorization", ""))
            await respond(send, error, www_authenticate(token) if error.status == 401 else [])
            return
        declared = _declared(headers)
        if declared is not None and declared > limit:
            await respond(send, too_large(limit))
            return
        await self._within(limit, scope, receive, send)

    async def _allowance(self, scope: Scope, headers: dict[str, str]) -> int:
        """The most this sender may send here; ApiError for a keyed path without a key."""
        path = scope["path"]
        if _is_keyed(path):
            scope[SCOPE_API_KEY] = await key_in_use(bearer_of(headers.get("authorization", "")))
            if path.rstrip("/") == "/mcp":
                return min(MCP_MAX_REQUEST_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if await sync_to_async(as_a_request)(_signed_in, headers):
            return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return int(settings.PLAYGROUND_GUEST_MAX_REQUEST_BYTES)

    async def _within(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, its body cut off past `limit`: then a 413, unless it answered already."""
        received = 0
        cut = False
        answered = False

        async def counted() -> dict[str, Any]:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut = True
                    return {"type": "http.disconnect"}  # Django stops reading: RequestAborted
            return message

        async def watched(message: dict[str, Any]) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        await self.app(scope, counted, watched)
        if cut and not answered:
            await respond(send, too_large(limit))
