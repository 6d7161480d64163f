"""The engine: one async call per run, `Engine.run(job, on_event) -> RunResult`.

It admits the run (or refuses it as busy), takes a ready sandbox from the warm pool of
the run's image and language family, sends the job, relays what comes back as events,
enforces the limits that must not depend on the container's good will (wall clock,
output size, result size) and always disposes of the container afterwards.
"""

import asyncio
import hashlib
import logging
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from sandbox import images, limits, metrics
from sandbox.admission import FairAdmission
from sandbox.artifacts import ARTIFACT_FRAMES, Artifacts
from sandbox.backends import DOCKER, RunSandboxes, SandboxSpec, run_sandboxes
from sandbox.egress.policy import parse_rules
from sandbox.egress.runs import EgressSettings, RunEgress
from sandbox.errors import EngineBusy, EngineUnavailable
from sandbox.events import EventSink, RunEvent, StatusEvent, Stream
from sandbox.jobs import Job, OutputCaps, RunResult, validate_job
from sandbox.languages import Family
from sandbox.pool import Sandbox, SandboxFactory, WarmPool
from sandbox.protocol import Frame, ProtocolError, ResultTooLarge, encode_job
from sandbox.results import (
    Ending,
    ExitSummary,
    Outcome,
    OutputCollector,
    parse_summary,
    run_result,
)
from sandbox.sessions import SessionHost

log = logging.getLogger(__name__)

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
    # Pools grow with demand up to these (sandbox/demand.py); the sizes above are floors.
    pool_max: int = 8
    runtime_pool_max: int = 4
    runtime_pool_idle_s: int = 300
    max_runs_per_tenant: int = 0
    # Sessions' sandboxes held at once (running, or frozen while paused), and how long
    # a paused session's sandbox stays frozen before only its files are kept.
    max_sessions: int = 32
    session_frozen_s: int = 120
    egress: EgressSettings = field(default_factory=EgressSettings)
    output_caps: OutputCaps = field(default_factory=OutputCaps)
    # What starts the sandboxes: Docker, or crun directly (sandbox/backends.py).
    backend: str = DOCKER

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
            backend=settings.SANDBOX_BACKEND,
            runtime_pool_size=settings.SANDBOX_RUNTIME_POOL_SIZE,
            pool_max=max(settings.SANDBOX_POOL_MAX, settings.SANDBOX_POOL_SIZE),
            runtime_pool_max=max(
                settings.SANDBOX_RUNTIME_POOL_MAX, settings.SANDBOX_RUNTIME_POOL_SIZE
            ),
            runtime_pool_idle_s=settings.SANDBOX_RUNTIME_POOL_IDLE_S,
            max_runs_per_tenant=settings.SANDBOX_MAX_RUNS_PER_TENANT,
            max_sessions=settings.SANDBOX_MAX_SESSIONS,
            session_frozen_s=settings.SANDBOX_SESSION_FROZEN_S,
            output_caps=OutputCaps(
                results_max=settings.SANDBOX_RESULTS_MAX,
                results_max_bytes=settings.SANDBOX_RESULTS_MAX_BYTES,
                files_max=settings.SANDBOX_OUTPUT_FILES_MAX,
                file_max_bytes=settings.SANDBOX_OUTPUT_FILE_MAX_BYTES,
                files_max_bytes=settings.SANDBOX_OUTPUT_FILES_MAX_BYTES,
            ),
            egress=EgressSettings.parse(
                ports=settings.SANDBOX_EGRESS_PORTS,
                max_connections=settings.SANDBOX_EGRESS_MAX_CONNECTIONS,
                max_mib=settings.SANDBOX_EGRESS_MAX_MIB,
                ca_bundle=settings.SANDBOX_EGRESS_CA_BUNDLE,
                pins=settings.SANDBOX_EGRESS_PIN,
            ),
        )


async def _ignore_event(event: RunEvent) -> None:
    return None


