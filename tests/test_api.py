"""The /v1 API through Riza's own Python client, against a live server."""

import json

import httpx
import rizaio

from tests.api_clients import raw_get, raw_post
from tests.conftest import LiveServer

SEED = 'def execute(input): return { "name": input["name"], "executed": True }'


def test_the_seed_example_works_exactly(alice: rizaio.Riza) -> None:
    response = alice.command.exec_func(language="python", code=SEED, input={"name": "John"})
    assert response.output == {"name": "John", "executed": True}
    assert response.output_status == "valid"
    assert response.execution.exit_code == 0
    assert (response.execution.stdout, response.execution.stderr) == ("", "")
    assert response.execution.id.startswith("exec_")
    assert isinstance(response.execution.duration, int)


def test_a_script_runs_with_every_part_of_its_request(alice: rizaio.Riza) -> None:
    response = alice.command.exec(
        language="javascript",
        code="const fs = require('fs');\n"
        "console.log(process.argv.slice(2).join(','), fs.readFileSync(0, 'utf8'), process.env.WHO, fs.readFileSync('d/f.txt', 'utf8'));\n"
        "console.error('warned');\nprocess.exit(2);",
        args=["a", "b"],
        stdin="in",
        env={"WHO": "me"},
        files=[{"path": "d/f.txt", "contents": "file"}],
        limits={"execution_timeout": 10, "memory_size": 256},
    )
    assert response.stdout == "a,b in me file\n"
    assert response.stderr == "warned\n"
    assert response.exit_code == 2
    assert response.id.startswith("exec_")


def test_a_function_error_and_a_non_json_result_are_reported(alice: rizaio.Riza) -> None:
    failed = alice.command.exec_func(
        language="typescript", code="function execute(i: number) { throw new Error('no'); }"
    )
    assert (failed.output_status, failed.output) == ("error", None)
    assert "Error: no" in failed.execution.stderr
    odd = alice.command.exec_func(language="python", code="def execute(input):\n    return {1, 2}")
    assert odd.output_status == "json_serialization_error"


def test_a_run_is_recorded_and_can_be_fetched(alice: rizaio.Riza) -> None:
    ran = alice.command.exec_func(language="python", code=SEED, input={"name": "Ada"})
    execution = alice.executions.get(ran.execution.id)
    assert execution.id == ran.execution.id
    assert execution.language == "python"
    assert execution.exit_code == 0
    assert execution.started_at.tzinfo is not None
    assert execution.details is not None and execution.details.type == "function"
    assert execution.details.request.code == SEED
    assert execution.details.request.input == {"name": "Ada"}
    assert execution.details.response.output == {"name": "Ada", "executed": True}
    assert execution.details.response.execution.id == ran.execution.id


def test_history_pages_newest_first_without_repeats_or_gaps(sandpit_server: LiveServer) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("pager"), base_url=sandpit_server.url, max_retries=0
    )
    made = [client.command.exec(language="python", code=f"print({i})").id for i in range(7)]
    first_page = client.executions.list(limit=3)
    assert [e.id for e in first_page.data] == made[::-1][:3]
    seen = [e.id for e in client.executions.list(limit=3)]  # the client follows every page
    assert seen == made[::-1]


def test_history_can_show_only_non_zero_exit_codes(sandpit_server: LiveServer) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("filter"), base_url=sandpit_server.url, max_retries=0
    )
    ok = client.command.exec(language="python", code="print('fine')")
    bad = client.command.exec(language="python", code="raise SystemExit(5)")
    failing = [e.id for e in client.executions.list(only_non_zero_exit_codes=True)]
    everything = [e.id for e in client.executions.list()]
    assert failing == [bad.id]
    assert everything == [bad.id, ok.id]


