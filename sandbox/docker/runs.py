"""Run sandboxes as Docker containers: created, attached to and started, resized, removed.

Each container's supervisor (sandbox/agent/) is root with three capabilities and starts
its family's worker as the sandbox user; the engine speaks to it over the container's
attach stream (sandbox/protocol.py).
"""

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import docker.errors
from docker.types import LogConfig

from sandbox import limits
from sandbox.backends import SandboxConnection, SandboxSpec
from sandbox.docker.connection import LABEL_FAMILY, DockerConnection
from sandbox.docker.hardening import hardened_host_config
from sandbox.errors import EngineUnavailable
from sandbox.hardening import (
    BASE_ENVIRONMENT,
    EGRESS_MOUNT,
    HOSTNAME,
    SUPERVISOR_CAPABILITIES,
    SUPERVISOR_UID,
    SYSTEM_CA_BUNDLE,
    WORK_DIR,
    memory_limit_mib,
    run_tmpfs,
    supervisor_command,
)
from sandbox.languages import Family

# Docker's `user` for the supervisor (sandbox/hardening.py says why root, and with what).
SUPERVISOR_USER = f"{SUPERVISOR_UID}:{SUPERVISOR_UID}"


class DockerRuns:
    """sandbox.backends.RunSandboxes on one Docker engine."""

    def __init__(self, connection: DockerConnection) -> None:
        self.connection = connection
        # Each image's labels, looked up once: they say which worker command it takes.
        self._image_labels: dict[str, dict[str, str]] = {}

    async def start_sandbox(self, spec: SandboxSpec, egress_dir: Path) -> SandboxConnection:
        """Create, attach to and start one container; its agent then loads."""
        container_id, sock = await self.connection.in_thread(
            self._create_attach_start, spec, egress_dir
        )
        try:
            reader, writer = await asyncio.open_unix_connection(sock=sock)
        except BaseException:
            sock.close()
            await self.remove_sandbox(container_id)
            raise
        return SandboxConnection(container_id, reader, writer)

    def _create_attach_start(
        self, spec: SandboxSpec, egress_dir: Path
    ) -> tuple[str, socket.socket]:
        api = self.connection.api
        try:
            created = api.create_container(
                spec.image,
                command=supervisor_command(spec.family, self._labels_of(spec.image)),
                user=SUPERVISOR_USER,
                environment=BASE_ENVIRONMENT,
                working_dir=WORK_DIR,
                hostname=HOSTNAME,
                stdin_open=True,
                network_disabled=True,
                labels=self.connection.labels({LABEL_FAMILY: spec.family}),
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
            self.connection.remove_quietly(container_id)
            raise
        return container_id, sock

    def _labels_of(self, image: str) -> dict[str, str]:
        labels = self._image_labels.get(image)
        if labels is None:
            config = self.connection.api.inspect_image(image).get("Config") or {}
            labels = self._image_labels[image] = config.get("Labels") or {}
        return labels

    def _host_config(self, spec: SandboxSpec, egress_dir: Path) -> Any:
        return hardened_host_config(
            self.connection,
            cap_add=SUPERVISOR_CAPABILITIES,
            tmpfs=run_tmpfs(),
            binds=self._binds(spec, egress_dir),
            pids=spec.pids,
            memory_mib=memory_limit_mib(spec.memory_mib, spec.family),
            cpus=spec.cpus,
            nofile=limits.NOFILE,
            fsize_bytes=limits.FSIZE_BYTES,
            log_config=LogConfig(type="none"),
        )

    def _binds(self, spec: SandboxSpec, egress_dir: Path) -> dict[str, Any]:
        binds = {str(egress_dir): {"bind": EGRESS_MOUNT, "mode": "ro"}}
        if spec.ca_cert:
            # The egress proxy's CA is the system store: all TLS out goes through it.
            binds[spec.ca_cert] = {"bind": SYSTEM_CA_BUNDLE, "mode": "ro"}
        return binds

    async def set_memory(self, sandbox_id: str, memory_mib: int, family: Family) -> None:
        memory = f"{memory_limit_mib(memory_mib, family)}m"
        await self.connection.in_thread(self._update_memory, sandbox_id, memory)

    def _update_memory(self, container_id: str, memory: str) -> None:
        self.connection.api.update_container(container_id, mem_limit=memory, memswap_limit=memory)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Kill and remove; a container already gone is fine."""
        await self.connection.remove(sandbox_id)

    async def freeze_sandbox(self, sandbox_id: str) -> None:
        """`docker pause`: the cgroup freezer (memory kept in place), not a checkpoint."""
        await self.connection.in_thread(self.connection.api.pause, sandbox_id)

    async def thaw_sandbox(self, sandbox_id: str) -> None:
        await self.connection.in_thread(self.connection.api.unpause, sandbox_id)

    def instance_sandboxes(self) -> list[str]:
        return self.connection.labelled()

    async def remove_leftovers(self) -> int:
        """Remove this instance's containers that a crashed server left behind."""
        ids = await self.connection.in_thread(self.instance_sandboxes)
        await asyncio.gather(*(self.remove_sandbox(i) for i in ids))
        return len(ids)

    async def release_image(self, image: str) -> None:
        self._image_labels.pop(image, None)

    async def ping(self) -> None:
        await self.connection.ping()

    async def runtime(self) -> dict[str, str]:
        choice = await self.connection.in_thread(self.connection.runtime_choice)
        return choice.describe()

    def close(self) -> None:
        self.connection.close()
