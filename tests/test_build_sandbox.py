"""A runtime build is tenant code too: its steps get no more than a run gets.

These build in this process with real containers. Loopback servers stand in for what a
hostile manifest would reach for; they must never see a connection.
"""

import asyncio
import io
import os
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from sandbox import images
from sandbox.builds import recipes
from sandbox.builds.orchestrator import (
    MAX_CONCURRENT_BUILDS,
    BuildFailed,
    RuntimeBuilds,
    builds_dir,
)
from sandbox.docker.builds import DockerBuilds
from sandbox.docker.connection import DockerConnection
from sandbox.models import Runtime, RuntimeRevision
from tests.conftest import TEST_INSTANCE
from tests.wheel_index import WheelIndex

pytestmark = pytest.mark.django_db(transaction=True)


class Listener:
    """A loopback TCP server that accepts, records and never answers."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(client)

    def close(self) -> None:
        self.socket.close()
        for client in self._held:
            client.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def wheel_index(tmp_path: Path) -> Iterator[WheelIndex]:
    index = WheelIndex(tmp_path)
    yield index
    index.close()


@pytest.fixture
def docker_builds(base_image: str) -> Iterator[DockerBuilds]:
    backend = DockerBuilds(DockerConnection(instance=f"{TEST_INSTANCE}-builds", timeout_s=30))
    yield backend
    backend.close()


@pytest.fixture
def builds(docker_builds: DockerBuilds) -> RuntimeBuilds:
    return RuntimeBuilds(docker_builds)


async def _revision(
    language: str, name: str, contents: str, imports: str = "", owner_name: str = "build-tenant"
) -> RuntimeRevision:
    owner, _ = await User.objects.aget_or_create(username=owner_name)
    runtime = await Runtime.objects.acreate(owner=owner, name="hostile", language=language)
    # Straight into the database, past the manifest check: what if the check missed it?
    return await RuntimeRevision.objects.acreate(
        runtime=runtime,
        manifest_name=name,
        manifest_contents=contents,
        additional_python_imports=imports,
    )


async def _build(builds: RuntimeBuilds, revision: RuntimeRevision) -> RuntimeRevision:
    builds.start(revision.id, owner_id=revision.runtime.owner_id)
    await builds.wait(revision.id)
    await revision.arefresh_from_db()
    return revision


async def test_a_requirement_with_a_coding_line_and_a_url_never_reaches_it(
    builds: RuntimeBuilds, listener: Listener, wheel_index: WheelIndex
) -> None:
    contents = (
        "# -*- coding: utf-7 -*-\n"
        f"evil +AEA- http+ADo-//127.0.0.1:{listener.port}/evil-1.0-py3-none-any.whl\n"
        f"other @ http://127.0.0.1:{listener.port}/other-1.0-py3-none-any.whl\n"
        f"--extra-index-url http://127.0.0.1:{listener.port}/simple\n"
    )
    with wheel_index.settings():
        revision = await _build(builds, await _revision("python", "requirements.txt", contents))
    assert revision.status == "failed"
    assert listener.connections == 0
    assert revision.image_tag == ""


async def test_an_npm_dev_dependency_url_never_reaches_it(
    builds: RuntimeBuilds, listener: Listener, wheel_index: WheelIndex
) -> None:
    url = f"http://127.0.0.1:{listener.port}/x.tgz"
    contents = f'{{"devDependencies": {{"x": "{url}"}}, "overrides": {{"y": "{url}"}}}}'
    with wheel_index.settings():
        revision = await _build(builds, await _revision("javascript", "package.json", contents))
    assert revision.status == "failed"
    assert listener.connections == 0
    assert f"refused GET {url}" in revision.build_log


async def test_a_build_step_has_no_network_no_root_and_no_capabilities(
    builds: RuntimeBuilds, listener: Listener, tmp_path: Path
) -> None:
    probe = (
        "import os, socket\n"
        "print('uid', os.getuid(), os.getgid())\n"
        "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0].strip())\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {listener.port}), timeout=3)\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('no network', exc.errno)\n"
        "try:\n"
        "    open('/usr/lib/x', 'w')\n"
        "except OSError:\n"
        "    print('read-only root')\n"
    )
    step = recipes.Step("probe", ["/usr/bin/python3", "-c", probe])
    lines: list[str] = []
    status = await builds.run_step("probe", images.base_image_tag(), step, tmp_path, lines.append)
    await asyncio.sleep(0.1)
    assert status == 0, lines
    assert "uid 1000 1000" in lines
    assert "CapEff:\t0000000000000000" in lines
    assert any(line.startswith("no network") for line in lines)
    assert "read-only root" in lines
    assert listener.connections == 0


async def test_slots_go_to_owners_in_turn_and_cancelling_stops_every_container(
    builds: RuntimeBuilds, docker_builds: DockerBuilds, listener: Listener
) -> None:
    # An index that accepts and never answers: each build hangs in its fetch step.
    hanging = override_settings(
        SANDBOX_BUILD_PIP_INDEX_URL="https://slow-index.test/simple",
        SANDBOX_EGRESS_PIN=f"slow-index.test=127.0.0.1:{listener.port}",
    )
    with hanging:
        # Three slow builds of one owner asked for first, then one of another owner.
        revisions = [
            await _revision("python", "requirements.txt", f"six=={i}.0\n", owner_name=owner)
            for i, owner in enumerate(["eager", "eager", "eager", "patient"])
        ]
        for revision in revisions:
            builds.start(revision.id, owner_id=revision.runtime.owner_id)
        for _ in range(100):
            if listener.connections >= MAX_CONCURRENT_BUILDS:
                break
            await asyncio.sleep(0.2)
        running = [
            r for r in revisions if await asyncio.to_thread(builds.adapter.build_steps, r.id)
        ]
        assert running == [revisions[0], revisions[3]]  # one of each owner's, at once
        for revision in revisions:
            await builds.cancel(revision.id)
            assert await asyncio.to_thread(builds.adapter.build_steps, revision.id) == []
    for revision in revisions:
        await revision.arefresh_from_db()
        assert revision.status == "cancelled"
    assert await asyncio.to_thread(docker_builds.connection.labelled) == []


async def test_a_step_that_floods_its_output_is_killed(
    builds: RuntimeBuilds, tmp_path: Path
) -> None:
    flood = "import sys\nwhile True:\n    sys.stdout.write('x' * 65535 + '\\n')\n"
    step = recipes.Step("check imports", ["/usr/bin/python3", "-c", flood])
    lines: list[str] = []
    with pytest.raises(BuildFailed, match="MiB of output"):
        await builds.run_step("flood", images.base_image_tag(), step, tmp_path, lines.append)
    assert await asyncio.to_thread(builds.adapter.build_steps, "flood") == []


async def test_a_build_step_has_no_io_uring(builds: RuntimeBuilds, tmp_path: Path) -> None:
    from tests.test_engine_isolation import IO_URING_PROBE

    step = recipes.Step("probe", ["/usr/bin/python3", "-c", IO_URING_PROBE])
    lines: list[str] = []
    await builds.run_step("uring", images.base_image_tag(), step, tmp_path, lines.append)
    await asyncio.sleep(0.1)
    assert lines == ["io_uring refused 38"]


# Imported in the check-imports step (TMPDIR is the build's folder). Each file is under
# the 64 MiB per-file limit; together they are five times the 64 MiB build cap, and
# unlinked from the start (O_TMPFILE), so no folder walk ever sees them.
HOLD_UNLINKED_FILES = """
import tempfile, time
held = []
for _ in range(10):
    f = tempfile.TemporaryFile()
    f.write(b"x" * (32 << 20))
    f.flush()
    held.append(f)
