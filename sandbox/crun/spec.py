"""The OCI configuration of one run sandbox under crun: what Docker gives its runtime.

Every field is the one Docker Engine writes for a sandbox of sandbox/docker/runs.py
(tests/test_crun_hardening.py compares the two): the supervisor as root with SETUID,
SETGID and KILL alone, no new privileges, Docker's default seccomp profile
(seccomp.json), a read-only root, tmpfs /work and /tmp (noexec, as Docker makes them),
new mount, network (loopback only), UTS, PID and IPC namespaces, Docker's devices, its
masked and read-only parts of /proc and /sys and Sandpit's own, memory without swap,
CPU quota, processes, open files, file size and no core dumps, and docker-init as PID 1.
What Docker's differs in: /etc/hostname is written in the unpacked root
(sandbox/crun/rootfs.py) rather than mounted over it.
"""

import functools
import json
import platform
import shutil
from pathlib import Path
from typing import Any

from sandbox import limits
from sandbox.errors import EngineUnavailable
from sandbox.hardening import (
    BASE_ENVIRONMENT,
    EGRESS_MOUNT,
    HOSTNAME,
    MASKED_PATHS,
    SUPERVISOR_CAPABILITIES,
    SUPERVISOR_UID,
    SYSTEM_CA_BUNDLE,
    WORK_DIR,
    run_tmpfs,
)

SECCOMP_PROFILE = Path(__file__).resolve().parent / "seccomp.json"
# The profile names x86's system calls and architectures (seccomp.NOTICE says whence).
SECCOMP_MACHINE = "x86_64"
# Docker's init (tini), bind-mounted from the host where Docker puts it: the supervisor
# is then PID 2, as under Docker, and orphans are reaped. Static builds only: it runs
# against the sandbox image's libraries.
INIT_CANDIDATES = ("docker-init", "tini-static")
INIT_MOUNT = "/sbin/docker-init"
CFS_PERIOD_US = 100_000
SHM_SIZE = f"size={64 * 1024 * 1024}"
# Docker's read-only parts of /proc.
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# Docker's sysctls for a container with a network namespace of its own.
SYSCTLS = {
    "net.ipv4.ip_unprivileged_port_start": "0",
    "net.ipv4.ping_group_range": "0 2147483647",
}
# Docker's device rules: none but zero, null, urandom, random, tty and console; never fuse.
DEVICES: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    *(
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for major, minor in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1))
    ),
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
]
NAMESPACES = [{"type": kind} for kind in ("mount", "network", "uts", "pid", "ipc")]


def mount(destination: str, kind: str, source: str, *options: str) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": [*options]}


# The mounts every container has, as Docker lists them.
SYSTEM_MOUNTS = [
    mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
    mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
    mount(
        "/dev/pts",
        "devpts",
        "devpts",
        *("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
    ),
    mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
    mount("/sys/fs/cgroup", "cgroup", "cgroup", "ro", "nosuid", "noexec", "nodev"),
    mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
    mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", SHM_SIZE),
]


@functools.cache
def seccomp() -> dict[str, Any]:
    """Docker's default profile, as it applies to a sandbox (seccomp.NOTICE)."""
    machine = platform.machine()
    if machine != SECCOMP_MACHINE:
        raise EngineUnavailable(
            f"SANDBOX_BACKEND=crun has Docker's seccomp profile for {SECCOMP_MACHINE} only, "
            f"and this machine is {machine}; use SANDBOX_BACKEND=docker here"
        )
    profile: dict[str, Any] = json.loads(SECCOMP_PROFILE.read_text())
    return profile


@functools.cache
def init_binary() -> str:
    """Where the host keeps Docker's init; EngineUnavailable when it has none."""
    for name in INIT_CANDIDATES:
        found = shutil.which(name) or shutil.which(name, path="/usr/libexec/docker")
        if found:
            return found
    raise EngineUnavailable(
        "SANDBOX_BACKEND=crun needs Docker's init (docker-init, or tini-static) on the host "
        "to be PID 1 of each sandbox: apt-get install tini (Debian), or install Docker"
    )


def tmpfs_mount(path: str, options: str) -> dict[str, Any]:
    # Docker makes every tmpfs noexec unless told exec, and never shares its mounts.
    return mount(path, "tmpfs", "tmpfs", "noexec", "rprivate", *options.split(","))


def bind_mount(source: str, destination: str) -> dict[str, Any]:
    return mount(destination, "bind", source, "rbind", "ro", "rprivate")


def sandbox_config(
    *,
    rootfs: Path,
    command: list[str],
    egress_dir: Path,
    ca_cert: str,
    memory_mib: int,
    cpus: float,
    pids: int,
    cgroups_path: str,
) -> dict[str, Any]:
    """config.json of one run sandbox: `command` (the supervisor's) under Docker's init."""
    environment = {"HOSTNAME": HOSTNAME, **BASE_ENVIRONMENT}
    capabilities = [f"CAP_{name}" for name in SUPERVISOR_CAPABILITIES]
    mounts = [*SYSTEM_MOUNTS, mount(INIT_MOUNT, "bind", init_binary(), "bind", "ro")]
    mounts += [tmpfs_mount(path, options) for path, options in run_tmpfs().items()]
    mounts.append(bind_mount(str(egress_dir), EGRESS_MOUNT))
    if ca_cert:
        # The egress proxy's CA is the system store: all TLS out goes through it.
        mounts.append(bind_mount(ca_cert, SYSTEM_CA_BUNDLE))
    memory_bytes = memory_mib * 1024 * 1024
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": SUPERVISOR_UID, "gid": SUPERVISOR_UID, "additionalGids": [0]},
            "args": [INIT_MOUNT, "--", *command],
            "env": [f"{key}={value}" for key, value in environment.items()],
            "cwd": WORK_DIR,
            "capabilities": {
                "bounding": capabilities,
                "effective": capabilities,
                "permitted": capabilities,
            },
            "rlimits": [
                rlimit("RLIMIT_NOFILE", limits.NOFILE),
                rlimit("RLIMIT_FSIZE", limits.FSIZE_BYTES),
                rlimit("RLIMIT_CORE", 0),
            ],
            "noNewPrivileges": True,
            "oomScoreAdj": 0,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": HOSTNAME,
        "mounts": mounts,
        "linux": {
            "sysctl": SYSCTLS,
            "resources": {
                "devices": DEVICES,
                "memory": {"limit": memory_bytes, "swap": memory_bytes, "disableOOMKiller": False},
                "cpu": {"quota": int(cpus * CFS_PERIOD_US), "period": CFS_PERIOD_US},
                "pids": {"limit": pids},
            },
            "cgroupsPath": cgroups_path,
            "namespaces": NAMESPACES,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp(),
        },
    }


def rlimit(kind: str, value: int) -> dict[str, Any]:
    return {"type": kind, "hard": value, "soft": value}
