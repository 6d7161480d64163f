"""The warm pool and the life of containers: one run each, nothing left behind."""

import asyncio
import os
from dataclasses import replace

from sandbox.backends import SandboxSpec
from sandbox.engine import Engine, EngineConfig
from sandbox.events import OutputEvent, RunEvent
from sandbox.jobs import Limits, RunStatus
from sandbox.languages import Family
from tests.runs import script


async def _settle(engine: Engine) -> set[str]:
    """Wait for removals and refills; return the ids of the containers the pools hold."""
    await engine.factory.drain()
    for _ in range(200):
        if all(p.ready_count >= p.size for p in engine.pools()):
            break
        await asyncio.sleep(0.05)
    await engine.factory.drain()
    return {container for p in engine.pools() for container in p.ready_sandbox_ids()}


async def test_thirty_runs_leave_no_container_behind(engine: Engine) -> None:
    jobs = [
        script("python" if i % 2 else "javascript", f"print({i})" if i % 2 else f"console.log({i})")
        for i in range(30)
    ]
    for batch in range(0, 30, 6):
        results = await asyncio.gather(*(engine.run(job) for job in jobs[batch : batch + 6]))
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(batch, batch + 6)]
    pooled = await _settle(engine)
    remaining = set(await asyncio.to_thread(engine.adapter.instance_sandboxes))
    assert remaining == pooled
    # Each pool holds at least its idle size, and no more than demand may take it to
    # (sandbox/demand.py); it shrinks back later, when the engine's janitor passes.
    assert engine.config.pool_size * 2 <= len(pooled) <= engine.config.pool_max * 2


async def test_every_run_gets_a_container_of_its_own(engine: Engine) -> None:
    # A container is its namespaces: two runs at once, each in its own mount, PID and
    # network namespace, under either backend (a root's writable layer, Docker's mark of
    # a container, is not there under crun, whose sandboxes share one read-only root).
    code = "import os\nprint(*(os.readlink(f'/proc/self/ns/{n}') for n in ('mnt', 'pid', 'net')))"
    first, second = await asyncio.gather(*(engine.run(script("python", code)) for _ in range(2)))
    ours, theirs = first.stdout.split(), second.stdout.split()
    assert len(ours) == len(theirs) == 3, (first, second)
    assert not set(ours) & set(theirs)
    host = {os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "pid", "net")}
    assert not host & set(ours)


async def test_start_removes_the_containers_a_crashed_server_left(
    engine_config: EngineConfig,
) -> None:
    config = replace(engine_config, instance=f"{engine_config.instance}-crashed", pool_size=0)
    crashed = Engine(config)
    spec = SandboxSpec(
        image=await asyncio.to_thread(_base), family=Family.PYTHON, memory_mib=64, cpus=1.0, pids=32
    )
    orphan = await crashed.factory.start(spec)  # and then the "server" dies without a word
    assert orphan.sandbox_id in crashed.adapter.instance_sandboxes()
    restarted = Engine(config)
    await restarted.start()
    assert restarted.adapter.instance_sandboxes() == []
    await restarted.close()
    crashed.adapter.close()
    restarted.adapter.close()


def _base() -> str:
    from sandbox import images

    return images.base_image_tag()


async def test_output_arrives_while_the_code_still_runs(engine: Engine) -> None:
    first_line = asyncio.Event()

    async def on_event(event: RunEvent) -> None:
        if isinstance(event, OutputEvent) and "first" in event.text:
            first_line.set()

    code = "import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('second')"
    run = asyncio.create_task(engine.run(script("python", code), on_event))
    await asyncio.wait_for(first_line.wait(), timeout=15)
    assert not run.done(), "the first line should arrive before the run ends"
    assert (await run).stdout == "first\nsecond\n"


async def test_a_run_can_be_stopped(engine: Engine) -> None:
    running = asyncio.Event()

    async def on_event(event: RunEvent) -> None:
        if isinstance(event, OutputEvent) and event.stream == "stdout":
            running.set()

    code = "import time\nprint('going', flush=True)\ntime.sleep(60)"
    job = replace(script("python", code, limits=Limits(execution_timeout_s=60)), run_id="stop-me")
    run = asyncio.create_task(engine.run(job, on_event))
    await asyncio.wait_for(running.wait(), timeout=15)
    assert await engine.stop("stop-me")
    result = await asyncio.wait_for(run, timeout=15)
    assert result.status is RunStatus.STOPPED
    assert result.exit_code == 137
    assert result.stderr.splitlines()[-1] == "Sandpit: the run was stopped."
    assert not await engine.stop("stop-me")
