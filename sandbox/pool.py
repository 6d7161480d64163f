"""Warm pools: sandbox containers started ahead of need, their agent loaded and waiting.

A sandbox serves exactly one run; the pool only ever hands out fresh ones and starts
replacements in the background, so a run costs one message round trip instead of a
container start.
"""

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import limits, metrics
from sandbox.backends import RunSandboxes, SandboxConnection, SandboxSpec
from sandbox.demand import Demand
from sandbox.errors import EngineError, EngineUnavailable
from sandbox.protocol import AgentStream, Frame, ProtocolError

log = logging.getLogger(__name__)
# What a killed run still writes is read in chunks this size and dropped.
DISCARD_CHUNK_BYTES = 64 * 1024


@dataclass
class Sandbox:
    """One started container whose agent said it is ready."""

    connection: SandboxConnection
    stream: AgentStream
    egress_dir: Path
    memory_mib: int
    stopped: bool = field(default=False)
    # Its run's stdin stays open for its owner to type into (Engine.send_stdin).
    live_stdin: bool = field(default=False)
    stdin_closed: bool = field(default=False)
    stdin_bytes: int = field(default=0)

    @property
    def sandbox_id(self) -> str:
        return self.connection.sandbox_id

    @property
    def alive(self) -> bool:
        return not self.connection.reader.at_eof()

    async def discard_output(self) -> None:
        """Read and drop what the container writes, until its stream ends."""
        with contextlib.suppress(ConnectionError):
            while await self.connection.reader.read(DISCARD_CHUNK_BYTES):
                pass


# A container's /proc/self/mountinfo shows the host path of its bind mounts: keep the
# egress folders where that path says nothing of the host's layout (nor its user).
NEUTRAL_EGRESS_ROOT = Path("/run/sandpit-egress")


def egress_root(state_dir: Path) -> Path:
    """Where pooled containers' egress folders go: /run when we may write there."""
    try:
        NEUTRAL_EGRESS_ROOT.mkdir(mode=0o711, exist_ok=True)
    except OSError:
        return state_dir / "egress"
    return NEUTRAL_EGRESS_ROOT


