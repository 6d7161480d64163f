"""Build sandboxes that are not there: each step plays a script, images are a dict.

`FakeBuildSandboxes` implements sandbox.backends.BuildSandboxes. A step's script (by
the step's name: "probe", "fetch", "install", "check imports") prints its lines, then
exits with its status; a step that holds runs until the test releases it or the build
removes it, as a container that hangs would. `FakeDisk` is a build's disk that is a
plain folder: no loop device, no root.

With them the orchestrator's state machine (sandbox/builds/orchestrator.py: slots,
owners in turn, timeouts, cancelling, failure reasons) runs in milliseconds, Docker or
no Docker (tests/unit/test_build_orchestrator.py). Runs have theirs: tests/fake_runs.py.
"""

import itertools
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sandbox.backends import BuildStepSpec
from sandbox.builds.disk import BuildDisk

# What the image's pip and npm say of their indexes when a build asks (builds/indexes.py).
PROBE_LINES = (
    "pip-index https://pypi.test/simple",
    "pip-files files.pypi.test",
    "npm-registry https://npm.test/",
)
FAKE_IMAGE_BYTES = 123 * 1024 * 1024
# A flood comes in chunks as Docker's logs would: one line of this many bytes each.
FLOOD_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class StepScript:
    """What a step does: print `lines` (after `flood_bytes` of output), then exit with
    `status`; when it `holds`, run on until released or removed."""

    lines: tuple[str, ...] = ()
    status: int = 0
    holds: bool = False
    flood_bytes: int = 0


@dataclass
class FakeStep:
    step_id: str
    spec: BuildStepSpec
    script: StepScript
    ended: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    removed: bool = False


class FakeBuildSandboxes:
    def __init__(
        self, scripts: dict[str, StepScript] | None = None, *, image_error: str = ""
    ) -> None:
        self.scripts = {"probe": StepScript(PROBE_LINES), **(scripts or {})}
        self.image_error = image_error
        self.started: list[BuildStepSpec] = []
        self.removed: list[str] = []
        self.images: dict[str, int] = {}
        # The steps' sandboxes that are there: started and not yet removed.
        self._steps: dict[str, FakeStep] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- for tests ------------------------------------------------------------------

    def running(self) -> dict[str, str]:
        """The steps that have started and not ended: build id -> step name."""
        with self._lock:
            return {
                s.spec.build_id: s.spec.name for s in self._steps.values() if not s.ended.is_set()
            }

    def release(self, build_id: str, status: int = 0) -> None:
        """The build's step that holds ends, with `status`."""
        with self._lock:
            held = [s for s in self._steps.values() if s.spec.build_id == build_id]
        for step in held:
            step.status = status
            step.ended.set()

    def started_names(self, build_id: str) -> list[str]:
        return [spec.name for spec in self.started if spec.build_id == build_id]

    def end_all(self) -> None:
        """Let every thread a held step keeps go (a test's teardown)."""
        with self._lock:
            steps = list(self._steps.values())
        for step in steps:
            step.removed = True
            step.ended.set()

    # --- BuildSandboxes -------------------------------------------------------------

    def start_step(self, step: BuildStepSpec) -> str:
        with self._lock:
            step_id = f"fake-step-{next(self._ids)}"
            script = self.scripts.get(step.name, StepScript())
            self._steps[step_id] = FakeStep(step_id, step, script, status=script.status)
            self.started.append(step)
        return step_id

    def step_output(self, step_id: str) -> Iterator[bytes]:
        step = self._steps.get(step_id)
        if step is None:
            return
        sent = 0
        while sent < step.script.flood_bytes and not step.removed:
            yield b"x" * (FLOOD_CHUNK_BYTES - 1) + b"\n"
            sent += FLOOD_CHUNK_BYTES
        for line in step.script.lines:
            yield line.encode() + b"\n"
        if step.script.holds:
            step.ended.wait()

    def wait_step(self, step_id: str) -> int:
        step = self._steps.get(step_id)
        if step is None:
            return -1
        if step.script.holds:
            step.ended.wait()
        step.ended.set()
        return -1 if step.removed else step.status

    async def remove_step(self, step_id: str) -> None:
        with self._lock:
            step = self._steps.pop(step_id, None)
        if step is not None:
            step.removed = True
            step.ended.set()
            self.removed.append(step_id)

    def build_steps(self, build_id: str) -> list[str]:
        with self._lock:
            return [i for i, s in self._steps.items() if s.spec.build_id == build_id]

    def image_exists(self, tag: str) -> bool:
        return tag in self.images

    def image_size_bytes(self, tag: str) -> int:
        return self.images[tag]

    def import_image(self, tarball: Path, tag: str) -> None:
        self.images[tag] = tarball.stat().st_size

    def remove_image(self, tag: str) -> bool:
        self.images.pop(tag, None)
        return True

    def build_image(
        self, context: Path | IO[bytes], tag: str, *, buildargs: dict[str, str]
    ) -> Iterator[str]:
        yield f"Step 1/3 : ARG BASE={buildargs.get('BASE', '')}"
        if self.image_error:
            raise RuntimeError(self.image_error)
        self.images[tag] = FAKE_IMAGE_BYTES
        yield f"Successfully tagged {tag}"

    def close(self) -> None:
        self.end_all()


class FakeDisk(BuildDisk):
    """A build's disk that is its folder as it is: never full, nothing to mount."""

    def mount(self) -> None:
        self.mounted = True

    def hand_over(self) -> None:
        pass

    def is_full(self) -> bool:
        return False

    def remove(self) -> None:
        self.mounted = False
        shutil.rmtree(self.folder, ignore_errors=True)
