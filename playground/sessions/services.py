"""Writes on sessions: opened, called, interrupted, paused, resumed and ended, for their
owner. The API and MCP call these; they never reach the engine themselves.

The record (playground.models.Session) says what a session is and which node holds it;
that node's engine (sandbox/sessions.py) holds its sandbox, or its saved files. Every
call is an Execution of kind "session", accepted, recorded and run as every run is
(playground/runs/services.py), one at a time: a second request while one goes on is
SessionBusy at once, before anything is written.
"""

import asyncio
import contextlib
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F
from django.utils import timezone

from playground.models import Execution, Session
from playground.runs.live import live_runs
from playground.runs.masking import mask_request, trim_request
from playground.runs.services import (
    Submission,
    execution_accept,
    execution_execute,
    execution_prepare,
)
from playground.secrets.box import secret_box
from sandbox.engine import get_engine
from sandbox.errors import SessionElsewhere, SessionEnded, TooManySessions
from sandbox.events import EventSink
from sandbox.ids import new_session_id
from sandbox.jobs import Job, JobKind, Limits, RunResult
from sandbox.languages import Language

Status = Session.Status
ENDED_BY_OWNER = "ended by its owner"
PAUSED_BY_OWNER = "paused by its owner"
SANDBOX_GONE = "its sandbox is gone"
# One opening at a time per owner on this node, so that two at once cannot both slip
# under SANDPIT_SESSIONS_PER_OWNER.
_openings: dict[int, asyncio.Lock] = {}


@dataclass(frozen=True)
class Opening:
    """A session as it was asked for (playground/runs/intake.py): its sandbox's job, with
    no code, the request to keep, its runtime revision and idle time."""

    owner: User
    job: Job
    request: dict[str, Any]
    runtime_revision_id: str | None
    idle_timeout_s: int
    # Fewer live sessions than the owner's cap (a guest's); None: the cap.
    max_sessions: int | None = None


def _seal(job: Job) -> str:
    private = {"env": dict(job.env), "http_allow": [dict(rule) for rule in job.http_allow]}
    return secret_box().seal(json.dumps(private))


def sandbox_job(session: Session) -> Job:
    """The job that opens the session's sandbox again: its language, image, memory, and
    its env and network unsealed."""
    private = json.loads(secret_box().open(session.sealed)) if session.sealed else {}
    return Job(
        kind=JobKind.SESSION,
        language=Language(session.language),
        code="",
        env=private.get("env", {}),
        http_allow=tuple(private.get("http_allow", ())),
        limits=Limits(memory_mib=session.memory_mib),
        image=session.image or None,
        run_id=session.id,
        tenant=str(session.owner_id),
    )


def _check_here(session: Session) -> None:
    if session.is_ended:
        raise SessionEnded(f"the session has ended ({session.reason}); open a new one")
    if session.node != settings.SANDBOX_INSTANCE:
        raise SessionElsewhere(
            f"the session is held by node {session.node!r}; calls must reach that node "
            "(forwarding between nodes is not built yet)"
        )


async def _save(session: Session, *fields: str) -> None:
    await session.asave(update_fields=list(fields))


async def _record_end(session: Session, reason: str) -> None:
    session.status, session.reason, session.expires_at = Status.ENDED, reason, None
    await _save(session, "status", "reason", "expires_at")


async def session_open(opening: Opening) -> Session:
    """Start a session's sandbox and record it; TooManySessions past the owner's cap,
    JobInvalid for a runtime revision that cannot run it, engine errors as runs have
    them. A refusal leaves no record."""
    owner = opening.owner
    engine = get_engine()
    tenant = str(owner.pk)
    engine.refuse_if_busy(tenant)
    async with _openings.setdefault(owner.pk, asyncio.Lock()):
        live = await Session.objects.filter(owner=owner).exclude(status=Status.ENDED).acount()
        most = min(settings.SANDPIT_SESSIONS_PER_OWNER, opening.max_sessions or live + 1)
        if live >= most:
            raise TooManySessions(
                f"you have {live} live sessions, the most you may have ({most}); end one "
                "first (DELETE /v1/sessions/{id}, or a notebook's End session)"
            )
        job = await execution_prepare(
            owner=owner, job=opening.job, runtime_revision_id=opening.runtime_revision_id
        )
        now = timezone.now()
        session = Session(
            id=new_session_id(),
            owner=owner,
            language=job.language.value,
            runtime_revision_id=opening.runtime_revision_id or "",
            image=job.image or "",
            memory_mib=job.limits.memory_mib,
            idle_timeout_s=opening.idle_timeout_s,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=opening.idle_timeout_s),
            node=settings.SANDBOX_INSTANCE,
            request=trim_request(
                mask_request(opening.request),
                max_bytes=settings.SANDPIT_MAX_STORED_REQUEST_BYTES,
            ),
            sealed=await sync_to_async(_seal)(job),
        )
        job = replace(job, run_id=session.id, tenant=tenant)
        with engine.sessions.reserved(session.id):
            await engine.sessions.open(job)
            try:
                await session.asave(force_insert=True)
            except BaseException:
                await asyncio.shield(engine.sessions.end(session.id))
                raise
    return session