class SandboxFactory:
    """Starts and disposes of sandboxes; shared by every pool of one engine."""

    def __init__(self, adapter: RunSandboxes, state_dir: Path) -> None:
        self.adapter = adapter
        self._egress_root = egress_root(state_dir)
        self._start_slots = asyncio.Semaphore(limits.MAX_CONTAINER_STARTS)
        self._disposals: set[asyncio.Task[None]] = set()
        # Disposed of, to be removed in a quiet moment (limits.REMOVE_WHEN_QUIET_FOR_S).
        self._finished: deque[Sandbox] = deque()
        self._busy_at = 0.0
        self._remover: asyncio.Task[None] | None = None
        # Containers Docker could not remove when asked (it was down): asked again once
        # it starts containers again.
        self._unremoved: set[str] = set()

    def shared_file(self, name: str, data: bytes) -> str:
        """A file every sandbox may mount read-only, beside their egress folders: a path
        that tells a sandbox's /proc/self/mountinfo nothing of the host's layout."""
        path = self._egress_root / name
        if not path.exists() or path.read_bytes() != data:
            partial = path.with_name(f".{name}.{uuid.uuid4().hex}")
            partial.write_bytes(data)
            partial.chmod(0o644)
            partial.replace(path)
        return str(path)

    async def start(self, spec: SandboxSpec) -> Sandbox:
        self._busy_at = asyncio.get_running_loop().time()
        egress_dir = self._egress_root / uuid.uuid4().hex
        egress_dir.mkdir(parents=True, mode=0o755)
        try:
            async with self._start_slots:
                connection = await self.adapter.start_sandbox(spec, egress_dir)
        except BaseException:
            metrics.CONTAINER_FAILURES.inc()
            shutil.rmtree(egress_dir, ignore_errors=True)
            raise
        metrics.CONTAINER_STARTS.inc()
        self._retry_removals()
        stream = AgentStream(connection.reader, connection.stderr)
        sandbox = Sandbox(connection, stream, egress_dir, spec.memory_mib)
        try:
            async with asyncio.timeout(limits.AGENT_READY_TIMEOUT_S):
                frame, _ = await sandbox.stream.next_frame()
            if frame is not Frame.READY:
                raise ProtocolError(f"{frame.name} before READY")
        except (TimeoutError, EOFError, ProtocolError) as exc:
            metrics.CONTAINER_FAILURES.inc()
            diagnostics = sandbox.stream.diagnostic_text
            self.dispose(sandbox)
            raise EngineUnavailable(
                f"a sandbox of {spec.image} did not get ready ({exc!r}): {diagnostics}"
            ) from exc
        except BaseException:
            self.dispose(sandbox)
            raise
        return sandbox

    @property
    def awaiting_removal(self) -> int:
        """Finished containers waiting for a quiet moment to be removed."""
        return len(self._finished)

    def dispose(self, sandbox: Sandbox) -> None:
        """Done with: its supervisor exits (its stdin closes), and the container is
        removed in the next quiet moment, or at once past MAX_FINISHED_CONTAINERS."""
        sandbox.connection.writer.close()
        loop = asyncio.get_running_loop()
        self._busy_at = loop.time()
        self._finished.append(sandbox)
        while len(self._finished) > limits.MAX_FINISHED_CONTAINERS:
            self._spawn_removal(self._finished.popleft())
        if self._remover is None or self._remover.done():
            self._remover = loop.create_task(self._remove_when_quiet())

    async def _remove_when_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        while self._finished:
            quiet_for = loop.time() - self._busy_at
            if quiet_for < limits.REMOVE_WHEN_QUIET_FOR_S:
                await asyncio.sleep(limits.REMOVE_WHEN_QUIET_FOR_S - quiet_for)
                continue
            count = min(limits.REMOVALS_AT_ONCE, len(self._finished))
            batch = [self._spawn_removal(self._finished.popleft()) for _ in range(count)]
            # asyncio.wait, not gather: cancelling this (drain) leaves the removals be.
            await asyncio.wait(batch)

    def _spawn_removal(self, sandbox: Sandbox) -> asyncio.Task[None]:
        return self._in_background(self._remove(sandbox))

    def _in_background(self, removal: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A removal nobody awaits, but drain()."""
        task = asyncio.get_running_loop().create_task(removal)
        self._disposals.add(task)
        task.add_done_callback(self._disposals.discard)
        return task

    async def kill(self, sandbox: Sandbox) -> None:
        """Kill and remove the container now, and wait until Docker has done it."""
        await self._remove(sandbox)

    async def kill_unread(self, sandbox: Sandbox) -> None:
        """Kill a sandbox whose output the engine stopped reading mid-run (a runaway
        writer, a result too large, a timeout), and wait until Docker has done it."""
        # Docker copies the container's output to the attach stream and blocks once
        # nobody reads it; removing the container then waits for that copy past the
        # SDK's 30 s timeout, holding the run's answer and slot. Read on until it is gone.
        draining = asyncio.get_running_loop().create_task(sandbox.discard_output())
        try:
            await self._remove(sandbox)
        finally:
            draining.cancel()

    async def _remove(self, sandbox: Sandbox) -> None:
        try:
            await self._remove_sandbox(sandbox.sandbox_id)
        finally:
            shutil.rmtree(sandbox.egress_dir, ignore_errors=True)

    async def _remove_sandbox(self, sandbox_id: str) -> None:
        try:
            await self.adapter.remove_sandbox(sandbox_id)
        except EngineError as exc:
            # Asked again after the next container start; the reaper at the next server
            # start finds it by its label in any case.
            log.warning("could not remove sandbox %s: %s", sandbox_id[:12], exc)
            self._unremoved.add(sandbox_id)

    def _retry_removals(self) -> None:
        """Docker starts containers again: remove those it could not remove before."""
        for sandbox_id in list(self._unremoved):
            self._unremoved.discard(sandbox_id)
            self._in_background(self._remove_sandbox(sandbox_id))

    async def drain(self) -> None:
        """Remove every container disposed of, now, and wait until Docker has."""
        if self._remover is not None:
            self._remover.cancel()
        while self._finished:
            self._spawn_removal(self._finished.popleft())
        while self._disposals:
            await asyncio.gather(*list(self._disposals), return_exceptions=True)


class WarmPool:
    """Ready sandboxes of one spec; callers are served first come, first served."""

    def __init__(
        self,
        factory: SandboxFactory,
        spec: SandboxSpec,
        size: int,
        max_size: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        # The idle size is the floor; demand may take the pool up to max_size.
        ceiling = size if max_size is None else max_size
        self.demand = Demand(floor=size, ceiling=ceiling, clock=clock)
        self._factory = factory
        self._ready: deque[Sandbox] = deque()
        self._waiters: deque[asyncio.Future[Sandbox]] = deque()
        self._starting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._upkeep: asyncio.TimerHandle | None = None
        self.last_used = asyncio.get_running_loop().time()

    @property
    def size(self) -> int:
        """How many ready sandboxes the pool aims to hold now (sandbox/demand.py)."""
        return self.demand.target()

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    def ready_sandbox_ids(self) -> list[str]:
        return [sandbox.sandbox_id for sandbox in self._ready]

    async def acquire(self) -> Sandbox:
        """A fresh, ready sandbox: at once from the pool, else the next one started."""
        self.last_used = asyncio.get_running_loop().time()
        self.demand.note_run()
        while self._ready:
            sandbox = self._ready.popleft()
            if sandbox.alive:
                self._top_up_soon()
                return sandbox
            self._factory.dispose(sandbox)
        waiter: asyncio.Future[Sandbox] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._top_up()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._deliver(waiter.result())
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def warm_up(self) -> None:
        """Start filling the pool without waiting for it."""
        self._top_up()

    def _top_up_soon(self) -> None:
        """Top up after the upkeep delay while a ready sandbox is left; else at once."""
        if self._ready:
            self._upkeep = asyncio.get_running_loop().call_later(
                limits.UPKEEP_DELAY_S, self._top_up
            )
        else:
            self._top_up()

    def _top_up(self) -> None:
        if self._closed:
            return
        wanted = self.size + len(self._waiters) - len(self._ready) - self._starting
        for _ in range(max(0, wanted)):
            self._starting += 1
            task = asyncio.get_running_loop().create_task(self._start_one())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def shrink(self) -> None:
        """After a quiet spell: let go of ready sandboxes past what demand now wants."""
        while len(self._ready) > self.size:
            self._factory.dispose(self._ready.pop())

    async def _start_one(self) -> None:
        started = asyncio.get_running_loop().time()
        try:
            sandbox = await self._factory.start(self.spec)
            took = asyncio.get_running_loop().time() - started
            self.demand.note_start(took)
            metrics.CONTAINER_START_SECONDS.observe(took)
        except EngineError as exc:
            log.warning("starting a sandbox failed: %s", exc)
            self._fail_one(exc)
        except Exception as exc:
            log.exception("starting a sandbox failed")
            self._fail_one(EngineUnavailable(f"starting a sandbox failed: {exc!r}"))
        else:
            self._deliver(sandbox)
        finally:
            self._starting -= 1

    def _deliver(self, sandbox: Sandbox) -> None:
        if self._closed:
            self._factory.dispose(sandbox)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(sandbox)
                return
        self._ready.append(sandbox)

    def _fail_one(self, exc: EngineError) -> None:
        # One waiter per failed start: an engine that is down fails callers at once
        # instead of leaving them to hang.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)
                return

    async def close(self) -> None:
        self._closed = True
        if self._upkeep is not None:
            self._upkeep.cancel()
        # Not cancelled: a start cancelled halfway leaves a container Docker made but
        # nobody knows of. Finished starts find the pool closed and dispose of theirs.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._ready:
            self._factory.dispose(self._ready.popleft())
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(EngineUnavailable("the engine is shutting down"))
