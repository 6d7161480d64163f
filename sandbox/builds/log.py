"""A build's log: head and tail within a size, every line clean enough for any screen."""

import re
from collections import deque

from sandbox.protocol import UNPRINTABLE

# The log kept per revision; a longer one keeps its head and its tail.
MAX_BUILD_LOG_BYTES = 256 * 1024
LOG_TAIL_BYTES = 64 * 1024
# One line of a package manager's output; longer ones are cut.
MAX_LINE_CHARS = 2000
# Colours and cursor moves from a terminal-minded tool; then any other control character
# (a log line must never carry escapes into a terminal, a page or the server's log).
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?")
# The lines that say best why pip or npm failed.
FAILURE_PREFIXES = ("error:", "npm err!", "npm error")
# npm's error lines that only say where its own debug log went, or its error code.
FAILURE_NOISE = ("complete log", "_logs/", "err! code", "error code")
MAX_FAILURE_REASON_CHARS = 500


def clean_line(text: str) -> str:
    """One printable line: escapes dropped, control characters shown as '?', length cut."""
    text = UNPRINTABLE.sub("?", ANSI_ESCAPE.sub("", text)).rstrip()
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + " […]"


class LineSplitter:
    """Bytes as they come from a container, as clean lines (\\r ends a line too)."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        data = (self._partial + data).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *whole, self._partial = data.split(b"\n")
        if len(self._partial) > MAX_LINE_CHARS * 4:
            whole.append(self._partial)
            self._partial = b""
        return [line for raw in whole if (line := clean_line(raw.decode(errors="replace")))]

    def close(self) -> list[str]:
        rest, self._partial = self._partial, b""
        line = clean_line(rest.decode(errors="replace"))
        return [line] if line else []


class BuildLog:
    """Head and tail of a build's output, within MAX_BUILD_LOG_BYTES, in constant time."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.head_size = 0
        self.tail: deque[str] = deque()
        self.tail_size = 0
        self.dropped = 0
        self.seen = 0

    def add(self, line: str) -> None:
        self.seen += 1
        if self.head_size < MAX_BUILD_LOG_BYTES - LOG_TAIL_BYTES:
            self.head.append(line)
            self.head_size += len(line) + 1
            return
        self.tail.append(line)
        self.tail_size += len(line) + 1
        while self.tail_size > LOG_TAIL_BYTES and len(self.tail) > 1:
            self.tail_size -= len(self.tail.popleft()) + 1
            self.dropped += 1

    @property
    def lines(self) -> list[str]:
        return [*self.head, *self.tail]

    def text(self) -> str:
        gap = [f"[… {self.dropped} lines left out …]"] if self.dropped else []
        return "\n".join([*self.head, *gap, *self.tail])


def failure_line(lines: list[str], failure: str) -> str:
    """pip's or npm's own first error line, else Sandpit's reason."""
    for line in lines:
        text = line.strip()
        lowered = text.lower()
        if lowered.startswith(FAILURE_PREFIXES) and not any(
            noise in lowered for noise in FAILURE_NOISE
        ):
            return text[:MAX_FAILURE_REASON_CHARS]
    return failure[:MAX_FAILURE_REASON_CHARS]
