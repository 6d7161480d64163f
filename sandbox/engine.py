"""The engine: one async call per run, `Engine.run(job, on_event) -> RunResult`.

It admits the run (or refuses it as busy), takes a ready sandbox from the warm pool of
the run's image and language family, sends the job, relays what comes back as events,
enforces the limits that must not depend on the container's good will (wall clock,
output size, result size) and always disposes of the container afterwards.
"""

import asyncio
import codecs
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from sandbox import images, limits
from sandbox.docker_adapter import DockerAdapter, SandboxSpec
from sandbox.errors import EngineBusy, EngineUnavailable
from sandbox.jobs import (
    EventSink,
    Job,
    JobKind,
    OutputStatus,
    RunEvent,
    RunResult,
    RunStatus,
    validate_job,
)
from sandbox.pool import Sandbox, SandboxFactory, WarmPool
from sandbox.protocol import Frame, ProtocolError, ResultTooLarge, encode_job

log = logging.getLogger(__name__)

EXIT_TIMEOUT = 124  # as coreutils' timeout(1)
EXIT_KILLED = 137  # 128 + SIGKILL: out of memory, stopped, or a runaway writer
EXIT_NO_STATUS = -1  # the sandbox failed before the code could finish
# How often idle runtime pools are looked for; they stop after runtime_pool_idle_s.
IDLE_CHECK_INTERVAL_S = 30


@dataclass(frozen=True)
class EngineConfig:
    instance: str
    state_dir: Path
    pool_size: int
    max_concurrent_runs: int
    max_queued_runs: int
    max_timeout_s: int
    max_memory_mib: int
    max_output_bytes: int
    cpus_per_run: float
    pids_per_run: int
    docker_runtime: str
    docker_timeout_s: int
    runtime_pool_size: int = 1
    runtime_pool_idle_s: int = 300

    @classmethod
    def from_settings(cls) -> "EngineConfig":
        return cls(
            instance=settings.SANDBOX_INSTANCE,
            state_dir=Path(settings.SANDBOX_STATE_DIR),
            pool_size=settings.SANDBOX_POOL_SIZE,
            max_concurrent_runs=settings.SANDBOX_MAX_CONCURRENT_RUNS,
            max_queued_runs=settings.SANDBOX_MAX_QUEUED_RUNS,
            max_timeout_s=settings.SANDBOX_MAX_TIMEOUT_S,
            max_memory_mib=settings.SANDBOX_MAX_MEMORY_MIB,
            max_output_bytes=settings.SANDBOX_MAX_OUTPUT_BYTES,
            cpus_per_run=settings.SANDBOX_CPUS_PER_RUN,
            pids_per_run=settings.SANDBOX_PIDS_PER_RUN,
            docker_runtime=settings.SANDBOX_DOCKER_RUNTIME,
            docker_timeout_s=settings.SANDBOX_DOCKER_TIMEOUT_S,
            runtime_pool_size=settings.SANDBOX_RUNTIME_POOL_SIZE,
            runtime_pool_idle_s=settings.SANDBOX_RUNTIME_POOL_IDLE_S,
        )


class OutputCollector:
    """stdout and stderr of one run: kept up to a cap, relayed live, decoded safely."""

    def __init__(self, max_bytes: int, emit: EventSink) -> None:
        self.max_bytes = max_bytes
        self._emit = emit
        self._text: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._kept = {"stdout": 0, "stderr": 0}
        self._seen = {"stdout": 0, "stderr": 0}
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in self._text
        }
        self.truncated = {"stdout": False, "stderr": False}

    def runaway(self, stream: str) -> bool:
        return self._seen[stream] > self.max_bytes * limits.RUNAWAY_OUTPUT_FACTOR

    async def add(self, stream: str, data: bytes) -> None:
        self._seen[stream] += len(data)
        if self.truncated[stream]:
            return
        kept = data[: self.max_bytes - self._kept[stream]]
        self._kept[stream] += len(kept)
        cut = len(kept) < len(data)
        text = self._decoders[stream].decode(kept, final=cut)
        if cut:
            self.truncated[stream] = True
            text += f"\n[Sandpit: {stream} cut at {self.max_bytes} bytes; the rest was dropped]\n"
        await self._append(stream, text)

    async def note(self, message: str) -> None:
        """A line of Sandpit's own at the end of stderr: why the run ended as it did."""
        text = self._decoders["stderr"].decode(b"", final=True)
        current = "".join(self._text["stderr"]) + text
        if current and not current.endswith("\n"):
            text += "\n"
        await self._append("stderr", f"{text}Sandpit: {message}\n")

    async def _append(self, stream: str, text: str) -> None:
        if text:
            self._text[stream].append(text)
            await self._emit(RunEvent(stream, text))  # type: ignore[arg-type]

    def text(self, stream: str) -> str:
        tail = "" if self.truncated[stream] else self._decoders[stream].decode(b"", final=True)
        return "".join(self._text[stream]) + tail


async def _ignore_event(event: RunEvent) -> None:
    return None


