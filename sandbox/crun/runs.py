"""Run sandboxes started by crun itself: no dockerd, no containerd, no shim.

Each sandbox is one `crun run` child of the server, in a bundle of its own whose
config.json (spec.py) is the hardening Docker would give it, over the image's root
unpacked once (rootfs.py). Its supervisor's stdin, stdout and stderr are that child's
own pipes: the engine writes the job straight into the first and reads frames straight
out of the second, with no daemon copying bytes in between. When the supervisor exits
after its run, crun deletes the container and its cgroup and exits too, so removing a
finished sandbox costs no call at all; one still going is killed with `crun kill`.

Each instance keeps its containers' state (crun's --root) and bundles in a folder of its
own under the state dir, and their cgroups under /sandpit/<instance>: what one server
left behind, the next finds there.
"""

import asyncio
import contextlib
import json
import logging
import re
import shutil
import uuid
from pathlib import Path

from sandbox.backends import ImageFilesystems, SandboxConnection, SandboxSpec
from sandbox.crun import process
from sandbox.crun import spec as oci
from sandbox.crun.bpf import CompiledSeccomp
from sandbox.crun.command import CGROUP_ROOT, CrunCommand, hybrid_cgroups
from sandbox.crun.rootfs import RootfsStore, rootfs_root
from sandbox.errors import EngineUnavailable
from sandbox.hardening import memory_limit_mib, supervisor_command
from sandbox.languages import Family

log = logging.getLogger(__name__)
# A killed sandbox's crun exits (having deleted the container) within this, or is killed.
KILL_WAIT_S = 10
# Instance names as they may stand in a path and a cgroup's name.
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
CGROUP_PARENT = "sandpit"


class CrunRuns:
    """sandbox.backends.RunSandboxes with crun: one `crun run` per sandbox."""

    def __init__(self, *, instance: str, state_dir: Path, images: ImageFilesystems) -> None:
        name = SAFE_NAME.sub("_", instance)
        home = state_dir / "crun" / name
        self._bundles = home / "bundles"
        self._crun = CrunCommand(home / "state")
        self._seccomp = CompiledSeccomp(self._crun, home / "probes")
        self._cgroups = f"/{CGROUP_PARENT}/{name}"
        self._rootfs = RootfsStore(rootfs_root(state_dir), images)
        self._processes: dict[str, process.Piped] = {}

    async def start_sandbox(self, spec: SandboxSpec, egress_dir: Path) -> SandboxConnection:
        """Write the bundle and start `crun run`; its agent then loads."""
        rootfs = await self._rootfs.get(spec.image)
        sandbox_id = uuid.uuid4().hex
        bundle = self._bundles / sandbox_id
        self._crun.state_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = oci.sandbox_config(
            rootfs=rootfs.path,
            command=supervisor_command(spec.family, rootfs.labels),
            egress_dir=egress_dir,
            ca_cert=spec.ca_cert,
            memory_mib=memory_limit_mib(spec.memory_mib, spec.family),
            cpus=spec.cpus,
            pids=spec.pids,
            cgroups_path=f"{self._cgroups}/{sandbox_id}",
        )
        await self._seccomp.annotate(config)
        bundle.mkdir(parents=True, mode=0o700)
        (bundle / "config.json").write_text(json.dumps(config))
        try:
            piped = await process.start(self._crun.argv("run", "--bundle", str(bundle), sandbox_id))
        except BaseException:
            shutil.rmtree(bundle, ignore_errors=True)
            raise
        self._processes[sandbox_id] = piped
        return SandboxConnection(sandbox_id, piped.stdout, piped.stdin, piped.stderr)

    async def set_memory(self, sandbox_id: str, memory_mib: int, family: Family) -> None:
        limit = str(memory_limit_mib(memory_mib, family) * 1024 * 1024)
        status, said = await self._crun.run(
            "update", f"--memory={limit}", f"--memory-swap={limit}", sandbox_id
        )
        if status != 0:
            raise EngineUnavailable(f"crun could not set a sandbox's memory: {said[:300]}")

    async def freeze_sandbox(self, sandbox_id: str) -> None:
        """The cgroup freezer, as `docker pause` (memory kept in place)."""
        status, said = await self._crun.run("pause", sandbox_id)
        if status != 0:
            raise EngineUnavailable(f"crun could not pause a sandbox: {said[:300]}")

    async def thaw_sandbox(self, sandbox_id: str) -> None:
        status, said = await self._crun.run("resume", sandbox_id)
        if status != 0:
            raise EngineUnavailable(f"crun could not resume a sandbox: {said[:300]}")

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Kill and remove; a sandbox already gone is fine."""
        piped = self._processes.pop(sandbox_id, None)
        child = piped.child if piped is not None else None
        if child is not None and child.returncode is None:
            await self._crun.run("kill", sandbox_id, "KILL")
            try:
                async with asyncio.timeout(KILL_WAIT_S):
                    await child.wait()
            except TimeoutError:
                # Not killed (it was still being made?): crun goes, and delete follows.
                child.kill()
                await child.wait()
        elif child is not None:
            await child.wait()
        if piped is not None:
            piped.close()
        if self._crun.has_state(sandbox_id):
            # Its crun did not get to delete it: a leftover, or a crun that was killed.
            status, said = await self._crun.run("delete", "--force", sandbox_id)
            if status != 0 and self._crun.has_state(sandbox_id):
                raise EngineUnavailable(f"crun could not delete a sandbox: {said[:300]}")
        shutil.rmtree(self._bundles / sandbox_id, ignore_errors=True)
        if not self._processes:
            self._remove_cgroups()

    def instance_sandboxes(self) -> list[str]:
        running = {i for i, p in self._processes.items() if p.child.returncode is None}
        return sorted(running.union(self._crun.containers()))

    async def remove_leftovers(self) -> int:
        """Remove the containers and bundles an earlier server of this instance left."""
        ids = await asyncio.to_thread(self._crun.containers)
        leftovers = [i for i in ids if i not in self._processes]
        await asyncio.gather(*(self.remove_sandbox(i) for i in leftovers))
        if self._bundles.is_dir():
            for bundle in self._bundles.iterdir():
                if bundle.name not in self._processes:
                    shutil.rmtree(bundle, ignore_errors=True)
        return len(leftovers)

    async def release_image(self, image: str) -> None:
        await asyncio.to_thread(self._rootfs.forget, image)

    async def ping(self) -> None:
        self._crun.argv()  # EngineUnavailable when crun is missing
        oci.seccomp()
        oci.init_binary()

    async def runtime(self) -> dict[str, str]:
        await self.ping()
        described = {"wanted": "crun", "using": "crun", "backend": "crun"}
        if hybrid_cgroups():
            described["note"] = "cgroup v1, crun's view of the hybrid cgroup v2 mount hidden"
        return described

    def close(self) -> None:
        self._remove_cgroups()

    def _remove_cgroups(self) -> None:
        """The instance's cgroup folders, once its last sandbox is gone (else they stay)."""
        for hierarchy in CGROUP_ROOT.iterdir():
            with contextlib.suppress(OSError):
                (hierarchy / self._cgroups.lstrip("/")).rmdir()
