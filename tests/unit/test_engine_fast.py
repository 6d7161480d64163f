"""The engine on fake sandboxes: admission, pool refill and result mapping in milliseconds."""

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import limits
from sandbox.backends import SandboxSpec
from sandbox.engine import Engine
from sandbox.errors import EngineBusy, EngineUnavailable, TenantBusy
from sandbox.events import OutputEvent, StatusEvent
from sandbox.jobs import Limits, OutputStatus, RunStatus
from sandbox.languages import Family
from sandbox.pool import WarmPool
from sandbox.protocol import MAX_FRAME_BYTES
from tests.fake_runs import CHUNK, FakeRunSandboxes
from tests.fake_runs import fake_engine_config as config
from tests.runs import EventLog, function, script
from tests.waits import eventually


@pytest.fixture
async def sandboxes() -> FakeRunSandboxes:
    return FakeRunSandboxes()


@pytest.fixture
async def engine(tmp_path: Path, sandboxes: FakeRunSandboxes) -> AsyncIterator[Engine]:
    engine = Engine(config(tmp_path), sandboxes)
    yield engine
    await engine.close()
    assert sandboxes.instance_sandboxes() == [], "the engine left sandboxes behind"


async def test_a_script_s_output_and_exit_code(engine: Engine) -> None:
    log = EventLog()
    result = await engine.run(script("python", "out hello\nerr warn\nexit 3"), log)
    assert (result.status, result.exit_code) == (RunStatus.FAILED, 3)
    assert (result.stdout, result.stderr) == ("hello\n", "warn\n")
    assert log.events[:2] == [StatusEvent("starting"), StatusEvent("running")]
    assert OutputEvent("stdout", "hello\n") in log.events


async def test_a_function_s_result_is_parsed(engine: Engine) -> None:
    result = await engine.run(function("javascript", 'result {"a": [1, 2]}'))
    assert result.status is RunStatus.SUCCEEDED
    assert (result.output, result.output_status) == ({"a": [1, 2]}, OutputStatus.VALID)


async def test_a_function_that_never_returns_fails(engine: Engine) -> None:
    result = await engine.run(function("python", "out nothing to return"))
    assert result.status is RunStatus.FAILED
    assert result.output_status is OutputStatus.ERROR
    assert "did not return" in result.stderr


@pytest.mark.parametrize(
    ("code", "status", "exit_code", "note"),
    [
        ("timeout", RunStatus.TIMED_OUT, 124, "time limit"),
        ("oom", RunStatus.OUT_OF_MEMORY, 137, "memory limit"),
        ("die", RunStatus.ERROR, -1, "stopped unexpectedly"),
        ("raw 5a00000000", RunStatus.ERROR, -1, "stopped unexpectedly"),  # unknown frame Z
        ("raw 4f", RunStatus.ERROR, -1, "stopped unexpectedly"),  # half a frame, then EOF
    ],
)
async def test_every_ending_maps_to_a_status_and_a_note(
    engine: Engine, code: str, status: RunStatus, exit_code: int, note: str
) -> None:
    result = await engine.run(script("python", f"out before\n{code}"))
    assert (result.status, result.exit_code) == (status, exit_code)
    assert result.stdout == "before\n"
    assert note in result.stderr.splitlines()[-1]


async def test_a_claimed_result_past_the_cap_fails_the_run(engine: Engine) -> None:
    header = b"F" + struct.pack(">I", MAX_FRAME_BYTES + 1)
    result = await engine.run(function("python", f"raw {header.hex()}\nhang"))
    assert result.status is RunStatus.FAILED
    assert "larger than" in result.stderr


async def test_output_past_the_cap_is_cut_and_a_runaway_is_killed(
    engine: Engine, sandboxes: FakeRunSandboxes
) -> None:
    cap = engine.config.max_output_bytes
    cut = await engine.run(script("python", "flood 2"))
    assert cut.status is RunStatus.SUCCEEDED
    assert cut.stdout_truncated and not cut.stderr_truncated
    assert cut.stdout.startswith("y" * cap) and "cut at" in cut.stdout
    floods = cap * limits.RUNAWAY_OUTPUT_FACTOR // CHUNK + 2
    runaway = await engine.run(script("python", f"flood {floods}\nhang"))
    assert (runaway.status, runaway.exit_code) == (RunStatus.FAILED, 137)
    assert "MiB of output" in runaway.stderr


async def test_the_engine_s_own_clock_kills_a_silent_sandbox(tmp_path: Path) -> None:
    sandboxes = FakeRunSandboxes()
    engine = Engine(config(tmp_path), sandboxes)
    started = asyncio.get_running_loop().time()
    job = script("python", "hang", limits=Limits(execution_timeout_s=1))
    result = await engine.run(job)
    await engine.close()
    assert (result.status, result.exit_code) == (RunStatus.TIMED_OUT, 124)
    assert result.duration_ms == 1000
    elapsed = asyncio.get_running_loop().time() - started
    assert elapsed >= 1 + limits.ENGINE_TIMEOUT_GRACE_S
    assert sandboxes.instance_sandboxes() == []


async def test_a_run_can_be_stopped(engine: Engine) -> None:
    job = replace(script("python", "out going\nhang"), run_id="stop-me")
    going = asyncio.Event()

    async def on_event(event: object) -> None:
        if isinstance(event, OutputEvent):
            going.set()

    run = asyncio.create_task(engine.run(job, on_event))
    await going.wait()
    assert await engine.stop("stop-me")
    result = await run
    assert (result.status, result.exit_code) == (RunStatus.STOPPED, 137)
    assert not await engine.stop("stop-me")


