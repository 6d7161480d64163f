"""One build step as a sandbox: what it mounts and may use, and its output followed.

Steps hand their files on through the build's folder (its own disk, builds/disk.py),
mounted at /build: the fetch step's wheels to the install, the installed runtime to the
check and to the image. Only steps that install may write the runtime.
"""

import asyncio
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from sandbox.backends import BuildSandboxes, BuildStepSpec
from sandbox.builds import recipes
from sandbox.builds.log import LineSplitter
from sandbox.languages import Family, family_of_manifest
from sandbox.models import RuntimeRevision

# A step's output (pip's and npm's, and whatever imported code prints): past this it
# is a runaway writer, killed, and the build fails; the log keeps its head and tail.
MAX_STEP_OUTPUT_BYTES = 16 * 1024 * 1024
BUILD_TMP_MIB = 256


def prepare_folder(work: Path, revision: RuntimeRevision) -> Path:
    """The build's folders, and the manifest in place; the runtime's folder.

    The build's disk (BuildDisk.hand_over) then gives them to the steps' user."""
    runtime_dir = work / "runtime"
    for name in ("runtime", "wheels", "home", "tmp", "npm-cache", "proxy"):
        (work / name).mkdir()
    # pip reads the manifest from /build; npm installs where its package.json is.
    python = family_of_manifest(revision.manifest_name) is Family.PYTHON
    target = (work if python else runtime_dir) / revision.manifest_name
    target.write_text(revision.manifest_contents, encoding="utf-8")
    return runtime_dir


def step_spec(build_id: str, base: str, step: recipes.Step, work: Path) -> BuildStepSpec:
    """The sandbox of one step of the build whose folder is `work`."""
    binds = [(str(work), recipes.BUILD_MOUNT, "rw")]
    runtime_dir = work / "runtime"
    if runtime_dir.exists():
        mode = "rw" if step.runtime_writable else "ro"
        binds.append((str(runtime_dir), recipes.RUNTIME_MOUNT, mode))
        # The same folder is /build/runtime too: read-only there as well, or /build's
        # write access would let the check step change the runtime it checks. Docker
        # mounts the deeper path over the shallower one.
        binds.append((str(runtime_dir), f"{recipes.BUILD_MOUNT}/runtime", mode))
    if step.online:
        binds.append((str(work / "proxy"), recipes.PROXY_MOUNT, "ro"))
        binds.append((settings.SANDBOX_BUILD_CA_BUNDLE, recipes.CA_MOUNT, "ro"))
    return BuildStepSpec(
        name=step.name,
        image=base,
        command=[*recipes.NOURING, *step.command],
        env=step.env,
        binds=binds,
        build_id=build_id,
        memory_mib=settings.SANDBOX_BUILD_MEMORY_MIB,
        cpus=settings.SANDBOX_BUILD_CPUS,
        pids=settings.SANDBOX_BUILD_PIDS,
        tmp_mib=BUILD_TMP_MIB,
        max_file_bytes=settings.SANDBOX_BUILD_MAX_MIB * 1024 * 1024,
        working_dir=step.working_dir,
    )


def follow_output(
    backend: BuildSandboxes,
    step_id: str,
    emit: Callable[[str], None],
    loop: asyncio.AbstractEventLoop,
) -> bool:
    """Relay a step's output by line; True, at once, when it is a runaway writer."""
    splitter = LineSplitter()
    seen = 0
    for chunk in backend.step_output(step_id):
        seen += len(chunk)
        if seen > MAX_STEP_OUTPUT_BYTES:
            return True
        for line in splitter.feed(chunk):
            loop.call_soon_threadsafe(emit, line)
    for line in splitter.close():
        loop.call_soon_threadsafe(emit, line)
    return False
