"""crun's processes, started without copying the server: vfork, then the event loop.

uvloop (uvicorn's loop when it is installed) starts a child with fork(), which copies
the server's page tables: 10 ms of CPU a start for a 300 MiB server here, against half
a millisecond for subprocess.Popen, which uses vfork. So children are started by Popen,
their pipes handed to the event loop as streams, and their exit watched through a
pidfd (Linux 5.3): no thread, no SIGCHLD handler, the same under either loop.
"""

import asyncio
import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Child:
    """A started child process; `wait()` for its exit status."""

    popen: subprocess.Popen[bytes]
    _exited: asyncio.Future[int] = field(init=False)

    def __post_init__(self) -> None:
        loop = asyncio.get_running_loop()
        self._exited = loop.create_future()
        pidfd = os.pidfd_open(self.popen.pid)

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if not self._exited.done():
                self._exited.set_result(self.popen.wait())

        loop.add_reader(pidfd, on_exit)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()


@dataclass
class Piped:
    """A child whose stdin, stdout and stderr are the server's to write and read."""

    child: Child
    stdin: asyncio.StreamWriter
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader


async def start(argv: list[str]) -> Piped:
    """Start a child with its stdio as streams of the event loop."""
    pipes = subprocess.PIPE
    # Popen returns once the child has called exec (vfork): a fraction of a millisecond
    # on the loop, the point of this module (its docstring).
    popen = subprocess.Popen(argv, stdin=pipes, stdout=pipes, stderr=pipes)  # noqa: ASYNC220
    assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
    try:
        loop = asyncio.get_running_loop()
        stdout = await _reader(loop, popen.stdout)
        stderr = await _reader(loop, popen.stderr)
        # A writer's protocol needs flow control only; this one's reader is never read.
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), popen.stdin
        )
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return Piped(Child(popen), stdin, stdout, stderr)
    except BaseException:
        popen.kill()
        popen.wait()
        raise


async def _reader(loop: asyncio.AbstractEventLoop, pipe: IO[bytes]) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader


async def run(argv: list[str], *, quiet: bool = False) -> tuple[int, bytes]:
    """Run a child to its end: its exit status and what it said on stderr (`quiet`:
    nothing, for a child that leaves a process behind holding its stderr)."""
    popen = subprocess.Popen(  # noqa: ASYNC220 (vfork: as in start)
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
    )
    child = Child(popen)
    try:
        status = await child.wait()
    except BaseException:
        child.kill()
        raise
    if popen.stderr is None:
        return status, b""
    with popen.stderr:
        # It has ended, and nothing else holds the pipe: what it said is all there.
        return status, popen.stderr.read()
