"""The one hardened host configuration of run sandboxes and build steps alike, in
Docker's words (what it says is sandbox/hardening.py's, for every backend).

No network, no capability but those asked for, no new privileges, Docker's default
seccomp, a read-only root, tmpfs where writing is allowed, no swap, capped processes,
CPU, open files and file size, no core dumps, an init, and less of /proc and /sys.
"""

from typing import Any

from docker.types import LogConfig, Ulimit

from sandbox.docker.connection import DockerConnection
from sandbox.hardening import MASKED_PATHS
from sandbox.images import SANDBOX_USER_UID

# The image's unprivileged "sandbox" user and group, as Docker's `user` takes them.
SANDBOX_USER = f"{SANDBOX_USER_UID}:{SANDBOX_USER_UID}"


def hardened_host_config(
    connection: DockerConnection,
    *,
    cap_add: list[str],
    tmpfs: dict[str, str],
    binds: dict[str, dict[str, str]] | list[str],
    pids: int,
    memory_mib: int,
    cpus: float,
    nofile: int,
    fsize_bytes: int,
    log_config: LogConfig | None = None,
) -> Any:
    """Docker's host configuration of one sandbox, run or build step."""
    memory = f"{memory_mib}m"
    host_config = connection.api.create_host_config(
        network_mode="none",
        cap_drop=["ALL"],
        cap_add=cap_add or None,
        security_opt=["no-new-privileges"],
        read_only=True,
        tmpfs=tmpfs,
        binds=binds,
        pids_limit=pids,
        mem_limit=memory,
        memswap_limit=memory,
        nano_cpus=int(cpus * 1e9),
        ulimits=[
            Ulimit(name="nofile", soft=nofile, hard=nofile),
            Ulimit(name="fsize", soft=fsize_bytes, hard=fsize_bytes),
            Ulimit(name="core", soft=0, hard=0),
        ],
        init=True,
        runtime=connection.runtime,
        log_config=log_config,
    )
    host_config["MaskedPaths"] = MASKED_PATHS
    return host_config
