"""Runtime builds: a revision's image, built FROM the base image with its packages.

The build is a `docker build` whose one RUN step installs the manifest with pip or npm.
That step uses the host network, as the package registries need, and trusts the host's
CA bundle (SANDBOX_BUILD_CA_BUNDLE), as TLS-inspecting proxies need. Runs on the image
never have a network. Builds are capped in number at once and in time, and their log
is kept, and handed line by line to whoever watches.
"""

import asyncio
import contextvars
import json
import logging
import re
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from sandbox import images
from sandbox.docker_adapter import DockerAdapter
from sandbox.models import RuntimeRevision

log = logging.getLogger(__name__)

# Builds at once: each one is a pip or npm install, mostly waiting on the network, but
# also unpacking and compiling on the same 2 cores that serve runs.
MAX_CONCURRENT_BUILDS = 2
# The log kept per revision; a longer one keeps its head and its tail.
MAX_BUILD_LOG_BYTES = 256 * 1024
LOG_TAIL_BYTES = 64 * 1024
PYTHON_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# A PEP 508 requirement by name: extras, version specifiers, markers; no "@ url".
REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]*\])?\s*[^@:/\\]*$")
NPM_VERSION_RANGE = re.compile(r"^[0-9A-Za-z.^~<>=|*+\s-]*$")
NPM_DEPENDENCY_SECTIONS = ("dependencies", "optionalDependencies", "peerDependencies")
# The lines that say best why pip or npm failed.
FAILURE_LINE = re.compile(r"^(ERROR:|npm ERR!|npm error|error:)", re.IGNORECASE)

PYTHON_RECIPE = """\
ARG BASE
FROM ${BASE}
USER root
COPY manifest ca-bundle.crt /opt/runtime/
ENV PIP_CERT=/opt/runtime/ca-bundle.crt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
RUN python3 -m pip install --break-system-packages --prefer-binary -r /opt/runtime/manifest
RUN python3 -I -c "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]" \
    {imports}
ENV SANDPIT_PRELOAD="{imports}"
USER 1000:1000
"""
# --ignore-scripts: a package's install scripts would run with the host's network.
NODE_RECIPE = """\
ARG BASE
FROM ${BASE}
USER root
WORKDIR /opt/runtime
COPY manifest /opt/runtime/package.json
COPY ca-bundle.crt /opt/runtime/
ENV npm_config_cafile=/opt/runtime/ca-bundle.crt npm_config_update_notifier=false \\
    npm_config_fund=false npm_config_audit=false npm_config_cache=/tmp/npm-cache
RUN npm install --omit=dev --ignore-scripts --no-package-lock && rm -rf /tmp/npm-cache
ENV NODE_PATH=/opt/runtime/node_modules
WORKDIR /work
USER 1000:1000
"""

# Told of each build's events: (revision id, {"type": "log", "seq", "line"}) as lines
# come, then (revision id, {"type": "finished", "status", "failure_reason"}).
BuildSink = Callable[[str, dict[str, Any]], Awaitable[None]]


def revision_image_tag(revision: RuntimeRevision) -> str:
    return f"sandpit-rev:{revision.id.lower()}"


def invalid_imports(text: str) -> list[str]:
    return [m for m in text.replace(",", " ").split() if not PYTHON_MODULE.match(m)]


