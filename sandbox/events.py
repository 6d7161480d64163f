"""What happens during a run and during a build, declared once, each with its `type`.

The engine tells a run's events to its caller's sink as they happen; a runtime build
tells its own. Callers dispatch on the event's class; what watchers are sent is the
playground's (playground/runs/messages.py).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class StatusEvent:
    """The run moved on: "starting" (it has a slot) or "running" (its code started)."""

    status: Literal["starting", "running"]
    type: Literal["status"] = "status"


@dataclass(frozen=True)
class OutputEvent:
    """Text the run wrote, in order, as it was decoded."""

    stream: Stream
    text: str
    type: Literal["output"] = "output"


RunEvent = StatusEvent | OutputEvent
EventSink = Callable[[RunEvent], Awaitable[None]]


@dataclass(frozen=True)
class BuildLineEvent:
    """One more line of a build's log; `seq` counts every line the build has told."""

    seq: int
    line: str
    type: Literal["log"] = "log"


@dataclass(frozen=True)
class BuildFinishedEvent:
    """The build ended: succeeded, failed or cancelled, and why it failed."""

    status: str
    failure_reason: str = ""
    type: Literal["finished"] = "finished"


BuildEvent = BuildLineEvent | BuildFinishedEvent
# Told of each build's events, with the revision's id.
BuildSink = Callable[[str, BuildEvent], Awaitable[None]]