async def _wake(session: Session) -> None:
    """Make sure the session's sandbox is here and awake (the caller holds it)."""
    engine = get_engine()
    here = session.id in engine.sessions.live_ids()
    if session.status == Status.READY and here and not engine.sessions.is_frozen(session.id):
        return
    if not here and not engine.sessions.has_saved(session.id):
        await _record_end(session, SANDBOX_GONE)
        raise SessionEnded(f"the session has ended ({SANDBOX_GONE}); open a new one")
    job = await sync_to_async(sandbox_job)(session)
    try:
        kept = await engine.sessions.resume(job)
    except SessionEnded as exc:
        await _record_end(session, str(exc))
        raise
    now = timezone.now()
    session.status, session.reason, session.state_kept = Status.READY, "", kept
    session.last_used_at = now
    session.expires_at = now + timedelta(seconds=session.idle_timeout_s)
    await _save(session, "status", "reason", "state_kept", "last_used_at", "expires_at")


async def session_call(
    *, session: Session, submission: Submission, on_event: EventSink | None = None
) -> Execution:
    """Run one call in the session (resumed first if it is paused), recorded as an
    Execution. SessionBusy while another request of it goes on, SessionEnded once it
    has ended: either before anything is written."""
    _check_here(session)
    with get_engine().sessions.reserved(session.id):
        execution, job = await _call_accept(session, submission)
        return await _call_execute(session, execution, job, on_event)


async def session_call_start(*, session: Session, submission: Submission) -> Execution:
    """Accept a call and run it in the background, watched over its WebSocket as the
    playground's runs are (playground/runs/live.py): the notebook page's path. The
    session stays held until the call ends; refusals come before anything is written."""
    _check_here(session)
    with contextlib.ExitStack() as holding:
        holding.enter_context(get_engine().sessions.reserved(session.id))
        execution, job = await _call_accept(session, submission)
        held = holding.pop_all()  # from here the call's own task lets the session go

    async def run(sink: EventSink) -> Execution:
        with held:
            return await _call_execute(session, execution, job, sink)

    live_runs.start(execution, run)
    return execution


async def _call_accept(session: Session, submission: Submission) -> tuple[Execution, Job]:
    """Wake the session (the caller holds it) and record the call as queued."""
    await _wake(session)
    return await execution_accept(submission)


async def _call_execute(
    session: Session, execution: Execution, job: Job, on_event: EventSink | None
) -> Execution:
    """Run the recorded call in the session's sandbox; note its use, or its end."""
    engine = get_engine()
    ended = ""
    noted = False

    async def call(job: Job, emit: EventSink) -> RunResult:
        nonlocal ended
        result = await engine.sessions.call(session.id, job, emit)
        ended = result.session_ended
        return result

    def note_call() -> None:
        """The session's count, last use and expiry (or its end), saved with the call's
        result: one trip to the database for both."""
        nonlocal noted
        now = timezone.now()
        changes: dict[str, Any] = {"calls": F("calls") + 1, "last_used_at": now}
        changes["expires_at"] = now + timedelta(seconds=session.idle_timeout_s)
        if ended or session.id not in engine.sessions.live_ids():
            reason = ended or SANDBOX_GONE
            changes |= {"status": Status.ENDED, "reason": reason, "expires_at": None}
        Session.objects.filter(id=session.id).update(**changes)
        noted = True

    try:
        return await execution_execute(
            execution=execution, job=job, on_event=on_event, runner=call, also_save=note_call
        )
    finally:
        if not noted:  # the call failed before its result was saved
            await sync_to_async(note_call)()


async def session_interrupt(*, session: Session) -> bool:
    """Interrupt the call going on, keeping the session's state; False when none is."""
    _check_here(session)
    return await get_engine().sessions.interrupt(session.id)


async def session_pause(*, session: Session, reason: str = PAUSED_BY_OWNER) -> Session:
    """Save the session's files and let its sandbox go (frozen for a while first)."""
    _check_here(session)
    if session.status == Status.PAUSED:
        return session
    engine = get_engine()
    with engine.sessions.reserved(session.id):
        if session.id not in engine.sessions.live_ids():
            await _record_end(session, SANDBOX_GONE)
            raise SessionEnded(f"the session has ended ({SANDBOX_GONE}); open a new one")
        try:
            saved = await engine.sessions.pause(session.id)
        except SessionEnded as exc:
            await _record_end(session, str(exc))
            raise
        left = [str(item.get("path", "")) for item in saved.get("skipped", [])]
        if left:  # a fifo, a file it could not read whole, or past the cap
            reason += f"; not saved: {', '.join(left[:5])}{' and more' if len(left) > 5 else ''}"
        await _record_pause(session, reason)
    return session


async def _record_pause(session: Session, reason: str) -> None:
    retention = timedelta(days=settings.SANDPIT_SESSION_RETENTION_DAYS)
    session.status, session.reason = Status.PAUSED, reason
    session.expires_at = timezone.now() + retention
    await _save(session, "status", "reason", "expires_at")


async def session_resume(*, session: Session) -> Session:
    """Wake a paused session now rather than at its next call."""
    _check_here(session)
    with get_engine().sessions.reserved(session.id):
        await _wake(session)
    return session


async def session_end(*, session: Session, reason: str = ENDED_BY_OWNER) -> Session:
    """End the session: its sandbox removed at once (a call going on stops), its saved
    files deleted. Ending an ended session changes nothing."""
    if session.is_ended:
        return session
    if session.node != settings.SANDBOX_INSTANCE:
        _check_here(session)
    await get_engine().sessions.end(session.id)
    await _record_end(session, reason)
    return session
