"""crun, as the backend calls it: a state folder per instance, cgroupfs, and this host's
hybrid cgroup layout out of its sight.

crun 1.8 refuses a host whose cgroup v2 mount (/sys/fs/cgroup/unified) holds a
controller beside cgroup v1 ("cgroups in hybrid mode not supported, drop all
controllers from cgroupv2"). Each call then runs in a mount namespace of its own without
that mount, where crun uses cgroup v1 as runc does: `unshare` and a `umount` cost about
3 ms of CPU a call, and a run makes one call (two when it is killed). Docker's crun runs
behind the same trick (scripts/docker-engine.sh). Hosts on cgroup v2 alone, or v1 alone,
call crun as it is.
"""

import asyncio
import shutil
import subprocess
from pathlib import Path

from sandbox.errors import EngineUnavailable

CRUN = "crun"
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNIFIED_MOUNT = CGROUP_ROOT / "unified"
# The crun command line follows as "$0" "$@".
HIDE_UNIFIED = f'umount -l {UNIFIED_MOUNT} && exec "$0" "$@"'
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


class CrunCommand:
    """crun's command lines for one instance's containers, kept in `state_root`."""

    def __init__(self, state_root: Path) -> None:
        self.state_root = state_root
        binary = shutil.which(CRUN)
        self.missing = "" if binary else f"{CRUN} is not installed (Debian: apt-get install crun)"
        self._prefix = [binary or CRUN, "--root", str(state_root), "--cgroup-manager=cgroupfs"]
        if hybrid_cgroups():
            self._prefix = ["unshare", "--mount", "--propagation", "private"]
            self._prefix += ["sh", "-c", HIDE_UNIFIED, binary or CRUN]
            self._prefix += ["--root", str(state_root), "--cgroup-manager=cgroupfs"]

    def argv(self, *args: str) -> list[str]:
        if self.missing:
            raise EngineUnavailable(self.missing)
        return [*self._prefix, *args]

    async def run(self, *args: str) -> tuple[int, str]:
        """One call; its exit status and what it said on stderr."""
        process = await asyncio.create_subprocess_exec(
            *self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                _, said = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise EngineUnavailable(f"crun {args[0]} took over {CALL_TIMEOUT_S} s") from None
        return process.returncode or 0, said.decode(errors="replace").strip()

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
