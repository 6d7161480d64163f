"""Time, memory, output and request limits, and how the engine refuses work."""

import asyncio
import resource
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import limits
from sandbox.docker.connection import DockerConnection
from sandbox.docker.runs import DockerRuns
from sandbox.engine import Engine, EngineConfig
from sandbox.errors import EngineBusy, EngineUnavailable, JobInvalid
from sandbox.jobs import File, Limits, OutputStatus, RunStatus
from tests.runs import function, script


async def test_it_kills_a_run_past_its_timeout(engine: Engine) -> None:
    result = await engine.run(
        script(
            "python",
            "import time\nprint('before', flush=True)\ntime.sleep(60)",
            limits=Limits(execution_timeout_s=1),
        )
    )
    assert result.status is RunStatus.TIMED_OUT
    assert result.exit_code == 124
    assert result.stdout == "before\n"
    assert (
        result.stderr.splitlines()[-1]
        == "Sandpit: the run hit its time limit of 1 s and was killed."
    )
    assert 1000 <= result.duration_ms < 60_000


async def test_a_function_past_its_timeout_is_an_error(engine: Engine) -> None:
    result = await engine.run(
        function(
            "javascript",
            "async function execute() { await new Promise((r) => setTimeout(r, 60000)); }",
            limits=Limits(execution_timeout_s=1),
        )
    )
    assert (result.exit_code, result.output_status, result.output) == (
        124,
        OutputStatus.ERROR,
        None,
    )


async def test_it_kills_a_run_past_its_memory(engine: Engine) -> None:
    for language, hog in [
        ("python", "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))"),
        (
            "javascript",
            "const blocks = [];\nwhile (true) blocks.push(Buffer.alloc(8 * 1024 * 1024, 1));",
        ),
    ]:
        result = await engine.run(script(language, hog, limits=Limits(memory_mib=64)))
        assert result.status is RunStatus.OUT_OF_MEMORY, (language, result)
        assert result.exit_code == 137
        assert "Sandpit: the run hit its memory limit of 64 MiB and was killed." in result.stderr


async def test_a_run_may_ask_for_more_memory_than_the_default(engine: Engine) -> None:
    code = "data = bytearray(200 * 1024 * 1024)\nprint(len(data) // 2**20)"
    small = await engine.run(script("python", code))
    large = await engine.run(script("python", code, limits=Limits(memory_mib=300)))
    assert small.status is RunStatus.OUT_OF_MEMORY
    assert (large.status, large.stdout) == (RunStatus.SUCCEEDED, "200\n")


async def test_output_past_the_cap_is_dropped_behind_a_marker(engine: Engine) -> None:
    cap = engine.config.max_output_bytes
    code = f"import sys\nsys.stdout.write('x' * {cap * 2})\nsys.stderr.write('small')\n"
    result = await engine.run(script("python", code))
    assert result.status is RunStatus.SUCCEEDED
    assert result.stdout.startswith("x" * cap)
    assert result.stdout[cap:] == f"\n[Sandpit: stdout cut at {cap} bytes; the rest was dropped]\n"
    assert result.stdout_truncated and not result.stderr_truncated
    assert result.stderr == "small"


async def test_a_runaway_writer_is_killed_and_the_server_stays_flat(engine: Engine) -> None:
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await engine.run(
        script(
            "python",
            "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)",
            limits=Limits(execution_timeout_s=120),
        )
    )
    rss_after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.status is RunStatus.FAILED
    assert result.exit_code == 137
    assert "of output and was killed" in result.stderr.splitlines()[-1]
    assert len(result.stdout) < engine.config.max_output_bytes + 200
    # It wrote 16 times the cap; the server kept only the cap.
    assert rss_after_kib - rss_before_kib < 64 * 1024


