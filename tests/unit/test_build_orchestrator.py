"""Runtime builds' state machine on a fake backend: slots, turns, ends and reasons.

Steps and images are tests/fake_builds.py's, so a build takes milliseconds; the database
is real (SQLite). What only Docker can show (a step's hardening, its disk, its network)
is in tests/test_build_sandbox.py.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import override_settings

from sandbox.builds.orchestrator import (
    MAX_BUILDS_PER_OWNER,
    MAX_CONCURRENT_BUILDS,
    RuntimeBuilds,
    builds_dir,
    revision_image_tag,
)
from sandbox.builds.steps import MAX_STEP_OUTPUT_BYTES
from sandbox.errors import BuildsBusy
from sandbox.events import BuildEvent, BuildFinishedEvent, BuildLineEvent
from sandbox.models import Runtime, RuntimeRevision
from sandbox.services import revisions_fail_interrupted
from tests.fake_builds import FAKE_IMAGE_BYTES, FakeBuildSandboxes, FakeDisk, StepScript

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_S = 5.0
HOLD = StepScript(holds=True)


@dataclass
class Builds:
    """A RuntimeBuilds on a fake backend, and the builds a test started on it."""

    runtime_builds: RuntimeBuilds
    backend: FakeBuildSandboxes
    started: list[str] = field(default_factory=list)

    def start(self, revision: RuntimeRevision, sink: "Sink | None" = None) -> None:
        self.runtime_builds.start(revision.id, sink, owner_id=revision.runtime.owner_id)
        self.started.append(revision.id)

    async def finish(self, revision: RuntimeRevision) -> RuntimeRevision:
        await self.runtime_builds.wait(revision.id)
        await revision.arefresh_from_db()
        return revision


@dataclass
class Sink:
    """A build's events, as the revision's WebSocket group would be told them."""

    events: list[BuildEvent] = field(default_factory=list)

    async def __call__(self, revision_id: str, event: BuildEvent) -> None:
        self.events.append(event)


@pytest.fixture
def backend() -> FakeBuildSandboxes:
    return FakeBuildSandboxes({"fetch": StepScript(("Saved ./six-1.0-py3-none-any.whl",))})


@pytest.fixture
async def builds(backend: FakeBuildSandboxes) -> AsyncIterator[Builds]:
    builds = Builds(RuntimeBuilds(backend, disk=FakeDisk), backend)
    yield builds
    for revision_id in builds.started:
        await builds.runtime_builds.cancel(revision_id)
    backend.close()


async def _revision(owner_name: str = "builder", contents: str = "six\n") -> RuntimeRevision:
    owner, _ = await User.objects.aget_or_create(username=owner_name)
    runtime = await Runtime.objects.acreate(owner=owner, name="numbers", language="python")
    revision = await RuntimeRevision.objects.acreate(
        runtime=runtime, manifest_name="requirements.txt", manifest_contents=contents
    )
    return await RuntimeRevision.objects.select_related("runtime").aget(id=revision.id)


async def until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"{what} within {WAIT_S} s"
        await asyncio.sleep(0.005)


async def test_a_build_goes_from_pending_to_building_to_succeeded(builds: Builds) -> None:
    builds.backend.scripts["fetch"] = StepScript(("Saved ./six-1.0.whl",), holds=True)
    revision = await _revision()
    assert revision.status == RuntimeRevision.Status.PENDING
    sink = Sink()
    builds.start(revision, sink)
    await until(lambda: builds.backend.running() == {revision.id: "fetch"}, "fetch started")
    await revision.arefresh_from_db()
    assert revision.status == RuntimeRevision.Status.BUILDING
    assert revision.build_started_at is not None
    builds.backend.release(revision.id)
    revision = await builds.finish(revision)
    assert revision.status == RuntimeRevision.Status.SUCCEEDED, revision.build_log
    assert (revision.image_tag, revision.failure_reason) == (revision_image_tag(revision), "")
    assert revision.image_size_bytes == FAKE_IMAGE_BYTES
    assert revision.build_finished_at is not None
    assert revision.build_log.splitlines()[:4] == [
        "Sandpit: fetch",
        "Saved ./six-1.0.whl",
        "Sandpit: install",
        "Sandpit: image",
    ]
    lines = [e for e in sink.events if isinstance(e, BuildLineEvent)]
    assert [e.seq for e in lines] == list(range(1, len(revision.build_log.splitlines()) + 1))
    assert sink.events[-1] == BuildFinishedEvent("succeeded", "")
    assert builds.backend.started_names(revision.id) == ["fetch", "install"]
    assert builds.backend.build_steps(revision.id) == []  # each step's sandbox removed
    assert not builds.runtime_builds.is_building(revision.id)
    assert list(builds_dir().glob("build-*")) == []  # its disk is gone too


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        (
            ("Collecting nope", "ERROR: No matching distribution found for nope"),
            "ERROR: No matching distribution found for nope",
        ),
        (("Processing ./six-1.0.whl",), "the install step failed (exit status 1)"),
    ],
)
async def test_a_failing_step_fails_the_build_with_its_one_line_reason(
    builds: Builds, said: tuple[str, ...], reason: str
) -> None:
    builds.backend.scripts["install"] = StepScript(said, status=1)
    sink = Sink()
    revision = await _revision()
    builds.start(revision, sink)
    revision = await builds.finish(revision)
    assert revision.status == RuntimeRevision.Status.FAILED
    assert revision.failure_reason == reason
    assert revision.build_log.splitlines()[-1] == "Sandpit: the install step failed (exit status 1)"
    assert revision.image_tag == ""
    assert builds.backend.images == {}
    assert builds.backend.started_names(revision.id) == ["fetch", "install"]
    assert builds.backend.build_steps(revision.id) == []
    assert sink.events[-1] == BuildFinishedEvent("failed", reason)


@pytest.mark.parametrize(
    ("scripts", "image_error", "reason"),
    [
        (
            {"install": StepScript(("OSError: [Errno 28] No space left on device",), status=1)},
            "",
            "the install step used up the build's disk",
        ),
        (
            {"fetch": StepScript(flood_bytes=MAX_STEP_OUTPUT_BYTES + 1, holds=True)},
            "",
            f"the fetch step wrote more than {MAX_STEP_OUTPUT_BYTES // 2**20} MiB of output",
        ),
        ({}, "COPY failed: no source files", "making the image failed: COPY failed"),
    ],
)
async def test_a_limit_or_a_failed_image_is_the_reason_whatever_the_step_said(
    builds: Builds, scripts: dict[str, StepScript], image_error: str, reason: str
) -> None:
    builds.backend.scripts.update(scripts)
    builds.backend.image_error = image_error
    revision = await _revision()
    builds.start(revision)
    revision = await builds.finish(revision)
    assert revision.status == RuntimeRevision.Status.FAILED
    assert revision.failure_reason.startswith(reason), revision.failure_reason
    assert revision.image_tag == ""
    assert builds.backend.build_steps(revision.id) == []


async def test_a_build_past_its_time_fails_and_its_step_is_removed(builds: Builds) -> None:
    builds.backend.scripts["fetch"] = HOLD
    revision = await _revision()
    with override_settings(SANDBOX_BUILD_TIMEOUT_S=0.2):
        builds.start(revision)
        revision = await builds.finish(revision)
    assert revision.status == RuntimeRevision.Status.FAILED
    assert revision.failure_reason == "the build took longer than 0.2 s"
    assert builds.backend.build_steps(revision.id) == []
    assert builds.backend.running() == {}


async def test_cancelling_a_waiting_or_a_building_build_passes_its_slot_on(
    builds: Builds,
) -> None:
    builds.backend.scripts["fetch"] = HOLD
    first, second, waiting, next_one = [
        await _revision(owner) for owner in ("ann", "bob", "cat", "dan")
    ]
    for revision in (first, second, waiting):
        builds.start(revision)
    await until(lambda: len(builds.backend.running()) == MAX_CONCURRENT_BUILDS, "two building")
    assert set(builds.backend.running()) == {first.id, second.id}

    await builds.runtime_builds.cancel(waiting.id)
    await waiting.arefresh_from_db()
    assert (waiting.status, waiting.failure_reason) == ("cancelled", "the build was cancelled")
    assert builds.backend.started_names(waiting.id) == []

    builds.start(next_one)
    await builds.runtime_builds.cancel(first.id)
    await first.arefresh_from_db()
    assert first.status == RuntimeRevision.Status.CANCELLED
    assert builds.backend.build_steps(first.id) == []  # its sandboxes are gone
    await until(lambda: next_one.id in builds.backend.running(), "the slot passed on")
    assert set(builds.backend.running()) == {second.id, next_one.id}


async def test_owners_take_slots_in_turn_and_each_builds_one_at_a_time(builds: Builds) -> None:
    builds.backend.scripts["fetch"] = HOLD
    eager = [await _revision("eager", f"six=={i}.0\n") for i in range(3)]
    patient = await _revision("patient")
    for revision in [*eager, patient]:
        builds.start(revision)
    await until(lambda: len(builds.backend.running()) == MAX_CONCURRENT_BUILDS, "two building")
    # A first-come line would have run two of eager's builds here.
    assert set(builds.backend.running()) == {eager[0].id, patient.id}

    builds.backend.release(eager[0].id)
    assert (await builds.finish(eager[0])).status == RuntimeRevision.Status.SUCCEEDED
    await until(lambda: eager[1].id in builds.backend.running(), "eager's next build started")
    assert set(builds.backend.running()) == {eager[1].id, patient.id}
    await eager[2].arefresh_from_db()
    assert eager[2].status == RuntimeRevision.Status.PENDING


async def test_an_owner_past_the_cap_is_refused_before_anything_and_places_come_back(
    builds: Builds,
) -> None:
    builds.backend.scripts["fetch"] = HOLD
    runtime_builds = builds.runtime_builds
    owner = (await _revision("crowd")).runtime.owner_id
    with pytest.raises(RuntimeError), runtime_builds.place(owner):
        raise RuntimeError("the revision could not be written")  # its place is given back
    mine = [await _revision("crowd") for _ in range(MAX_BUILDS_PER_OWNER)]
    for revision in mine:
        with runtime_builds.place(owner):
            runtime_builds.start(revision.id, owner_id=owner, placed=True)
            builds.started.append(revision.id)
    with pytest.raises(BuildsBusy), runtime_builds.place(owner):
        pytest.fail("a place past the cap was given")
    # The admin's rebuild is never refused.
    extra = await _revision("crowd")
    builds.start(extra)
    await runtime_builds.cancel(extra.id)
    await runtime_builds.cancel(mine[-1].id)
    again = await _revision("crowd")
    with runtime_builds.place(owner):  # an ended build's place comes back
        runtime_builds.start(again.id, owner_id=owner, placed=True)
        builds.started.append(again.id)


async def test_a_restart_fails_the_builds_it_left_unfinished() -> None:
    pending, building, done = [await _revision(f"owner-{i}") for i in range(3)]
    building.status = RuntimeRevision.Status.BUILDING
    await building.asave()
    done.status = RuntimeRevision.Status.SUCCEEDED
    await done.asave()
    assert await sync_to_async(revisions_fail_interrupted)() == 2
    for revision in (pending, building, done):
        await revision.arefresh_from_db()
    assert {pending.status, building.status} == {RuntimeRevision.Status.FAILED}
    assert "the server restarted during the build" in building.failure_reason
    assert done.status == RuntimeRevision.Status.SUCCEEDED
