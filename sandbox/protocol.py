"""The framed protocol spoken with the supervisor inside each container.

See sandbox/agent/supervisor.py for the frame types. Docker's attach stream wraps the
container's stdout and stderr in its own 8-byte headers; the supervisor's frames travel
inside the stdout part. Everything read here came from a container that ran hostile
code: sizes are bounded and anything unexpected is a ProtocolError, never a crash.
"""

import asyncio
import re
import struct
from enum import Enum

from sandbox import limits


class Frame(bytes, Enum):
    READY = b"R"
    STARTED = b"S"
    STDOUT = b"O"
    STDERR = b"E"
    RESULT = b"F"
    DISPLAY = b"D"
    FILE = b"P"
    FILE_BYTES = b"B"
    SAVED = b"T"
    EXIT = b"X"


FRAME_BY_BYTE = {frame.value: frame for frame in Frame}
# The result frame is the largest legitimate one; output chunks are a pipe read each.
MAX_FRAME_BYTES = limits.MAX_RESULT_BYTES
# Docker's own chunks are at most 32 KiB; anything far larger is not Docker speaking.
MAX_DOCKER_CHUNK_BYTES = 1024 * 1024
# What the supervisor may say on its stderr (its own crash report), kept for the logs.
MAX_DIAGNOSTIC_BYTES = 4096
DOCKER_STDOUT, DOCKER_STDERR = 1, 2
# Anything but printable text and line breaks, as a container might write it to fool a
# terminal that shows the server's log (escapes, carriage returns, bells).
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(data: bytes) -> str:
    """Bytes from a container as text fit for the server's log: controls escaped."""
    text = data.decode(errors="replace")
    return UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class ProtocolError(Exception):
    """The container sent something the protocol does not allow."""


class ResultTooLarge(ProtocolError):
    """The function's result is larger than MAX_RESULT_BYTES."""


def encode_job(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


class AgentStream:
    """Reads the supervisor's frames out of a Docker attach stream."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self.diagnostics = bytearray()

    @property
    def diagnostic_text(self) -> str:
        """What the supervisor said on its stderr, safe for the server's log."""
        return printable(bytes(self.diagnostics))

    async def next_frame(self) -> tuple[Frame, bytes]:
        """The next frame; EOFError when the container's stream ends first."""
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            await self._read_docker_chunk()

    def _take_frame(self) -> tuple[Frame, bytes] | None:
        if len(self._buffer) < 5:
            return None
        kind = FRAME_BY_BYTE.get(bytes(self._buffer[:1]))
        if kind is None:
            raise ProtocolError(f"unknown frame type {bytes(self._buffer[:1])!r}")
        (length,) = struct.unpack(">I", self._buffer[1:5])
        if length > MAX_FRAME_BYTES:
            if kind is Frame.RESULT:
                raise ResultTooLarge(f"the result is {length} bytes")
            raise ProtocolError(f"a {kind.name} frame of {length} bytes")
        if len(self._buffer) < 5 + length:
            return None
        payload = bytes(self._buffer[5 : 5 + length])
        del self._buffer[: 5 + length]
        return kind, payload

    async def _read_docker_chunk(self) -> None:
        try:
            header = await self._reader.readexactly(8)
            stream = header[0]
            (size,) = struct.unpack(">I", header[4:8])
            if size > MAX_DOCKER_CHUNK_BYTES:
                raise ProtocolError(f"a Docker chunk of {size} bytes")
            data = await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            raise EOFError from None
        if stream == DOCKER_STDOUT:
            self._buffer += data
        elif stream == DOCKER_STDERR:
            room = MAX_DIAGNOSTIC_BYTES - len(self.diagnostics)
            if room > 0:
                self.diagnostics += data[:room]
        else:
            raise ProtocolError(f"Docker stream {stream}")
