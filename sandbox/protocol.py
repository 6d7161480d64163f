"""The framed protocol spoken with the supervisor inside each container.

See sandbox/agent/supervisor.py for the frame types. How they reach the engine is the
backend's business: Docker's attach stream wraps the container's stdout and stderr in
its own 8-byte headers, the supervisor's frames inside the stdout part; crun, driven
directly, hands over the supervisor's stdout and stderr as two plain pipes. Everything
read here came from a container that ran hostile code: sizes are bounded and anything
unexpected is a ProtocolError, never a crash.
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
# A plain stdout pipe is read in pieces of this size (a pipe's buffer).
PIPE_READ_BYTES = 64 * 1024
# Once a plain stdout ends, its stderr is read for the reason this long at most: what
# started the sandbox (crun) holds it until it has cleaned up, a moment later.
DIAGNOSTICS_WAIT_S = 1.0
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
    """Reads the supervisor's frames out of a Docker attach stream (`stderr` None), or
    out of its plain stdout with its stderr apart."""

    def __init__(
        self, reader: asyncio.StreamReader, stderr: asyncio.StreamReader | None = None
    ) -> None:
        self._reader = reader
        self._stderr = stderr
        self._buffer = bytearray()
        self.diagnostics = bytearray()
        self._read_more = self._read_docker_chunk if stderr is None else self._read_plain

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
            await self._read_more()

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
            self._note(data)
        else:
            raise ProtocolError(f"Docker stream {stream}")

    async def _read_plain(self) -> None:
        data = await self._reader.read(PIPE_READ_BYTES)
        if data:
            self._buffer += data
            return
        assert self._stderr is not None
        # The stream ended: what went wrong, if anything, is on stderr by now.
        try:
            async with asyncio.timeout(DIAGNOSTICS_WAIT_S):
                while len(self.diagnostics) < MAX_DIAGNOSTIC_BYTES:
                    said = await self._stderr.read(MAX_DIAGNOSTIC_BYTES)
                    if not said:
                        break
                    self._note(said)
        except (TimeoutError, ConnectionError):
            pass
        raise EOFError

    def _note(self, data: bytes) -> None:
        room = MAX_DIAGNOSTIC_BYTES - len(self.diagnostics)
        if room > 0:
            self.diagnostics += data[:room]
