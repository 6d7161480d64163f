"""A session's frames read as hostile input, and how a call's end is told, in both the
supervisor (agent/session.py) and the engine (sandbox/session_sandbox.py)."""

import importlib.util
import json
import os
import struct
import sys
from types import ModuleType
from typing import Any

import pytest

from sandbox.events import RunEvent
from sandbox.images import AGENT_DIR
from sandbox.jobs import Job, JobKind, Limits, RunStatus
from sandbox.languages import Language
from sandbox.protocol import ProtocolError
from sandbox.results import OutputCollector
from sandbox.session_sandbox import call_result, parse_call_summary


def agent_session() -> ModuleType:
    sys.path.insert(0, str(AGENT_DIR))
    try:
        spec = importlib.util.spec_from_file_location("agent_session", AGENT_DIR / "session.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(AGENT_DIR))


session = agent_session()
CALL = Job(
    kind=JobKind.CELL, language=Language.PYTHON, code="1", limits=Limits(execution_timeout_s=2)
)


def summary(**changes: Any) -> bytes:
    base = {"exit_code": 0, "duration_ms": 3, "timed_out": False, "oom_killed": False}
    return json.dumps(base | changes).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        summary(exit_code=300),
        summary(duration_ms=-1),
        summary(ended=["a list"]),
        summary(error="a string"),
        summary(error={"name": 1, "value": "v"}),
        summary(error={"name": "E", "value": "v", "traceback": [1, 2]}),
        b'{"exit_code": 0, "duration_ms": 1, "ended": "\\ud800"}',
        b'{"exit_code": 0, "duration_ms": NaN}',
    ],
)
def test_a_malformed_summary_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_call_summary(payload)


def test_an_error_is_cut_to_its_bounds() -> None:
    error = {"name": "N" * 1000, "value": "v" * 100_000, "traceback": ["x" * 10_000] * 1000}
    parsed = parse_call_summary(summary(exit_code=1, error=error))
    assert parsed.error is not None
    assert len(parsed.error["name"]) == 200 and len(parsed.error["value"]) == 16 * 1024
    assert len(parsed.error["traceback"]) == 200
    assert {len(line) for line in parsed.error["traceback"]} == {4096}


async def ending(how: str, payload: bytes | None) -> Any:
    async def ignore(event: RunEvent) -> None:
        return None

    output = OutputCollector(1024, ignore)
    parsed = parse_call_summary(payload) if payload is not None else None
    return await call_result(CALL, output, how, parsed, 5, 64)


@pytest.mark.parametrize(
    ("how", "payload", "status", "exit_code", "ended", "said"),
    [
        ("exited", summary(), RunStatus.SUCCEEDED, 0, "", ""),
        ("exited", summary(exit_code=1), RunStatus.FAILED, 1, "", ""),
        (
            "exited",
            summary(exit_code=124, timed_out=True),
            RunStatus.TIMED_OUT,
            124,
            "",
            "the call hit its time limit of 2 s and was interrupted.",
        ),
        (
            "exited",
            summary(exit_code=130, interrupted=True),
            RunStatus.STOPPED,
            130,
            "",
            "the session's state is kept.",
        ),
        (
            "exited",
            summary(exit_code=137, oom_killed=True, ended="the session ran out of memory"),
            RunStatus.OUT_OF_MEMORY,
            137,
            "the session ran out of memory",
            "the session hit its memory limit of 64 MiB.",
        ),
        ("broken", None, RunStatus.ERROR, -1, "its sandbox stopped unexpectedly", ""),
        ("timeout", None, RunStatus.TIMED_OUT, 124, "the sandbox did not answer in time", ""),
    ],
)
async def test_each_way_a_call_ends_is_told(
    how: str, payload: bytes | None, status: RunStatus, exit_code: int, ended: str, said: str
) -> None:
    result = await ending(how, payload)
    assert (result.status, result.exit_code, result.session_ended) == (status, exit_code, ended)
    assert said in result.stderr
    if ended:
        assert f"Sandpit: the session has ended: {ended}." in result.stderr


def test_the_supervisor_bounds_what_the_worker_answers() -> None:
    answers = session.Answers()
    body = json.dumps({"exit_code": 0, "error": None}).encode()
    answers.feed(struct.pack(">I", len(body)) + body[:5])
    assert answers.take() is None
    answers.feed(body[5:] + struct.pack(">I", 3) + b"[1]")
    assert answers.take() == {"exit_code": 0, "error": None}
    assert answers.take() == {"exit_code": 1, "error": None}  # not an object: a failure
    answers.feed(struct.pack(">I", session.MAX_ANSWER_BYTES + 1))
    assert answers.take()["exit_code"] == 1
    assert session.checked_error({"name": "E" * 999, "traceback": "not a list"}) == {
        "name": "E" * 200,
        "value": "",
        "traceback": [],
    }


@pytest.mark.parametrize(
    ("answer", "status", "how", "stuck", "oom", "expected"),
    [
        ({"exit_code": 3}, None, "", False, False, (3, "")),
        ({"exit_code": 999}, None, "", False, False, (1, "")),
        ({"exit_code": 1}, None, "timeout", False, False, (124, "")),
        ({"exit_code": 1}, None, "interrupted", False, False, (130, "")),
        (
            None,
            9,
            "timeout",
            True,
            False,
            (124, "a call did not stop within 1 s of being interrupted"),
        ),
        (
            None,
            9,
            "interrupted",
            True,
            False,
            (137, "a call did not stop within 1 s of being interrupted"),
        ),
        ({"exit_code": 0}, None, "", False, True, (137, "the session ran out of memory")),
        (None, 0x0300, "", False, False, (3, "the interpreter exited (status 3)")),
    ],
)
def test_the_supervisor_says_how_a_call_ended(
    answer: dict[str, Any] | None,
    status: int | None,
    how: str,
    stuck: bool,
    oom: bool,
    expected: tuple[int, str],
) -> None:
    assert session.outcome(answer, status, how, stuck, oom) == expected
    assert os.WEXITSTATUS(0x0300) == 3
