"""WebSocket: watch one run live. Late joiners get the state so far, then the rest."""

import asyncio
import contextlib
import json
import math
from dataclasses import replace
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from playground.models import Execution
from playground.runs import runlog, services
from playground.runs.live import build_group_name, group_name, live_runs
from playground.runs.messages import (
    MAX_INPUT_CHARS,
    BuildFinished,
    BuildLine,
    BuildSnapshot,
    Finished,
    Input,
    Problem,
    Stop,
    build_message,
    run_message,
    watcher_message,
)
from playground.runs.selectors import aexecution_visible
from playground.runs.serializers import execution_state
from playground.web.guests import viewer_id
from sandbox.builds.orchestrator import runtime_builds
from sandbox.models import RuntimeRevision

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# With Redis away, how often a watcher's socket reads the run's record.
RECORD_POLL_S = 1.0
# A watcher's message, at most: a line of typed input (MAX_INPUT_CHARS) as JSON.
MAX_MESSAGE_CHARS = 8 * MAX_INPUT_CHARS


class GuardedJsonConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A socket whose messages are read as hostile input: text of a bounded size, then
    JSON, each refusal a Problem message rather than a traceback (the channel layer's
    own framing: the largest a watcher may send is a line of typed input)."""

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_CHARS:
            note = f"a message must be JSON text of at most {MAX_MESSAGE_CHARS} characters"
            await self.send_json(Problem(note).wire())
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self.send_json(Problem("a message must be JSON").wire())
            return
        await self.receive_json(content)


class ExecutionConsumer(GuardedJsonConsumer):
    execution: Execution
    last_seq: float = 0
    is_owner = False

    async def connect(self) -> None:
        seen = await aexecution_visible(
            execution_id=self.scope["url_route"]["kwargs"]["execution_id"],
            viewer=viewer_id(self.scope.get("user"), self.scope.get("session")),
        )
        # Accept first: a close before the handshake shows the browser no reason at all.
        await self.accept()
        if seen is None:
            # The same answer for a run that does not exist and one that is private.
            await self.close(code=CLOSE_NOT_FOUND, reason="no such run, or it is private")
            return
        self.execution = execution = seen.execution
        self.is_owner = seen.is_owner
        # Join before the snapshot: an event sent in between comes twice and is dropped
        # by its sequence number, rather than lost.
        try:
            await self.channel_layer.group_add(group_name(execution.id), self.channel_name)
        except (OSError, RedisError):
            await self._from_the_record()
            return
        live = live_runs.get(execution.id)
        if live is not None:
            snapshot = live.snapshot()
            self.last_seq = snapshot.seq
        else:
            await execution.arefresh_from_db()
            state = execution_state(execution)
            events = [] if execution.is_finished else await runlog.replay(execution.id)
            # Going on another node: its events so far, from the run log; finished: the
            # database is the whole story.
            snapshot = runlog.snapshot_of(state, events)
            self.last_seq = math.inf if execution.is_finished else snapshot.seq
        await self.send_json(replace(snapshot, can_stop=self.is_owner).wire())

    async def _from_the_record(self) -> None:
        """Redis is away, and with it live events: the record, read until the run ends."""
        execution = self.execution
        await execution.arefresh_from_db()
        note = "live output is unavailable just now: this shows the run's record"
        await self.send_json(Problem(note).wire())
        while not execution.is_finished:
            await asyncio.sleep(RECORD_POLL_S)
            await execution.arefresh_from_db()
        state = execution_state(execution)
        await self.send_json(Finished(0, state).wire())
        await self.close()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "execution"):
            with contextlib.suppress(OSError, RedisError):
                await self.channel_layer.group_discard(
                    group_name(self.execution.id), self.channel_name
                )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            message = watcher_message(content)
        except ValueError as exc:
            await self.send_json(Problem(str(exc)).wire())
            return
        if not self.is_owner:
            await self.send_json(Problem("only the run's owner may stop it or type").wire())
        elif isinstance(message, Stop):
            if not await services.execution_stop(execution=self.execution):
                await self.send_json(Problem("the run is not going any more").wire())
        else:
            text = message.text if isinstance(message, Input) else None
            if not await services.execution_input(execution=self.execution, text=text):
                note = "the run is not going, or does not take input (any more)"
                await self.send_json(Problem(note).wire())

    async def execution_unshared(self, message: dict[str, Any]) -> None:
        if not self.is_owner:
            await self.close(code=CLOSE_FORBIDDEN, reason="the owner stopped sharing this run")

    async def execution_event(self, envelope: dict[str, Any]) -> None:
        message = run_message(envelope["event"])
        if message.seq > self.last_seq:
            self.last_seq = message.seq
            await self.send_json(message.wire())


class RevisionBuildConsumer(GuardedJsonConsumer):
    """Watch a runtime revision's build log as it grows; its owner only."""

    revision_id: str
    last_seq: float = 0

    async def connect(self) -> None:
        self.revision_id = self.scope["url_route"]["kwargs"]["revision_id"]
        revision = (
            await RuntimeRevision.objects.select_related("runtime")
            .filter(id=self.revision_id)
            .afirst()
        )
        viewer = viewer_id(self.scope.get("user"), self.scope.get("session"))
        await self.accept()
        if revision is None or viewer != revision.runtime.owner_id:
            await self.close(code=CLOSE_NOT_FOUND, reason="no such revision")
            return
        await self.channel_layer.group_add(build_group_name(self.revision_id), self.channel_name)
        live = runtime_builds.log_so_far(self.revision_id)
        if live is not None:
            text, self.last_seq = live
            status = RuntimeRevision.Status.BUILDING.value
        else:
            await revision.arefresh_from_db()
            text, status = revision.build_log, revision.status
            # No build of it goes on here: any line from now on is a new build's (a
            # rebuild from the admin, say), whose numbers start again at 1.
            self.last_seq = 0
        await self.send_json(BuildSnapshot(status, text).wire())

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "revision_id"):
            await self.channel_layer.group_discard(
                build_group_name(self.revision_id), self.channel_name
            )

    async def build_event(self, envelope: dict[str, Any]) -> None:
        message = build_message(envelope["event"])
        if isinstance(message, BuildFinished) or message.seq > self.last_seq:
            if isinstance(message, BuildLine):
                self.last_seq = message.seq
            await self.send_json(message.wire())
