"""MCP's session tools through the official MCP client, against a live server: the same
sessions as /v1/sessions."""

from tests.conftest import LiveServer
from tests.sessions_client import SessionsClient, plain
from tests.test_mcp import mcp_session


async def test_an_assistant_keeps_its_state_across_tool_calls(sandpit_server: LiveServer) -> None:
    key = sandpit_server.new_api_key("fay")
    api = SessionsClient(sandpit_server, key)
    async with mcp_session(sandpit_server, key) as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        assert {"open_session", "run_in_session", "end_session"} <= names
        opened = await mcp.call_tool("open_session", {"language": "python", "idle_timeout": 60})
        assert not opened.isError and opened.structuredContent is not None
        sid = opened.structuredContent["id"]
        await mcp.call_tool("run_in_session", {"session_id": sid, "code": "x = 20"})
        answer = await mcp.call_tool("run_in_session", {"session_id": sid, "code": "x * 2 + 2"})
        failed = await mcp.call_tool("run_in_session", {"session_id": sid, "code": "x.nope"})
        slow = await mcp.call_tool(
            "run_in_session",
            {"session_id": sid, "code": "import time\ntime.sleep(30)", "timeout": 1},
        )
        # The same session through /v1: what MCP's calls defined is there.
        through_api = api.run(sid, "x + 1")
        assert api.session(sid)["calls"] == 5
        ended = await mcp.call_tool("end_session", {"session_id": sid})
        after = await mcp.call_tool("run_in_session", {"session_id": sid, "code": "x"})
    assert answer.structuredContent is not None
    assert answer.structuredContent["session_id"] == sid
    assert answer.structuredContent["results"][0]["data"]["text/plain"] == "42"
    assert failed.structuredContent is not None
    assert failed.structuredContent["error"]["name"] == "AttributeError"
    assert slow.structuredContent is not None and slow.structuredContent["exit_code"] == 124
    assert plain(through_api) == ["21"]
    assert ended.structuredContent is not None and ended.structuredContent["status"] == "ended"
    assert after.isError and "has ended" in after.content[0].text  # type: ignore[union-attr]
    record = api.get(f"/executions/{answer.structuredContent['execution_id']}").json()
    assert (record["details"]["type"], record["details"]["request"]["via"]) == ("session", "mcp")


async def test_another_owners_session_does_not_exist_over_mcp(sandpit_server: LiveServer) -> None:
    owner = SessionsClient(sandpit_server, sandpit_server.new_api_key("gus"))
    sid = owner.open()["id"]
    try:
        async with mcp_session(sandpit_server, sandpit_server.new_api_key("hal")) as mcp:
            ran = await mcp.call_tool("run_in_session", {"session_id": sid, "code": "1"})
            ended = await mcp.call_tool("end_session", {"session_id": sid})
        for answer in (ran, ended):
            assert answer.isError
            assert f"no session {sid!r} of yours" in answer.content[0].text  # type: ignore[union-attr]
        assert owner.session(sid)["status"] == "ready"
    finally:
        owner.delete(f"/sessions/{sid}")
