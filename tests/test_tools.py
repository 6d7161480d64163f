"""Secrets and tools through Riza's own client, against a live server."""

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import rizaio

from tests.conftest import LiveServer
from tests.echo import EchoServers

SECRET_VALUE = "tool-secret-value-6789"
GREET = """
import os
def execute(input):
    return {"hello": input["name"], "times": input.get("times", 1), "env": os.environ.get("WHO")}
"""
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "times": {"type": "integer", "minimum": 1}},
    "required": ["name"],
}


@pytest.fixture(scope="module")
def carol(sandpit_server: LiveServer) -> rizaio.Riza:
    key = sandpit_server.new_api_key("carol")
    return rizaio.Riza(api_key=key, base_url=sandpit_server.url, max_retries=0)


def raw(client: rizaio.Riza, method: str, path: str) -> httpx.Response:
    return httpx.request(
        method,
        str(client.base_url).rstrip("/") + path,
        headers={"Authorization": f"Bearer {client.api_key}"},
    )


def test_a_secret_is_listed_by_name_and_its_value_never_comes_back(carol: rizaio.Riza) -> None:
    made = carol.secrets.create(name="GITHUB_TOKEN", value=SECRET_VALUE)
    assert made.id.startswith("sec_") and made.name == "GITHUB_TOKEN"
    listed = raw(carol, "GET", "/v1/secrets")
    assert {"id": made.id, "name": "GITHUB_TOKEN"} in listed.json()["secrets"]
    assert SECRET_VALUE not in listed.text
    assert [s.name for s in carol.secrets.list()] == [s["name"] for s in listed.json()["secrets"]]
    with pytest.raises(rizaio.ConflictError) as taken:
        carol.secrets.create(name="GITHUB_TOKEN", value="again")
    assert taken.value.body["error"]["field"] == "name"  # type: ignore[index]
    gone = carol.secrets.create(name="SHORT_LIVED", value="x")
    assert raw(carol, "DELETE", f"/v1/secrets/{gone.id}").json() == {"id": gone.id, "deleted": True}
    assert "SHORT_LIVED" not in raw(carol, "GET", "/v1/secrets").text


def test_a_tool_is_versioned_and_each_revision_stays_runnable(carol: rizaio.Riza) -> None:
    tool = carol.tools.create(
        name="greet", code=GREET, language="python", description="Says hello", input_schema=SCHEMA
    )
    assert tool.id.startswith("tool_") and tool.input_schema == SCHEMA
    first = tool.revision_id
    ran = carol.tools.exec(tool.id, input={"name": "Ada"})
    assert (ran.output_status, ran.output) == ("valid", {"hello": "Ada", "times": 1, "env": None})
    updated = carol.tools.update(tool.id, code=GREET.replace("hello", "hi"))
    assert updated.revision_id != first and updated.description == "Says hello"
    assert carol.tools.get(tool.id).revision_id == updated.revision_id
    assert carol.tools.exec(tool.id, input={"name": "Ada"}).output["hi"] == "Ada"  # type: ignore[index]
    pinned = carol.tools.exec(tool.id, input={"name": "Ada"}, revision_id=first)
    assert pinned.output["hello"] == "Ada"  # type: ignore[index]
    assert tool.id in [t.id for t in carol.tools.list()]
    record = raw(carol, "GET", f"/v1/executions/{pinned.execution.id}").json()
    assert record["details"]["type"] == "tool"


def test_a_field_sent_as_null_leaves_the_tool_as_it_was(carol: rizaio.Riza) -> None:
    tool = carol.tools.create(name="nulls", code=GREET, language="python")
    answer = httpx.post(
        f"{str(carol.base_url).rstrip('/')}/v1/tools/{tool.id}",
        json={"name": None, "runtime_revision_id": None, "description": "now described"},
        headers={"Authorization": f"Bearer {carol.api_key}"},
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["name"], answer.json()["description"]) == ("nulls", "now described")


@pytest.mark.parametrize(
    ("tool_input", "field", "words"),
    [
        ({}, "input.name", "required"),
        ({"name": "Ada", "times": 0}, "input.times", "minimum"),
        ({"name": 3}, "input.name", "not of type 'string'"),
    ],
)
def test_input_that_fails_the_schema_is_a_400_naming_the_part(
    carol: rizaio.Riza, tool_input: dict[str, object], field: str, words: str
) -> None:
    tool = carol.tools.create(name="strict", code=GREET, language="python", input_schema=SCHEMA)
    with pytest.raises(rizaio.BadRequestError) as refused:
        carol.tools.exec(tool.id, input=tool_input)
    error = refused.value.body["error"]  # type: ignore[index]
    assert error["field"] == field and words in error["message"]


