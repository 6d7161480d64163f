"""The supervisor's two ends: frames to the engine on its stdout, and the worker's pipes.

Shared by the one-run supervisor (supervisor.py) and its session half (session.py).
Standard library only, and only what every container needs: each one pays for what
its supervisor imports.
"""

import os
import struct
import sys
import threading
from collections.abc import Callable

# The frames this sends the engine, a letter each. sandbox/protocol.py's Frame names the
# same letters, and tests/unit/test_protocol.py checks that the two lists agree.
READY = b"R"  # the worker is up (it writes this letter on the result pipe too)
STARTED = b"S"  # the job was handed to the worker: the user's code starts
STDOUT = b"O"
STDERR = b"E"
RESULT = b"F"  # execute()'s result, as JSON
DISPLAY = b"D"  # a display() result, checked, as JSON
FILE = b"P"  # an output file's path and size (or why it was skipped), as JSON
FILE_BYTES = b"B"  # a piece of that file
SAVED = b"T"  # a piece of a session's working directory, as a tar (workdir.py)
EXIT = b"X"  # the summary: exit code, duration, timed out, out of memory
FRAMES = {
    "READY": READY,
    "STARTED": STARTED,
    "STDOUT": STDOUT,
    "STDERR": STDERR,
    "RESULT": RESULT,
    "DISPLAY": DISPLAY,
    "FILE": FILE,
    "FILE_BYTES": FILE_BYTES,
    "SAVED": SAVED,
    "EXIT": EXIT,
}
# Linux's numbers rather than the signal module's enum (about 10 ms of CPU to import).
SIGINT = 2
SIGKILL = 9
# Bigger reads mean fewer frames for chatty programs; 64 KiB is one pipe buffer.
READ_CHUNK_BYTES = 65536
MAX_JOB_BYTES = 64 * 1024 * 1024

out = sys.stdout.buffer
out_lock = threading.Lock()


def send(kind: bytes, payload: bytes = b"") -> None:
    with out_lock:
        out.write(kind + struct.pack(">I", len(payload)) + payload)
        out.flush()


def read_exactly(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int = 0) -> bytes | None:
    """The engine's next message on stdin, as JSON bytes; None past MAX_JOB_BYTES.
    EOFError when the engine has closed the stream."""
    length = struct.unpack(">I", read_exactly(fd, 4))[0]
    if length > MAX_JOB_BYTES:
        return None
    return read_exactly(fd, length)


def framed(body: bytes) -> bytes:
    """A message for the worker's job pipe: a 4-byte length, then the body."""
    return struct.pack(">I", len(body)) + body


def write_out(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_all(fd: int, data: bytes, close: bool = True) -> None:
    """Write it all, then close (unless told not to): the code's stdin, the worker's job."""
    try:
        write_out(fd, data)
    except OSError:
        pass  # the code closed its stdin or exited: the rest is not wanted
    finally:
        if close:
            os.close(fd)


def write_in_background(fd: int, data: bytes, close: bool = True) -> None:
    """write_all from a thread of its own: the data may be more than a pipe holds."""
    threading.Thread(target=write_all, args=(fd, data, close), daemon=True).start()


def drain(fd: int, handle: Callable[[bytes], None]) -> None:
    """Hand on whatever the pipe holds now, without waiting for more."""
    os.set_blocking(fd, False)
    try:
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK_BYTES)
            except BlockingIOError:
                return
            if not chunk:
                return
            handle(chunk)
    finally:
        os.set_blocking(fd, True)  # a session's pipes are read again by its next cell


def signal_worker(pid: int, signal_number: int) -> None:
    """A signal to the worker and everything in its process group."""
    try:
        os.killpg(pid, signal_number)
    except ProcessLookupError:
        pass


def kill_worker(pid: int) -> int:
    """Kill the worker and everything in its process group; return its wait status."""
    signal_worker(pid, SIGKILL)
    return os.waitpid(pid, 0)[1]
