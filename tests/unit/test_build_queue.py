"""Build slots between owners: one build at a time per owner, owners in turn, a cap each.

The queue alone, with builds that last until the test ends them: milliseconds. The same
rule with real, hanging builds is in tests/test_build_sandbox.py.
"""

import asyncio

import pytest

from sandbox.builds.queue import BuildQueue
from sandbox.errors import BuildsBusy

EAGER, PATIENT, LATE = 1, 2, 3


class Builds:
    """Builds that take a slot from the queue and hold it until `finish(name)`."""

    def __init__(self, queue: BuildQueue) -> None:
        self.queue = queue
        self.started: list[str] = []
        self._ends: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def ask(self, name: str, owner: int) -> None:
        self._ends[name] = asyncio.Event()
        self.tasks[name] = asyncio.create_task(self._build(name, owner))

    async def _build(self, name: str, owner: int) -> None:
        async with self.queue.turn(owner):
            self.started.append(name)
            await self._ends[name].wait()

    async def finish(self, name: str) -> None:
        self._ends[name].set()
        await self.tasks[name]
        await asyncio.sleep(0)  # the next build's task takes its slot


async def test_an_owner_builds_one_at_a_time_and_owners_take_the_slots_in_turn() -> None:
    builds = Builds(BuildQueue(slots=2, max_per_owner=4))
    for name in ("eager-1", "eager-2", "eager-3"):
        builds.ask(name, EAGER)
    builds.ask("patient-1", PATIENT)
    builds.ask("late-1", LATE)
    await asyncio.sleep(0)
    # A first-come line would have run eager-1 and eager-2 here.
    assert builds.started == ["eager-1", "patient-1"]
    await builds.finish("patient-1")
    assert builds.started[-1] == "late-1"  # not eager-2: eager-1 still runs
    await builds.finish("eager-1")
    assert builds.started[-1] == "eager-2"
    await builds.finish("late-1")
    assert len(builds.started) == 4  # a slot stays free rather than run two of eager's
    await builds.finish("eager-2")
    assert builds.started[-1] == "eager-3"
    await builds.finish("eager-3")


async def test_a_cancelled_waiting_build_gives_up_its_turn() -> None:
    builds = Builds(BuildQueue(slots=1, max_per_owner=4))
    builds.ask("eager-1", EAGER)
    builds.ask("patient-1", PATIENT)
    builds.ask("late-1", LATE)
    await asyncio.sleep(0)
    builds.tasks["patient-1"].cancel()
    await builds.finish("eager-1")
    assert builds.started == ["eager-1", "late-1"]
    await builds.finish("late-1")


def test_an_owner_past_the_cap_is_refused_with_a_retry_after_and_others_are_not() -> None:
    queue = BuildQueue(slots=2, max_per_owner=2)
    queue.hold(EAGER)
    queue.hold(EAGER)
    with pytest.raises(BuildsBusy) as refused:
        queue.hold(EAGER)
    assert "2 runtime builds waiting or running" in str(refused.value)
    assert refused.value.retry_after_s >= 1
    queue.hold(PATIENT)
    queue.hold(EAGER, capped=False)  # the admin's rebuild counts but is never refused
    queue.release(EAGER)
    with pytest.raises(BuildsBusy):
        queue.hold(EAGER)
    queue.release(EAGER)  # a build ended: room for one more
    queue.hold(EAGER)