def test_a_schema_that_is_not_json_schema_is_a_400(carol: rizaio.Riza) -> None:
    with pytest.raises(rizaio.BadRequestError) as refused:
        carol.tools.create(
            name="bad", code=GREET, language="python", input_schema={"type": "no-such-type"}
        )
    assert refused.value.body["error"]["field"] == "input_schema"  # type: ignore[index]


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/input", "$defs": {"input": {"type": "object"}}},
        {"properties": {"name": {"type": "string"}}},
        {"type": "string"},
        {"type": ["object", "null"]},
    ],
)
def test_a_schema_without_type_object_at_its_top_is_a_400_on_create_and_update(
    carol: rizaio.Riza, schema: dict[str, object]
) -> None:
    # MCP lists a tool's input schema as its inputSchema, which must be an object schema.
    with pytest.raises(rizaio.BadRequestError) as refused:
        carol.tools.create(name="odd", code=GREET, language="python", input_schema=schema)
    error = refused.value.body["error"]  # type: ignore[index]
    assert error["field"] == "input_schema" and '"type": "object"' in error["message"]
    tool = carol.tools.create(name="fine", code=GREET, language="python")
    with pytest.raises(rizaio.BadRequestError) as refused:
        carol.tools.update(tool.id, input_schema=schema)
    assert refused.value.body["error"]["field"] == "input_schema"  # type: ignore[index]
    assert carol.tools.get(tool.id).revision_id == tool.revision_id


def test_a_schema_that_refers_outside_itself_fetches_nothing_and_is_a_400(
    carol: rizaio.Riza, echo: EchoServers
) -> None:
    for ref in (
        f"http://127.0.0.1:{echo.http_port}/ssrf-probe/schema.json",
        f"https://127.0.0.1:{echo.https_port}/ssrf-probe/schema.json",
        "file:///etc/passwd",
        "#",
        "#/$defs/nowhere",
    ):
        with pytest.raises(rizaio.BadRequestError) as refused:
            carol.tools.create(
                name="ssrf",
                code=GREET,
                language="python",
                input_schema={"type": "object", "$ref": ref},
            )
        assert refused.value.body["error"]["field"] == "input_schema", ref  # type: ignore[index]
    assert echo.requests_for("/ssrf-probe") == []  # the server asked nobody for anything


def test_a_pattern_that_backtracks_for_hours_is_a_400_and_stalls_nothing(
    carol: rizaio.Riza, sandpit_server: LiveServer
) -> None:
    evil_schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}},
    }
    tool = carol.tools.create(name="evil", code=GREET, language="python", input_schema=evil_schema)
    with ThreadPoolExecutor(1) as caller:
        refused = caller.submit(carol.tools.exec, tool.id, input={"name": "a" * 40 + "!"})
        # While the check is held up, the server answers everyone else at once.
        while not refused.done():
            assert httpx.get(f"{sandpit_server.url}/healthz", timeout=1).status_code == 200
        with pytest.raises(rizaio.BadRequestError) as error:
            refused.result()
    body = error.value.body["error"]  # type: ignore[index]
    assert body["field"] == "input" and "took longer than" in body["message"]
    # The tool still runs on input its pattern takes.
    assert carol.tools.exec(tool.id, input={"name": "aaa"}).output["hello"] == "aaa"  # type: ignore[index]


def test_secrets_reach_the_run_and_the_upstream_and_no_record(
    carol: rizaio.Riza, echo: EchoServers
) -> None:
    token = carol.secrets.create(name="API_TOKEN", value=SECRET_VALUE)
    who = carol.secrets.create(name="WHO", value="secret-who-1234")
    code = (
        "import os, urllib.request\n"
        "def execute(input):\n"
        "    body = urllib.request.urlopen('https://api.example.test/tool-call').read().decode()\n"
        "    return {'who': os.environ['WHO'], 'body': body}\n"
    )
    tool = carol.tools.create(name="caller", code=code, language="python")
    ran = carol.tools.exec(
        tool.id,
        env=[{"name": "WHO", "secret_id": who.id}],
        http={"allow": [{"host": "api.example.test", "auth": {"bearer": {"secret_id": token.id}}}]},
    )
    assert ran.output == {"who": "secret-who-1234", "body": "ok /tool-call\n"}, ran.execution.stderr
    assert echo.requests_for("/tool-call")[-1].headers["Authorization"] == f"Bearer {SECRET_VALUE}"
    record = raw(carol, "GET", f"/v1/executions/{ran.execution.id}").text
    listing = raw(carol, "GET", "/v1/executions").text
    for text in (record, listing):
        assert SECRET_VALUE not in text
    request = json.loads(record)["details"]["request"]
    assert request["env"] == [{"name": "WHO", "secret_id": who.id}]
    assert request["http"]["allow"][0]["auth"]["bearer"] == {"secret_id": token.id}


def test_a_missing_or_another_owner_s_secret_is_a_400(
    carol: rizaio.Riza, sandpit_server: LiveServer
) -> None:
    dave = rizaio.Riza(
        api_key=sandpit_server.new_api_key("dave"), base_url=sandpit_server.url, max_retries=0
    )
    theirs = dave.secrets.create(name="DAVES", value="not-for-carol")
    tool = carol.tools.create(name="borrower", code=GREET, language="python")
    with pytest.raises(rizaio.BadRequestError) as refused:
        carol.tools.exec(tool.id, input={"name": "x"}, env=[{"name": "X", "secret_id": theirs.id}])
    assert refused.value.body["error"]["field"] == "env.0.secret_id"  # type: ignore[index]
    assert "not-for-carol" not in str(refused.value.body)
