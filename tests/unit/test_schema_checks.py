"""Tenants' JSON Schemas are checked in worker processes, within a time limit."""

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from referencing.exceptions import Unresolvable

from playground.tools import schema_checks
from playground.tools.schema_checks import Checkers, input_problem, schema_problem

# Python's re backtracks on this for hours, holding the GIL.
CATASTROPHIC = {"type": "string", "pattern": "^(a+)+$"}
EVIL = "a" * 40 + "!"


async def ticking() -> tuple[asyncio.Task[None], list[int]]:
    """A task that counts event-loop turns of 10 ms: a held GIL or loop stops it."""
    ticks = [0]

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.01)
            ticks[0] += 1

    return asyncio.create_task(tick()), ticks


async def test_a_catastrophic_pattern_is_cut_off_and_the_server_keeps_turning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema_checks, "CHECK_TIMEOUT_S", 1.0)
    checkers = Checkers()
    ticker, ticks = await ticking()
    try:
        # The very first check starts the workers: their start is not part of its time.
        assert await checkers.check("a", "input", input_problem, CATASTROPHIC, "aaa") is None
        ticks[0] = 0
        field, message = await checkers.check("a", "input", input_problem, CATASTROPHIC, EVIL)  # type: ignore[misc]
        assert field == "input" and "took longer than 1 s" in message
        assert ticks[0] > 50  # the event loop ran all the while (a held GIL would stop it)
        # The worker was replaced: the next check answers as before.
        problem = await checkers.check("a", "input", input_problem, CATASTROPHIC, "aab")
        assert problem == ("input", "'aab' does not match '^(a+)+$'")
    finally:
        ticker.cancel()
        checkers.close()


async def test_one_owners_slow_checks_do_not_fail_another_owners_quick_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema_checks, "CHECK_TIMEOUT_S", 1.0)
    checkers = Checkers()
    try:
        slow = [
            asyncio.create_task(
                checkers.check("mallory", "input", input_problem, CATASTROPHIC, EVIL)
            )
            for _ in range(6)
        ]
        await asyncio.sleep(0.2)  # mallory's checks hold both workers and wait in line
        quick = [
            asyncio.create_task(checkers.check("alice", "input", input_problem, CATASTROPHIC, "a"))
            for _ in range(10)
        ]
        # Each of alice's checks takes its turn beside mallory's and is timed from its
        # own start: none of them fails, whatever mallory's do.
        assert await asyncio.gather(*quick) == [None] * 10
        for problem in await asyncio.gather(*slow):
            assert problem is not None and "took longer than 1 s" in problem[1]
    finally:
        checkers.close()


async def test_closing_the_checkers_returns_at_once_while_checks_run() -> None:
    checkers = Checkers()
    assert await checkers.check("a", "input", input_problem, CATASTROPHIC, "a") is None
    running = [
        asyncio.create_task(checkers.check("a", "input", input_problem, CATASTROPHIC, EVIL))
        for _ in range(5)
    ]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    checkers.close()
    assert time.monotonic() - started < 1
    for problem in await asyncio.wait_for(asyncio.gather(*running), 5):
        assert problem is not None and "could not be checked" in problem[1]


class Recorder(http.server.BaseHTTPRequestHandler):
    asked: list[str] = []

    def do_GET(self) -> None:
        Recorder.asked.append(self.path)
        body = json.dumps({"type": "string"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_schema_host() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.asked = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_schema_that_refers_outside_itself_is_refused_and_nothing_is_fetched(
    loopback_schema_host: str,
) -> None:
    for ref in (
        f"{loopback_schema_host}/secret.json",
        f"{loopback_schema_host}/secret.json#/x",
        "file:///etc/passwd",
        "https://sandpit.invalid/schema.json",
        "#/$defs/missing",
    ):
        for schema in ({"$ref": ref}, {"type": "object", "properties": {"a": {"$ref": ref}}}):
            field, message = schema_problem(schema)  # type: ignore[misc]
            assert field == "input_schema" and "nothing is ever fetched" in message, ref
            # Even if such a schema were stored, checking an input fetches nothing.
            with pytest.raises(Unresolvable):
                input_problem(schema, {"a": 1})
    assert Recorder.asked == []


def test_a_schema_that_refers_to_itself_without_end_is_refused() -> None:
    loops: list[dict[str, Any]] = [
        {"$ref": "#"},
        {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "anyOf": [{"$ref": "#/$defs/a"}]},
        {"properties": {"x": {"$ref": "#/properties/x"}}},
    ]
    for schema in loops:
        field, message = schema_problem(schema)  # type: ignore[misc]
        assert field == "input_schema" and "without end" in message, schema
    # A recursive schema that descends into the input on each step is fine: a tree.
    tree = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
        "$defs": {"leaf": {"type": "string"}},
    }
    assert schema_problem(tree) is None
    assert input_problem(tree, {"children": [{"children": []}]}) is None
    assert schema_problem({"$ref": "#/$defs/leaf", "$defs": {"leaf": {"type": "string"}}}) is None


def test_problems_name_the_field_at_fault() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
        "required": ["name"],
    }
    assert input_problem(schema, {"name": "Ada", "n": 2}) is None
    assert input_problem(schema, {}) == ("input.name", "'name' is a required property")
    assert input_problem(schema, {"name": "Ada", "n": 0}) == (
        "input.n",
        "0 is less than the minimum of 1",
    )
    assert input_problem({}, "anything") is None
    assert schema_problem([]) == ("input_schema", "must be a JSON Schema object")
    field, message = schema_problem({"type": "no-such-type"})  # type: ignore[misc]
    assert field == "input_schema" and "is not valid JSON Schema" in message
