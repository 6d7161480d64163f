"""Docker's seccomp profile compiled by crun once per process, not at every start.

crun turns a profile into a BPF program with libseccomp at each container start: about
11 ms of CPU a sandbox here, a third of crun's whole cost. Given the program in the
`run.oci.seccomp_bpf_data` annotation it loads that instead. The program is the one crun
itself compiled from the same profile: a container is created (never started) from the
first sandbox's configuration, its compiled filter read from its state folder, and the
container deleted. The configuration keeps the profile beside it, so what a sandbox is
given still reads in one place (tests/test_crun_hardening.py); the isolation tests check
the filter in force inside. A crun that keeps no compiled filter in its state folder
(another version) compiles at every start as before.
"""

import asyncio
import base64
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from sandbox.crun.command import CrunCommand

log = logging.getLogger(__name__)
ANNOTATION = "run.oci.seccomp_bpf_data"
# Where crun 1.8 leaves the program it compiled for a container.
COMPILED_FILE = "seccomp.bpf"
PROBE_COMMAND = ["/bin/true"]
# Compiled programs by profile, for every backend of this process.
_compiled: dict[str, str] = {}


def profile_key(config: dict[str, Any]) -> str:
    profile = json.dumps(config["linux"]["seccomp"], sort_keys=True)
    return hashlib.sha256(profile.encode()).hexdigest()


class CompiledSeccomp:
    """The annotation that spares crun compiling the profile, made on first need."""

    def __init__(self, crun: CrunCommand, probes: Path) -> None:
        self._crun = crun
        self._probes = probes
        self._lock = asyncio.Lock()

    async def annotate(self, config: dict[str, Any]) -> None:
        """Add the compiled profile to a sandbox's configuration, compiling it first if
        this process never did; leave the configuration as it is if crun cannot."""
        key = profile_key(config)
        if key not in _compiled:
            async with self._lock:
                if key not in _compiled:
                    _compiled[key] = await self._compile(config)
        if _compiled[key]:
            config["annotations"] = {ANNOTATION: _compiled[key]}

    async def _compile(self, config: dict[str, Any]) -> str:
        probe_id = f"seccomp-{hashlib.sha256(str(self._probes).encode()).hexdigest()[:12]}"
        bundle = self._probes / probe_id
        probe = {**config, "process": {**config["process"], "args": PROBE_COMMAND}}
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(probe))
        try:
            await self._crun.run("delete", "--force", probe_id)  # one a crash left
            status, said = await self._crun.run(
                "create", "--bundle", str(bundle), probe_id, leaves_process=True
            )
            compiled = self._crun.state_root / probe_id / COMPILED_FILE
            if status != 0 or not compiled.is_file():
                log.info("crun compiles seccomp at every start: %s", said[:300] or "no file")
                return ""
            return base64.b64encode(compiled.read_bytes()).decode()
        finally:
            await self._crun.run("delete", "--force", probe_id)
            shutil.rmtree(bundle, ignore_errors=True)
