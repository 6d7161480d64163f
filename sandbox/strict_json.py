"""JSON as the API promises it: finite numbers and valid Unicode, whoever sent it.

Python's json module takes NaN, Infinity and 1e400 (which becomes inf) and lone
surrogates ("\\ud800"); none of them can be stored, sent on or encoded as UTF-8. A
request with one is a 400, and a container's frame with one is a malformed result.
"""

import json
import math
import re
from typing import Any


class NotStrictJson(ValueError):
    """Valid to Python's json module, but not JSON that can be kept: `where` says where."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def _constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"{text} is too large for a JSON number")
    return value


def loads(text: str | bytes) -> Any:
    """json.loads that refuses non-finite numbers; NotStrictJson (a ValueError) if so."""
    return json.loads(text, parse_constant=_constant, parse_float=_finite)


def bad_text_at(value: Any) -> str | None:
    """The dotted path of the first string (or key) that is not valid Unicode, else None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if not _encodable(node):
                return path or "body"
        elif isinstance(node, dict):
            for key, item in node.items():
                where = f"{path}.{key}" if path else str(key)
                if not _encodable(str(key)):
                    return path or "body"
                stack.append((item, where))
        elif isinstance(node, list):
            stack.extend((item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(node))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# A NUL in a string, as json.dumps writes one: \\u0000 after an even run of backslashes.
ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul(value: Any) -> Any:
    """The value with each NUL character in its strings (and keys) as U+FFFD: JSON may
    carry one, no database keeps one (PostgreSQL refuses it). Linear, in C's steps."""
    text = json.dumps(value, ensure_ascii=False)
    if "\\u0000" not in text:
        return value
    return json.loads(ESCAPED_NUL.sub(lambda m: m.group(1) + "\\ufffd", text))