def manifest_problem(manifest_name: str, contents: str) -> str:
    """Why a manifest is refused, or "". Packages come from PyPI and npm by name only.

    The build has the host's network: a URL, a git source, a file path or a pip option
    (--index-url, -r, -e) would let a manifest make the host fetch from anywhere.
    """
    if manifest_name == "requirements.txt":
        for number, raw in enumerate(contents.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("-") or not REQUIREMENT.match(line):
                return (
                    f"line {number}: {line!r} is not a package from PyPI "
                    "(name, extras, version, markers; no URLs, paths or pip options)"
                )
        return ""
    try:
        package = json.loads(contents)
    except ValueError as exc:
        return f"package.json is not valid JSON: {exc}"
    if not isinstance(package, dict):
        return "package.json must be a JSON object"
    for section in NPM_DEPENDENCY_SECTIONS:
        dependencies = package.get(section, {})
        if not isinstance(dependencies, dict):
            return f"{section} must be an object of package names and versions"
        for name, version in dependencies.items():
            if not isinstance(version, str) or not NPM_VERSION_RANGE.match(version):
                return (
                    f"{section}.{name}: {version!r} is not a version range from the npm "
                    "registry (no URLs, git, file: or github: sources)"
                )
    return ""


def _recipe(revision: RuntimeRevision) -> str:
    if revision.manifest_name == "requirements.txt":
        return PYTHON_RECIPE.replace("{imports}", " ".join(revision.preload_modules()))
    return NODE_RECIPE


def _failure_reason(lines: list[str], error: str) -> str:
    for line in reversed(lines):
        if FAILURE_LINE.match(line.strip()):
            return line.strip()[:500]
    return error.strip().splitlines()[-1][:500] if error.strip() else "the build failed"


class _BuildLog:
    """Head and tail of a build's output, within MAX_BUILD_LOG_BYTES."""

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


class RuntimeBuilds:
    """Builds of this process: at most MAX_CONCURRENT_BUILDS at once, each within its time."""

    def __init__(self, adapter: DockerAdapter | None = None) -> None:
        self._adapter = adapter
        self._slots: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._logs: dict[str, _BuildLog] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's event loop, where builds asked for from sync code (the admin) run."""
        self._loop = loop

    def start_soon(self, revision_id: str) -> None:
        """start() from a thread that is not the server's event loop."""
        if self._loop is None or self._loop.is_closed():
            raise RuntimeError("no server event loop to build on; is the ASGI server running?")
        self._loop.call_soon_threadsafe(self.start, revision_id)

    @property
    def adapter(self) -> DockerAdapter:
        if self._adapter is None:
            self._adapter = DockerAdapter(
                instance=settings.SANDBOX_INSTANCE,
                timeout_s=settings.SANDBOX_BUILD_TIMEOUT_S,
                runtime=settings.SANDBOX_DOCKER_RUNTIME,
            )
        return self._adapter

    def log_so_far(self, revision_id: str) -> tuple[str, int] | None:
        """The log of a build going on here, and how many lines it has seen; else None."""
        build_log = self._logs.get(revision_id)
        return (build_log.text(), build_log.seen) if build_log else None

    def start(self, revision_id: str, on_line: BuildSink | None = None) -> None:
        """Build in the background; the revision moves pending -> building -> an end."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_CONCURRENT_BUILDS)
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        # A context of its own: the request that asked for the build ends long before it.
        task = asyncio.get_running_loop().create_task(
            self._build(revision_id, on_line), context=contextvars.Context()
        )
        self._tasks[revision_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(revision_id, None))

    def is_building(self, revision_id: str) -> bool:
        return revision_id in self._tasks

    async def wait(self, revision_id: str) -> None:
        task = self._tasks.get(revision_id)
        if task is not None:
            await asyncio.shield(task)

    async def cancel(self, revision_id: str) -> None:
        task = self._tasks.get(revision_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _build(self, revision_id: str, on_line: BuildSink | None) -> None:
        assert self._slots is not None
        revision = await RuntimeRevision.objects.select_related("runtime").aget(id=revision_id)
        try:
            async with self._slots:
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
                finished = {"type": "finished", "status": revision.status}
                await on_line(revision.id, {**finished, "failure_reason": revision.failure_reason})

    async def _build_now(self, revision: RuntimeRevision, on_line: BuildSink | None) -> None:
        revision.status = RuntimeRevision.Status.BUILDING
        revision.build_started_at = timezone.now()
        await revision.asave(update_fields=["status", "build_started_at"])
        build_log = self._logs[revision.id] = _BuildLog()
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        tag = revision_image_tag(revision)

        def emit(line: str) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        async def relay() -> None:
            while (line := await lines.get()) is not None:
                build_log.add(line)
                if on_line is not None:
                    event = {"type": "log", "seq": build_log.seen, "line": line}
                    await on_line(revision.id, event)

        relaying = asyncio.create_task(relay())
        error = ""
        try:
            async with asyncio.timeout(settings.SANDBOX_BUILD_TIMEOUT_S):
                await asyncio.to_thread(self._docker_build, revision, tag, emit, stop)
        except TimeoutError:
            error = f"the build took longer than {settings.SANDBOX_BUILD_TIMEOUT_S} s"
        except Exception as exc:
            error = str(exc) or type(exc).__name__
        finally:
            stop.set()
            loop.call_soon_threadsafe(lines.put_nowait, None)
            await relaying
        if error:
            build_log.add(f"Sandpit: {error}")
        revision.build_log = build_log.text()
        revision.build_finished_at = timezone.now()
        if error:
            revision.status = RuntimeRevision.Status.FAILED
            revision.failure_reason = _failure_reason(build_log.lines[:-1], error)
        else:
            revision.status = RuntimeRevision.Status.SUCCEEDED
            revision.image_tag = tag
            revision.image_size_bytes = await sync_to_async(self.adapter.image_size_bytes)(tag)
        await revision.asave()

    def _docker_build(
        self,
        revision: RuntimeRevision,
        tag: str,
        emit: Callable[[str], None],
        stop: threading.Event,
    ) -> None:
        context = Path(tempfile.mkdtemp(prefix="sandpit-build-"))
        try:
            (context / "Dockerfile").write_text(_recipe(revision))
            (context / "manifest").write_text(revision.manifest_contents)
            shutil.copyfile(settings.SANDBOX_BUILD_CA_BUNDLE, context / "ca-bundle.crt")
            base = images.base_image_tag()
            for line in self.adapter.build_image(
                context, tag, buildargs={"BASE": base}, network_mode="host"
            ):
                if stop.is_set():
                    raise RuntimeError("the build was stopped")
                emit(line)
        finally:
            shutil.rmtree(context, ignore_errors=True)


runtime_builds = RuntimeBuilds()
