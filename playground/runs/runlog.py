"""The events of runs in progress, where every node can read them: a Redis list per run.

The node running a run appends each numbered event; a watcher who joins on another node
replays the list into a snapshot, then takes the live events after its last number, so
that none is lost or doubled. Without REDIS_URL there is one node, and its own memory
(playground/runs/live.py) is the whole story. Redis going away costs the replay, never the
run: errors here are logged and swallowed.
"""

import asyncio
import json
import logging
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from playground.runs.messages import Output, RunMessage, Snapshot, Status, run_message

log = logging.getLogger(__name__)
# A run's events are kept this long after its last one: past any run's time limit.
KEEP_S = 3600
MAX_EVENTS = 100_000

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = (
    weakref.WeakKeyDictionary()
)


def _client() -> aioredis.Redis | None:
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
    return client


def _key(execution_id: str) -> str:
    return f"sandpit:run:{execution_id}:events"


async def append(execution_id: str, message: RunMessage) -> None:
    client = _client()
    if client is None:
        return
    try:
        key = _key(execution_id)
        async with client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, json.dumps(message.wire()))
            pipe.ltrim(key, -MAX_EVENTS, -1)
            pipe.expire(key, KEEP_S)
            await pipe.execute()
    except (OSError, aioredis.RedisError) as exc:
        log.warning("the run log is away (%s): late watchers on other nodes miss lines", exc)


async def replay(execution_id: str) -> list[RunMessage]:
    """The run's events so far, in order; [] when there are none or Redis is away."""
    client = _client()
    if client is None:
        return []
    try:
        raw = await client.lrange(_key(execution_id), 0, -1)
    except (OSError, aioredis.RedisError) as exc:
        log.warning("the run log is away (%s)", exc)
        return []
    return [run_message(json.loads(item)) for item in raw]


def snapshot_of(state: dict[str, Any], events: list[RunMessage]) -> Snapshot:
    """A watcher's snapshot from the replayed events: the state as of the last one (the
    state as it is, when there are none)."""
    if not events:
        return Snapshot(0, state)
    text: dict[str, list[str]] = {"stdout": [], "stderr": []}
    seq = 0
    for event in events:
        seq = max(seq, event.seq)
        match event:
            case Status(status=status):
                state = {**state, "status": status}
            case Output(stream=stream, text=chunk):
                text[stream].append(chunk)
    state = {**state, "stdout": "".join(text["stdout"]), "stderr": "".join(text["stderr"])}
    return Snapshot(seq, state)
