"""Run slots in turn between tenants: a crowd from one never starves another."""

import asyncio

import pytest

from sandbox.admission import FairAdmission
from sandbox.errors import EngineBusy, TenantBusy


async def _run_all(admission: FairAdmission, tenants: list[str]) -> list[str]:
    """Start one run per entry, in order; the order in which they got a slot."""
    served: list[str] = []
    release = asyncio.Event()

    async def run(tenant: str, first: bool) -> None:
        async with admission.slot(tenant):
            served.append(tenant)
            if first:
                await release.wait()  # hold the only slot until everyone queues

    tasks = [asyncio.create_task(run(t, i == 0)) for i, t in enumerate(tenants)]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    return served


async def test_waiting_runs_are_served_in_turn_between_tenants() -> None:
    admission = FairAdmission(slots=1, max_waiting=100, max_per_tenant=100)
    served = await _run_all(admission, ["a", "a", "a", "a", "a", "b", "c", "a", "b"])
    # After a's first, the next slots go a, b, c in turn, not by age.
    assert served == ["a", "a", "b", "c", "a", "b", "a", "a", "a"]


async def _most_at_once(admission: FairAdmission, runs: int) -> int:
    """How many of one tenant's `runs`, all asked for at once, ever went together."""
    inside = 0
    most = 0

    async def run() -> None:
        nonlocal inside, most
        async with admission.slot("alone"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(run() for _ in range(runs)))
    return most


async def test_a_tenant_alone_gets_every_slot_of_a_small_engine() -> None:
    admission = FairAdmission(slots=3, max_waiting=12, max_per_tenant=15)
    assert await _most_at_once(admission, 12) == 3


async def test_past_the_waiting_line_the_engine_is_busy_and_past_its_cap_a_tenant_is() -> None:
    admission = FairAdmission(slots=1, max_waiting=2, max_per_tenant=2)
    hold = asyncio.Event()

    async def run(tenant: str) -> None:
        async with admission.slot(tenant):
            await hold.wait()

    tasks = [asyncio.create_task(run("a")), asyncio.create_task(run("a"))]
    await asyncio.sleep(0)
    with pytest.raises(TenantBusy):
        admission.check("a")
    admission.check("b")  # another tenant may still wait
    tasks.append(asyncio.create_task(run("b")))
    await asyncio.sleep(0)
    with pytest.raises(EngineBusy):
        admission.check("c")
    hold.set()
    await asyncio.gather(*tasks)
    admission.check("a")


async def test_a_cancelled_waiter_gives_up_its_place_and_no_slot_is_lost() -> None:
    admission = FairAdmission(slots=1, max_waiting=5, max_per_tenant=5)
    hold = asyncio.Event()

    async def run(tenant: str) -> str:
        async with admission.slot(tenant):
            await hold.wait()
        return tenant

    holder = asyncio.create_task(run("a"))
    waiter = asyncio.create_task(run("b"))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert admission.waiting == 0
    hold.set()
    assert await holder == "a"
    assert await run("c") == "c"  # the slot came back


async def test_one_tenants_crowd_leaves_a_slot_and_places_for_another() -> None:
    admission = FairAdmission(slots=8, max_waiting=8, max_per_tenant=0)
    hold = asyncio.Event()
    started: list[str] = []

    async def run(tenant: str) -> None:
        async with admission.slot(tenant):
            started.append(tenant)
            await hold.wait()

    crowd: list[asyncio.Task[None]] = []
    while True:  # mallory sends runs until refused
        try:
            admission.check("mallory")
        except TenantBusy:
            break
        crowd.append(asyncio.create_task(run("mallory")))
        await asyncio.sleep(0)
    # 7 of 8 slots and 6 of 8 places: a slot and two places are left for others.
    assert (started.count("mallory"), admission.waiting) == (7, 6)
    alice = asyncio.create_task(run("alice"))
    await asyncio.sleep(0)
    assert started[-1] == "alice"  # at once, beside mallory's seven
    admission.check("bob")  # and there is a place for a third
    hold.set()
    await asyncio.gather(alice, *crowd)


async def test_a_tenant_alone_has_all_but_the_kept_slot_and_places() -> None:
    admission = FairAdmission(slots=8, max_waiting=32, max_per_tenant=0)
    # 30 at once: 7 go, 23 wait in the line, none is refused.
    assert await _most_at_once(admission, 30) == 7
