"""Run sandboxes that are not there: in-process, speaking the agent's protocol.

`FakeRunSandboxes` implements sandbox.backends.RunSandboxes. Each sandbox is a task on
the far end of a socket pair: it says READY the way the supervisor does (frames in
Docker's attach stream), reads the job, and then plays the job's code as a script of
its own, one command a line:

    out TEXT / err TEXT      a line on stdout / stderr
    result JSON              execute()'s result, valid
    raw HEX                  these bytes as they are, inside Docker's stdout stream
    flood N                  N stdout frames of 64 KiB
    exit N                   the summary: exit code N (the default: exit 0 at the end)
    timeout / oom            the summary says the supervisor's clock or the OOM killer
    hang                     say nothing more
    die                      close the stream

With it the engine's admission, pools and result mapping run in milliseconds, Docker
or no Docker (tests/unit/test_engine_fast.py). Builds have theirs: tests/fake_builds.py.
"""

import asyncio
import itertools
import json
import socket
import struct
from dataclasses import replace
from pathlib import Path

from sandbox.backends import SandboxConnection, SandboxSpec
from sandbox.engine import EngineConfig
from sandbox.languages import Family
from sandbox.protocol import DOCKER_STDOUT, Frame

CHUNK = 64 * 1024


def docker_chunk(data: bytes, stream: int = DOCKER_STDOUT) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def frame(kind: Frame, payload: bytes = b"") -> bytes:
    return docker_chunk(kind.value + struct.pack(">I", len(payload)) + payload)


def fake_engine_config(tmp_path: Path, **changes: object) -> EngineConfig:
    """An engine's settings for the fake: small, and its state in tmp_path."""
    base = EngineConfig(
        instance="fast-test",
        state_dir=tmp_path,
        pool_size=1,
        pool_max=1,  # a pool that follows demand only where a test asks it to
        max_concurrent_runs=2,
        max_queued_runs=2,
        max_timeout_s=30,
        max_memory_mib=512,
        max_output_bytes=64 * 1024,
        cpus_per_run=1.0,
        pids_per_run=64,
        docker_runtime="",
        docker_timeout_s=5,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class FakeRunSandboxes:
    def __init__(self, *, fail_starts: bool = False, set_memory_error: bool = False) -> None:
        self.fail_starts = fail_starts
        self.set_memory_error = set_memory_error
        self.started = 0
        self.removed: list[str] = []
        self.memory: dict[str, int] = {}
        self.frozen: set[str] = set()
        self._sandboxes: dict[str, tuple[asyncio.Task[None], socket.socket]] = {}
        self._ids = itertools.count(1)

    async def start_sandbox(self, spec: SandboxSpec, egress_dir: Path) -> SandboxConnection:
        if self.fail_starts:
            raise OSError("the fake backend refuses to start sandboxes")
        self.started += 1
        sandbox_id = f"fake{next(self._ids):060d}"
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        task = asyncio.get_running_loop().create_task(self._supervise(theirs))
        self._sandboxes[sandbox_id] = (task, theirs)
        return SandboxConnection(sandbox_id, reader, writer)

    async def set_memory(self, sandbox_id: str, memory_mib: int, family: Family) -> None:
        if self.set_memory_error:
            raise RuntimeError("the fake backend fails in a way nobody planned for")
        self.memory[sandbox_id] = memory_mib

    async def remove_sandbox(self, sandbox_id: str) -> None:
        entry = self._sandboxes.pop(sandbox_id, None)
        if entry is not None:
            task, sock = entry
            task.cancel()
            sock.close()
            self.removed.append(sandbox_id)

    async def freeze_sandbox(self, sandbox_id: str) -> None:
        self.frozen.add(sandbox_id)

    async def thaw_sandbox(self, sandbox_id: str) -> None:
        self.frozen.discard(sandbox_id)

    async def remove_leftovers(self) -> int:
        return 0

    async def release_image(self, image: str) -> None:
        pass

    async def ping(self) -> None:
        if self.fail_starts:
            raise OSError("the fake backend is down")

    async def runtime(self) -> dict[str, str]:
        return {"wanted": "auto", "using": "fake"}

    def instance_sandboxes(self) -> list[str]:
        return list(self._sandboxes)

    def close(self) -> None:
        pass

    async def _supervise(self, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            writer.write(frame(Frame.READY))
            await writer.drain()
            (length,) = struct.unpack(">I", await reader.readexactly(4))
            job = json.loads(await reader.readexactly(length))
            writer.write(frame(Frame.STARTED))
            await self._play(job["code"], writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _play(self, code: str, writer: asyncio.StreamWriter) -> None:
        summary = {"exit_code": 0, "duration_ms": 1, "timed_out": False, "oom_killed": False}
        for line in code.splitlines():
            command, _, rest = line.partition(" ")
            if command == "out":
                writer.write(frame(Frame.STDOUT, rest.encode() + b"\n"))
            elif command == "err":
                writer.write(frame(Frame.STDERR, rest.encode() + b"\n"))
            elif command == "result":
                payload = {"status": "valid", "output": rest}
                writer.write(frame(Frame.RESULT, json.dumps(payload).encode()))
            elif command == "raw":
                writer.write(docker_chunk(bytes.fromhex(rest)))
            elif command == "flood":
                for _ in range(int(rest)):
                    writer.write(frame(Frame.STDOUT, b"y" * CHUNK))
                    await writer.drain()
            elif command == "exit":
                summary["exit_code"] = int(rest)
            elif command in ("timeout", "oom"):
                summary["timed_out" if command == "timeout" else "oom_killed"] = True
            elif command == "hang":
                await writer.drain()
                await asyncio.Event().wait()
            elif command == "die":
                return
            await writer.drain()
        writer.write(frame(Frame.EXIT, json.dumps(summary).encode()))
        await writer.drain()