time.sleep(4)
"""
# 20000 empty folders: no file bytes at all, yet inodes and directory blocks.
MAKE_FOLDERS = """
import os, tempfile
root = tempfile.mkdtemp()
for i in range(20000):
    os.mkdir(os.path.join(root, str(i)))
"""
SMALL_BUILD_MIB = 64
# What else moves the host's disk meanwhile (logs, other tests' containers).
HOST_DISK_NOISE_MIB = 32


class HostDisk:
    """The host filesystem's used bytes, sampled every 0.1 s from a thread: the peak."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.baseline = self._used()
        self.peak = self.baseline
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _used(self) -> int:
        stat = os.statvfs(self.path)
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.peak = max(self.peak, self._used())

    def growth_mib(self) -> float:
        self._done.set()
        self._thread.join()
        return (self.peak - self.baseline) / (1024 * 1024)


@pytest.mark.parametrize(
    ("package", "source"), [("holdfiles", HOLD_UNLINKED_FILES), ("folders", MAKE_FOLDERS)]
)
async def test_a_build_cannot_grow_the_host_disk_past_its_cap(
    builds: RuntimeBuilds, wheel_index: WheelIndex, package: str, source: str
) -> None:
    wheel_index.add(package, source)
    with wheel_index.settings(), override_settings(SANDBOX_BUILD_MAX_MIB=SMALL_BUILD_MIB):
        revision = await _revision("python", "requirements.txt", f"{package}\n", package)
        builds_dir().mkdir(parents=True, exist_ok=True)
        host = HostDisk(builds_dir())
        revision = await _build(builds, revision)
        growth = host.growth_mib()
    print(
        f"{package}: host disk grew {growth:.0f} MiB; {revision.status}: {revision.failure_reason}"
    )
    assert revision.status == "failed", revision.build_log
    assert "used up the build's disk (64 MiB" in revision.failure_reason
    assert revision.image_tag == ""
    assert growth < SMALL_BUILD_MIB + HOST_DISK_NOISE_MIB


