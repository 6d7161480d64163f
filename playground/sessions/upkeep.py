"""Sessions kept up in the background, by the node that holds them: idle ones pause,
paused ones past their retention end, and a restart leaves no session running that no
record knows of.

- Every SWEEP_INTERVAL_S, a ready session past its `expires_at` (its last call plus its
  idle_timeout) pauses; a paused one past its `expires_at` (SANDPIT_SESSION_RETENTION_
  DAYS) ends, its saved files deleted.
- When the server stops, its running sessions pause (files saved, sandboxes removed),
  within the lifespan's bounds.
- When it starts, before the engine reaps every container of its instance, its records
  are settled: a session whose files were saved (paused, or saved as the server
  stopped) is paused, any other ends, each with a reason.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from playground.models import Session
from playground.sessions import services
from sandbox.engine import get_engine
from sandbox.errors import EngineError, SessionError

log = logging.getLogger(__name__)
Status = Session.Status
SWEEP_INTERVAL_S = 2.0
RESTARTED_PAUSED = "the server restarted; its files were saved"
RESTARTED_ENDED = "the server restarted before its files were saved"
STOPPED_PAUSED = "the server stopped; its files were saved"


def sessions_recover(*, node: str, saved: set[str]) -> tuple[int, int]:
    """At start-up: this node's sessions that were running are paused when their files
    were saved (`saved`: the ids with a saved working directory), else ended. How many
    of each."""
    now = timezone.now()
    paused = ended = 0
    running = Session.objects.filter(node=node, status=Status.READY)
    for session in running.only("id", "status"):
        if session.id in saved:
            retention = timedelta(days=settings.SANDPIT_SESSION_RETENTION_DAYS)
            fields = {
                "status": Status.PAUSED,
                "reason": RESTARTED_PAUSED,
                "expires_at": now + retention,
            }
            paused += 1
        else:
            fields = {"status": Status.ENDED, "reason": RESTARTED_ENDED, "expires_at": None}
            ended += 1
        Session.objects.filter(id=session.id, status=Status.READY).update(**fields)
    # Paused ones whose files are gone (a state folder wiped) can never wake.
    lost = Session.objects.filter(node=node, status=Status.PAUSED).exclude(id__in=saved)
    ended += lost.update(status=Status.ENDED, reason="its saved files are gone", expires_at=None)
    return paused, ended


async def recover_at_start() -> None:
    engine = get_engine()
    saved = {path.stem for path in engine.sessions.saved_dir.glob("ses_*.tar")}
    paused, ended = await sync_to_async(sessions_recover)(
        node=settings.SANDBOX_INSTANCE, saved=saved
    )
    if paused or ended:
        log.warning("after the last stop, %d sessions are paused and %d ended", paused, ended)


async def pause_all_at_stop() -> None:
    """The server stops: its running sessions save their files and let go."""
    engine = get_engine()
    for session_id in engine.sessions.live_ids():
        if engine.sessions.is_frozen(session_id):
            continue  # saved already, and paused on the record
        session = await Session.objects.filter(id=session_id).afirst()
        if session is None or session.status != Status.READY:
            continue
        try:
            await services.session_pause(session=session, reason=STOPPED_PAUSED)
        except (SessionError, EngineError, DatabaseError) as exc:
            log.warning("session %s could not pause as the server stopped: %s", session_id, exc)


async def sweep() -> None:
    """Idle sessions pause; paused ones past their retention end."""
    now = timezone.now()
    due = Session.objects.filter(node=settings.SANDBOX_INSTANCE, expires_at__lte=now)
    busy = get_engine().sessions.is_busy
    async for session in due.filter(status=Status.READY):
        if busy(session.id):
            continue  # a call is going on: its end sets a new expiry
        try:
            reason = f"paused after {session.idle_timeout_s} s idle"
            await services.session_pause(session=session, reason=reason)
        except SessionError as exc:
            log.info("session %s did not pause: %s", session.id, exc)
    days = settings.SANDPIT_SESSION_RETENTION_DAYS
    async for session in due.filter(status=Status.PAUSED):
        await services.session_end(session=session, reason=f"paused for more than {days} days")


class SessionUpkeep:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await pause_all_at_stop()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await sweep()
            except DatabaseError as exc:
                log.warning("session sweep: the database is away (%s)", exc)
            except Exception:
                log.exception("session sweep failed")


session_upkeep = SessionUpkeep()
