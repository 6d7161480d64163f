"""Writes: API keys and executions. Views call these; they never reach the engine themselves."""

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)
from django.utils import timezone

from playground.cluster.nodes import ask_to_input, ask_to_stop
from playground.models import ApiKey, Execution
from playground.runs import files as artifacts
from playground.runs.live import announce_unshared, live_runs
from playground.runs.masking import mask_request, trim_request
from sandbox.engine import get_engine
from sandbox.errors import EngineError, JobInvalid
from sandbox.events import EventSink, RunEvent, StatusEvent
from sandbox.jobs import Job, RunResult
from sandbox.selectors import revision_image_for_run

log = logging.getLogger(__name__)
# How long a finished run's result waits for a database that is away: about 30 s.
SAVE_RETRY_DELAYS_S = (0.5, 1, 2, 4, 8, 16)
# A run is recorded running after this long; watchers hear of it at once regardless.
RUNNING_MARK_AFTER_S = 0.25
KEY_PREFIX = "sp_"
# How much of a key is kept in clear to tell keys apart: "sp_" and 8 characters.
VISIBLE_KEY_CHARS = 11
# last_used_at is a convenience, not an audit log: one write a minute per key at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    # A fast hash is right here: keys are 256 random bits, not passwords to stretch.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, owner: User, name: str) -> tuple[ApiKey, str]:
    """Make a key; the key in clear is returned this once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        owner=owner, name=name, prefix=key[:VISIBLE_KEY_CHARS], hashed_key=hash_key(key)
    )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


def api_key_lookup(*, key: str) -> ApiKey | None:
    """The active key behind this bearer token, or None; notes when it was last used."""
    if not key.startswith(KEY_PREFIX):
        return None
    api_key = (
        ApiKey.objects.select_related("owner")
        .filter(hashed_key=hash_key(key), revoked_at__isnull=True, owner__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        api_key.last_used_at = now
        api_key.save(update_fields=["last_used_at"])
    return api_key


async def api_key_authenticate(*, key: str) -> ApiKey | None:
    """api_key_lookup, in one trip to a thread."""
    return await sync_to_async(api_key_lookup)(key=key)


async def execution_prepare(*, owner: User, job: Job, runtime_revision_id: str | None) -> Job:
    """The job (checked by playground/runs/intake.py) on its runtime revision's image, when it
    names one.

    Raises JobInvalid, naming the field, for a revision that is unknown, another owner's,
    not built, failed, or of another language.
    """
    if runtime_revision_id is None:
        return job
    image = await revision_image_for_run(
        owner=owner, revision_id=runtime_revision_id, language=job.language.value
    )
    return replace(job, image=image)


@dataclass(frozen=True)
class Submission:
    """A run as it was asked for: by whom, of what kind, its job, the request to keep
    (masked when kept), and what it runs on (a runtime revision, a tool's revision)."""

    owner: User
    kind: Execution.Kind
    job: Job
    request: dict[str, Any]
    runtime_revision_id: str | None = None
    tool: tuple[str, str] = ("", "")
    # A session's call: its session, whose sandbox is on its image already.
    session_id: str = ""


# What runs a recorded job: the engine's run() for a run, a session's call for a call.
Runner = Callable[[Job, EventSink], Awaitable[RunResult]]


async def execution_create(submission: Submission) -> Execution:
    """Record an accepted, prepared run as queued (a tool's: with its id and revision)."""
    return await Execution.objects.acreate(
        owner=submission.owner,
        kind=submission.kind,
        language=submission.job.language.value,
        code=submission.job.code,
        request=trim_request(
            mask_request(submission.request), max_bytes=settings.SANDPIT_MAX_STORED_REQUEST_BYTES
        ),
        runtime_revision_id=submission.runtime_revision_id or "",
        tool_id=submission.tool[0],
        tool_revision_id=submission.tool[1],
        session_id=submission.session_id,
        node=settings.SANDBOX_INSTANCE,
    )


async def execution_execute(
    *,
    execution: Execution,
    job: Job,
    on_event: EventSink | None = None,
    runner: Runner | None = None,
    also_save: Callable[[], object] | None = None,
) -> Execution:
    """Run a recorded execution (in a fresh sandbox, or by `runner`) and record what came
    of it; `also_save` writes what goes with its result, in the same trip (a session's).

    Engine errors are recorded on the execution, then raised.
    """
    marking: set[asyncio.Task[None]] = set()

    async def relay(event: RunEvent) -> None:
        if event == StatusEvent("running"):
            # Not awaited: the run goes on meanwhile.
            marking.add(asyncio.create_task(_mark_running(execution.id)))
        if on_event is not None:
            await on_event(event)

    try:
        try:
            run = runner or get_engine().run
            result = await run(replace(job, run_id=execution.id), relay)
        finally:
            for task in marking:
                task.cancel()  # a run that ended first is never marked running
            await asyncio.gather(*marking, return_exceptions=True)
    except (EngineError, JobInvalid) as exc:
        execution.record_failure(str(exc))
        await execution.asave()
        raise
    except asyncio.CancelledError:
        # The client went away or the server is stopping: the record must still end.
        execution.record_failure("the run was interrupted before it finished")
        await asyncio.shield(execution.asave())
        raise
    except Exception as exc:
        # A bug of ours: the run still ends on the record, never "running" for ever.
        execution.record_failure(f"Sandpit failed to run it ({type(exc).__name__})")
        await asyncio.shield(execution.asave())
        raise
    execution.record_result(result)
    kept = artifacts.new_files(job, result.files)
    if kept:
        execution.files = await asyncio.to_thread(artifacts.files_store, execution, kept)
    try:
        await save_retrying(execution, also_save)
    except DatabaseError:
        # Still away after the retries: the node's sweep (or its restart) ends the record.
        raise
    except Exception as exc:
        # A result the database would not take: keep that it ended, and why.
        await execution.arefresh_from_db()
        execution.record_failure(f"the run's result could not be stored ({type(exc).__name__})")
        await asyncio.shield(execution.asave())
        raise
    return execution


async def _mark_running(execution_id: str) -> None:
    """Mark a run running once it has been for a moment: most runs end sooner, and save
    a write. The filter makes it a no-op if the final save got there first."""
    await asyncio.sleep(RUNNING_MARK_AFTER_S)
    await Execution.objects.filter(id=execution_id, status=Execution.Status.QUEUED).aupdate(
        status=Execution.Status.RUNNING
    )


async def save_retrying(execution: Execution, also: Callable[[], object] | None = None) -> None:
    """Save a finished run (and `also` in the same transaction), waiting out a database
    that is briefly away.

    A run's result is kept when the database is back within the retries; past them the
    DatabaseError is raised and the record, still unfinished, is ended by a sweep.
    """

    def save() -> None:
        with transaction.atomic():
            execution.save()
            if also is not None:
                also()

    for delay in (*SAVE_RETRY_DELAYS_S, None):
        try:
            await sync_to_async(save)()
            return
        except (OperationalError, InterfaceError):
            if delay is None:
                raise
            log.warning("the database is away; saving run %s again in %s s", execution.id, delay)
            await asyncio.sleep(delay)
            await sync_to_async(close_old_connections)()


async def execution_accept(submission: Submission) -> tuple[Execution, Job]:
    """Put the job (from playground/runs/intake.py) on its revision's image, and record it as
    queued.

    A run the engine would refuse as busy is refused before it is recorded.
    """
    owner = submission.owner
    job = replace(submission.job, tenant=str(owner.pk))
    get_engine().refuse_if_busy(job.tenant)
    if not submission.session_id:
        job = await execution_prepare(
            owner=owner, job=job, runtime_revision_id=submission.runtime_revision_id
        )
    return await execution_create(replace(submission, job=job)), job


async def execution_run(submission: Submission) -> Execution:
    """Accept the run, run it, and return it finished: the API's path."""
    execution, job = await execution_accept(submission)
    return await execution_execute(execution=execution, job=job)


async def execution_start(submission: Submission) -> Execution:
    """Accept the run and start it in the background.

    The playground's path: the page gets the id at once and watches the run stream over a
    WebSocket.
    """
    execution, job = await execution_accept(submission)
    live_runs.start(
        execution, lambda sink: execution_execute(execution=execution, job=job, on_event=sink)
    )
    return execution


async def execution_stop(*, execution: Execution) -> bool:
    """Kill a run, on this node or through its own; False when it is not going on."""
    if await get_engine().stop(execution.id):
        return True
    await execution.arefresh_from_db()
    return await ask_to_stop(execution)


async def execution_input(*, execution: Execution, text: str | None) -> bool:
    """More of a live-stdin run's input (None: its end), on this node or through its own;
    False when it is not going, takes no input, or had all it may."""
    if await get_engine().send_stdin(execution.id, text):
        return True
    await execution.arefresh_from_db()
    return await ask_to_input(execution, text)


def execution_share(*, execution: Execution, shared: bool) -> None:
    """Shared: anyone with the link may see the run (never its env or credentials)."""
    execution.is_shared = shared
    execution.save(update_fields=["is_shared"])
    if not shared:
        async_to_sync(announce_unshared)(execution.id)


def executions_fail_interrupted(*, node: str) -> int:
    """Runs this node left unfinished when it stopped end as errors, not "running" forever."""
    unfinished = Execution.objects.filter(
        node=node, status__in=[Execution.Status.QUEUED, Execution.Status.RUNNING]
    )
    count = 0
    for execution in unfinished:
        execution.record_failure("the server restarted before the run finished")
        execution.save()
        count += 1
    return count
