"""The one module that speaks to Docker. The rest of the engine speaks of sandboxes.

Every call of the docker SDK is here, so that a second backend (gVisor through
`runtime="runsc"`, a remote engine through DOCKER_HOST) is a setting, not a rewrite.
The SDK blocks, so the async methods run it on a thread pool of their own: never on the
event loop, and never competing with Django's sync-to-async threads.
"""

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig, Ulimit

from sandbox import limits
from sandbox.docker_images import ImageCalls
from sandbox.errors import EngineUnavailable
from sandbox.languages import FAMILIES, Family

log = logging.getLogger(__name__)
T = TypeVar("T")

LABEL_INSTANCE = "sandpit.instance"
LABEL_FAMILY = "sandpit.family"
LABEL_BUILD = "sandpit.build"
UID = 1000  # the image's unprivileged "sandbox" user (sandbox/images.py)
SANDBOX_UID = f"{UID}:{UID}"
# A run's supervisor is root with these alone: enough to start the code as UID and to
# kill it, never to touch anything else. The code itself runs with no capability.
SUPERVISOR_USER = "0:0"
# The supervisor, followed in the command by its family's worker command.
SUPERVISOR_COMMAND = ("/usr/bin/python3", "-I", "-S", "/opt/sandpit/supervisor.py")
SUPERVISOR_CAPABILITIES = ["SETUID", "SETGID", "KILL"]
TMPFS = "rw,nosuid,nodev"
WORK_DIR = "/work"
# Where a pooled container sees its own host folder (the egress proxy's socket goes there).
EGRESS_MOUNT = "/run/sandpit"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# The only variables a run's environment starts with: nothing of the server leaks in.
BASE_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORK_DIR,
    "LANG": "C.UTF-8",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
BUILD_STEP_LOG_SIZE = "32m"
# What a run may not read of /proc and /sys: Docker's own list (which setting this
# replaces) plus the kernel's build configuration, which tells an attacker what to try.
MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/config.gz",
]
# Docker calls in flight at once: container starts and removals overlap under load.
DOCKER_THREADS = 16
# Only what a Docker engine that is down or gone looks like; other API errors are bugs.
UNREACHABLE = (
    docker.errors.DockerException,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    FileNotFoundError,
    ConnectionError,
)


@dataclass(frozen=True)
class SandboxSpec:
    """Everything that makes one sandbox container what it is, but its run."""

    image: str
    family: Family
    memory_mib: int
    cpus: float
    pids: int
    # The egress proxy's CA certificate on the host, trusted inside as the system store.
    ca_cert: str = ""


@dataclass(frozen=True)
class BuildStepSpec:
    """One step of a runtime build: a command in a container hardened like a run's.

    `binds` are (host path, container path, "ro" | "rw"), one host folder possibly at two
    places; the step's only network is whatever proxy socket one of them holds.
    """

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
    working_dir: str = WORK_DIR


@dataclass
class AttachedContainer:
    container_id: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class RunContainers(Protocol):
    """What the engine needs of Docker to run code: DockerAdapter here, or the fake that
    the fast tests use (tests/fake_docker.py), which speaks the agent's protocol itself."""

    async def start_container(self, spec: SandboxSpec, egress_dir: Path) -> AttachedContainer:
        """A started sandbox, attached: its stdin to write the job, its output to read."""
        ...

    async def set_memory(self, container_id: str, memory_mib: int, family: Family) -> None: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def remove_leftovers(self) -> int:
        """Remove what an earlier server of this instance left running; how many."""
        ...

    def instance_containers(self) -> list[str]: ...

    async def ping(self) -> None:
        """Return if the Docker engine answers; EngineUnavailable if it does not."""
        ...

    def close(self) -> None: ...