async def test_each_sandbox_serves_one_run_and_the_pool_refills(
    engine: Engine, sandboxes: FakeRunSandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "REMOVE_WHEN_QUIET_FOR_S", 0.2)
    await engine.start()
    await engine.run(script("python", "out one"))
    await engine.run(script("python", "out two"))
    # Two base pools of one each, a replacement after each run: four started; the two
    # finished containers wait for a quiet moment to be removed.
    await eventually("a replacement for each run", lambda: sandboxes.started == 4)
    assert sandboxes.removed == []
    await eventually("the quiet moment's removals", lambda: len(sandboxes.removed) == 2)
    assert sandboxes.started == 4
    assert len(sandboxes.instance_sandboxes()) == 2


async def test_finished_containers_wait_for_quiet_only_up_to_a_bound(
    engine: Engine, sandboxes: FakeRunSandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_FINISHED_CONTAINERS", 1)
    await engine.start()
    for text in ("one", "two", "three"):
        await engine.run(script("python", f"out {text}"))
    # Removals are under way while it is still busy: all but the one it may keep.
    await eventually("removals past the bound", lambda: len(sandboxes.removed) >= 2)
    assert len(sandboxes.removed) == 2
    await engine.factory.drain()  # and drain() removes the rest at once
    assert len(sandboxes.removed) == 3


async def test_a_memory_limit_other_than_the_pool_s_resizes_the_sandbox(
    engine: Engine, sandboxes: FakeRunSandboxes
) -> None:
    await engine.run(script("python", "out x", limits=Limits(memory_mib=300)))
    assert list(sandboxes.memory.values()) == [300]


async def test_past_the_slots_and_the_line_the_engine_is_busy(tmp_path: Path) -> None:
    engine = Engine(config(tmp_path, max_concurrent_runs=1, max_queued_runs=1), FakeRunSandboxes())
    log = EventLog()
    first = asyncio.create_task(engine.run(script("python", "hang"), log))
    second = asyncio.create_task(engine.run(script("python", "out waited")))
    await eventually("the first run to run", lambda: StatusEvent("running") in log.events)
    await eventually("the second run to wait", lambda: engine.admission.waiting == 1)
    with pytest.raises(EngineBusy):
        engine.refuse_if_busy()
    with pytest.raises(EngineBusy):
        await engine.run(script("python", "out refused"))
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).stdout == "waited\n"
    await engine.close()


async def test_one_tenant_may_not_take_the_whole_engine(tmp_path: Path) -> None:
    engine = Engine(config(tmp_path, max_runs_per_tenant=1), FakeRunSandboxes())
    log = EventLog()
    hog = asyncio.create_task(engine.run(replace(script("python", "hang"), tenant="a"), log))
    await eventually("a's run to run", lambda: StatusEvent("running") in log.events)
    with pytest.raises(TenantBusy):
        engine.refuse_if_busy("a")
    engine.refuse_if_busy("b")  # another owner still gets in
    other = await engine.run(replace(script("python", "out b's"), tenant="b"))
    assert other.stdout == "b's\n"
    hog.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hog
    await engine.close()


async def test_a_docker_that_cannot_start_fails_runs_at_once(tmp_path: Path) -> None:
    engine = Engine(config(tmp_path), FakeRunSandboxes(fail_starts=True))
    with pytest.raises(EngineUnavailable):
        await asyncio.wait_for(engine.run(script("python", "out never")), timeout=5)
    await engine.close()


async def test_containers_docker_could_not_remove_are_removed_once_it_is_back(
    tmp_path: Path,
) -> None:
    sandboxes = FakeRunSandboxes()
    engine = Engine(config(tmp_path, pool_size=0, pool_max=0), sandboxes)
    refusals = {"left": 1}
    remove = sandboxes.remove_sandbox

    async def flaky_remove(sandbox_id: str) -> None:
        if refusals["left"]:
            refusals["left"] -= 1
            raise EngineUnavailable("Docker is restarting")
        await remove(sandbox_id)

    sandboxes.remove_sandbox = flaky_remove  # type: ignore[method-assign]
    await engine.run(script("python", "out first"))  # its removal fails
    await engine.factory.drain()
    assert len(sandboxes.instance_sandboxes()) == 1
    await engine.run(script("python", "out second"))  # a start: the removal is asked again
    await engine.factory.drain()
    assert sandboxes.instance_sandboxes() == []
    await engine.close()


async def test_a_pool_grows_while_runs_come_and_shrinks_back_after(tmp_path: Path) -> None:
    now = [0.0]
    sandboxes = FakeRunSandboxes()
    engine = Engine(config(tmp_path, pool_size=0), sandboxes)
    spec = SandboxSpec(image="fake", family=Family.PYTHON, memory_mib=128, cpus=1.0, pids=64)
    pool = WarmPool(engine.factory, spec, size=1, max_size=6, clock=lambda: now[0])
    pool.demand.note_start(2.0)  # slow starts: demand needs a deeper pool
    for _ in range(20):
        engine.factory.dispose(await pool.acquire())
        now[0] += 0.2
    assert pool.size > 1
    # Grown ahead of the next runs.
    await eventually("the grown pool to fill", lambda: pool.ready_count == pool.size)
    now[0] += 60  # a quiet spell
    pool.shrink()
    assert (pool.size, pool.ready_count) == (1, 1)
    await pool.close()
    await engine.close()
