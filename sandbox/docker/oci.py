"""Which OCI runtime starts the sandboxes: crun where it can, runc where it cannot.

crun starts and stops a container for about 40 ms of CPU less than runc, with the same
hardening (docs/benchmarks.md), so SANDBOX_DOCKER_RUNTIME's default, "auto", takes it
when the Docker engine declares a `crun` runtime (`make run`'s engine does,
scripts/docker-engine.sh) and a sandbox starts under it; else runc, saying why in the
log and in /readyz. A runtime named outright ("crun", "runsc" for gVisor, "runc") must
be declared by the engine, or the server does not start: a tenant asked to be isolated
by gVisor is never silently run under runc.

The choice is made once per engine and process, when the first sandbox is needed.
"""

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

import docker.errors

from sandbox.errors import EngineUnavailable

log = logging.getLogger(__name__)
AUTO = "auto"
PREFERRED = "crun"
DEFAULT = "runc"
PROBE_TIMEOUT_S = 30


@dataclass(frozen=True)
class RuntimeChoice:
    wanted: str
    using: str
    note: str = ""

    def describe(self) -> dict[str, str]:
        described = {"wanted": self.wanted, "using": self.using}
        if self.note:
            described["note"] = self.note
        return described


_chosen: dict[tuple[str, str], RuntimeChoice] = {}
_lock = threading.Lock()


def choose(api: Any, key: str, wanted: str) -> RuntimeChoice:
    """The runtime for `wanted` ("" or "auto", or a name), chosen once per engine (`key`,
    its address) and process; blocking. EngineUnavailable for a name not declared."""
    wanted = wanted or AUTO
    with _lock:
        if (key, wanted) not in _chosen:
            _chosen[(key, wanted)] = _choose(api, wanted, _probe_image(api))
            choice = _chosen[(key, wanted)]
            if choice.note:
                log.warning("sandboxes run under %s: %s", choice.using, choice.note)
            else:
                log.info("sandboxes run under %s", choice.using)
        return _chosen[(key, wanted)]


def _choose(api: Any, wanted: str, probe_image: str | None) -> RuntimeChoice:
    declared = sorted((api.info().get("Runtimes") or {}).keys())
    if wanted != AUTO:
        if wanted not in declared:
            raise EngineUnavailable(
                f"SANDBOX_DOCKER_RUNTIME={wanted!r}, but the Docker engine declares no such "
                f"runtime (it has: {', '.join(declared) or 'none'}); declare it in the "
                "engine's daemon.json, or set SANDBOX_DOCKER_RUNTIME=auto"
            )
        return RuntimeChoice(wanted, wanted)
    if PREFERRED not in declared:
        note = f"the Docker engine declares no {PREFERRED} runtime (scripts/docker-engine.sh)"
        return RuntimeChoice(AUTO, DEFAULT, note)
    problem = _probe(api, PREFERRED, probe_image) if probe_image else ""
    if problem:
        return RuntimeChoice(AUTO, DEFAULT, f"{PREFERRED} could not start a sandbox: {problem}")
    return RuntimeChoice(AUTO, PREFERRED)


def _probe_image(api: Any) -> str | None:
    """The base image, when it is there to start a sandbox of (not while it is built)."""
    from sandbox import images

    tag = images.base_image_tag()
    return tag if api.images(name=tag, quiet=True) else None


def _probe(api: Any, runtime: str, image: str) -> str:
    """Why a minimal sandbox does not start and end well under `runtime`, or ""."""
    host_config = api.create_host_config(runtime=runtime, network_mode="none", read_only=True)
    container = None
    try:
        container = api.create_container(
            image, command=["/bin/true"], host_config=host_config, labels={"sandpit.probe": "1"}
        )
        api.start(container)
        status = api.wait(container, timeout=PROBE_TIMEOUT_S).get("StatusCode")
        return "" if status == 0 else f"it exited with {status}"
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc)[:300]
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(container, force=True)
