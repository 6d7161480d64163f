"""Runs going on in this server process, and the stream of their events to watchers.

Every event of a run gets the next sequence number, is kept in the run's buffer and is
sent to the run's Channels group. A watcher joins the group first, then takes a
snapshot (the state and output so far, up to sequence n) and from then on shows only
events after n: a watcher that joins late loses no line and shows none twice.
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from playground.models import Execution
from playground.runs import runlog
from playground.runs.messages import (
    BUILD_EVENT,
    EXECUTION_EVENT,
    EXECUTION_UNSHARED,
    Finished,
    RunMessage,
    Snapshot,
    numbered,
    of_build_event,
)
from playground.runs.serializers import execution_state
from sandbox.errors import EngineError, JobInvalid
from sandbox.events import BuildEvent, EventSink, OutputEvent, RunEvent, StatusEvent, Stream

log = logging.getLogger(__name__)

Runner = Callable[[EventSink], Awaitable[Execution]]


def group_name(execution_id: str) -> str:
    return f"execution.{execution_id}"


async def broadcast(execution_id: str, message: RunMessage) -> None:
    """Send one of a run's messages to its watchers (ExecutionConsumer.execution_event)."""
    await _group_send(group_name(execution_id), {"type": EXECUTION_EVENT, "event": message.wire()})


async def announce_unshared(execution_id: str) -> None:
    """Tell a run's watchers that it is private again: those not its owner are let go."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group_name(execution_id), {"type": EXECUTION_UNSHARED})


def build_group_name(revision_id: str) -> str:
    return f"revision.{revision_id}"


async def build_line_sink(revision_id: str, event: BuildEvent) -> None:
    """Where runtime builds tell their events: the revision's watchers
    (RevisionBuildConsumer.build_event)."""
    message = {"type": BUILD_EVENT, "event": of_build_event(event).wire()}
    await _group_send(build_group_name(revision_id), message)


async def _group_send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group, message)


class LiveRun:
    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.seq = 0
        self.status = execution.status
        self.text: dict[Stream, list[str]] = {"stdout": [], "stderr": []}

    async def publish(self, event: RunEvent) -> None:
        """The engine's sink: keep the event, number it, send it on."""
        match event:
            case StatusEvent(status=status):
                self.status = status
            case OutputEvent(stream=stream, text=text):
                self.text[stream].append(text)
        self.seq += 1
        await self._send(numbered(event, self.seq))

    async def finish(self) -> None:
        self.seq += 1
        await self._send(Finished(self.seq, execution_state(self.execution)))

    async def _send(self, message: RunMessage) -> None:
        await runlog.append(self.execution.id, message)
        try:
            await broadcast(self.execution.id, message)
        except (OSError, RedisError) as exc:
            # The channel layer is away: the run goes on, and its record will tell all.
            log.warning(
                "run %s: live events are not reaching watchers (%s)", self.execution.id, exc
            )

    def snapshot(self) -> Snapshot:
        state = execution_state(self.execution)
        state.update(
            status=self.status,
            stdout="".join(self.text["stdout"]),
            stderr="".join(self.text["stderr"]),
        )
        return Snapshot(self.seq, state)


class LiveRuns:
    """The registry of this process's runs in progress."""

    def __init__(self) -> None:
        self._runs: dict[str, LiveRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, execution_id: str) -> LiveRun | None:
        return self._runs.get(execution_id)

    def start(self, execution: Execution, runner: Runner) -> LiveRun:
        live = self._runs[execution.id] = LiveRun(execution)
        # A context of its own: the request that starts the run ends long before the run,
        # and with it the request's thread for database calls (asgiref's
        # ThreadSensitiveContext), which a task inheriting its context would still use.
        task = asyncio.get_running_loop().create_task(
            self._run(live, runner), context=contextvars.Context()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return live

    async def _run(self, live: LiveRun, runner: Runner) -> None:
        try:
            await runner(live.publish)
        except (EngineError, JobInvalid):
            pass  # recorded on the execution by the runner
        except Exception as exc:
            log.exception("run %s failed", live.execution.id)
            live.execution.record_failure(f"Sandpit failed to run it ({type(exc).__name__})")
            await live.execution.asave()
        finally:
            # The record is saved before watchers hear "finished": one who joins after
            # this reads the same final state from the database.
            del self._runs[live.execution.id]
            await live.finish()


live_runs = LiveRuns()
