"""Every message of a live run's and a live build's WebSocket, both ways, declared once.

A watcher of a run gets a `Snapshot` (the state so far, up to `seq`), then numbered
`Status`, `Output` and `Finished` messages, and `Problem` when something is amiss; its
owner may send `Stop`, and `Input` and `EndOfInput` for a run with live stdin. A
watcher of a build gets a `BuildSnapshot`, then `BuildLine`s and a `BuildFinished`.
On the wire each is a JSON object whose `type` says which (static/js/run-view.js reads
them); `wire()` makes it, `run_message()` and `build_message()` read one back (from the
run log, or off the channel layer).

Between nodes and consumers, the channel layer carries envelopes whose `type` names the
handler Channels calls (dots become underscores): the constants below.
"""

from dataclasses import dataclass
from typing import Any

from sandbox.events import (
    BuildEvent,
    BuildFinishedEvent,
    BuildLineEvent,
    OutputEvent,
    RunEvent,
    StatusEvent,
    Stream,
)

# Envelopes on the channel layer: to a run's watchers, to a build's, to a node.
EXECUTION_EVENT = "execution.event"  # ExecutionConsumer.execution_event
EXECUTION_UNSHARED = "execution.unshared"  # ExecutionConsumer.execution_unshared
BUILD_EVENT = "build.event"  # RevisionBuildConsumer.build_event
RUN_STOP = "run.stop"  # a node's stop requests (playground/cluster/nodes.py)
RUN_STDIN = "run.stdin"  # a node's live input for its runs (the same)
# The number of a Finished told by a sweep, not by the run's node: after every other.
FINAL_SEQ = 2**53

Json = dict[str, Any]


# --- A run, to its watchers -----------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """The run as of event `seq`: its state, with the output so far."""

    seq: int
    execution: Json
    can_stop: bool | None = None  # told to each watcher: whether it may send Stop

    def wire(self) -> Json:
        message = {"type": "snapshot", "seq": self.seq, "execution": self.execution}
        if self.can_stop is not None:
            message["can_stop"] = self.can_stop
        return message


@dataclass(frozen=True)
class Status:
    seq: int
    status: str

    def wire(self) -> Json:
        return {"type": "status", "seq": self.seq, "status": self.status}


@dataclass(frozen=True)
class Output:
    seq: int
    stream: Stream
    text: str

    def wire(self) -> Json:
        # The stream is the type: {"type": "stdout", "text": ...}.
        return {"type": self.stream, "seq": self.seq, "text": self.text}


@dataclass(frozen=True)
class Finished:
    """The run ended; `execution` is its record as saved."""

    seq: int
    execution: Json

    def wire(self) -> Json:
        return {"type": "finished", "seq": self.seq, "execution": self.execution}


@dataclass(frozen=True)
class Problem:
    """Something the watcher should know that is not the run's: a refusal, an outage."""

    message: str

    def wire(self) -> Json:
        return {"type": "error", "message": self.message}


RunMessage = Snapshot | Status | Output | Finished


def numbered(event: RunEvent, seq: int) -> Status | Output:
    """The engine's event as the watchers' message number `seq`."""
    match event:
        case StatusEvent(status=status):
            return Status(seq, status)
        case OutputEvent(stream=stream, text=text):
            return Output(seq, stream, text)


def run_message(data: Json) -> RunMessage:
    """A run's message read back from its wire form; ValueError for anything else."""
    kind, seq = data.get("type"), int(data.get("seq", 0))
    if kind == "snapshot":
        return Snapshot(seq, data["execution"], data.get("can_stop"))
    if kind == "status":
        return Status(seq, data["status"])
    if kind in ("stdout", "stderr"):
        return Output(seq, kind, data["text"])
    if kind == "finished":
        return Finished(seq, data["execution"])
    raise ValueError(f"not a run's message: {kind!r}")


# --- A build, to its watchers ---------------------------------------------------------
@dataclass(frozen=True)
class BuildSnapshot:
    status: str
    log: str

    def wire(self) -> Json:
        return {"type": "snapshot", "status": self.status, "log": self.log}


@dataclass(frozen=True)
class BuildLine:
    seq: int
    line: str

    def wire(self) -> Json:
        return {"type": "log", "seq": self.seq, "line": self.line}


@dataclass(frozen=True)
class BuildFinished:
    status: str
    failure_reason: str

    def wire(self) -> Json:
        return {"type": "finished", "status": self.status, "failure_reason": self.failure_reason}


def of_build_event(event: BuildEvent) -> BuildLine | BuildFinished:
    match event:
        case BuildLineEvent(seq=seq, line=line):
            return BuildLine(seq, line)
        case BuildFinishedEvent(status=status, failure_reason=reason):
            return BuildFinished(status, reason)


def build_message(data: Json) -> BuildLine | BuildFinished:
    """A build's message read back from its wire form; ValueError for anything else."""
    kind = data.get("type")
    if kind == "log":
        return BuildLine(int(data["seq"]), data["line"])
    if kind == "finished":
        return BuildFinished(data["status"], data.get("failure_reason", ""))
    raise ValueError(f"not a build's message: {kind!r}")


# --- A watcher, to the server ---------------------------------------------------------
@dataclass(frozen=True)
class Stop:
    """Stop the run (its owner only)."""


@dataclass(frozen=True)
class Input:
    """A line (or more) for the run's stdin, while it goes (its owner only)."""

    text: str


@dataclass(frozen=True)
class EndOfInput:
    """Close the run's stdin (its owner only)."""


WatcherMessage = Stop | Input | EndOfInput
UNDERSTOOD = (
    'the messages are {"type": "stop"}, {"type": "stdin", "text": "..."} and {"type": "stdin_end"}'
)
# Typed input, at most, in one message: a person types lines, not files.
MAX_INPUT_CHARS = 64 * 1024


def watcher_message(content: Any) -> WatcherMessage:
    """What a run's watcher sent; ValueError (saying what is understood) for the rest."""
    kind = content.get("type") if isinstance(content, dict) else None
    if kind == "stop":
        return Stop()
    if kind == "stdin_end":
        return EndOfInput()
    if kind == "stdin":
        text = content.get("text")
        if isinstance(text, str) and len(text) <= MAX_INPUT_CHARS:
            return Input(text)
        raise ValueError(f"stdin's text must be a string of at most {MAX_INPUT_CHARS} characters")
    raise ValueError(UNDERSTOOD)
