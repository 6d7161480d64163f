"""Builds in the background: capped in number, time and disk, cancellable, streamed.

A build runs its recipe's steps one sandbox at a time (sandbox/backends.py: Docker's, or
the fast tests' fake), on a disk of its own (builds/disk.py), then makes the image. Slots
go to owners in turn, one build of each at a time (builds/queue.py). A slot is held until
its build's sandboxes are gone, so cancelling or deleting never lets more builds run at
once than MAX_CONCURRENT_BUILDS.
Each build's log is kept (head and tail) and handed line by line to the sink its caller
gave, else to the default sink (the revision's WebSocket group), so a rebuild from the
admin streams like any other.
"""

import asyncio
import contextlib
import contextvars
import functools
import logging
import tempfile
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from sandbox import images
from sandbox.backends import BuildSandboxes
from sandbox.builds import recipes
from sandbox.builds.context import context_tar
from sandbox.builds.disk import NO_SPACE, BuildDisk, DiskUnavailable
from sandbox.builds.indexes import PROBE_COMMAND, PackageIndexes, package_indexes
from sandbox.builds.log import MAX_FAILURE_REASON_CHARS, BuildLog, clean_line, failure_line
from sandbox.builds.queue import BuildQueue
from sandbox.builds.steps import MAX_STEP_OUTPUT_BYTES, follow_output, prepare_folder, step_spec
from sandbox.docker.builds import DockerBuilds
from sandbox.docker.connection import DockerConnection
from sandbox.egress.addresses import parse_pins
from sandbox.egress.tunnel import TunnelProxy
from sandbox.events import BuildFinishedEvent, BuildLineEvent, BuildSink
from sandbox.models import RuntimeRevision

log = logging.getLogger(__name__)

# Builds at once: each is a pip or npm install on the same 2 cores that serve runs.
MAX_CONCURRENT_BUILDS = 2
# Builds one owner may have waiting or running here (one runs at a time): enough for a
# runtime and its next revision or two; past it, a 429 rather than an ever longer line.
MAX_BUILDS_PER_OWNER = 4
# Threads per build: one follows a step's output, one waits for it.
THREADS_PER_BUILD = 2


class BuildFailed(Exception):
    """A step failed or a limit was hit; the message is Sandpit's reason why."""


class BuildLimit(BuildFailed):
    """A limit was hit: the message is the revision's failure_reason, whatever pip said."""


def builds_dir() -> Path:
    """Where builds' folders (written by their steps) and contexts go."""
    return Path(settings.SANDBOX_STATE_DIR) / "builds"


def revision_image_tag(revision: RuntimeRevision) -> str:
    return f"sandpit-rev:{revision.id.lower()}"


