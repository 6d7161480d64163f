"""crun, as the backend calls it: a state folder per instance, cgroupfs, and this host's
hybrid cgroup layout out of its sight.

crun 1.8 refuses a host whose cgroup v2 mount (/sys/fs/cgroup/unified) holds a
controller beside cgroup v1 ("cgroups in hybrid mode not supported, drop all
controllers from cgroupv2"). There crun runs in a mount namespace without that mount,
where it uses cgroup v1 as runc does (Docker's crun runs behind the same trick,
scripts/docker-engine.sh). The namespace is made once, held by a sleeping process that
dies with the server, and each call joins it with `nsenter`: a namespace of its own per
call (`unshare`, `sh`, `umount`) cost 7 ms more CPU a run here. A run makes one call
(two when it is killed). Hosts on cgroup v2 alone, or v1 alone, call crun as it is.
"""

import asyncio
import shutil
import subprocess
import threading
from pathlib import Path

from sandbox.crun import process
from sandbox.errors import EngineUnavailable

CRUN = "crun"
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNIFIED_MOUNT = CGROUP_ROOT / "unified"
# The holder of the namespace without it: says so once it is gone, then waits for its
# stdin to end, which it does when the server's process ends, however it ends. Slave
# propagation: mounts made on the host later still show in it.
HOLD_NAMESPACE = ["unshare", "--mount", "--propagation", "slave", "sh", "-c"]
HOLD_NAMESPACE += [f"umount -l {UNIFIED_MOUNT} && echo hidden && exec cat >/dev/null"]
# A call that manages a container (kill, delete, update, list) ends within this.
CALL_TIMEOUT_S = 30


def hybrid_cgroups() -> bool:
    """cgroup v1 with a v2 mount beside it that holds a controller (crun 1.8 refuses it)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return False  # cgroup v2 alone
    try:
        return bool((UNIFIED_MOUNT / "cgroup.controllers").read_text().split())
    except OSError:
        return False


_holder: subprocess.Popen[bytes] | None = None
_holder_lock = threading.Lock()


def hidden_namespace() -> str:
    """The mount namespace without the hybrid mount, as nsenter takes it (module doc)."""
    global _holder
    with _holder_lock:
        if _holder is None or _holder.poll() is not None:
            _holder = subprocess.Popen(
                HOLD_NAMESPACE, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            assert _holder.stdout is not None
            if _holder.stdout.readline() != b"hidden\n":
                _holder.kill()
                _holder.wait()
                raise EngineUnavailable("crun's mount namespace could not be made")
        return f"--mount=/proc/{_holder.pid}/ns/mnt"


class CrunCommand:
    """crun's command lines for one instance's containers, kept in `state_root`."""

    def __init__(self, state_root: Path) -> None:
        self.state_root = state_root
        binary = shutil.which(CRUN)
        self.missing = "" if binary else f"{CRUN} is not installed (Debian: apt-get install crun)"
        self._prefix = [binary or CRUN, "--root", str(state_root), "--cgroup-manager=cgroupfs"]
        self._hybrid = hybrid_cgroups()

    def argv(self, *args: str) -> list[str]:
        if self.missing:
            raise EngineUnavailable(self.missing)
        if self._hybrid:
            return ["nsenter", hidden_namespace(), *self._prefix, *args]
        return [*self._prefix, *args]

    async def run(self, *args: str, leaves_process: bool = False) -> tuple[int, str]:
        """One call; its exit status and what it said on stderr. A call that leaves a
        process holding its stdio (create) says nothing: its stderr would never end."""
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                status, said = await process.run(self.argv(*args), quiet=leaves_process)
        except TimeoutError:
            raise EngineUnavailable(f"crun {args[0]} took over {CALL_TIMEOUT_S} s") from None
        return status, said.decode(errors="replace").strip()

    def containers(self) -> list[str]:
        """The ids of the containers in this state folder, running or not; blocking."""
        if not self.state_root.is_dir():
            return []
        done = subprocess.run(
            self.argv("list", "--quiet"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise EngineUnavailable(f"crun list failed: {done.stderr.strip()[:300]}")
        return [line for line in done.stdout.split() if line]

    def has_state(self, container_id: str) -> bool:
        """Whether crun still keeps a container (its folder in the state root)."""
        return (self.state_root / container_id).exists()
