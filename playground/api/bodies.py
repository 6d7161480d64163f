"""Request bodies: JSON objects bounded in bytes, elements and depth, checked off the loop.

A wide JSON array of a few megabytes costs seconds of CPU and gigabytes of memory to
parse, so the count of elements is bounded before parsing (by a scan that runs at C
speed), and all of it runs in a thread: one client's body never stalls another's run.
"""

import asyncio
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.parser import Parser

from playground.api.errors import ApiError
from sandbox import strict_json

# JSON deeper than this is refused before anything else looks at it: nobody's real
# input nests 64 levels, and deep nesting is how a parser's stack is attacked.
MAX_JSON_DEPTH = 64
# A JSON string, escapes included: what the element count must not look inside.
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def element_count(body: bytes) -> int:
    """About how many values a JSON text holds: its separators and openings."""
    bare = JSON_STRING.sub(b'""', body)
    return bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1


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


def parse_json_object(body: bytes, *, max_elements: int) -> dict[str, Any]:
    """The body as a JSON object; ApiError(400) naming what is wrong and where."""
    if element_count(body) > max_elements:
        raise ApiError(
            400,
            "invalid_request",
            f"the body holds more than {max_elements} JSON values; send less input",
        )
    try:
        data = strict_json.loads(body)
    except RecursionError:
        where = _deep_key(body.decode(errors="replace"))
        message = f"{where or 'the body'} nests deeper than {MAX_JSON_DEPTH} levels"
        raise ApiError(400, "invalid_request", message, where) from None
    except strict_json.NotStrictJson as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    where = _too_deep_at(data)
    if where:
        raise ApiError(
            400, "invalid_request", f"{where} nests deeper than {MAX_JSON_DEPTH} levels", where
        )
    where = strict_json.bad_text_at(data)
    if where:
        message = f"{where} is not valid Unicode (a lone surrogate); send UTF-8 text"
        raise ApiError(400, "invalid_request", message, where)
    return data


async def aparse_json_object(body: bytes, *, max_elements: int) -> dict[str, Any]:
    return await asyncio.to_thread(parse_json_object, body, max_elements=max_elements)


class JsonParser(Parser):
    """The body as BodyGuard parsed it, off the event loop, before ninja looks at it."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        parsed = getattr(request, "sandpit_json", None)
        if parsed is None:  # not through the middleware (a test client): parse here
            parsed = parse_json_object(request.body, max_elements=settings.MAX_REQUEST_ELEMENTS)
        return parsed
