"""The two seams between Sandpit and whatever runs its sandboxes: runs, and builds/images.

The engine (engine.py, pool.py) needs `RunSandboxes`; runtime builds (builds/) need
`BuildSandboxes`, which includes the `ImageStore` that the base image (images.py) needs
alone. Docker implements them in sandbox/docker/; crun, driven without Docker, runs
sandboxes (sandbox/crun/) from Docker's images (`ImageFilesystems`); the fast tests
implement them in tests/fake_runs.py and tests/fake_builds.py. Another backend
(Kubernetes: runner pods from a warm pool, build steps as Jobs, a cluster registry) is
one more implementation: so these speak of sandboxes, steps and images, never of one
backend's own words. SANDBOX_BACKEND picks the runs' backend (`run_sandboxes`).
"""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from sandbox.languages import Family


@dataclass(frozen=True)
class SandboxSpec:
    """Everything that makes one run sandbox what it is, but its run."""

    image: str
    family: Family
    memory_mib: int
    cpus: float
    pids: int
    # The egress proxy's CA certificate on the host, trusted inside as the system store.
    ca_cert: str = ""


@dataclass
class SandboxConnection:
    """A started sandbox: its agent's stdin to write the job to, its output to read.

    With `stderr` None, `reader` is Docker's attach stream (8-byte chunk headers around
    the agent's stdout and stderr); else `reader` is the agent's stdout as it wrote it,
    and `stderr` its stderr (protocol.AgentStream reads either).
    """

    sandbox_id: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    stderr: asyncio.StreamReader | None = None


@dataclass(frozen=True)
class BuildStepSpec:
    """One step of a runtime build: a command in a sandbox hardened like a run's.

    `binds` are (host path, path inside, "ro" | "rw"), one host folder possibly at two
    places; the step's only network is whatever proxy socket one of them holds.
    """

    name: str
    image: str
    command: list[str]
    env: dict[str, str]
    binds: list[tuple[str, str, str]]
    build_id: str
    memory_mib: int
    cpus: float
    pids: int
    tmp_mib: int
    max_file_bytes: int
    working_dir: str


class RunSandboxes(Protocol):
    """What the engine needs to run code: sandboxes started ahead of need, one per run."""

    async def start_sandbox(self, spec: SandboxSpec, egress_dir: Path) -> SandboxConnection:
        """A started sandbox whose agent is loading: nothing it writes is missed."""
        ...

    async def set_memory(self, sandbox_id: str, memory_mib: int, family: Family) -> None:
        """The run's memory limit (the family's agent's share is added on top)."""
        ...

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Kill and remove; a sandbox already gone is fine."""
        ...

    async def freeze_sandbox(self, sandbox_id: str) -> None:
        """Stop every process of the sandbox where it stands, its memory kept (a paused
        session's, for a while)."""
        ...

    async def thaw_sandbox(self, sandbox_id: str) -> None:
        """Let a frozen sandbox's processes go on from where they stood."""
        ...

    async def remove_leftovers(self) -> int:
        """Remove what an earlier server of this instance left running; how many."""
        ...

    async def release_image(self, image: str) -> None:
        """An image's sandboxes are all gone and it is going away: forget what was kept
        of it (an unpacked root, say)."""
        ...

    def instance_sandboxes(self) -> list[str]:
        """The ids of every sandbox of this instance there is now, run or build step."""
        ...

    async def ping(self) -> None:
        """Return if the backend answers; EngineUnavailable if it does not."""
        ...

    async def runtime(self) -> dict[str, str]:
        """What isolates the sandboxes: the runtime wanted, the one used, and why not the
        one preferred; EngineUnavailable when one named outright is missing."""
        ...

    def close(self) -> None: ...


class ImageFilesystems(Protocol):
    """What a backend that runs images without Docker takes from Docker's images."""

    def describe_image(self, tag: str) -> tuple[str, dict[str, str]]:
        """The image's id and its labels; EngineUnavailable when there is no such image."""
        ...

    def export_filesystem(self, tag: str) -> Iterator[bytes]:
        """The image's root as a sandbox of it sees it, as a tar stream."""
        ...


class ImageStore(Protocol):
    """Images by tag: the base image's layers and runtime revisions' images."""

    def image_exists(self, tag: str) -> bool: ...

    def image_size_bytes(self, tag: str) -> int: ...

    def import_image(self, tarball: Path, tag: str) -> None:
        """A root filesystem (a tar file) as an image of its own."""
        ...

    def remove_image(self, tag: str) -> bool:
        """Remove an image; False when a sandbox still uses it (try again later)."""
        ...

    def build_image(
        self, context: Path | IO[bytes], tag: str, *, buildargs: dict[str, str]
    ) -> Iterator[str]:
        """Build an image with no network, yielding its log by line; RuntimeError if it
        fails. `context` is a folder, or a tar stream (with its Dockerfile)."""
        ...


class BuildSandboxes(ImageStore, Protocol):
    """What a runtime build needs: a sandbox per step, followed to its end, then an image.

    The blocking calls are made from the build's own threads, never the event loop.
    """

    def start_step(self, step: BuildStepSpec) -> str:
        """Start a step's sandbox; its id."""
        ...

    def step_output(self, step_id: str) -> Iterator[bytes]:
        """A step's stdout and stderr as they come, until it ends or is removed."""
        ...

    def wait_step(self, step_id: str) -> int:
        """A step's exit status once it ends; -1 when it was removed first."""
        ...

    async def remove_step(self, step_id: str) -> None:
        """Kill and remove a step's sandbox; one already gone is fine."""
        ...

    def build_steps(self, build_id: str) -> list[str]:
        """The ids of the sandboxes of a build's steps that are still there."""
        ...

    def close(self) -> None: ...


# SANDBOX_BACKEND: what starts run sandboxes. Docker (with SANDBOX_DOCKER_RUNTIME's OCI
# runtime), or crun driven directly, without dockerd, containerd and a shim per sandbox
# (about 120 ms of CPU a run here: docs/benchmarks.md). Builds and images stay Docker's.
DOCKER = "docker"
CRUN = "crun"
RUN_BACKENDS = (DOCKER, CRUN)


def run_sandboxes(
    backend: str, *, instance: str, state_dir: Path, docker_runtime: str, docker_timeout_s: int
) -> RunSandboxes:
    """The runs' backend that SANDBOX_BACKEND names, for one instance of Sandpit."""
    from sandbox.docker.connection import DockerConnection

    docker = DockerConnection(instance=instance, timeout_s=docker_timeout_s, runtime=docker_runtime)
    if backend == DOCKER:
        from sandbox.docker.runs import DockerRuns

        return DockerRuns(docker)
    if backend == CRUN:
        from sandbox.crun.runs import CrunRuns
        from sandbox.docker.images import DockerImages

        return CrunRuns(instance=instance, state_dir=state_dir, images=DockerImages(docker))
    raise ValueError(f"SANDBOX_BACKEND is one of {', '.join(RUN_BACKENDS)}, not {backend!r}")
