"""Request bodies: JSON objects bounded in bytes, elements and depth, never parsed where
they could stall the server.

A body up to PARSE_HERE_MAX_BYTES is parsed in a thread (a few milliseconds of the GIL at
most); a larger one in playground/workers.py's processes, in turn by owner, since
parsing tens of megabytes holds the GIL for a good part of a second, and a thread does
not release it. playground/api/json_text.py does the parsing, linearly.
"""

import asyncio
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.parser import Parser

from playground.api.errors import ApiError
from playground.api.json_text import BodyProblem, read_in_worker, read_json_object
from playground.workers import Overran, WorkerFailed, Workers

# The guests' whole allowance: about 10 ms of the GIL for the worst body of that size.
PARSE_HERE_MAX_BYTES = 1024 * 1024
# The largest body (MAX_REQUEST_BYTES, 48 MiB by default) parses in about a second.
PARSE_TIMEOUT_S = 10.0
PARSERS = 2
PARSER_MEMORY_BYTES = 2 * 1024 * 1024 * 1024

parsers = Workers(name="body-parsers", count=PARSERS, memory_bytes=PARSER_MEMORY_BYTES)


def _api_error(problem: BodyProblem) -> ApiError:
    return ApiError(400, problem.code, problem.message, problem.param)


def parse_json_object(body: bytes, *, max_elements: int) -> dict[str, Any]:
    """The body as a JSON object, here; ApiError(400) naming what is wrong and where."""
    try:
        return read_json_object(body, max_elements)
    except BodyProblem as problem:
        raise _api_error(problem) from None


async def aparse_json_object(body: bytes, *, max_elements: int, owner: str) -> dict[str, Any]:
    """parse_json_object off the event loop: a large body in a worker, in `owner`'s turn."""
    if len(body) <= PARSE_HERE_MAX_BYTES:
        return await asyncio.to_thread(parse_json_object, body, max_elements=max_elements)
    try:
        kind, value = await parsers.run(
            owner, read_in_worker, body, max_elements, timeout_s=PARSE_TIMEOUT_S
        )
    except (Overran, WorkerFailed) as exc:
        raise ApiError(400, "invalid_request", f"the body could not be read: {exc}") from None
    if kind == "problem":
        raise ApiError(400, *value)
    return dict(value)


class JsonParser(Parser):
    """The body as BodyGuard parsed it, off the event loop, before ninja looks at it."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        parsed = getattr(request, "sandpit_json", None)
        if parsed is None:  # not through the middleware (a test client): parse here
            parsed = parse_json_object(request.body, max_elements=settings.MAX_REQUEST_ELEMENTS)
        return parsed
