"""Machine CPU by cgroup for the benches: the server, Docker's daemons, the sandboxes.

A shared machine runs other work, and a shared Docker engine serves others' containers
too, so its daemons' counters say nothing of one bench. `PrivateDocker` starts a Docker
engine of the bench's own beside the machine's (its own data root, socket and
containerd), in a cgroup of its own: dockerd, containerd, every shim and the OCI runtime
the shims start are counted there, and its containers under a cgroup parent of its own.
The server is moved into a cgroup of its own when it starts, and what it starts (crun,
under SANDBOX_BACKEND=crun) is counted with it; crun's sandboxes have their own parent
(/sandpit/<instance>). The kernel's workers (overlay, cgroup and namespace teardown) are
nobody's and are not counted.

cgroup v1 (cpuacct) only, as on this project's machine; children's CPU stays counted in
their parent's after they are gone.
"""

import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
BENCH_GROUP = "sandpit-bench"
DAEMONS = f"{BENCH_GROUP}/docker"
SERVER = f"{BENCH_GROUP}/server"
DOCKER_CONTAINERS = f"{BENCH_GROUP}/containers"
# Where SANDBOX_BACKEND=crun puts an instance's sandboxes (sandbox/crun/runs.py).
CRUN_CONTAINERS = "sandpit"
START_TIMEOUT_S = 60
# The bench engine's crun, hiding this host's hybrid cgroup mount as `make`'s engine's
# does (scripts/docker-engine.sh).
CRUN_WRAPPER = """#!/bin/sh
if grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts; then
  exec unshare --mount --propagation private \\
    sh -c 'umount -l /sys/fs/cgroup/unified && exec crun "$@"' crun "$@"
fi
exec crun "$@"
"""


def available() -> bool:
    return CPUACCT.is_dir() and os.geteuid() == 0


def cgroup(path: str) -> Path:
    folder = CPUACCT / path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def move(pid: int, path: str) -> None:
    """Count a process, and what it starts from now on, in a cgroup of its own."""
    (cgroup(path) / "cgroup.procs").write_text(str(pid))


def usage_ms(path: str) -> float:
    try:
        return int((CPUACCT / path / "cpuacct.usage").read_text()) / 1e6
    except FileNotFoundError:
        return 0.0


def children_ms() -> float:
    """The CPU of this process's children that it waited for (the docker CLI's)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (used.ru_utime + used.ru_stime) * 1000


@dataclass
class CpuSnapshot:
    server: float
    daemons: float
    containers: float
    client: float

    @classmethod
    def take(cls, crun_instance: str) -> "CpuSnapshot":
        return cls(
            server=usage_ms(SERVER),
            daemons=usage_ms(DAEMONS),
            containers=usage_ms(DOCKER_CONTAINERS) + usage_ms(f"{CRUN_CONTAINERS}/{crun_instance}"),
            client=children_ms(),
        )

    def since(self, before: "CpuSnapshot", runs: int) -> dict[str, float]:
        """ms of CPU per run in each part, and in all."""
        parts = {
            "server": self.server - before.server,
            "daemons": self.daemons - before.daemons,
            "containers": self.containers - before.containers,
            "client": self.client - before.client,
        }
        per_run = {name: value / runs for name, value in parts.items()}
        per_run["total"] = sum(per_run.values())
        return per_run


def text(per_run: dict[str, float]) -> str:
    """The total, then server + daemons + sandboxes (+ the docker CLI)."""
    parts = " + ".join(f"{per_run[k]:.0f}" for k in ("server", "daemons", "containers"))
    client = f" + {per_run['client']:.0f}" if per_run["client"] >= 0.5 else ""
    return f"{per_run['total']:.0f} ({parts}{client})"


class PrivateDocker:
    """A Docker engine of the bench's own, counted in its own cgroup (module docstring)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.exec_root = Path("/run/sandpit-bench-docker")
        self.host = f"unix://{self.exec_root}/docker.sock"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start it (its images stay from one bench to the next); its DOCKER_HOST."""
        self.home.mkdir(parents=True, exist_ok=True)
        wrapper = self.home / "crun"
        wrapper.write_text(CRUN_WRAPPER)
        wrapper.chmod(0o755)
        config = {
            "bridge": "none",
            "iptables": False,
            "ip6tables": False,
            "runtimes": {"crun": {"path": str(wrapper)}},
            "cgroup-parent": f"/{DOCKER_CONTAINERS}",
        }
        (self.home / "daemon.json").write_text(json.dumps(config))
        daemons = cgroup(DAEMONS) / "cgroup.procs"
        command = ["dockerd", "--config-file", str(self.home / "daemon.json")]
        command += ["--data-root", str(self.home / "data"), "--exec-root", str(self.exec_root)]
        command += ["--pidfile", str(self.exec_root / "docker.pid"), "-H", self.host]
        log = (self.home / "dockerd.log").open("ab")
        # In its cgroup before it starts containerd, so that all it starts is counted.
        self._process = subprocess.Popen(
            ["sh", "-c", f'echo $$ > {daemons} && exec "$@"', "sh", *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(["docker", "-H", self.host, "info"], capture_output=True).returncode:
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"the bench's dockerd did not start; see {self.home}")
            time.sleep(0.5)
        return self.host

    def load(self, image: str) -> None:
        """The machine's engine's image, copied in when this engine lacks it."""
        inspect = ["docker", "-H", self.host, "image", "inspect", image]
        if subprocess.run(inspect, capture_output=True).returncode == 0:
            return
        machines = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, env=machines)
        subprocess.run(["docker", "-H", self.host, "load", "-q"], stdin=save.stdout, check=True)
        save.wait()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.exec_root, ignore_errors=True)
