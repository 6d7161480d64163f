"""crun, driven directly, is given what Docker gives its runtime for the same sandbox.

Docker writes the OCI configuration of each container it starts where its runtime reads
it; a sandbox of sandbox/docker/runs.py is started, its configuration read there, and
compared field by field with the one sandbox/crun/spec.py writes for the same spec.
"""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.backends import SandboxSpec
from sandbox.crun import spec as oci
from sandbox.docker.connection import DockerConnection
from sandbox.docker.runs import DockerRuns
from sandbox.hardening import memory_limit_mib, supervisor_command
from sandbox.languages import Family
from tests.conftest import TEST_INSTANCE

# Where Docker's containerd keeps the bundles of running containers (dockerd's exec-root).
DOCKER_BUNDLES = [Path("/run/docker/containerd/daemon"), Path("/run/containerd")]
# Docker mounts /etc/hostname; crun's sandboxes find it written in their shared root.
DOCKER_ONLY_MOUNTS = {"/etc/hostname"}


def _docker_config(container_id: str) -> dict[str, Any]:
    for root in DOCKER_BUNDLES:
        for found in root.glob(f"*/moby/{container_id}/config.json"):
            config: dict[str, Any] = json.loads(found.read_text())
            return config
    pytest.skip("Docker's bundles are not where this test looks (another exec-root?)")


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """What isolates the sandbox; not where its files are, nor what names its cgroup."""
    process, linux = config["process"], config["linux"]
    resources = linux["resources"]
    mounts = {
        m["destination"]: (m["type"], m["options"], m["source"] if m["type"] == "bind" else "")
        for m in config["mounts"]
        if m["destination"] not in DOCKER_ONLY_MOUNTS
    }
    return {
        "process": {
            key: process.get(key)
            for key in ("user", "args", "cwd", "capabilities", "rlimits", "noNewPrivileges")
        }
        | {"env": sorted(process["env"]), "oomScoreAdj": process.get("oomScoreAdj", 0)},
        "readonly root": config["root"]["readonly"],
        "hostname": config["hostname"],
        "mounts": mounts,
        "sysctl": linux.get("sysctl"),
        "devices": resources["devices"],
        "memory": resources["memory"],
        "cpu": (resources["cpu"]["quota"], resources["cpu"]["period"]),
        "pids": resources["pids"],
        "namespaces": sorted(n["type"] for n in linux["namespaces"]),
        "masked": linux["maskedPaths"],
        "readonly paths": linux["readonlyPaths"],
        "seccomp": linux["seccomp"],
    }


async def test_crun_gets_the_hardening_docker_gives_its_runtime(
    base_image: str, tmp_path: Path
) -> None:
    ca_cert = tmp_path / "ca.crt"
    ca_cert.write_text("not a certificate")
    spec = SandboxSpec(
        image=base_image, family=Family.NODE, memory_mib=64, cpus=0.5, pids=48, ca_cert=str(ca_cert)
    )
    docker = DockerRuns(DockerConnection(instance=f"{TEST_INSTANCE}-spec", timeout_s=30))
    try:
        started = await docker.start_sandbox(spec, tmp_path)
        try:
            theirs = await asyncio.to_thread(_docker_config, started.sandbox_id)
            labels = await asyncio.to_thread(docker._labels_of, base_image)
        finally:
            started.writer.close()
            await docker.remove_sandbox(started.sandbox_id)
    finally:
        docker.close()
    ours = oci.sandbox_config(
        rootfs=tmp_path,
        command=supervisor_command(spec.family, labels),
        egress_dir=tmp_path,
        ca_cert=str(ca_cert),
        memory_mib=memory_limit_mib(spec.memory_mib, spec.family),
        cpus=spec.cpus,
        pids=spec.pids,
        cgroups_path="/sandpit/spec",
    )
    expected, found = _comparable(theirs), _comparable(ours)
    for key in expected:
        # A new Docker with a new profile: its own is printed, for sandbox/crun/seccomp.json.
        docker_profile = (
            json.dumps(theirs["linux"]["seccomp"], indent=1) if key == "seccomp" else ""
        )
        assert found[key] == expected[key], (key, docker_profile)
