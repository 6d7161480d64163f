"""The cluster: each node heartbeats, notices the nodes that stopped, ends their runs
and sessions, and takes Stop requests for its own runs from whichever node a watcher is on.

A node that misses its heartbeats for SANDPIT_NODE_TIMEOUT_S is dead: the first live
node to notice marks its unfinished runs `error` ("the node running it stopped"), and
their watchers hear `finished`. A node's restart touches only its own runs.
"""

import asyncio
import contextlib
import logging
import re
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from playground.models import Execution, Node, Session
from playground.runs.live import broadcast
from playground.runs.messages import FINAL_SEQ, RUN_STDIN, RUN_STOP, Finished
from playground.runs.serializers import execution_state
from playground.web.guests import guests_sweep
from sandbox.engine import get_engine

log = logging.getLogger(__name__)
NODE_DIED = "the node running it stopped"
SESSION_NODE_DIED = "the node holding it stopped"
UNFINISHED = (Execution.Status.QUEUED, Execution.Status.RUNNING)
# Guests go idle over weeks: an hourly look is soon enough, and costs one query.
GUEST_SWEEP_INTERVAL_S = 3600


def group_of(node: str) -> str:
    """The channel group a node listens on for Stop requests."""
    return "node." + re.sub(r"[^A-Za-z0-9_.-]", "_", node)[:90]


def beat() -> None:
    now = timezone.now()
    Node.objects.update_or_create(name=settings.SANDBOX_INSTANCE, defaults={"last_seen": now})


def sweep() -> list[Execution]:
    """End the unfinished runs of nodes that stopped heartbeating; the runs ended."""
    deadline = timezone.now() - timedelta(seconds=settings.SANDPIT_NODE_TIMEOUT_S)
    ended = []
    for node in Node.objects.filter(last_seen__lt=deadline).exclude(name=settings.SANDBOX_INSTANCE):
        for execution in Execution.objects.filter(node=node.name, status__in=UNFINISHED):
            execution.record_failure(NODE_DIED)
            # Only if it is still unfinished: another live node may have swept it first.
            ended_fields = {f: getattr(execution, f) for f in Execution.FAILURE_FIELDS}
            unfinished = Execution.objects.filter(id=execution.id, status__in=UNFINISHED)
            claimed = unfinished.update(**ended_fields)
            if claimed:
                ended.append(execution)
        log.warning("node %s stopped; %d of its runs ended as errors", node.name, len(ended))
        # Its sessions' sandboxes and saved files were on its own engine.
        Session.objects.filter(node=node.name).exclude(status=Session.Status.ENDED).update(
            status=Session.Status.ENDED, reason=SESSION_NODE_DIED, expires_at=None
        )
        node.delete()
    return ended


def sweep_own(going: set[str]) -> list[Execution]:
    """This node's runs that are on the record as unfinished long past any run's time
    and are not going here: a result the database did not take in time. They end."""
    stale = timezone.now() - timedelta(seconds=2 * settings.SANDBOX_MAX_TIMEOUT_S + 60)
    ended = []
    for execution in Execution.objects.filter(
        node=settings.SANDBOX_INSTANCE, status__in=UNFINISHED, started_at__lt=stale
    ).exclude(id__in=going):
        execution.record_failure("its result could not be stored in time")
        execution.save()
        ended.append(execution)
    return ended


async def heartbeat_forever() -> None:
    while True:
        try:
            await sync_to_async(beat)()
            going = get_engine().running_ids()
            ended = await sync_to_async(sweep)() + await sync_to_async(sweep_own)(going)
            for execution in ended:
                await broadcast(execution.id, Finished(FINAL_SEQ, execution_state(execution)))
        except DatabaseError as exc:
            log.warning("heartbeat: the database is away (%s)", exc)
        except Exception:
            log.exception("heartbeat failed")
        await asyncio.sleep(settings.SANDPIT_NODE_HEARTBEAT_S)


async def sweep_guests_forever() -> None:
    """Now and then, delete the guests nobody can be any more (playground/web/guests.py)."""
    while True:
        try:
            await sync_to_async(guests_sweep)()
        except DatabaseError as exc:
            log.warning("guest sweep: the database is away (%s)", exc)
        except Exception:
            log.exception("guest sweep failed")
        await asyncio.sleep(GUEST_SWEEP_INTERVAL_S)


async def take_stop_requests() -> None:
    """Stop runs of this node that a watcher on any node asked to stop, and give them the
    input their owner typed there."""
    layer = get_channel_layer()
    if layer is None:
        return
    channel = await layer.new_channel()
    await layer.group_add(group_of(settings.SANDBOX_INSTANCE), channel)
    while True:
        try:
            message = await layer.receive(channel)
            if message.get("type") == RUN_STOP:
                await get_engine().stop(str(message.get("execution_id", "")))
            elif message.get("type") == RUN_STDIN:
                text = message.get("text")
                run_id = str(message.get("execution_id", ""))
                await get_engine().send_stdin(run_id, text if isinstance(text, str) else None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("stop requests: %s", exc)
            await asyncio.sleep(1)


async def ask_to_stop(execution: Execution) -> bool:
    """Ask the run's node to stop it; False when the run is over already."""
    if execution.status not in UNFINISHED or not execution.node:
        return False
    layer = get_channel_layer()
    if layer is None:
        return False
    await layer.group_send(
        group_of(execution.node), {"type": RUN_STOP, "execution_id": execution.id}
    )
    return True


async def ask_to_input(execution: Execution, text: str | None) -> bool:
    """Send typed input to the run's node (None: its end); False when the run is over,
    or on this node (which said no already)."""
    if execution.status not in UNFINISHED or execution.node in ("", settings.SANDBOX_INSTANCE):
        return False
    layer = get_channel_layer()
    if layer is None:
        return False
    message = {"type": RUN_STDIN, "execution_id": execution.id, "text": text}
    await layer.group_send(group_of(execution.node), message)
    return True


class Membership:
    """The node's background duties, started and stopped with the server."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(heartbeat_forever()),
            loop.create_task(take_stop_requests()),
            loop.create_task(sweep_guests_forever()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(DatabaseError):
            await Node.objects.filter(name=settings.SANDBOX_INSTANCE).adelete()


membership = Membership()