# Imported in the check-imports step: writes into its own installed folder, by the path
# it was imported from and by the build folder's path to the same files.
WRITE_OWN_FOLDER = """
import os
for folder in (os.path.dirname(__file__), "/build/runtime/python/selfwrite"):
    try:
        with open(os.path.join(folder, "planted.py"), "w") as f:
            f.write("planted = True\\n")
        print("wrote", folder)
    except OSError as exc:
        print("refused", folder, exc.errno)
"""


def _image_files(docker: DockerConnection, tag: str, folder: str) -> list[str]:
    """The names below `folder` in an image, read from a container that never starts."""
    container = docker.api.create_container(tag, command=["true"], network_disabled=True)
    try:
        stream, _ = docker.api.get_archive(container["Id"], folder)
        data = b"".join(stream)
    finally:
        docker.api.remove_container(container["Id"], force=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


async def test_the_check_imports_step_cannot_change_the_runtime_it_checks(
    builds: RuntimeBuilds, docker_builds: DockerBuilds, wheel_index: WheelIndex
) -> None:
    wheel_index.add("selfwrite", WRITE_OWN_FOLDER)
    with wheel_index.settings():
        revision = await _revision("python", "requirements.txt", "selfwrite\n", "selfwrite")
        revision = await _build(builds, revision)
    assert revision.status == "succeeded", revision.build_log
    try:
        files = await asyncio.to_thread(
            _image_files,
            docker_builds.connection,
            revision.image_tag,
            f"{recipes.PYTHON_TARGET}/selfwrite",
        )
    finally:
        await asyncio.to_thread(builds.adapter.remove_image, revision.image_tag)
    assert "selfwrite/__init__.py" in files
    assert "selfwrite/planted.py" not in files
    assert "wrote" not in revision.build_log
    assert revision.build_log.count("refused") == 2  # EROFS, by either path