def test_credentials_never_come_back_from_history(alice: rizaio.Riza) -> None:
    secrets = [
        "bearer-secret-123",
        "basic-secret-456",
        "header-secret-789",
        "query-secret-000",
        "env-secret-abc",
    ]
    code = (
        "import urllib.request\n"
        "for host in ('api', 'a', 'other'):\n"
        "    print(urllib.request.urlopen(f'https://{host}.example.test/history?page=2').read())"
    )
    ran = alice.command.exec(
        language="python",
        code=code,
        env={"TOKEN": secrets[4]},
        http={  # type: ignore[arg-type]
            "allow": [
                {"host": "api.example.test", "auth": {"bearer": {"token": secrets[0]}}},
                {"host": "a.example.test", "auth": {"query": {"key": "k", "token": secrets[3]}}},
                {
                    "host": "other.example.test",
                    "auth": {"header": {"name": "X", "token": "hdr-t0-secret"}},
                },
                {
                    "host": "*.example.org",
                    "auth": {"basic": {"user_id": "me", "password": secrets[1]}},
                },
                {
                    "host": "h.example.net",
                    "auth": {"header": {"name": "X-Key", "value": secrets[2]}},
                },
                {"host": "q.example.net", "auth": {"query": {"key": "k", "value": secrets[3]}}},
            ]
        },
    )
    one = raw_get(alice, f"/v1/executions/{ran.id}").text
    listed = raw_get(alice, "/v1/executions").text
    for secret in secrets:
        assert secret not in one
        assert secret not in listed
    assert ran.exit_code == 0, ran.stderr
    request = json.loads(one)["details"]["request"]
    assert request["http"]["allow"][0]["host"] == "api.example.test"
    assert request["http"]["allow"][3]["auth"]["basic"]["user_id"] == "me"
    egress = json.loads(one)["egress"]
    assert [(e["host"], e["path"], e["status"], e["credential_added"]) for e in egress] == [
        ("api.example.test", "/history?page=***", 200, True),
        ("a.example.test", "/history?page=***", 200, True),
        ("other.example.test", "/history?page=***", 200, True),
    ]
    assert "hdr-t0-secret" not in one + listed
    assert request["env"] == {"TOKEN": "********"}


def test_rotating_x_forwarded_for_does_not_escape_the_guest_limit(
    sandpit_server: LiveServer,
) -> None:
    # From a loopback address of its own, so that the guest runs it uses up are not those
    # of the browser tests (127.0.0.1).
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=sandpit_server.url, timeout=30, transport=transport) as browser:
        browser.get("/")
        token = browser.cookies["csrftoken"]
        answers = [
            browser.post(
                "/runs",
                content=b"not json",
                headers={
                    "X-CSRFToken": token,
                    "X-Forwarded-For": f"198.51.100.{i}",
                    "Content-Type": "application/json",
                },
            ).status_code
            for i in range(40)
        ]
    assert 429 in answers
    assert answers.count(400) <= 30  # the default guest rate: 30 a minute, per address


def test_a_large_stdin_reaches_the_run_but_its_record_keeps_a_cut(
    sandpit_server: LiveServer,
) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("uploader"), base_url=sandpit_server.url, max_retries=0
    )
    stdin = "x" * (1024 * 1024)
    ran = client.command.exec(
        language="python", code="import sys\nprint(len(sys.stdin.read()))", stdin=stdin
    )
    assert ran.stdout == f"{len(stdin)}\n"
    stored = raw_get(client, f"/v1/executions/{ran.id}").json()["details"]["request"]["stdin"]
    assert len(stored) < 300 * 1024
    assert stored.endswith("more bytes not kept]")


def test_a_list_page_stops_at_its_byte_budget_and_paging_loses_nothing(
    sandpit_server: LiveServer,
) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("loud"), base_url=sandpit_server.url, max_retries=0
    )
    loud = "import sys\nsys.stdout.write('y' * (1024 * 1024))"  # 1 MiB: the kept maximum
    ids = [client.command.exec(language="python", code=loud).id for _ in range(5)]
    first = raw_get(client, "/v1/executions?limit=100").json()["data"]
    assert 1 <= len(first) < 5  # the live server's pages carry at most 3 MiB
    seen = [e["id"] for e in first]
    while len(seen) < 5:
        page = raw_get(client, f"/v1/executions?limit=100&starting_after={seen[-1]}").json()
        assert page["data"], "a short page is not the last one"
        seen += [e["id"] for e in page["data"]]
    assert seen == ids[::-1]


def test_output_past_the_cap_says_it_was_cut(alice: rizaio.Riza) -> None:
    ran = raw_post(
        alice,
        "/v1/execute",
        json.dumps({"language": "python", "code": "print('y' * 3_000_000)"}).encode(),
    ).json()
    assert (ran["stdout_truncated"], ran["stderr_truncated"]) == (True, False)
    assert "cut at" in ran["stdout"]
    listed = raw_get(alice, f"/v1/executions/{ran['id']}").json()
    assert listed["details"]["response"]["stdout_truncated"] is True
