"""What a run sandbox is, whichever backend starts it: one list, read by each of them.

Docker is given these through its host configuration (sandbox/docker/hardening.py,
runs.py); crun, driven directly, through an OCI configuration written from the same
names (sandbox/crun/spec.py). A change here changes both, and the isolation tests
(tests/test_engine_isolation.py, test_engine_integrity.py) hold for both.
"""

from sandbox import limits
from sandbox.images import SANDBOX_USER_UID
from sandbox.languages import FAMILIES, Family

WORK_DIR = "/work"
HOSTNAME = "sandbox"
# The only variables a sandbox's environment starts with: nothing of the server leaks in.
BASE_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORK_DIR,
    "LANG": "C.UTF-8",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# What a sandbox may not read of /proc and /sys: Docker's own list (which setting this
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
# A run's supervisor is root with these alone: enough to start the code as the sandbox
# user and to kill it, never to touch anything else. The code itself runs with none.
SUPERVISOR_UID = 0
SUPERVISOR_CAPABILITIES = ["SETUID", "SETGID", "KILL"]
# The supervisor, followed in the command by its family's worker command.
SUPERVISOR_COMMAND = ("/usr/bin/python3", "-I", "-S", "/opt/sandpit/supervisor.py")
# Where a pooled sandbox sees its own host folder (the egress proxy's socket goes there).
EGRESS_MOUNT = "/run/sandpit"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Options of every tmpfs a sandbox may write to (Docker adds noexec to these itself).
TMPFS = "rw,nosuid,nodev"


def run_tmpfs() -> dict[str, str]:
    """A run sandbox's writable places, by path: their mount options and sizes."""
    uid = SANDBOX_USER_UID
    return {
        WORK_DIR: f"{TMPFS},size={limits.WORK_DIR_MIB}m,uid={uid},gid={uid},mode=0700",
        "/tmp": f"{TMPFS},size={limits.TMP_DIR_MIB}m,mode=1777",
    }


def supervisor_command(family: Family, image_labels: dict[str, str]) -> list[str]:
    """The sandbox's command: the supervisor, then the worker it starts."""
    return [*SUPERVISOR_COMMAND, *FAMILIES[family].command_for(image_labels)]


def memory_limit_mib(run_memory_mib: int, family: Family) -> int:
    """A sandbox's memory limit: the run's, and the family's agent's share on top."""
    return run_memory_mib + FAMILIES[family].agent_memory_mib
