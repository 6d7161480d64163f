"""The live messages' wire forms, as static/js/run-view.js reads them, and back."""

import pytest

from playground.runs.messages import (
    MAX_INPUT_CHARS,
    BuildFinished,
    BuildLine,
    EndOfInput,
    Finished,
    Input,
    Output,
    RunMessage,
    Snapshot,
    Status,
    Stop,
    build_message,
    numbered,
    of_build_event,
    run_message,
    watcher_message,
)
from playground.runs.runlog import snapshot_of
from sandbox.events import BuildFinishedEvent, BuildLineEvent, OutputEvent, StatusEvent


def test_each_run_message_reads_back_from_its_wire_form() -> None:
    for message in (
        Snapshot(3, {"id": "x", "stdout": "a"}),
        Status(1, "running"),
        Output(2, "stderr", "oops\n"),
        Finished(4, {"id": "x", "status": "succeeded"}),
    ):
        assert run_message(message.wire()) == message


def test_the_wire_is_what_the_page_reads() -> None:
    assert numbered(OutputEvent("stdout", "hi\n"), 7).wire() == {
        "type": "stdout",
        "seq": 7,
        "text": "hi\n",
    }
    assert numbered(StatusEvent("running"), 1).wire() == {
        "type": "status",
        "seq": 1,
        "status": "running",
    }
    assert Snapshot(0, {}).wire() == {"type": "snapshot", "seq": 0, "execution": {}}
    assert Snapshot(0, {}, can_stop=False).wire()["can_stop"] is False


def test_a_snapshot_is_made_from_replayed_events() -> None:
    events: list[RunMessage] = [
        Status(1, "running"),
        Output(2, "stdout", "a"),
        Output(3, "stderr", "b"),
        Output(4, "stdout", "c"),
    ]
    snapshot = snapshot_of({"id": "x", "status": "queued"}, events)
    assert snapshot.seq == 4
    assert snapshot.execution == {"id": "x", "status": "running", "stdout": "ac", "stderr": "b"}
    assert snapshot_of({"id": "x"}, []) == Snapshot(0, {"id": "x"})


def test_build_messages() -> None:
    line = of_build_event(BuildLineEvent(5, "Collecting six"))
    assert line == BuildLine(5, "Collecting six")
    assert build_message(line.wire()) == line
    finished = of_build_event(BuildFinishedEvent("failed", "no such package"))
    assert build_message(finished.wire()) == BuildFinished("failed", "no such package")


def test_a_watcher_may_stop_or_type() -> None:
    assert watcher_message({"type": "stop"}) == Stop()
    assert watcher_message({"type": "stdin", "text": "a line\n"}) == Input("a line\n")
    assert watcher_message({"type": "stdin_end"}) == EndOfInput()


@pytest.mark.parametrize(
    "content",
    [
        {"type": "go"},
        ["stop"],
        "stop",
        {"kind": "stop"},
        {"type": "stdin"},
        {"type": "stdin", "text": 5},
        {"type": "stdin", "text": "x" * (MAX_INPUT_CHARS + 1)},
    ],
)
def test_anything_else_from_a_watcher_is_refused_saying_why(content: object) -> None:
    with pytest.raises(ValueError) as refused:
        watcher_message(content)
    assert "stdin" in str(refused.value)


def test_anything_else_is_not_a_run_message() -> None:
    with pytest.raises(ValueError):
        run_message({"type": "log", "seq": 1, "line": "x"})
    with pytest.raises(ValueError):
        build_message({"type": "stdout", "seq": 1, "text": "x"})
