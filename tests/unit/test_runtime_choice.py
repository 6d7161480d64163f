"""Which OCI runtime starts the sandboxes (sandbox/docker/oci.py), on an engine's answers."""

from typing import Any

import docker.errors
import pytest

from sandbox.docker import oci
from sandbox.errors import EngineUnavailable


class Engine:
    """The few Docker API calls the choice makes, answered as a test says."""

    def __init__(self, runtimes: list[str], starts: bool = True) -> None:
        self.runtimes = runtimes
        self.starts = starts
        self.removed = 0

    def info(self) -> dict[str, Any]:
        return {"Runtimes": {name: {} for name in self.runtimes}}

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def create_container(self, image: str, **kwargs: Any) -> dict[str, str]:
        return {"Id": "probe"}

    def start(self, container: Any) -> None:
        if not self.starts:
            raise docker.errors.APIError(
                "failed", explanation="cgroups in hybrid mode not supported"
            )

    def wait(self, container: Any, timeout: int) -> dict[str, int]:
        return {"StatusCode": 0}

    def remove_container(self, container: Any, force: bool) -> None:
        self.removed += 1


def test_auto_takes_crun_when_the_engine_has_it_and_it_starts_a_sandbox() -> None:
    engine = Engine(["runc", "crun"])
    assert oci._choose(engine, "auto", "sandpit-base:x") == oci.RuntimeChoice("auto", "crun")
    assert engine.removed == 1  # the probe leaves nothing behind


def test_auto_falls_back_to_runc_saying_why() -> None:
    missing = oci._choose(Engine(["runc"]), "auto", "sandpit-base:x")
    assert (missing.using, "declares no crun" in missing.note) == ("runc", True)
    broken = Engine(["runc", "crun"], starts=False)
    failed = oci._choose(broken, "auto", "sandpit-base:x")
    assert failed.using == "runc" and "hybrid mode" in failed.note
    assert broken.removed == 1


def test_a_runtime_named_outright_must_be_declared() -> None:
    assert oci._choose(Engine(["runc", "runsc"]), "runsc", None).using == "runsc"
    with pytest.raises(EngineUnavailable, match="declares no such runtime"):
        oci._choose(Engine(["runc"]), "runsc", None)