class DockerAdapter(ImageCalls):
    def __init__(
        self, *, instance: str, timeout_s: int, runtime: str = "", base_url: str | None = None
    ) -> None:
        self.instance = instance
        # None: DOCKER_HOST, else the local socket, as the docker CLI does.
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._runtime = runtime or None
        self._client: docker.DockerClient | None = None
        # Each image's labels, looked up once: they say which worker command it takes.
        self._labels: dict[str, dict[str, str]] = {}
        self._executor = ThreadPoolExecutor(DOCKER_THREADS, thread_name_prefix="docker")

    # --- plumbing -------------------------------------------------------------------

    @property
    def api(self) -> Any:
        if self._client is None:
            try:
                if self._base_url:
                    self._client = docker.DockerClient(
                        base_url=self._base_url,
                        timeout=self._timeout_s,
                        max_pool_size=DOCKER_THREADS,
                    )
                else:
                    self._client = docker.from_env(
                        timeout=self._timeout_s, max_pool_size=DOCKER_THREADS
                    )
            except UNREACHABLE as exc:
                raise EngineUnavailable(f"the Docker engine does not answer: {exc}") from exc
            # The engine's socket needs no proxy: without this, every call reads the
            # environment's proxy variables, racing whoever changes the environment.
            self._client.api.trust_env = False
        return self._client.api

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call; an engine that is down becomes EngineUnavailable."""
        try:
            return fn(*args, **kwargs)
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            if exc.response is not None and exc.response.status_code < 500:
                raise
            raise EngineUnavailable(f"the Docker engine failed: {exc}") from exc
        except UNREACHABLE as exc:
            raise EngineUnavailable(f"the Docker engine does not answer: {exc}") from exc

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: self.call(fn, *args))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    # --- sandbox containers ---------------------------------------------------------

    async def start_container(self, spec: SandboxSpec, egress_dir: Path) -> AttachedContainer:
        """Create, attach to and start one sandbox container; its agent then loads."""
        container_id, sock = await self._in_thread(self._create_attach_start, spec, egress_dir)
        try:
            reader, writer = await asyncio.open_unix_connection(sock=sock)
        except BaseException:
            sock.close()
            await self.remove_container(container_id)
            raise
        return AttachedContainer(container_id, reader, writer)

    def _create_attach_start(
        self, spec: SandboxSpec, egress_dir: Path
    ) -> tuple[str, socket.socket]:
        api = self.api
        try:
            worker = FAMILIES[spec.family].command_for(self._image_labels(spec.image))
            created = api.create_container(
                spec.image,
                command=[*SUPERVISOR_COMMAND, *worker],
                user=SUPERVISOR_USER,
                environment=BASE_ENVIRONMENT,
                working_dir=WORK_DIR,
                hostname="sandbox",
                stdin_open=True,
                network_disabled=True,
                labels={LABEL_INSTANCE: self.instance, LABEL_FAMILY: spec.family},
                host_config=self._host_config(spec, egress_dir),
            )
        except docker.errors.ImageNotFound as exc:
            raise EngineUnavailable(
                f"the sandbox image {spec.image} is missing; "
                "build it with 'python manage.py sandbox_image'"
            ) from exc
        container_id: str = created["Id"]
        try:
            # Attach before start, so that not a byte the agent writes is missed.
            raw = api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            # The SDK's socket object is shared with its HTTP response; give asyncio a
            # descriptor of its own, so that closing either side closes it for good.
            inner = getattr(raw, "_sock", raw)
            sock = socket.socket(fileno=os.dup(inner.fileno()))
            raw.close()
            sock.setblocking(False)
            api.start(container_id)
        except BaseException:
            self._remove_quietly(container_id)
            raise
        return container_id, sock

    def _image_labels(self, image: str) -> dict[str, str]:
        labels = self._labels.get(image)
        if labels is None:
            config = self.api.inspect_image(image).get("Config") or {}
            labels = self._labels[image] = config.get("Labels") or {}
        return labels

    def _host_config(self, spec: SandboxSpec, egress_dir: Path) -> Any:
        return self._hardened(
            cap_add=SUPERVISOR_CAPABILITIES,
            tmpfs={
                WORK_DIR: f"{TMPFS},size={limits.WORK_DIR_MIB}m,uid={UID},gid={UID},mode=0700",
                "/tmp": f"{TMPFS},size={limits.TMP_DIR_MIB}m,mode=1777",
            },
            binds=self._sandbox_binds(spec, egress_dir),
            pids=spec.pids,
            memory_mib=spec.memory_mib + FAMILIES[spec.family].agent_memory_mib,
            cpus=spec.cpus,
            nofile=limits.NOFILE,
            fsize_bytes=limits.FSIZE_BYTES,
            log_config=LogConfig(type="none"),
        )

    def _sandbox_binds(self, spec: SandboxSpec, egress_dir: Path) -> dict[str, Any]:
        binds = {str(egress_dir): {"bind": EGRESS_MOUNT, "mode": "ro"}}
        if spec.ca_cert:
            # The egress proxy's CA is the system store: all TLS out goes through it.
            binds[spec.ca_cert] = {"bind": SYSTEM_CA_BUNDLE, "mode": "ro"}
        return binds

    def _hardened(
        self,
        *,
        cap_add: list[str],
        tmpfs: dict[str, str],
        binds: dict[str, dict[str, str]] | list[str],
        pids: int,
        memory_mib: int,
        cpus: float,
        nofile: int,
        fsize_bytes: int,
        log_config: LogConfig | None = None,
    ) -> Any:
        """The one hardened host configuration of runs and build steps alike."""
        memory = f"{memory_mib}m"
        host_config = self.api.create_host_config(
            network_mode="none",
            cap_drop=["ALL"],
            cap_add=cap_add or None,
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs=tmpfs,
            binds=binds,
            pids_limit=pids,
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(cpus * 1e9),
            ulimits=[
                Ulimit(name="nofile", soft=nofile, hard=nofile),
                Ulimit(name="fsize", soft=fsize_bytes, hard=fsize_bytes),
                Ulimit(name="core", soft=0, hard=0),
            ],
            init=True,
            runtime=self._runtime,
            log_config=log_config,
        )
        host_config["MaskedPaths"] = MASKED_PATHS
        return host_config

    async def set_memory(self, container_id: str, memory_mib: int, family: Family) -> None:
        memory = f"{memory_mib + FAMILIES[family].agent_memory_mib}m"
        await self._in_thread(self._update_memory, container_id, memory)

    def _update_memory(self, container_id: str, memory: str) -> None:
        self.api.update_container(container_id, mem_limit=memory, memswap_limit=memory)

    async def remove_container(self, container_id: str) -> None:
        """Kill and remove; a container already gone is fine."""
        await self._in_thread(self._remove_quietly, container_id)

    def _remove_quietly(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # "removal already in progress" and the like: the container is on its way out.
            log.debug("removing %s: %s", container_id[:12], exc)

    def instance_containers(self) -> list[str]:
        found = self.call(
            self.api.containers, all=True, filters={"label": f"{LABEL_INSTANCE}={self.instance}"}
        )
        return [c["Id"] for c in found]

    async def ping(self) -> None:
        await self._in_thread(self.call, self.api.ping)

    async def remove_leftovers(self) -> int:
        """Remove this instance's containers that a crashed server left behind."""
        ids = await self._in_thread(self.instance_containers)
        await asyncio.gather(*(self.remove_container(i) for i in ids))
        return len(ids)

    # --- build steps ----------------------------------------------------------------

    def start_build_step(self, step: BuildStepSpec) -> str:
        """Create and start a build step's container; its id."""
        api = self.api
        host_config = self._hardened(
            cap_add=[],
            tmpfs={"/tmp": f"{TMPFS},size={step.tmp_mib}m,mode=1777"},
            binds=[f"{host}:{path}:{mode}" for host, path, mode in step.binds],
            pids=step.pids,
            memory_mib=step.memory_mib,
            cpus=step.cpus,
            nofile=limits.BUILD_NOFILE,
            fsize_bytes=step.max_file_bytes,
            # Docker keeps what a step prints on the host's disk: bounded, like its log.
            log_config=LogConfig(
                type="json-file", config={"max-size": BUILD_STEP_LOG_SIZE, "max-file": "1"}
            ),
        )
        created = self.call(
            api.create_container,
            step.image,
            command=step.command,
            user=SANDBOX_UID,
            environment={**BASE_ENVIRONMENT, **step.env},
            working_dir=step.working_dir,
            hostname="build",
            network_disabled=True,
            labels={LABEL_INSTANCE: self.instance, LABEL_BUILD: step.build_id},
            host_config=host_config,
        )
        container_id: str = created["Id"]
        try:
            self.call(api.start, container_id)
        except BaseException:
            self._remove_quietly(container_id)
            raise
        return container_id

    def container_output(self, container_id: str) -> Iterator[bytes]:
        """A container's stdout and stderr as they come, until it ends or is removed."""
        try:
            yield from self.call(
                self.api.logs, container_id, stream=True, follow=True, stdout=True, stderr=True
            )
        except (docker.errors.NotFound, EngineUnavailable):
            return

    def wait_container(self, container_id: str) -> int:
        """The exit status of a container once it ends; -1 when it was removed first."""
        try:
            return int(self.call(self.api.wait, container_id, timeout=None)["StatusCode"])
        except (docker.errors.NotFound, EngineUnavailable):
            return -1

    def build_containers(self, build_id: str) -> list[str]:
        found = self.call(
            self.api.containers,
            all=True,
            filters={"label": [f"{LABEL_INSTANCE}={self.instance}", f"{LABEL_BUILD}={build_id}"]},
        )
        return [c["Id"] for c in found]
