"""/mcp through the official MCP SDK's own client, against a live server."""

import importlib.metadata
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import rizaio
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import LiveServer
from tests.probes import assert_never_stalled, healthz_watch

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
DOUBLE = "def execute(input):\n    return {'double': input['n'] * 2}\n"


@asynccontextmanager
async def mcp_session(server: LiveServer, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@pytest.fixture(scope="module")
def erin(sandpit_server: LiveServer) -> tuple[str, rizaio.Riza]:
    key = sandpit_server.new_api_key("erin")
    return key, rizaio.Riza(api_key=key, base_url=sandpit_server.url, max_retries=0)


async def test_without_a_key_mcp_is_refused(sandpit_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{sandpit_server.url}/mcp", json={})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


async def test_run_code_runs_and_is_on_the_record(
    sandpit_server: LiveServer, erin: tuple[str, rizaio.Riza]
) -> None:
    key, client = erin
    async with mcp_session(sandpit_server, key) as session:
        names = [t.name for t in (await session.list_tools()).tools]
        assert {"run_code", "create_tool", "update_tool"} <= set(names)
        script = await session.call_tool("run_code", {"code": "print(6 * 7)", "language": "python"})
        function = await session.call_tool(
            "run_code",
            {
                "code": "function execute(i) { return i.a + 1; }",
                "language": "javascript",
                "input": {"a": 1},
            },
        )
    assert not script.isError and script.structuredContent is not None
    assert (script.structuredContent["stdout"], script.structuredContent["exit_code"]) == (
        "42\n",
        0,
    )
    assert function.structuredContent is not None and function.structuredContent["output"] == 2
    recorded = client.executions.get(script.structuredContent["execution_id"])
    assert recorded.exit_code == 0


async def test_saved_tools_appear_and_run_and_bad_input_is_a_tool_error(
    sandpit_server: LiveServer, erin: tuple[str, rizaio.Riza]
) -> None:
    key, client = erin
    client.tools.create(
        name="double it",
        code=DOUBLE,
        language="python",
        description="Doubles n",
        input_schema=SCHEMA,
    )
    async with mcp_session(sandpit_server, key) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        assert listed["double_it"].description == "Doubles n"
        assert listed["double_it"].inputSchema == SCHEMA
        ran = await session.call_tool("double_it", {"n": 21})
        refused = await session.call_tool("double_it", {"n": "not a number"})
        made = await session.call_tool(
            "create_tool",
            {"name": "triple", "code": DOUBLE.replace("* 2", "* 3"), "language": "python"},
        )
        assert "triple" in [t.name for t in (await session.list_tools()).tools]
        tripled = await session.call_tool("triple", {"n": 2})
    assert ran.structuredContent is not None and ran.structuredContent["output"] == {"double": 42}
    assert refused.isError
    assert "input.n" in refused.content[0].text or "not of type" in refused.content[0].text  # type: ignore[union-attr]
    assert not made.isError
    assert tripled.structuredContent is not None and tripled.structuredContent["output"] == {
        "double": 6
    }
    history = client.executions.list()
    assert any(e.details and e.details.type == "tool" for e in history)


def raw_mcp(server: LiveServer, key: str, body: bytes) -> httpx.Response:
    """One JSON-RPC message as bytes, past the SDK client's own encoding."""
    return httpx.post(
        f"{server.url}/mcp",
        content=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        },
        timeout=60,
    )


def call_message(arguments: str) -> bytes:
    return (
        '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", '
        f'"params": {{"name": "run_code", "arguments": {arguments}}}}}'
    ).encode()


async def test_null_arguments_are_absent_and_bad_ones_name_the_argument(
    sandpit_server: LiveServer, erin: tuple[str, rizaio.Riza]
) -> None:
    key, _ = erin
    async with mcp_session(sandpit_server, key) as session:
        # What a strict tool schema makes a model send: every property, unused ones null.
        script = await session.call_tool(
            "run_code", {"code": "print('hi')", "language": "python", "input": None, "stdin": None}
        )
        numeric = await session.call_tool("run_code", {"code": 123, "language": "python"})
        missing = await session.call_tool("run_code", {"language": "python"})
        no_id = await session.call_tool("update_tool", {"code": "x"})
    assert not script.isError and script.structuredContent is not None
    assert script.structuredContent["stdout"] == "hi\n"
    for refused, argument in ((numeric, "code"), (missing, "code"), (no_id, "tool_id")):
        assert refused.isError
        assert argument in refused.content[0].text  # type: ignore[union-attr]


def test_mcp_bodies_are_bounded_as_the_apis_are(
    sandpit_server: LiveServer, erin: tuple[str, rizaio.Riza]
) -> None:
    key, _ = erin
    wide = call_message('{"code": "x", "language": "python", "input": [' + "0," * 400_000 + "0]}")
    with healthz_watch(sandpit_server.url) as took:
        answer = raw_mcp(sandpit_server, key, wide)
    assert answer.status_code == 400, answer.text
    assert "JSON values" in answer.json()["error"]["message"]
    assert_never_stalled(took)
    surrogate = raw_mcp(
        sandpit_server, key, call_message('{"code": "print(\\"\\ud800\\")", "language": "python"}')
    )
    assert surrogate.status_code == 400
    assert surrogate.json()["error"]["field"] == "params.arguments.code"


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mcp",
        "/.well-known/openid-configuration",
        "/mcp/.well-known/openid-configuration",
    ],
)
def test_oauth_discovery_is_a_json_404_saying_to_send_a_key(
    sandpit_server: LiveServer, path: str
) -> None:
    answer = httpx.get(f"{sandpit_server.url}{path}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["code"] == "not_found"
    assert "no OAuth" in error["message"] and "Authorization: Bearer" in error["message"]


async def test_server_info_names_sandpit_and_its_own_version(
    sandpit_server: LiveServer, erin: tuple[str, rizaio.Riza]
) -> None:
    key, _ = erin
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        streamable_http_client(f"{sandpit_server.url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        started = await session.initialize()
    assert started.serverInfo.name == "Sandpit"
    assert started.serverInfo.version == importlib.metadata.version("sandpit")
    assert started.serverInfo.version != importlib.metadata.version("mcp")


# Schemas saved before tools had to take an object: straight into the database.
ODD_SCHEMAS: dict[str, dict[str, Any]] = {
    "by_ref": {"$ref": "#/$defs/n", "$defs": {"n": {"type": "object"}}},
    "props_only": {"properties": {"n": {"type": "integer"}}, "required": ["n"]},
    "object_or_null": {"type": ["object", "null"]},
    "a_string": {"type": "string"},
}
SAVE_ODD_TOOLS = """
import json
from django.contrib.auth.models import User
from playground.models import Tool, ToolRevision

owner, _ = User.objects.get_or_create(username={username!r})
for name, schema in json.loads({schemas!r}).items():
    tool = Tool.objects.create(owner=owner)
    tool.current_revision = ToolRevision.objects.create(
        tool=tool, name=name, language="python", input_schema=schema,
        code="def execute(input):\\n    return input",
    )
    tool.save()
"""


async def test_odd_schemas_saved_earlier_never_break_the_tool_list(
    sandpit_server: LiveServer,
) -> None:
    username = "odd-schemas"
    key = sandpit_server.new_api_key(username)
    sandpit_server.manage(
        "shell",
        "-c",
        SAVE_ODD_TOOLS.format(username=username, schemas=json.dumps(ODD_SCHEMAS)),
    )
    client = rizaio.Riza(api_key=key, base_url=sandpit_server.url, max_retries=0)
    client.tools.create(name="fine", code=DOUBLE, language="python", input_schema=SCHEMA)
    async with mcp_session(sandpit_server, key) as session:
        listed = {t.name: t.inputSchema for t in (await session.list_tools()).tools}
        ran = await session.call_tool("props_only", {"n": 2})
    # MCP requires "type": "object" at the top of every tool's inputSchema.
    assert {schema.get("type") for schema in listed.values()} == {"object"}
    assert listed["fine"] == SCHEMA
    assert listed["by_ref"] == {**ODD_SCHEMAS["by_ref"], "type": "object"}
    assert listed["props_only"] == {**ODD_SCHEMAS["props_only"], "type": "object"}
    assert listed["object_or_null"] == {"type": "object"}
    assert "a_string" not in listed  # no call's arguments could ever be a string
    assert ran.structuredContent is not None and ran.structuredContent["output"] == {"n": 2}


async def test_create_and_update_tool_refuse_a_schema_that_takes_no_object(
    sandpit_server: LiveServer, erin: tuple[str, rizaio.Riza]
) -> None:
    key, client = erin
    tool = client.tools.create(name="kept", code=DOUBLE, language="python", input_schema=SCHEMA)
    async with mcp_session(sandpit_server, key) as session:
        for schema in (ODD_SCHEMAS["by_ref"], ODD_SCHEMAS["props_only"], ODD_SCHEMAS["a_string"]):
            made = await session.call_tool(
                "create_tool",
                {"name": "odd", "code": DOUBLE, "language": "python", "input_schema": schema},
            )
            changed = await session.call_tool(
                "update_tool", {"tool_id": tool.id, "input_schema": schema}
            )
            for refused in (made, changed):
                assert refused.isError
                assert "input_schema" in refused.content[0].text  # type: ignore[union-attr]
        listed = {t.name: t.inputSchema for t in (await session.list_tools()).tools}
    assert "odd" not in listed
    assert listed["kept"] == SCHEMA