class Engine:
    def __init__(self, config: EngineConfig, adapter: RunSandboxes | None = None) -> None:
        self.config = config
        # The backend that starts and removes sandboxes: the configured one, unless a
        # test gives one.
        self.adapter: RunSandboxes = adapter or run_sandboxes(
            config.backend,
            instance=config.instance,
            state_dir=config.state_dir,
            docker_runtime=config.docker_runtime,
            docker_timeout_s=config.docker_timeout_s,
        )
        self.factory = SandboxFactory(self.adapter, config.state_dir)
        self.egress = RunEgress(config.state_dir, config.egress)
        # The egress CA's certificate, where sandboxes mount it as their system store;
        # named by its digest, so that servers with CAs of their own never share one.
        pem = self.egress.ca.certificate_pem
        name = f"egress-ca-{hashlib.sha256(pem).hexdigest()[:16]}.crt"
        self._ca_cert = self.factory.shared_file(name, pem)
        self._pools: dict[tuple[str, Family], WarmPool] = {}
        self.admission = FairAdmission(
            slots=config.max_concurrent_runs,
            max_waiting=config.max_queued_runs,
            # 0: no cap of its own; a tenant still leaves others their share (admission.py).
            max_per_tenant=config.max_runs_per_tenant
            or config.max_concurrent_runs + config.max_queued_runs,
        )
        self._running: dict[str, Sandbox] = {}
        self.runtime: dict[str, str] = {}
        # Sandboxes kept for sessions, each serving one session's calls (sessions.py).
        self.sessions = SessionHost(self)
        self._started = False
        self._start_lock = asyncio.Lock()
        self._janitor: asyncio.Task[None] | None = None

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Remove what a crashed server left, then fill the base pools. Idempotent."""
        async with self._start_lock:
            if self._started:
                return
            # What isolates the sandboxes, chosen (and logged) before any is started.
            self.runtime = await self.adapter.runtime()
            removed = await self.adapter.remove_leftovers()
            if removed:
                log.info("removed %d sandbox containers left by an earlier server", removed)
            self._started = True
            base = images.base_image_tag()
            for family in Family:
                self.pool_for(base, family).warm_up()
            self.sessions.start()
            self._janitor = asyncio.get_running_loop().create_task(self._stop_idle_pools())

    async def close(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
        await self.sessions.close()
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
        for sandbox in list(self._running.values()):
            await self.factory.kill(sandbox)
        await self.factory.drain()

    async def _stop_idle_pools(self) -> None:
        """Pools that grew with demand shrink back to their floor once it passes; runtime
        revisions' pools stop when unused; the base pools stay."""
        while True:
            await asyncio.sleep(IDLE_CHECK_INTERVAL_S)
            base = images.base_image_tag()
            now = asyncio.get_running_loop().time()
            for pool in self._pools.values():
                pool.shrink()
            for key, pool in list(self._pools.items()):
                if key[0] != base and now - pool.last_used > self.config.runtime_pool_idle_s:
                    del self._pools[key]
                    await pool.close()

    async def release_image(self, image: str) -> None:
        """Stop the pools of an image that is going away (a deleted runtime's)."""
        for key in [k for k in self._pools if k[0] == image]:
            await self._pools.pop(key).close()
        await self.factory.drain()
        await self.adapter.release_image(image)

    def running_ids(self) -> set[str]:
        """The run ids of the runs (and sessions' calls) going on in this engine now."""
        return set(self._running) | set(self.sessions.call_ids())

    def pools(self) -> list[WarmPool]:
        """The warm pools there are now: the base image's, and those of runtimes in use."""
        return list(self._pools.values())

    def pool_for(self, image: str, family: Family) -> WarmPool:
        """The warm pool of an image and language family, made on first use."""
        pool = self._pools.get((image, family))
        if pool is None:
            spec = SandboxSpec(
                image=image,
                family=family,
                memory_mib=limits.DEFAULT_MEMORY_MIB,
                cpus=self.config.cpus_per_run,
                pids=self.config.pids_per_run,
                ca_cert=self._ca_cert,
            )
            base = image == images.base_image_tag()
            size = self.config.pool_size if base else self.config.runtime_pool_size
            most = self.config.pool_max if base else self.config.runtime_pool_max
            pool = self._pools[(image, family)] = WarmPool(self.factory, spec, size, most)
        return pool

    # --- runs -----------------------------------------------------------------------

    def refuse_if_busy(self, tenant: str = "") -> None:
        """EngineBusy (or TenantBusy) now if a run asked for now would be refused: callers
        check this before they record anything, so a burst of refusals costs no rows."""
        self.admission.check(tenant)

    async def run(self, job: Job, on_event: EventSink | None = None) -> RunResult:
        """Run one job in a fresh sandbox. Raises JobInvalid, EngineBusy or EngineUnavailable."""
        validate_job(
            job, max_timeout_s=self.config.max_timeout_s, max_memory_mib=self.config.max_memory_mib
        )
        emit = on_event or _ignore_event
        await self.start()
        async with self.admission.slot(job.tenant):
            await emit(StatusEvent("starting"))
            pool = self.pool_for(job.image or images.base_image_tag(), job.language.family)
            sandbox = await pool.acquire()
            if job.run_id:
                self._running[job.run_id] = sandbox
            started = time.monotonic()
            try:
                result = await self._drive(sandbox, job, emit)
                labels = (job.language.value, job.kind.value, result.status.value)
                metrics.RUNS.labels(*labels).inc()
                metrics.RUN_SECONDS.labels(job.language.value).observe(time.monotonic() - started)
                return result
            finally:
                self._running.pop(job.run_id, None)
                self.factory.dispose(sandbox)

    async def stop(self, run_id: str) -> bool:
        """Kill a run that is going (a session's call is interrupted instead, its state
        kept); False when no such run is going here."""
        session_id = self.sessions.call_ids().get(run_id)
        if session_id is not None:
            return await self.sessions.interrupt(session_id)
        sandbox = self._running.get(run_id)
        if sandbox is None:
            return False
        sandbox.stopped = True
        await self.factory.kill(sandbox)
        return True

    async def send_stdin(self, run_id: str, text: str | None) -> bool:
        """More stdin for a live-stdin run going here (None: its end); False when no such
        run is going here, or it does not take input, or past MAX_STDIN_BYTES in all."""
        sandbox = self._running.get(run_id)
        if sandbox is None or not sandbox.live_stdin or sandbox.stdin_closed:
            return False
        data = b"" if text is None else text.encode("utf-8", "replace")
        if text is not None and not data:
            return True
        sandbox.stdin_bytes += len(data)
        if sandbox.stdin_bytes > limits.MAX_STDIN_BYTES:
            return False
        sandbox.stdin_closed = text is None
        sandbox.connection.writer.write(encode_job(data))
        try:
            await sandbox.connection.writer.drain()
        except (ConnectionError, OSError):
            return False
        return True

    async def _drive(self, sandbox: Sandbox, job: Job, emit: EventSink) -> RunResult:
        """The run, with its own egress proxy while it goes when it has http.allow."""
        if not job.http_allow:
            return await self._exchange(sandbox, job, emit)
        deadline = time.monotonic() + job.limits.execution_timeout_s
        rules = parse_rules(job.http_allow)
        async with self.egress.proxy(sandbox.egress_dir, rules, deadline) as proxy:
            result = await self._exchange(sandbox, job, emit)
        result.egress = proxy.records()
        return result

    async def _exchange(self, sandbox: Sandbox, job: Job, emit: EventSink) -> RunResult:
        if job.limits.memory_mib != sandbox.memory_mib:
            await self.adapter.set_memory(
                sandbox.sandbox_id, job.limits.memory_mib, job.language.family
            )
        output = OutputCollector(self.config.max_output_bytes, emit)
        artifacts = Artifacts(self.config.output_caps)
        loop = asyncio.get_running_loop()
        started = loop.time()
        timeout_s = job.limits.execution_timeout_s
        result_payload: bytes | None = None
        summary: ExitSummary | None = None
        outcome = Outcome.BROKEN  # until the exit frame says otherwise
        try:
            sandbox.connection.writer.write(encode_job(job.to_wire(self.config.output_caps)))
            sandbox.live_stdin = job.live_stdin  # more stdin may follow the job, not precede it
            async with asyncio.timeout(timeout_s + limits.ENGINE_TIMEOUT_GRACE_S):
                await sandbox.connection.writer.drain()
                while summary is None:
                    frame, payload = await sandbox.stream.next_frame()
                    if frame is Frame.STARTED:
                        await emit(StatusEvent("running"))
                    elif frame is Frame.STDOUT or frame is Frame.STDERR:
                        stream: Stream = "stdout" if frame is Frame.STDOUT else "stderr"
                        await output.add(stream, payload)
                        if output.runaway(stream):
                            outcome = Outcome.RUNAWAY
                            break
                    elif frame is Frame.RESULT:
                        result_payload = payload
                    elif frame in ARTIFACT_FRAMES:
                        artifacts.add(frame, payload)
                    elif frame is Frame.EXIT:
                        summary = parse_summary(payload)
                        outcome = Outcome.EXITED
        except TimeoutError:
            outcome = Outcome.TIMEOUT
        except ResultTooLarge:
            outcome = Outcome.RESULT_TOO_LARGE
        except (EOFError, ConnectionError, ProtocolError) as exc:
            outcome = Outcome.STOPPED if sandbox.stopped else Outcome.BROKEN
            if not sandbox.stopped:
                diagnostics = sandbox.stream.diagnostic_text
                log.warning("sandbox %s broke: %r %s", sandbox.sandbox_id[:12], exc, diagnostics)
        elapsed_ms = int((loop.time() - started) * 1000)
        if outcome is not Outcome.EXITED:
            await self.factory.kill_unread(sandbox)
        result = await run_result(job, output, Ending(outcome, summary, result_payload, elapsed_ms))
        artifacts.finish()
        result.results, result.files = artifacts.results, artifacts.files
        return result


_engines: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Engine]" = (
    weakref.WeakKeyDictionary()
)


def use_engine(engine: Engine) -> None:
    """From now on, this event loop's engine is `engine`: the seam for tests and benches
    that make their own."""
    _engines[asyncio.get_running_loop()] = engine


def get_engine() -> Engine:
    """This event loop's engine, made from the settings on first use."""
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        engine = _engines[loop] = Engine(EngineConfig.from_settings())
    return engine


__all__ = ["Engine", "EngineBusy", "EngineConfig", "EngineUnavailable", "get_engine", "use_engine"]
