"""Tenants' CPU-heavy work (their JSON Schemas, their largest bodies) in processes of
their own, so that it never holds the server's GIL.

Python's `re` backtracks and holds the GIL while it does (`^(a+)+$` against forty a's and
a `!` runs for hours), and parsing tens of megabytes of JSON holds it for a good part of
a second: from a thread, either would stall the event loop and every request and run.

- Jobs wait in one line per owner and workers take them in turn by owner, as run slots
  are handed out (sandbox/admission.py): one owner's flood of slow jobs never makes
  another owner's quick one wait behind all of it.
- A job is timed from when its worker receives it, never while it waits or while a
  worker starts: a worker's cold start fails no job.
- A job past its time has its own worker killed (and replaced on the next job); the
  other workers' jobs go on.
- Workers are started from a fork server with their memory capped and at the lowest CPU
  priority; close() kills them and returns at once.

Functions run here must be importable module-level functions of modules that are cheap
to import and need no Django set-up; they answer values, and their exceptions come back
as WorkerFailed.
"""

import asyncio
import contextlib
import multiprocessing
import os
import resource
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

# A worker that has not said it is ready by then is broken (a fork server start is well
# under a second; this is for a machine under heavy load).
WORKER_START_TIMEOUT_S = 30.0


class Overran(Exception):
    """The job ran past its time; its worker was killed."""


class WorkerFailed(Exception):
    """The job raised, or its worker died: the message says which."""


def _serve(conn: Connection, memory_bytes: int) -> None:
    """A worker: capped, at the lowest priority, answering one job at a time."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.nice(19)
    conn.send(("ready", None))
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", fn(*args))
        except MemoryError:
            answer = ("failed", "it needs more memory than a worker has")
        except RecursionError:
            answer = ("failed", "it nests or refers to itself too deeply")
        except Exception as exc:  # anything of the job's: told back, the worker goes on
            answer = ("failed", f"{type(exc).__name__}: {exc}")
        conn.send(answer)


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    timeout_s: float
    answer: asyncio.Future[Any]


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.conn.close()


@dataclass
class _Line:
    """Jobs waiting, one queue per owner, owners in turn order (a dict keeps order)."""

    queues: dict[str, deque[_Job]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.queues)

    def add(self, owner: str, job: _Job) -> None:
        self.queues.setdefault(owner, deque()).append(job)

    def next(self) -> _Job:
        owner = next(iter(self.queues))
        queue = self.queues.pop(owner)
        job = queue.popleft()
        if queue:
            self.queues[owner] = queue  # to the back of the line of owners
        return job


class Workers:
    def __init__(self, *, name: str, count: int, memory_bytes: int) -> None:
        self.name = name
        self.count = count
        self.memory_bytes = memory_bytes
        self._idle: list[_Worker] = []
        self._alive: set[_Worker] = set()
        self._started = 0  # workers alive or starting
        self._line = _Line()
        self._closed = False
        # One thread per worker at most: sends a job, then waits for its answer. Never the
        # default executor, whose threads parse bodies and talk to the database.
        self._io = ThreadPoolExecutor(max_workers=count, thread_name_prefix=f"workers-{name}")

    async def run(self, owner: str, fn: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
        """fn(*args) in a worker, in turn among owners; Overran past timeout_s (timed from
        when the worker has it), WorkerFailed if it raised or its worker died."""
        if self._closed:
            raise WorkerFailed(f"the {self.name} workers are shut down")
        job = _Job(fn, args, timeout_s, asyncio.get_running_loop().create_future())
        self._line.add(owner, job)
        self._dispatch()
        try:
            return await job.answer
        finally:
            if not job.answer.done():  # the caller gave up while the job waited
                for queue in self._line.queues.values():
                    with contextlib.suppress(ValueError):
                        queue.remove(job)
                self._line.queues = {o: q for o, q in self._line.queues.items() if q}

    def _dispatch(self) -> None:
        while self._line and (self._idle or self._started < self.count):
            job = self._line.next()
            if job.answer.done():
                continue
            worker = self._idle.pop() if self._idle else None
            if worker is None:
                self._started += 1
            asyncio.get_running_loop().create_task(self._work(worker, job))

    async def _work(self, worker: _Worker | None, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        kept: _Worker | None = None
        try:
            if worker is None:
                worker = await loop.run_in_executor(self._io, self._start)
                self._alive.add(worker)
            kept = await self._do(worker, job)
        except Exception as exc:  # the worker did not start: the job is told why
            _settle(job.answer, exc=WorkerFailed(str(exc)))
        finally:
            if kept is None and worker is not None:
                self._alive.discard(worker)
            if kept is None:
                self._started -= 1
            elif self._closed:
                kept.kill()
            else:
                self._idle.append(kept)
            if not self._closed:
                self._dispatch()

    async def _do(self, worker: _Worker, job: _Job) -> _Worker | None:
        """The job on this worker: the worker back if it may serve again, else None."""
        loop = asyncio.get_running_loop()
        sent = loop.run_in_executor(self._io, worker.conn.send, (job.fn, job.args))
        try:
            await sent
            asked = loop.run_in_executor(self._io, worker.conn.recv)
            asked.add_done_callback(_quiet)  # a killed worker's EOF is nobody's news
            kind, value = await asyncio.wait_for(asyncio.shield(asked), job.timeout_s)
        except TimeoutError:
            worker.kill()  # the waiting thread then ends on EOF
            _settle(job.answer, exc=Overran(f"took longer than {job.timeout_s:g} s"))
            return None
        except (EOFError, OSError) as exc:
            worker.kill()
            _settle(job.answer, exc=WorkerFailed(f"the worker stopped ({exc or 'no answer'})"))
            return None
        except asyncio.CancelledError:
            worker.kill()
            raise
        if kind == "ok":
            _settle(job.answer, value=value)
        else:
            _settle(job.answer, exc=WorkerFailed(str(value)))
        return worker

    def _start(self) -> _Worker:
        """A new worker, once it says it is ready (in a thread: starting one blocks)."""
        context = multiprocessing.get_context("forkserver")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(theirs, self.memory_bytes), name=f"sandpit-{self.name}"
        )
        process.daemon = True
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        if not ours.poll(WORKER_START_TIMEOUT_S):
            worker.kill()
            raise WorkerFailed(f"a {self.name} worker did not start")
        ours.recv()
        return worker

    def close(self) -> None:
        """Kill every worker and refuse what waits: returns at once, whatever they do."""
        self._closed = True
        for worker in self._alive:
            worker.kill()  # a busy one's waiting thread then ends on EOF
        self._alive.clear()
        self._idle.clear()
        for queue in self._line.queues.values():
            for job in queue:
                _settle(job.answer, exc=WorkerFailed(f"the {self.name} workers are shut down"))
        self._line.queues.clear()
        self._io.shutdown(wait=False, cancel_futures=True)


def _settle(
    answer: asyncio.Future[Any], *, value: Any = None, exc: Exception | None = None
) -> None:
    if answer.done():
        return
    if exc is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(value)


def _quiet(done: "asyncio.Future[Any]") -> None:
    if not done.cancelled():
        done.exception()
