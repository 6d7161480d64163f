"""One connection to a Docker engine, shared by the run and build sides of the backend.

The SDK blocks, so async callers run it on a thread pool of its own: never on the event
loop, and never competing with Django's sync-to-async threads. An engine that is down
or gone becomes EngineUnavailable; every other API error is a bug and stays what it is.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions

from sandbox.docker import oci
from sandbox.docker.oci import RuntimeChoice
from sandbox.errors import EngineUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every container of this server carries its instance, so that leftovers can be found
# and reaped at start-up, and servers side by side never touch each other's.
LABEL_INSTANCE = "sandpit.instance"
LABEL_FAMILY = "sandpit.family"
LABEL_BUILD = "sandpit.build"
LABEL_STEP = "sandpit.step"
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


class DockerConnection:
    """The client of one Docker engine, made on first use, for one Sandpit instance."""

    def __init__(
        self, *, instance: str, timeout_s: int, runtime: str = "", base_url: str | None = None
    ) -> None:
        self.instance = instance
        # "auto" (or ""): crun where it can, runc where not; or a name, e.g. runsc (oci.py).
        self.wanted_runtime = runtime
        # None: DOCKER_HOST, else the local socket, as the docker CLI does.
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._client: docker.DockerClient | None = None
        self._executor = ThreadPoolExecutor(DOCKER_THREADS, thread_name_prefix="docker")

    @property
    def api(self) -> Any:
        """The SDK's low-level client; call it through `call` or `in_thread`."""
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

    def runtime_choice(self) -> RuntimeChoice:
        """The OCI runtime sandboxes start under, chosen on first use; blocking."""
        return self.call(oci.choose, self.api, self._base_url or "", self.wanted_runtime)

    @property
    def runtime(self) -> str:
        return self.runtime_choice().using

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

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`call` on the connection's own threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: self.call(fn, *args))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def labels(self, more: dict[str, str] | None = None) -> dict[str, str]:
        """This instance's label, and the others given."""
        return {LABEL_INSTANCE: self.instance, **(more or {})}

    def labelled(self, more: dict[str, str] | None = None) -> list[str]:
        """The ids of this instance's containers, running or not, that carry `more` too."""
        wanted = [f"{key}={value}" for key, value in self.labels(more).items()]
        found = self.call(self.api.containers, all=True, filters={"label": wanted})
        return [c["Id"] for c in found]

    def remove_quietly(self, container_id: str) -> None:
        """Kill and remove a container; one already gone, or on its way out, is fine."""
        try:
            self.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # "removal already in progress" and the like: the container is on its way out.
            log.debug("removing %s: %s", container_id[:12], exc)

    async def remove(self, container_id: str) -> None:
        """remove_quietly, on the connection's threads."""
        await self.in_thread(self.remove_quietly, container_id)

    async def ping(self) -> None:
        await self.in_thread(self.call, self.api.ping)
