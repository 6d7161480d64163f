"""Riza's client at its strictest, over every resource, against a live server.

`_strict_response_validation=True` makes rizaio check every answer against its own types:
a field they require that goes missing fails a test here the day it goes missing.
"""

import pytest
import rizaio

from tests.conftest import LiveServer

ECHO = "def execute(input):\n    return {'n': input['n']}\n"
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def strict_client(server: LiveServer, username: str) -> rizaio.Riza:
    return rizaio.Riza(
        api_key=server.new_api_key(username),
        base_url=server.url,
        max_retries=0,
        _strict_response_validation=True,
    )


@pytest.fixture(scope="module")
def strict(sandpit_server: LiveServer) -> rizaio.Riza:
    """Riza's client as its strictest users build it, for an owner of its own."""
    return strict_client(sandpit_server, "strict-walker")


# --- every kind of run on one history page -----------------------------------------


def test_a_history_of_scripts_functions_and_tools_parses_strictly(strict: rizaio.Riza) -> None:
    script = strict.command.exec(language="python", code="print(1)")
    function = strict.command.exec_func(
        language="javascript", code="function execute(i) { return i; }", input={"a": 1}
    )
    tool = strict.tools.create(name="echo n", code=ECHO, language="python", input_schema=SCHEMA)
    ran = strict.tools.exec(tool.id, input={"n": 7})
    assert ran.output == {"n": 7}

    listed = {e.id: e for e in strict.executions.list()}
    for execution_id, kind in (
        (script.id, "script"),
        (function.execution.id, "function"),
        (ran.execution.id, "tool"),
    ):
        for execution in (listed[execution_id], strict.executions.get(execution_id)):
            assert execution.details is not None and execution.details.type == kind
    tool_run = strict.executions.get(ran.execution.id).details
    assert isinstance(tool_run, rizaio.types.execution.DetailsToolExecutionDetails)
    assert tool_run.tool_id == tool.id
    assert tool_run.request.input == {"n": 7}
    assert tool_run.response.output == {"n": 7}
