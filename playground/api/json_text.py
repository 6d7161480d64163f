"""JSON request bodies read as the API promises: bounded in elements and depth, finite
numbers, valid Unicode; each problem named with where it is.

Pure and cheap to import (no Django), so that playground/workers.py's processes can run
it on the largest bodies.

Python's `re` holds the GIL while it matches, so a thread does not help against a pattern
that backtracks: every scan of a body here is linear. Escapes are dropped first with
`bytes.replace` (a JSON escape is a backslash and one character, so a doubled backslash
then an escaped quote leave no quote that does not open or close a string); after that a
string is `"[^"]*"`, which cannot backtrack but once, on a last quote that is never
closed. A body's quotes are counted before any pattern runs: every two are a string,
and strings are values or keys, so too many quotes is too many values at once.
"""

import re
from typing import Any

from sandbox import strict_json

# JSON deeper than this is refused before anything else looks at it: nobody's real
# input nests 64 levels, and deep nesting is how a parser's stack is attacked.
MAX_JSON_DEPTH = 64
# Once escapes are gone: a string (what the element count must not look inside), or one
# of the characters that open, close or separate values.
STRING = re.compile(rb'"[^"]*"')
TOKEN = re.compile(rb'"[^"]*"|[][{}:,]')
# The start of a top-level key kept for a message: enough to name the field at fault.
MAX_KEY_CHARS = 64


def without_escapes(body: bytes) -> bytes:
    """The body with every JSON escape dropped: what is left of each string has no quote
    or backslash inside it."""
    return body.replace(b"\\\\", b"").replace(b'\\"', b"")


def element_count(bare: bytes) -> int:
    """About how many values a JSON text without escapes holds: its separators and
    openings outside strings."""
    bare = STRING.sub(b'""', bare)
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


def _deep_key(body: bytes) -> str | None:
    """The top-level key under which `body` nests past MAX_JSON_DEPTH (too deep to parse).

    Called only when the parser ran out of stack, so the text before the deep point parsed:
    it holds O(elements) tokens, already bounded, and the walk stops at the deep point.
    """
    bare = without_escapes(body)
    depth, key, last = 0, None, None
    for match in TOKEN.finditer(bare):
        char = bare[match.start()]
        if char == ord('"'):
            last = match
        elif char == ord(":"):
            if depth == 1 and last is not None:
                key = bare[last.start() + 1 : min(last.end() - 1, last.start() + 1 + MAX_KEY_CHARS)]
        elif char in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH + 1:
                return key.decode(errors="replace") if key is not None else None
        elif char in b"]}":
            depth -= 1
    return None


class BodyProblem(Exception):
    """What is wrong with a body: the API's error code, a message, and the field."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def too_many_values(body: bytes, max_elements: int) -> bool:
    """Whether the body holds more than max_elements values: linear, at C speed."""
    bare = without_escapes(body)
    # Each value or key that is a string has two quotes; a key comes with a value.
    if bare.count(b'"') > 4 * (max_elements + 1):
        return True
    return element_count(bare) > max_elements


def read_json_object(body: bytes, max_elements: int) -> dict[str, Any]:
    """The body as a JSON object; BodyProblem naming what is wrong and where."""
    if too_many_values(body, max_elements):
        raise BodyProblem(
            "invalid_request",
            f"the body holds more than {max_elements} JSON values; send less input",
        )
    try:
        data = strict_json.loads(body)
    except RecursionError:
        where = _deep_key(body)
        message = f"{where or 'the body'} nests deeper than {MAX_JSON_DEPTH} levels"
        raise BodyProblem("invalid_request", message, where) from None
    except (ValueError, UnicodeDecodeError) as exc:  # NotStrictJson is a ValueError
        raise BodyProblem("invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BodyProblem("invalid_json", "the body must be a JSON object")
    where = _too_deep_at(data)
    if where:
        raise BodyProblem(
            "invalid_request", f"{where} nests deeper than {MAX_JSON_DEPTH} levels", where
        )
    where = strict_json.bad_text_at(data)
    if where:
        message = f"{where} is not valid Unicode (a lone surrogate); send UTF-8 text"
        raise BodyProblem("invalid_request", message, where)
    return data


def read_in_worker(body: bytes, max_elements: int) -> tuple[str, Any]:
    """read_json_object for a worker process: ("ok", data) or ("problem", its parts)."""
    try:
        return "ok", read_json_object(body, max_elements)
    except BodyProblem as problem:
        return "problem", (problem.code, problem.message, problem.param)
