"""Riza's client at its strictest, over every resource, against a live server.

`_strict_response_validation=True` makes rizaio check every answer against its own types:
a field they require that goes missing fails a test here the day it goes missing.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import rizaio

from tests.conftest import LiveServer

ECHO = "def execute(input):\n    return {'n': input['n']}\n"
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
# Rows in the order they were made, by seconds after the first; ids in the other order,
# and three made in the same instant: pages go by creation time, the id breaking ties.
MADE_AT_S = {"9": 0, "8": 1, "7": 2, "6": 2, "5": 2, "4": 3, "3": 4}
NEWEST_FIRST = "3476589"
ALL_KINDS = ("executions", "runtimes", "tools", "secrets")
PAGE = 2


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


# --- every resource, list, get and create ------------------------------------------


def test_every_resource_parses_strictly(strict: rizaio.Riza) -> None:
    ran = strict.command.exec(language="python", code="import sys; sys.exit(3)")
    assert ran.exit_code == 3
    function = strict.command.exec_func(language="python", code="def execute(i): return {1}")
    assert function.output_status == "json_serialization_error"
    assert strict.executions.get(ran.id).exit_code == 3
    assert ran.id in [e.id for e in strict.executions.list(only_non_zero_exit_codes=True)]

    tool = strict.tools.create(name="walked", code=ECHO, language="python", input_schema=SCHEMA)
    changed = strict.tools.update(tool.id, description="walked twice")
    assert changed.revision_id != tool.revision_id
    assert strict.tools.get(tool.id).description == "walked twice"
    assert tool.id in [t.id for t in strict.tools.list()]
    assert strict.tools.exec(tool.id, input={"n": 1}, revision_id=tool.revision_id).output == {
        "n": 1
    }

    secret = strict.secrets.create(name="WALKED", value="walked-value")
    assert [(s.id, s.name) for s in strict.secrets.list() if s.id == secret.id] == [
        (secret.id, "WALKED")
    ]

    # Its build starts in the background; deleting it at once cancels the build.
    runtime = strict.runtimes.create(
        name="walked",
        language="python",
        manifest_file={"name": "requirements.txt", "contents": ""},
    )
    try:
        assert strict.runtimes.get(runtime.id).revision_id == runtime.revision_id
        assert runtime.id in [r.id for r in strict.runtimes.list()]
        revisions = strict.runtimes.revisions.list(runtime.id).revisions
        assert [r.id for r in revisions] == [runtime.revision_id]
        revision = strict.runtimes.revisions.get(runtime.revision_id, runtime_id=runtime.id)
        assert revision.runtime_id == runtime.id
    finally:
        deleted = strict.runtimes.delete(runtime.id)
    assert deleted.deleted is True


# --- pages ---------------------------------------------------------------------------


SEED = """
import json
from datetime import datetime
from django.contrib.auth.models import User
from playground.models import Execution, Secret, Tool, ToolRevision
from sandbox.models import Runtime, RuntimeRevision

owner, _ = User.objects.get_or_create(username={username!r})
for row_id, made in json.loads({rows!r}).items():
    at = datetime.fromisoformat(made)
    if {kind!r} == "executions":
        Execution.objects.create(
            id=row_id, owner=owner, kind="script", language="python", code="print(1)",
            request={{"code": "print(1)", "language": "python"}}, status="succeeded",
            exit_code=0, duration_ms=1, started_at=at, finished_at=at,
        )
    elif {kind!r} == "tools":
        tool = Tool.objects.create(id=row_id, owner=owner, created_at=at)
        tool.current_revision = ToolRevision.objects.create(
            tool=tool, name=row_id, language="python", code="def execute(i): return i",
        )
        tool.save()
    elif {kind!r} == "runtimes":
        runtime = Runtime.objects.create(id=row_id, owner=owner, name=row_id, language="python", created_at=at)
        runtime.current_revision = RuntimeRevision.objects.create(
            runtime=runtime, manifest_name="requirements.txt", manifest_contents="",
            status="succeeded",
        )
        runtime.save()
    else:
        Secret.objects.create(id=row_id, owner=owner, name=row_id, ciphertext="-", created_at=at)
"""
PREFIX = {"executions": "exec_", "runtimes": "rt_", "tools": "tool_", "secrets": "sec_"}


def seed(server: LiveServer, kind: str, username: str, made_at_s: dict[str, int]) -> list[str]:
    """Rows of `kind` for `username`, straight into the database, each made its number of
    seconds after a moment in the past; their ids, in the order of `made_at_s`."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = {
        f"{PREFIX[kind]}{username}_{mark}": (start + timedelta(seconds=s)).isoformat()
        for mark, s in made_at_s.items()
    }
    server.manage("shell", "-c", SEED.format(username=username, rows=json.dumps(rows), kind=kind))
    return list(rows)


def listed(client: rizaio.Riza, kind: str, **params: object) -> list[str]:
    """Every id the client's own paging visits."""
    resource = getattr(client, kind)
    return [item.id for item in resource.list(**params)]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_paging_visits_every_item_once_by_creation_time(
    sandpit_server: LiveServer, kind: str
) -> None:
    username = f"pager-{kind}"
    client = strict_client(sandpit_server, username)
    ids = dict(zip(MADE_AT_S, seed(sandpit_server, kind, username, MADE_AT_S), strict=True))
    newest_first = [ids[mark] for mark in NEWEST_FIRST]
    assert listed(client, kind, limit=PAGE) == newest_first
    assert listed(client, kind) == newest_first
    tie = newest_first.index(ids["6"])
    assert listed(client, kind, limit=PAGE, starting_after=ids["6"]) == newest_first[tie + 1 :]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_an_unknown_or_another_owner_s_cursor_is_a_400_naming_it(
    sandpit_server: LiveServer, kind: str
) -> None:
    client = strict_client(sandpit_server, f"cursor-{kind}")
    seed(sandpit_server, kind, f"cursor-{kind}", {"1": 0})
    (foreign,) = seed(sandpit_server, kind, f"cursor-other-{kind}", {"1": 0})
    for cursor in ("zzzz", "starting_after", f"{PREFIX[kind]}0", foreign):
        with pytest.raises(rizaio.BadRequestError) as refused:
            getattr(client, kind).list(starting_after=cursor)
        error = refused.value.response.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_request", "starting_after")
        assert repr(cursor) in error["message"]