class RuntimeBuilds:
    """Builds of this process: at most MAX_CONCURRENT_BUILDS at once, each within its time."""

    def __init__(
        self,
        adapter: BuildSandboxes | None = None,
        *,
        disk: Callable[[Path, int], BuildDisk] = BuildDisk,
    ) -> None:
        self._adapter = adapter
        self._disk = disk
        self._queue = BuildQueue(slots=MAX_CONCURRENT_BUILDS, max_per_owner=MAX_BUILDS_PER_OWNER)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._logs: dict[str, BuildLog] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._default_sink: BuildSink | None = None
        self._indexes: dict[str, PackageIndexes] = {}
        self._threads = ThreadPoolExecutor(
            MAX_CONCURRENT_BUILDS * THREADS_PER_BUILD + 2, thread_name_prefix="build"
        )

    def bind(self, loop: asyncio.AbstractEventLoop, sink: BuildSink | None = None) -> None:
        """The server's event loop, where builds asked for from sync code (the admin)
        run, and where every build tells its log unless its caller names a sink."""
        self._loop = loop
        self._default_sink = sink

    def start_soon(self, revision_id: str, owner_id: int) -> None:
        """start() from a thread that is not the server's event loop."""
        if self._loop is None or self._loop.is_closed():
            raise RuntimeError("no server event loop to build on; is the ASGI server running?")
        self._loop.call_soon_threadsafe(
            functools.partial(self.start, revision_id, owner_id=owner_id)
        )

    @property
    def adapter(self) -> BuildSandboxes:
        """The backend the steps and images are made on: Docker unless one was given."""
        if self._adapter is None:
            self._adapter = DockerBuilds(
                DockerConnection(
                    instance=settings.SANDBOX_INSTANCE,
                    timeout_s=settings.SANDBOX_DOCKER_TIMEOUT_S,
                    runtime=settings.SANDBOX_DOCKER_RUNTIME,
                )
            )
        return self._adapter

    def log_so_far(self, revision_id: str) -> tuple[str, int] | None:
        """The log of a build going on here, and how many lines it has seen; else None."""
        build_log = self._logs.get(revision_id)
        return (build_log.text(), build_log.seen) if build_log else None

    @contextlib.contextmanager
    def place(self, owner_id: int) -> Iterator[None]:
        """A place among the owner's builds for one about to be asked for, or BuildsBusy.

        start(..., placed=True) within the block takes it; if the block raises, it is
        given back: so a refusal comes before anything is written, and a failed write
        leaves no place taken.
        """
        self._queue.hold(owner_id)
        try:
            yield
        except BaseException:
            self._queue.release(owner_id)
            raise

    def start(
        self,
        revision_id: str,
        on_line: BuildSink | None = None,
        *,
        owner_id: int,
        placed: bool = False,
    ) -> None:
        """Build in the background; the revision moves pending -> building -> an end.

        Unless `placed`, the build counts among its owner's without their cap (the
        admin's rebuild, a test): only requests are refused.
        """
        if not placed:
            self._queue.hold(owner_id, capped=False)
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        # A context of its own: the request that asked for the build ends long before it.
        task = asyncio.get_running_loop().create_task(
            self._build(revision_id, owner_id, on_line or self._default_sink),
            context=contextvars.Context(),
        )
        self._tasks[revision_id] = task

        def ended(_: asyncio.Task[None]) -> None:
            # Here, not in _build: a task cancelled before it started never runs its body.
            self._tasks.pop(revision_id, None)
            self._queue.release(owner_id)

        task.add_done_callback(ended)

    def is_building(self, revision_id: str) -> bool:
        return revision_id in self._tasks

    async def wait(self, revision_id: str) -> None:
        task = self._tasks.get(revision_id)
        if task is not None:
            await asyncio.shield(task)

    async def cancel(self, revision_id: str) -> None:
        """Stop a build now; returns once its sandboxes are gone."""
        task = self._tasks.get(revision_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _build(self, revision_id: str, owner_id: int, on_line: BuildSink | None) -> None:
        revision = await RuntimeRevision.objects.select_related("runtime").aget(id=revision_id)
        try:
            async with self._queue.turn(owner_id):
                await self._build_now(revision, on_line)
        except asyncio.CancelledError:
            revision.status = RuntimeRevision.Status.CANCELLED
            revision.failure_reason = "the build was cancelled"
            revision.build_finished_at = timezone.now()
            await asyncio.shield(revision.asave())
            raise
        finally:
            self._logs.pop(revision_id, None)
            if on_line is not None:
                finished = BuildFinishedEvent(revision.status, revision.failure_reason)
                with contextlib.suppress(Exception):
                    await on_line(revision.id, finished)

    async def _build_now(self, revision: RuntimeRevision, on_line: BuildSink | None) -> None:
        revision.status = RuntimeRevision.Status.BUILDING
        revision.build_started_at = timezone.now()
        revision.build_log = ""
        await revision.asave(update_fields=["status", "build_started_at", "build_log"])
        build_log = self._logs[revision.id] = BuildLog()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        async def relay() -> None:
            while (line := await lines.get()) is not None:
                build_log.add(line)
                if on_line is not None:
                    with contextlib.suppress(Exception):
                        await on_line(revision.id, BuildLineEvent(build_log.seen, line))

        relaying = asyncio.create_task(relay())
        tag = revision_image_tag(revision)
        failure = ""
        limit = False
        try:
            async with asyncio.timeout(settings.SANDBOX_BUILD_TIMEOUT_S):
                await self._run_recipe(revision, tag, lines.put_nowait)
        except TimeoutError:
            failure = f"the build took longer than {settings.SANDBOX_BUILD_TIMEOUT_S} s"
            limit = True
        except BuildFailed as exc:
            failure = str(exc)
            limit = isinstance(exc, BuildLimit)
        finally:
            lines.put_nowait(None)
            await asyncio.shield(relaying)
        if failure:
            build_log.add(f"Sandpit: {failure}")
        revision.build_log = build_log.text()
        revision.build_finished_at = timezone.now()
        if failure:
            revision.status = RuntimeRevision.Status.FAILED
            revision.failure_reason = (
                failure[:MAX_FAILURE_REASON_CHARS]
                if limit
                else failure_line(build_log.lines[:-1], failure)
            )
        else:
            revision.status = RuntimeRevision.Status.SUCCEEDED
            revision.image_tag = tag
            revision.image_size_bytes = await sync_to_async(self.adapter.image_size_bytes)(tag)
        await revision.asave()

    async def _run_recipe(
        self, revision: RuntimeRevision, tag: str, emit: Callable[[str], None]
    ) -> None:
        builds_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=builds_dir()))
        disk = self._disk(work, settings.SANDBOX_BUILD_MAX_MIB)
        try:
            try:
                await asyncio.to_thread(disk.mount)
            except DiskUnavailable as exc:
                raise BuildFailed(f"the build's disk could not be made: {exc}") from None
            runtime_dir = prepare_folder(work, revision)
            disk.hand_over()
            base = images.base_image_tag()
            indexes = await self._package_indexes(base)
            allow_sdists = settings.SANDBOX_BUILD_ALLOW_SDISTS
            for step in recipes.steps(revision, indexes, allow_sdists):
                emit(f"Sandpit: {step.name}")
                await self._run_recipe_step(revision.id, base, step, disk, emit)
            await self._make_image(revision, tag, base, runtime_dir, emit)
        finally:
            await asyncio.shield(self._remove_steps(revision.id))
            await asyncio.shield(asyncio.to_thread(disk.remove))

    async def _run_recipe_step(
        self,
        build_id: str,
        base: str,
        step: recipes.Step,
        disk: BuildDisk,
        emit: Callable[[str], None],
    ) -> None:
        """One step of a recipe; BuildFailed if it failed, BuildLimit if it filled the disk."""
        said_no_space = False

        def relay(line: str) -> None:
            nonlocal said_no_space
            said_no_space = said_no_space or NO_SPACE in line.lower()
            emit(line)

        status = await self.run_step(build_id, base, step, disk.folder, relay)
        # A file held open and unlinked is freed when the step ends: the step's own
        # words (ENOSPC) tell of it, where the disk's state no longer does.
        if status != 0 and (said_no_space or disk.is_full()):
            raise BuildLimit(
                f"the {step.name} step used up the build's disk ({disk.size_mib} MiB, "
                f"{disk.inodes} files and folders); install fewer or smaller packages"
            )
        if status != 0:
            raise BuildFailed(f"the {step.name} step failed (exit status {status})")

    async def _package_indexes(self, base: str) -> PackageIndexes:
        if base not in self._indexes:
            output: list[str] = []
            step = recipes.Step("probe", PROBE_COMMAND)
            with tempfile.TemporaryDirectory() as empty:
                status = await self.run_step("probe", base, step, Path(empty), output.append)
            try:
                self._indexes[base] = package_indexes(
                    "\n".join(output),
                    pip_index_url=settings.SANDBOX_BUILD_PIP_INDEX_URL,
                    npm_registry=settings.SANDBOX_BUILD_NPM_REGISTRY,
                    extra_hosts=settings.SANDBOX_BUILD_INDEX_HOSTS,
                )
            except ValueError as exc:
                raise BuildFailed(f"no package index is known (status {status}): {exc}") from None
        return self._indexes[base]

    async def run_step(
        self,
        build_id: str,
        base: str,
        step: recipes.Step,
        work: Path,
        emit: Callable[[str], None],
    ) -> int:
        """Run one step to its end; its output goes to `emit` line by line."""
        loop = asyncio.get_running_loop()
        spec = step_spec(build_id, base, step, work)
        async with contextlib.AsyncExitStack() as stack:
            if step.online:
                await stack.enter_async_context(
                    TunnelProxy(
                        work / "proxy",
                        allowed_hosts=step.hosts,
                        pins=parse_pins(settings.SANDBOX_EGRESS_PIN),
                        max_bytes=settings.SANDBOX_BUILD_MAX_DOWNLOAD_MIB * 1024 * 1024,
                        note=emit,
                    )
                )
            step_id = await loop.run_in_executor(self._threads, self.adapter.start_step, spec)
            try:
                following = loop.run_in_executor(
                    self._threads, follow_output, self.adapter, step_id, emit, loop
                )
                waiting = loop.run_in_executor(self._threads, self.adapter.wait_step, step_id)
                either: set[asyncio.Future[Any]] = {waiting, following}
                await asyncio.wait(either, return_when=FIRST_COMPLETED)
                if following.done() and following.result():
                    await self.adapter.remove_step(step_id)
                status = await waiting
                if await following:
                    raise BuildLimit(
                        f"the {step.name} step wrote more than "
                        f"{MAX_STEP_OUTPUT_BYTES // (1024 * 1024)} MiB of output"
                    )
                return status
            finally:
                await asyncio.shield(self.adapter.remove_step(step_id))

    async def _make_image(
        self,
        revision: RuntimeRevision,
        tag: str,
        base: str,
        runtime_dir: Path,
        emit: Callable[[str], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        emit("Sandpit: image")

        def build() -> None:
            # On disk, not in memory: the installed files may be gigabytes.
            with tempfile.TemporaryFile(dir=builds_dir()) as context:
                context_tar(recipes.dockerfile(revision), runtime_dir, context)
                for line in self.adapter.build_image(context, tag, buildargs={"BASE": base}):
                    loop.call_soon_threadsafe(emit, clean_line(line))

        making = loop.run_in_executor(self._threads, build)
        try:
            await asyncio.shield(making)
        except asyncio.CancelledError:
            # A COPY of local files takes seconds: let it end, then take its image away.
            with contextlib.suppress(Exception):
                await making
            await asyncio.to_thread(self.adapter.remove_image, tag)
            raise
        except RuntimeError as exc:
            raise BuildFailed(f"making the image failed: {exc}") from None

    async def _remove_steps(self, build_id: str) -> None:
        ids = await asyncio.to_thread(self.adapter.build_steps, build_id)
        await asyncio.gather(*(self.adapter.remove_step(i) for i in ids))


runtime_builds = RuntimeBuilds()
