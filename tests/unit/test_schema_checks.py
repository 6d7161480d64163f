"""Tenants' JSON Schemas are checked in worker processes, within a time limit."""

import asyncio

import pytest

from playground import schema_checks
from playground.schema_checks import Checkers, input_problem, schema_problem

# Python's re backtracks on this for hours, holding the GIL.
CATASTROPHIC = {"type": "string", "pattern": "^(a+)+$"}
EVIL = "a" * 40 + "!"


async def test_a_catastrophic_pattern_is_cut_off_and_the_server_keeps_turning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema_checks, "CHECK_TIMEOUT_S", 1.0)
    checkers = Checkers()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        # The workers start on first use: a quick check first, then the slow one.
        assert await checkers.check("input", input_problem, CATASTROPHIC, "aaa") is None
        ticks = 0
        field, message = await checkers.check("input", input_problem, CATASTROPHIC, EVIL)  # type: ignore[misc]
        assert field == "input" and "took longer than 1 s" in message
        assert ticks > 50  # the event loop ran all the while (a held GIL would stop it)
        # The workers were replaced: the next check answers as before.
        problem = await checkers.check("input", input_problem, CATASTROPHIC, "aab")
        assert problem == ("input", "'aab' does not match '^(a+)+$'")
    finally:
        ticker.cancel()
        checkers.close()


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
