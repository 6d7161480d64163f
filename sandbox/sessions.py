"""Sessions in the engine: sandboxes kept for one session each, whose worker runs cells.

A session's sandbox is taken from the same warm pool as a run's (same image, limits and
hardening), serves that session only, and is removed when the session ends or its pause
has lasted. The engine knows sessions by id and nothing of their owners' records: the
playground (playground/sessions/) says when to open, call, pause, resume and end.

- A call takes a run slot of its owner (sandbox/admission.py) while it runs, as a run
  does; opening or resuming one takes a slot while its sandbox starts. Past
  `max_sessions` sandboxes held here, opening or resuming is EngineBusy.
- One request at a time: `reserved()` holds a session for a call, a pause or a resume,
  and refuses a second as SessionBusy at once.
- A pause saves the working directory (a tar, bounded) under the state folder, then
  freezes the sandbox (the cgroup freezer: its memory kept, no CPU) for `frozen_s`;
  waking it within that time keeps the interpreter's memory ("memory"), later the
  sandbox is gone and a fresh one gets the files back ("files"). Checkpointing the
  interpreter itself is not done: CRIU 3.17.1 fails `criu check` on this kernel, and
  Docker's checkpoints lose tmpfs files and read-only roots (DESIGN.md, "Sessions").
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox import images, limits
from sandbox.egress.policy import parse_rules
from sandbox.errors import EngineBusy, EngineError, EngineUnavailable, SessionBusy, SessionEnded
from sandbox.events import EventSink
from sandbox.jobs import Job, JobKind, RunResult, validate_job
from sandbox.protocol import ProtocolError
from sandbox.session_sandbox import LiveSession

if TYPE_CHECKING:
    from sandbox.engine import Engine

log = logging.getLogger(__name__)
MEMORY = "memory"
FILES = "files"
# A session's proxy lasts as long as its sandbox: its own clock never ends a connection.
NO_DEADLINE_S = 10 * 365 * 24 * 3600


class SessionHost:
    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self.saved_dir = engine.config.state_dir / "sessions"
        self._live: dict[str, LiveSession] = {}
        self._busy: set[str] = set()
        self._janitor: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.saved_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._janitor is None:
            self._janitor = asyncio.get_running_loop().create_task(self._let_go_of_frozen())

    async def close(self) -> None:
        """Remove every session's sandbox (their saved files stay)."""
        if self._janitor is not None:
            self._janitor.cancel()
        for live in list(self._live.values()):
            await self._drop(live)

    # --- what is here -----------------------------------------------------------------

    def live_ids(self) -> set[str]:
        """The sessions whose sandbox is here, frozen or not."""
        return set(self._live)

    def is_busy(self, session_id: str) -> bool:
        return session_id in self._busy

    def is_frozen(self, session_id: str) -> bool:
        live = self._live.get(session_id)
        return live is not None and live.frozen

    def call_ids(self) -> dict[str, str]:
        """The execution ids of the calls going on, with their sessions."""
        return {live.call_id: sid for sid, live in self._live.items() if live.call_id}

    def saved_path(self, session_id: str) -> Path:
        if not session_id.replace("_", "").isalnum():
            raise ValueError(f"not a session id: {session_id!r}")
        return self.saved_dir / f"{session_id}.tar"

    def has_saved(self, session_id: str) -> bool:
        return self.saved_path(session_id).exists()

    def discard_saved(self, session_id: str) -> None:
        self.saved_path(session_id).unlink(missing_ok=True)

    @contextlib.contextmanager
    def reserved(self, session_id: str) -> Iterator[None]:
        """Hold the session for one request; SessionBusy at once while another holds it."""
        if session_id in self._busy:
            raise SessionBusy(
                "a call to this session is going on; wait for it to finish, or interrupt it"
            )
        self._busy.add(session_id)
        try:
            yield
        finally:
            self._busy.discard(session_id)

    # --- requests ---------------------------------------------------------------------

    async def open(self, job: Job, *, restore: Path | None = None) -> dict[str, Any]:
        """Start the session's sandbox: its env, files and egress, or its saved files.

        Raises JobInvalid, EngineBusy (or TenantBusy), EngineUnavailable.
        """
        engine = self.engine
        assert job.kind is JobKind.SESSION and job.run_id
        validate_job(
            job,
            max_timeout_s=engine.config.max_timeout_s,
            max_memory_mib=engine.config.max_memory_mib,
        )
        await engine.start()
        if len(self._live) >= engine.config.max_sessions:
            raise EngineBusy(
                f"this server holds {len(self._live)} sessions, the most it may; "
                "try again when one ends or pauses"
            )
        async with engine.admission.slot(job.tenant):
            pool = engine.pool_for(job.image or images.base_image_tag(), job.language.family)
            sandbox = await pool.acquire()
        proxy = None
        try:
            if job.limits.memory_mib != sandbox.memory_mib:
                await engine.adapter.set_memory(
                    sandbox.sandbox_id, job.limits.memory_mib, job.language.family
                )
            if job.http_allow:
                rules = parse_rules(job.http_allow)
                deadline = asyncio.get_running_loop().time() + NO_DEADLINE_S
                proxy = engine.egress.proxy(sandbox.egress_dir, rules, deadline)
                await proxy.__aenter__()
            live = LiveSession(job.run_id, job, sandbox, proxy)
            size = (await asyncio.to_thread(restore.stat)).st_size if restore else 0
            extra = {"restore": size} if restore is not None else {}
            wire = job.to_wire(engine.config.output_caps, **extra)
            summary = await live.open(wire, restore, size)
        except BaseException as exc:
            if proxy is not None:
                await proxy.__aexit__(None, None, None)
            await engine.factory.kill_unread(sandbox)
            if isinstance(exc, ProtocolError | TimeoutError | EOFError | ConnectionError):
                raise EngineUnavailable(f"the session's sandbox did not start: {exc}") from exc
            raise
        self._live[job.run_id] = live
        return summary.details.get("restored") or {}

    async def resume(self, job: Job) -> str:
        """Wake a paused session: thawed, its memory kept, while its sandbox is frozen;
        else in a fresh sandbox with its saved files. What came back: MEMORY or FILES."""
        live = self._live.get(job.run_id)
        if live is not None:
            await self._thaw(live)
            self.discard_saved(job.run_id)
            return MEMORY
        saved = self.saved_path(job.run_id)
        if not saved.exists():
            raise SessionEnded("the session's saved files are gone; open a new session")
        await self.open(job, restore=saved)
        self.discard_saved(job.run_id)
        return FILES

    async def call(self, session_id: str, job: Job, emit: EventSink) -> RunResult:
        """Run one cell in a session whose sandbox is here and awake."""
        engine = self.engine
        live = self._live.get(session_id)
        if live is None or live.frozen:
            raise SessionEnded("the session's sandbox is not here")
        assert job.kind is JobKind.CELL
        validate_job(
            job,
            max_timeout_s=engine.config.max_timeout_s,
            max_memory_mib=engine.config.max_memory_mib,
        )
        async with engine.admission.slot(job.tenant):
            result = await live.call(
                job,
                emit,
                caps=engine.config.output_caps,
                max_output_bytes=engine.config.max_output_bytes,
            )
        if result.session_ended:
            await self._drop(live)
        return result

    async def interrupt(self, session_id: str) -> bool:
        """SIGINT to the call going on, its state kept; False when none is going on."""
        live = self._live.get(session_id)
        if live is None or not live.call_id:
            return False
        await live.send(b'{"kind": "interrupt"}')
        return True

    async def pause(self, session_id: str) -> dict[str, Any]:
        """Save the session's files, then freeze its sandbox for a while (or remove it
        at once); what was saved. SessionEnded when its sandbox is not here."""
        live = self._live.get(session_id)
        if live is None:
            raise SessionEnded("the session's sandbox is not here")
        if live.frozen:
            return {}
        try:
            saved = await live.save(self.saved_path(session_id), limits.SESSION_SAVED_MAX_BYTES)
        except (ProtocolError, TimeoutError, EOFError, ConnectionError) as exc:
            await self._drop(live)
            raise SessionEnded(f"the session's files could not be saved ({exc})") from exc
        frozen_s = self.engine.config.session_frozen_s
        if frozen_s <= 0:
            await self._drop(live)
            return saved
        try:
            await self.engine.adapter.freeze_sandbox(live.sandbox.sandbox_id)
        except Exception as exc:  # frozen or not, the files are saved: let the sandbox go
            log.warning("could not freeze session %s: %r", session_id, exc)
            await self._drop(live)
            return saved
        live.frozen_until = asyncio.get_running_loop().time() + frozen_s
        return saved

    async def let_go(self, session_id: str) -> None:
        """Remove a paused session's frozen sandbox now: only its saved files are left."""
        live = self._live.get(session_id)
        if live is not None and live.frozen:
            await self._drop(live)

    async def end(self, session_id: str) -> None:
        """Remove the session's sandbox now (a call going on ends) and its saved files."""
        live = self._live.get(session_id)
        if live is not None:
            live.sandbox.stopped = True
            await self._drop(live)
        self.discard_saved(session_id)

    # --- inside -----------------------------------------------------------------------

    async def _thaw(self, live: LiveSession) -> None:
        if not live.frozen:
            return
        try:
            await self.engine.adapter.thaw_sandbox(live.sandbox.sandbox_id)
        except Exception as exc:
            await self._drop(live)
            raise SessionEnded(f"the session's sandbox could not be woken ({exc})") from exc
        live.frozen_until = None

    async def _drop(self, live: LiveSession) -> None:
        """Let the sandbox go: its proxy closed, its container removed."""
        if self._live.get(live.session_id) is live:
            del self._live[live.session_id]
        if live.proxy is not None:
            with contextlib.suppress(Exception):
                await live.proxy.__aexit__(None, None, None)
        try:
            await self.engine.factory.kill_unread(live.sandbox)
        except EngineError as exc:
            log.warning("could not remove session %s's sandbox: %s", live.session_id, exc)

    async def _let_go_of_frozen(self) -> None:
        """Sandboxes frozen past their time are removed: their sessions keep their files."""
        while True:
            await asyncio.sleep(limits.SESSION_JANITOR_INTERVAL_S)
            now = asyncio.get_running_loop().time()
            for live in list(self._live.values()):
                due = live.frozen_until is not None and live.frozen_until <= now
                if due and live.session_id not in self._busy:
                    try:
                        await self.let_go(live.session_id)
                    except Exception:
                        log.exception("letting go of session %s failed", live.session_id)
