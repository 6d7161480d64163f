"""Build steps as Docker containers: started, their output followed, waited for, removed.

A step's container is hardened like a run's (sandbox/docker/hardening.py), runs as the
sandbox user with no capability at all, and mounts the build's folder; Docker keeps
what it prints for `step_output`, bounded.
"""

from collections.abc import Iterator

import docker.errors
from docker.types import LogConfig

from sandbox import limits
from sandbox.backends import BuildStepSpec
from sandbox.docker.connection import LABEL_BUILD, LABEL_STEP
from sandbox.docker.hardening import SANDBOX_USER, hardened_host_config
from sandbox.docker.images import DockerImages
from sandbox.errors import EngineUnavailable
from sandbox.hardening import BASE_ENVIRONMENT, TMPFS

# Docker keeps what a step prints on the host's disk: bounded, like the build's log.
STEP_LOG_SIZE = "32m"


class DockerBuilds(DockerImages):
    """sandbox.backends.BuildSandboxes on one Docker engine: steps, and its images."""

    def start_step(self, step: BuildStepSpec) -> str:
        """Create and start a step's container; its id."""
        api = self.connection.api
        host_config = hardened_host_config(
            self.connection,
            cap_add=[],
            tmpfs={"/tmp": f"{TMPFS},size={step.tmp_mib}m,mode=1777"},
            binds=[f"{host}:{path}:{mode}" for host, path, mode in step.binds],
            pids=step.pids,
            memory_mib=step.memory_mib,
            cpus=step.cpus,
            nofile=limits.BUILD_NOFILE,
            fsize_bytes=step.max_file_bytes,
            log_config=LogConfig(
                type="json-file", config={"max-size": STEP_LOG_SIZE, "max-file": "1"}
            ),
        )
        created = self.connection.call(
            api.create_container,
            step.image,
            command=step.command,
            user=SANDBOX_USER,
            environment={**BASE_ENVIRONMENT, **step.env},
            working_dir=step.working_dir,
            hostname="build",
            network_disabled=True,
            labels=self.connection.labels({LABEL_BUILD: step.build_id, LABEL_STEP: step.name}),
            host_config=host_config,
        )
        container_id: str = created["Id"]
        try:
            self.connection.call(api.start, container_id)
        except BaseException:
            self.connection.remove_quietly(container_id)
            raise
        return container_id

    def step_output(self, step_id: str) -> Iterator[bytes]:
        """A container's stdout and stderr as they come, until it ends or is removed."""
        try:
            yield from self.connection.call(
                self.connection.api.logs,
                step_id,
                stream=True,
                follow=True,
                stdout=True,
                stderr=True,
            )
        except (docker.errors.NotFound, EngineUnavailable):
            return

    def wait_step(self, step_id: str) -> int:
        """The exit status of a container once it ends; -1 when it was removed first."""
        try:
            waited = self.connection.call(self.connection.api.wait, step_id, timeout=None)
        except (docker.errors.NotFound, EngineUnavailable):
            return -1
        return int(waited["StatusCode"])

    async def remove_step(self, step_id: str) -> None:
        await self.connection.remove(step_id)

    def build_steps(self, build_id: str) -> list[str]:
        return self.connection.labelled({LABEL_BUILD: build_id})