class Engine:
    def __init__(self, config: EngineConfig, adapter: DockerAdapter | None = None) -> None:
        self.config = config
        self.adapter = adapter or DockerAdapter(
            instance=config.instance,
            timeout_s=config.docker_timeout_s,
            runtime=config.docker_runtime,
        )
        self.factory = SandboxFactory(self.adapter, config.state_dir)
        self._pools: dict[tuple[str, str], WarmPool] = {}
        self._slots = asyncio.Semaphore(config.max_concurrent_runs)
        self._waiting = 0
        self._running: dict[str, Sandbox] = {}
        self._started = False
        self._start_lock = asyncio.Lock()
        self._janitor: asyncio.Task[None] | None = None

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Remove what a crashed server left, then fill the base pools. Idempotent."""
        async with self._start_lock:
            if self._started:
                return
            removed = await self.adapter.remove_leftovers()
            if removed:
                log.info("removed %d sandbox containers left by an earlier server", removed)
            self._started = True
            base = images.base_image_tag()
            for family in ("python", "node"):
                self._pool(base, family).warm_up()
            self._janitor = asyncio.get_running_loop().create_task(self._stop_idle_pools())

    async def close(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
        for sandbox in list(self._running.values()):
            await self.factory.kill(sandbox)
        await self.factory.drain()

    async def _stop_idle_pools(self) -> None:
        """Runtime revisions' pools shrink to nothing when unused; the base pools stay."""
        while True:
            await asyncio.sleep(IDLE_CHECK_INTERVAL_S)
            base = images.base_image_tag()
            now = asyncio.get_running_loop().time()
            for key, pool in list(self._pools.items()):
                if key[0] != base and now - pool.last_used > self.config.runtime_pool_idle_s:
                    del self._pools[key]
                    await pool.close()

    async def release_image(self, image: str) -> None:
        """Stop the pools of an image that is going away (a deleted runtime's)."""
        for key in [k for k in self._pools if k[0] == image]:
            await self._pools.pop(key).close()
        await self.factory.drain()

    def _pool(self, image: str, family: str) -> WarmPool:
        pool = self._pools.get((image, family))
        if pool is None:
            spec = SandboxSpec(
                image=image,
                family=family,
                memory_mib=limits.DEFAULT_MEMORY_MIB,
                cpus=self.config.cpus_per_run,
                pids=self.config.pids_per_run,
            )
            base = image == images.base_image_tag()
            size = self.config.pool_size if base else self.config.runtime_pool_size
            pool = self._pools[(image, family)] = WarmPool(self.factory, spec, size)
        return pool

    # --- runs -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _admitted(self) -> AsyncIterator[None]:
        if self._slots.locked() and self._waiting >= self.config.max_queued_runs:
            raise EngineBusy(
                f"{self.config.max_concurrent_runs} runs are going and "
                f"{self._waiting} are waiting; try again shortly"
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    async def run(self, job: Job, on_event: EventSink | None = None) -> RunResult:
        """Run one job in a fresh sandbox. Raises JobInvalid, EngineBusy or EngineUnavailable."""
        validate_job(
            job, max_timeout_s=self.config.max_timeout_s, max_memory_mib=self.config.max_memory_mib
        )
        emit = on_event or _ignore_event
        await self.start()
        async with self._admitted():
            await emit(RunEvent("status", "starting"))
            pool = self._pool(job.image or images.base_image_tag(), job.language.family)
            sandbox = await pool.acquire()
            if job.run_id:
                self._running[job.run_id] = sandbox
            try:
                return await self._drive(sandbox, job, emit)
            finally:
                self._running.pop(job.run_id, None)
                self.factory.dispose(sandbox)

    async def stop(self, run_id: str) -> bool:
        """Kill a run that is going; False when no such run is going here."""
        sandbox = self._running.get(run_id)
        if sandbox is None:
            return False
        sandbox.stopped = True
        await self.factory.kill(sandbox)
        return True

    async def _drive(self, sandbox: Sandbox, job: Job, emit: EventSink) -> RunResult:
        if job.limits.memory_mib != sandbox.memory_mib:
            await self.adapter.set_memory(
                sandbox.container_id, job.limits.memory_mib, job.language.family
            )
        output = OutputCollector(self.config.max_output_bytes, emit)
        loop = asyncio.get_running_loop()
        started = loop.time()
        timeout_s = job.limits.execution_timeout_s
        result_payload: bytes | None = None
        summary: dict[str, Any] | None = None
        failure = ""
        try:
            sandbox.container.writer.write(encode_job(job.to_wire()))
            async with asyncio.timeout(timeout_s + limits.ENGINE_TIMEOUT_GRACE_S):
                await sandbox.container.writer.drain()
                while summary is None:
                    frame, payload = await sandbox.stream.next_frame()
                    if frame is Frame.STARTED:
                        await emit(RunEvent("status", "running"))
                    elif frame is Frame.STDOUT or frame is Frame.STDERR:
                        stream = "stdout" if frame is Frame.STDOUT else "stderr"
                        await output.add(stream, payload)
                        if output.runaway(stream):
                            failure = "runaway"
                            break
                    elif frame is Frame.RESULT:
                        result_payload = payload
                    elif frame is Frame.EXIT:
                        summary = _parse_summary(payload)
        except TimeoutError:
            failure = "timeout"
        except ResultTooLarge:
            failure = "result_too_large"
        except (EOFError, ConnectionError, ProtocolError) as exc:
            failure = "stopped" if sandbox.stopped else "broken"
            if not sandbox.stopped:
                diagnostics = sandbox.stream.diagnostics.decode(errors="replace")
                log.warning("sandbox %s broke: %r %s", sandbox.container_id[:12], exc, diagnostics)
        elapsed_ms = int((loop.time() - started) * 1000)
        if failure:
            await self.factory.kill(sandbox)
        return await _result(job, output, summary, result_payload, failure, elapsed_ms, timeout_s)


def _parse_summary(payload: bytes) -> dict[str, Any]:
    try:
        summary = json.loads(payload)
        return {
            "exit_code": int(summary["exit_code"]),
            "duration_ms": int(summary["duration_ms"]),
            "timed_out": summary["timed_out"] is True,
            "oom_killed": summary["oom_killed"] is True,
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"a malformed EXIT frame: {exc}") from exc


def _parse_result(payload: bytes | None) -> tuple[Any, OutputStatus, str]:
    """The function's output, its status, and why it is not valid (or "")."""
    if payload is None:
        return None, OutputStatus.ERROR, "the function did not return"
    try:
        result = json.loads(payload)
        status = OutputStatus(result["status"])
        if status is OutputStatus.VALID:
            return json.loads(result["output"]), status, ""
        return None, status, str(result.get("error", ""))[:1000]
    except RecursionError:
        return None, OutputStatus.ERROR, "the function's output nests too deeply"
    except (ValueError, KeyError, TypeError):
        return None, OutputStatus.ERROR, "the function's result was malformed"


async def _result(
    job: Job,
    output: OutputCollector,
    summary: dict[str, Any] | None,
    result_payload: bytes | None,
    failure: str,
    elapsed_ms: int,
    timeout_s: int,
) -> RunResult:
    duration_ms = elapsed_ms
    if summary is not None:
        duration_ms = max(0, min(summary["duration_ms"], elapsed_ms))

    if failure == "timeout" or (summary and summary["timed_out"]):
        status, exit_code = RunStatus.TIMED_OUT, EXIT_TIMEOUT
        await output.note(f"the run hit its time limit of {timeout_s} s and was killed.")
        duration_ms = min(duration_ms, timeout_s * 1000) if summary else timeout_s * 1000
    elif summary and summary["oom_killed"]:
        status, exit_code = RunStatus.OUT_OF_MEMORY, EXIT_KILLED
        await output.note(
            f"the run hit its memory limit of {job.limits.memory_mib} MiB and was killed."
        )
    elif failure == "stopped":
        status, exit_code = RunStatus.STOPPED, EXIT_KILLED
        await output.note("the run was stopped.")
    elif failure == "runaway":
        status, exit_code = RunStatus.FAILED, EXIT_KILLED
        limit_mib = output.max_bytes * limits.RUNAWAY_OUTPUT_FACTOR // (1024 * 1024)
        await output.note(f"the run wrote more than {limit_mib} MiB of output and was killed.")
    elif failure == "result_too_large":
        status, exit_code = RunStatus.FAILED, 1
        await output.note(f"the function's result is larger than {limits.MAX_RESULT_BYTES} bytes.")
    elif failure == "broken" or summary is None:
        status, exit_code = RunStatus.ERROR, EXIT_NO_STATUS
        await output.note("the sandbox stopped unexpectedly before the run finished.")
    else:
        exit_code = summary["exit_code"]
        status = RunStatus.SUCCEEDED if exit_code == 0 else RunStatus.FAILED

    value, output_status = None, None
    if job.kind is JobKind.FUNCTION:
        output_status = OutputStatus.ERROR
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED) and not failure:
            value, output_status, reason = _parse_result(result_payload)
            if output_status is OutputStatus.JSON_SERIALIZATION_ERROR:
                await output.note(f"execute() returned a value that is not JSON: {reason}")
            elif output_status is OutputStatus.ERROR and status is RunStatus.SUCCEEDED:
                status = RunStatus.FAILED
                await output.note(f"{reason}.")
    return RunResult(
        status=status,
        exit_code=exit_code,
        stdout=output.text("stdout"),
        stderr=output.text("stderr"),
        duration_ms=duration_ms,
        output=value,
        output_status=output_status,
        stdout_truncated=output.truncated["stdout"],
        stderr_truncated=output.truncated["stderr"],
    )


_engines: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Engine]" = (
    weakref.WeakKeyDictionary()
)


def get_engine() -> Engine:
    """This event loop's engine, made from the settings on first use."""
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        engine = _engines[loop] = Engine(EngineConfig.from_settings())
    return engine


__all__ = ["Engine", "EngineBusy", "EngineConfig", "EngineUnavailable", "get_engine"]
