"""The supervisor's check of display() results: what the code sent on its display
descriptor is hostile input, like everything it sends.

A result is a Jupyter display_data bundle: {"data": {mime: value}, "metadata": {}}. Text
types are strings; binary types are base64 strings (checked); JSON types (application/
json, anything +json) are any JSON value. Past the run's caps (a number, and bytes in
all) results are dropped; each drop is said on stderr, and the run goes on.

The stream is 4-byte big-endian lengths, each followed by that much JSON. A length past
what the run may still send drops the rest of the stream: it cannot be a result.

Only JSON that can be kept passes (`payload_problem`): at most MAX_VALUES values, finite
numbers, valid Unicode and no NUL. The engine checks each result again with these very
functions (sandbox/artifacts.py), in C-speed steps only, on the server's event loop.
"""

import binascii
import json
import re
import struct
from collections.abc import Callable

Send = Callable[[bytes, bytes], None]

BINARY = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
MAX_MIME_CHARS = 255
# JSON values in one result, at most: a table of a few thousand cells is a result; a
# million empty lists is an attack on whoever parses it.
MAX_VALUES = 50_000
# A NUL in a string, as json.dumps writes one: \u0000 after an even run of backslashes
# (PostgreSQL cannot keep it). re costs nothing more here: json has imported it.
ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class NotKept(ValueError):
    """JSON that cannot be kept: a non-finite number."""


def _refuse_constant(name: str) -> float:
    raise NotKept(f"{name} is not a JSON number")


def payload_problem(payload: bytes) -> tuple[str, object]:
    """Why one result's JSON cannot be kept (and "", with the value, when it can)."""
    values = payload.count(b",") + payload.count(b"[") + payload.count(b"{")
    if values > MAX_VALUES:
        return f"it has more than {MAX_VALUES} JSON values", None
    try:
        value = json.loads(payload, parse_constant=_refuse_constant)
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode", None
    except (ValueError, RecursionError):
        return "it is not JSON that can be kept", None
    if "\\u0000" in text and ESCAPED_NUL.search(text):  # the pattern only where it may match
        return "it has a NUL character", None
    return "", value


def mime_problem(mime: object, value: object) -> str:
    """Why one entry of a bundle's data is refused, or ""."""
    if not isinstance(mime, str) or not 3 <= len(mime) <= MAX_MIME_CHARS:
        return "a mime type must be a short string"
    kind, slash, subtype = mime.partition("/")
    if not slash or not kind or not subtype or not mime.isascii() or " " in mime:
        return f"{mime[:40]!r} is not a mime type"
    if mime == "application/json" or subtype.endswith("+json"):
        return ""
    if not isinstance(value, str):
        return f"{mime} must be a string"
    if mime in BINARY:
        try:
            if not binascii.a2b_base64(value.encode("ascii"), strict_mode=True):
                return f"{mime} must not be empty"
        except (ValueError, UnicodeEncodeError, binascii.Error):
            return f"{mime} must be base64"
    return ""


def bundle_problem(bundle: object) -> str:
    """Why a display result is refused, or ""."""
    if not isinstance(bundle, dict):
        return "a result must be a JSON object"
    data, metadata = bundle.get("data"), bundle.get("metadata", {})
    if not isinstance(data, dict) or not data:
        return "a result needs data: an object of mime types"
    if not isinstance(metadata, dict):
        return "a result's metadata must be an object"
    for mime, value in data.items():
        problem = mime_problem(mime, value)
        if problem:
            return problem
    return ""


class Results:
    """Reads the display stream; `take(chunk)` returns the frames to send (checked
    results, as JSON) and the stderr notes for what was dropped; `relay` sends them."""

    def __init__(self, result_frame: bytes, note_frame: bytes, job: dict) -> None:
        self.result_frame, self.note_frame = result_frame, note_frame
        self.max_count = int(job.get("results_max", 32))
        self.budget = int(job.get("results_max_bytes", 4 << 20))
        self.count = 0
        self.pending = bytearray()
        self.broken = False

    def relay(self, chunk: bytes, send: Send) -> None:
        frames, notes = self.take(chunk)
        for frame in frames:
            send(self.result_frame, frame)
        for note in notes:
            send(self.note_frame, f"\n{note}\n".encode())

    def take(self, chunk: bytes) -> tuple[list[bytes], list[str]]:
        if self.broken:
            return [], []
        self.pending += chunk
        sent: list[bytes] = []
        notes: list[str] = []
        while len(self.pending) >= 4:
            (length,) = struct.unpack(">I", self.pending[:4])
            if length > self.budget:
                self.broken = True
                self.pending.clear()
                notes.append(
                    "display: results past this run's size cap were dropped "
                    f"(at most {self.budget} more bytes)"
                )
                break
            if len(self.pending) < 4 + length:
                break
            body = bytes(self.pending[4 : 4 + length])
            del self.pending[: 4 + length]
            self.budget -= length
            verdict, payload = self._check(body)
            if payload is not None:
                sent.append(payload)
            if verdict:
                notes.append(verdict)
        return sent, notes

    def _check(self, body: bytes) -> tuple[str, bytes | None]:
        if self.count >= self.max_count:
            return f"display: a result was dropped: at most {self.max_count} a run", None
        problem, bundle = payload_problem(body)
        if problem:
            return f"display: a result was dropped: {problem}", None
        problem = bundle_problem(bundle)
        if problem:
            return f"display: a result was dropped: {problem}", None
        self.count += 1
        assert isinstance(bundle, dict)
        clean = {"data": bundle["data"], "metadata": bundle.get("metadata", {})}
        return "", json.dumps(clean).encode()
