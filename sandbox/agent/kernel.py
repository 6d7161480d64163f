"""What the supervisor asks of the kernel about itself and its container."""

import ctypes

PR_SET_DUMPABLE = 4
OOM_CONTROL_FILES = (
    "/sys/fs/cgroup/memory/memory.oom_control",  # cgroup v1
    "/sys/fs/cgroup/memory.events",  # cgroup v2
)


def make_undumpable() -> None:
    """The code runs under our uid. Without this it could open /proc/<our pid>/fd/1 and
    write frames of its own to the engine."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def oom_kills() -> int:
    """How many processes the container's memory limit has killed so far."""
    for path in OOM_CONTROL_FILES:
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return 0