async def test_a_runaway_writer_gives_up_its_slot_as_soon_as_it_is_killed(
    engine_config: EngineConfig,
) -> None:
    one_slot = Engine(
        replace(
            engine_config,
            instance=f"{engine_config.instance}-runaway",
            pool_size=1,
            max_concurrent_runs=1,
            max_queued_runs=1,
        )
    )
    # Both streams at once, from two threads: Docker is then still writing when the
    # engine stops reading, which blocked the container's removal for 30 s.
    flood = (
        "import sys, threading\n"
        "def flood(stream):\n"
        "    while True:\n"
        "        stream.write('y' * 65536)\n"
        "threading.Thread(target=flood, args=(sys.stderr,)).start()\n"
        "flood(sys.stdout)\n"
    )
    try:
        started = time.monotonic()
        runaway = asyncio.create_task(
            one_slot.run(script("python", flood, limits=Limits(execution_timeout_s=120)))
        )
        await asyncio.sleep(0.1)
        # Waits for the runaway's one slot, and gets it once the runaway is killed.
        after = await one_slot.run(script("python", "print('after')"))
        waited_s = time.monotonic() - started
        killed = await runaway
        assert "of output and was killed" in (killed.stdout + killed.stderr)
        assert after.stdout == "after\n"
        # The flood reaches its cap within a second or two; 30 s was the removal's hang.
        assert waited_s < 10
    finally:
        await one_slot.close()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"files": [File("/etc/passwd", "x")]}, "files.0.path"),
        ({"files": [File("a/../../escape", "x")]}, "files.0.path"),
        ({"files": [File("ok", "x"), File("nul\x00name", "x")]}, "files.1.path"),
        ({"files": [File("big", "x" * (limits.MAX_FILES_BYTES + 1))]}, "files"),
        ({"files": [File("same", "a"), File("./same", "b")]}, "files.1.path"),
        ({"limits": Limits(execution_timeout_s=0)}, "limits.execution_timeout"),
        ({"limits": Limits(execution_timeout_s=10**6)}, "limits.execution_timeout"),
        ({"limits": Limits(memory_mib=8)}, "limits.memory_size"),
        ({"limits": Limits(memory_mib=10**6)}, "limits.memory_size"),
        ({"env": {"A=B": "x"}}, "env.A=B"),
        ({"code": "x" * (limits.MAX_CODE_BYTES + 1)}, "code"),
    ],
)
async def test_a_bad_job_is_refused_before_anything_runs(
    engine: Engine, changes: dict[str, object], field: str
) -> None:
    job = replace(script("python", "print(1)"), **changes)  # type: ignore[arg-type]
    with pytest.raises(JobInvalid) as refused:
        await engine.run(job)
    assert refused.value.field == field


async def test_past_its_slots_and_queue_the_engine_is_busy(engine_config: EngineConfig) -> None:
    small = Engine(
        replace(
            engine_config,
            instance=f"{engine_config.instance}-busy",
            pool_size=0,
            max_concurrent_runs=1,
            max_queued_runs=1,
        )
    )
    try:
        sleeper = script("python", "import time\ntime.sleep(3)")
        running = asyncio.create_task(small.run(sleeper))
        await asyncio.sleep(0.2)
        queued = asyncio.create_task(small.run(script("python", "print('queued')")))
        await asyncio.sleep(0.2)
        with pytest.raises(EngineBusy):
            await small.run(script("python", "print('refused')"))
        assert (await running).status is RunStatus.SUCCEEDED
        assert (await queued).stdout == "queued\n"
    finally:
        await small.close()


async def test_an_unreachable_docker_engine_is_unavailable_not_a_hang(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    adapter = DockerRuns(
        DockerConnection(instance="nowhere", timeout_s=2, base_url=f"unix://{tmp_path}/no.sock")
    )
    down = Engine(replace(engine_config, instance="nowhere"), adapter=adapter)
    try:
        with pytest.raises(EngineUnavailable):
            await asyncio.wait_for(down.run(script("python", "print(1)")), timeout=30)
    finally:
        await down.close()
