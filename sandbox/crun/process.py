"""crun's processes, started without copying the server: vfork, then the event loop.

uvloop (uvicorn's loop when it is installed) starts a child with fork(), which copies
the server's page tables: 10 ms of CPU a start for a 300 MiB server here, against half
a millisecond for subprocess.Popen, which uses vfork. So children are started by Popen
and their exit watched through a pidfd (Linux 5.3): no thread, no SIGCHLD handler, the
same under either loop.

A sandbox's stdio are Unix sockets, not pipes: stdin and stdout one socket, as Docker's
attach stream is, and stderr another. The event loops disagree on who closes a pipe
handed to them (asyncio calls the pipe object's close(); uvloop closes the descriptor
itself, and for a write pipe calls close() as well), and a descriptor closed twice may
close whatever the server opened under its number in between; a socket's transport is
the socket's one owner under both.
"""

import asyncio
import contextlib
import os
import socket
import subprocess
from dataclasses import dataclass, field


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
    # stderr's transport, closed by close(); stdin's closes stdout too.
    _stderr_end: asyncio.StreamWriter

    def close(self) -> None:
        self.stdin.close()
        self._stderr_end.close()


async def start(argv: list[str]) -> Piped:
    """Start a child with its stdio as streams of the event loop."""
    ours, theirs = socket.socketpair()
    ours_err, theirs_err = socket.socketpair()
    try:
        # Popen returns once the child has called exec (vfork): a fraction of a
        # millisecond on the loop, the point of this module (its docstring).
        popen = subprocess.Popen(  # noqa: ASYNC220
            argv, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=theirs_err.fileno()
        )
    except BaseException:
        ours.close()
        ours_err.close()
        raise
    finally:
        theirs.close()
        theirs_err.close()
    try:
        stdout, stdin = await asyncio.open_connection(sock=ours)
        stderr, stderr_end = await asyncio.open_connection(sock=ours_err)
    except BaseException:
        popen.kill()
        popen.wait()
        raise
    return Piped(Child(popen), stdin, stdout, stderr, stderr_end)


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
