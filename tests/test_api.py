"""The /v1 API through Riza's own Python client, against a live server."""

import json
import threading
import time

import httpx
import pytest
import rizaio

from tests.conftest import LIVE_SERVER_MAX_REQUEST_BYTES, LiveServer

SEED = 'def execute(input): return { "name": input["name"], "executed": True }'


@pytest.fixture(scope="session")
def alice(sandpit_server: LiveServer) -> rizaio.Riza:
    return rizaio.Riza(
        api_key=sandpit_server.new_api_key("alice"), base_url=sandpit_server.url, max_retries=0
    )


@pytest.fixture(scope="session")
def bob(sandpit_server: LiveServer) -> rizaio.Riza:
    return rizaio.Riza(
        api_key=sandpit_server.new_api_key("bob"), base_url=sandpit_server.url, max_retries=0
    )


def raw_post(client: rizaio.Riza, path: str, content: bytes) -> httpx.Response:
    return httpx.post(
        str(client.base_url).rstrip("/") + path,
        content=content,
        headers={"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"},
        timeout=60,
    )


def raw_get(client: rizaio.Riza, path: str) -> httpx.Response:
    return httpx.get(
        str(client.base_url).rstrip("/") + path,
        headers={"Authorization": f"Bearer {client.api_key}"},
    )


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


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"language": "python"}, "code", "required"),
        ({"code": "x", "language": "ruby"}, "language", "python"),
        ({"code": 5, "language": "python"}, "code", "string"),
        (
            {"code": "x", "language": "python", "limits": {"execution_timeout": 0}},
            "limits.execution_timeout",
            "between 1 and",
        ),
        (
            {"code": "x", "language": "python", "limits": {"memory_size": 100000}},
            "limits.memory_size",
            "between 16 and",
        ),
        (
            {"code": "x", "language": "python", "limits": {"execution_timeout": "5"}},
            "limits.execution_timeout",
            "integer",
        ),
        (
            {"code": "x", "language": "python", "files": [{"path": "/etc/passwd", "contents": ""}]},
            "files.0.path",
            "relative",
        ),
        (
            {"code": "x", "language": "python", "files": [{"path": "a/../../b", "contents": ""}]},
            "files.0.path",
            "..",
        ),
        ({"code": "x", "language": "python", "args": ["a", 1]}, "args.1", "string"),
        (
            {"code": "x", "language": "python", "runtime_revision_id": "rev_nope"},
            "runtime_revision_id",
            "does not exist",
        ),
        (
            {"code": "x", "language": "python", "http": {"allow": [{"host": "http://x.com/"}]}},
            "http.allow.0.host",
            "not a valid host name",
        ),
    ],
)
def test_a_bad_request_is_a_400_naming_its_field(
    alice: rizaio.Riza, body: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(rizaio.BadRequestError) as refused:
        alice.post("/v1/execute", body=body, cast_to=object)
    error = refused.value.body["error"]  # type: ignore[index]
    assert error["field"] == field
    assert words in error["message"]


def test_malformed_and_absurdly_deep_json_are_400s(alice: rizaio.Riza) -> None:
    broken = raw_post(alice, "/v1/execute", b'{"code": "x", "language": ')
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"
    deep = (
        '{"code": "def execute(i): return 1", "language": "python", "input": '
        + "[" * 10000
        + "]" * 10000
        + "}"
    )
    refused = raw_post(alice, "/v1/execute-function", deep.encode())
    assert refused.status_code == 400
    assert refused.json()["error"]["field"].startswith("input")
    not_an_object = raw_post(alice, "/v1/execute", b"[1, 2]")
    assert not_an_object.status_code == 400


def test_a_body_over_the_size_limit_is_a_413(alice: rizaio.Riza) -> None:
    body = json.dumps({"code": "x" * LIVE_SERVER_MAX_REQUEST_BYTES, "language": "python"}).encode()
    response = raw_post(alice, "/v1/execute", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_no_key_an_unknown_key_and_a_garbled_header_are_401s(sandpit_server: LiveServer) -> None:
    for key in ["sp_not-a-real-key", "something-else"]:
        client = rizaio.Riza(api_key=key, base_url=sandpit_server.url, max_retries=0)
        with pytest.raises(rizaio.AuthenticationError):
            client.executions.list()
    bare = httpx.get(f"{sandpit_server.url}/v1/executions")
    assert bare.status_code == 401
    assert bare.json()["error"]["code"] == "unauthorized"


def test_another_owners_execution_is_a_404(alice: rizaio.Riza, bob: rizaio.Riza) -> None:
    mine = alice.command.exec(language="python", code="print('mine')")
    with pytest.raises(rizaio.NotFoundError):
        bob.executions.get(mine.id)
    assert mine.id not in [e.id for e in bob.executions.list()]


def test_past_its_slots_and_queue_the_api_answers_503_with_retry_after(
    sandpit_server: LiveServer,
) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("crowd"), base_url=sandpit_server.url, max_retries=0
    )
    outcomes: list[str] = []

    def sleep_there() -> None:
        try:
            client.command.exec(language="python", code="import time\ntime.sleep(3)")
            outcomes.append("ran")
        except rizaio.APIStatusError as exc:
            outcomes.append(str(exc.status_code))

    # The live server runs 3 at once and lets 2 wait: 5 sleepers fill it.
    sleepers = [threading.Thread(target=sleep_there) for _ in range(5)]
    for thread in sleepers:
        thread.start()
    try:
        for _ in range(200):  # until all five are recorded, hence admitted
            if len(client.executions.list().data) == 5:
                break
            time.sleep(0.02)
        response = raw_post(client, "/v1/execute", b'{"language": "python", "code": "print(1)"}')
    finally:
        for thread in sleepers:
            thread.join()
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "engine_busy"
    assert outcomes == ["ran"] * 5
    # Refused before it was accepted: the client was told to retry, and no row was added.
    assert len(client.executions.list().data) == 5


def test_a_run_in_progress_shows_as_running(sandpit_server: LiveServer) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("watcher"), base_url=sandpit_server.url, max_retries=0
    )
    runner = threading.Thread(
        target=client.command.exec,
        kwargs={"language": "python", "code": "import time\ntime.sleep(2)"},
    )
    runner.start()
    seen = set()
    try:
        for _ in range(300):
            listed = client.executions.list().data
            if listed:
                seen.add(listed[0].status)  # type: ignore[attr-defined]
                if "running" in seen:
                    break
            time.sleep(0.01)
    finally:
        runner.join()
    assert "running" in seen
    assert client.executions.list().data[0].status == "succeeded"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"language": "python", "code": "def execute(i): return i", "input": NaN}', "NaN"),
        (
            b'{"language": "python", "code": "def execute(i): return i", "input": -Infinity}',
            "Infinity",
        ),
        (
            b'{"language": "python", "code": "def execute(i): return i", "input": 1e400}',
            "too large",
        ),
        (b'{"language": "python", "code": "x = \\"\\ud800\\"\\ndef execute(i): return i"}', "code"),
        (
            b'{"language": "python", "code": "def execute(i): return i", "input": {"\\udfff": 1}}',
            "input",
        ),
    ],
)
def test_non_finite_numbers_and_lone_surrogates_are_400s(
    alice: rizaio.Riza, body: bytes, said: str
) -> None:
    response = raw_post(alice, "/v1/execute-function", body)
    assert response.status_code == 400, response.text
    assert said in response.text


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("def execute(i): return float('inf')", "json_serialization_error"),
        ("import json, os\ndef execute(i): return json.loads('1e400')", "json_serialization_error"),
    ],
)
def test_a_non_finite_output_is_a_clean_result_not_a_500(
    alice: rizaio.Riza, code: str, said: str
) -> None:
    response = raw_post(
        alice, "/v1/execute-function", json.dumps({"language": "python", "code": code}).encode()
    )
    assert response.status_code == 200, response.text
    assert response.json()["output_status"] == said


def test_a_wide_body_is_refused_without_stalling_others(alice: rizaio.Riza) -> None:
    # Under the live server's byte limit, far over its count of JSON values.
    wide = b'{"language": "python", "code": "def execute(i): return 1", "input": ['
    wide += b"0," * 900_000 + b"0]}"
    answers: list[int] = []
    done = threading.Event()

    def small_requests() -> None:
        while not done.is_set():
            answers.append(raw_get(alice, "/v1/executions?limit=1").status_code)

    other = threading.Thread(target=small_requests)
    other.start()
    try:
        response = raw_post(alice, "/v1/execute-function", wide)
    finally:
        done.set()
        other.join()
    assert response.status_code == 400, response.text
    assert "JSON values" in response.text
    assert answers and set(answers) == {200}


def test_no_run_is_left_running_after_hostile_frames(alice: rizaio.Riza) -> None:
    forged_output = 'import os\ndef execute(i):\n    os.write(1, b"x")\n    return {"a": "\\ud800"}'
    alice.command.exec_func(language="python", code=forged_output)
    running = [
        e for e in alice.executions.list() if getattr(e, "status", "") in ("queued", "running")
    ]
    assert running == []


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


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nothing-here", 404, "not_found"),
        ("POST", "/v1/execute/extra", 404, "not_found"),
        ("GET", "/v1/execute", 405, "method_not_allowed"),
        ("DELETE", "/v1/executions", 405, "method_not_allowed"),
    ],
)
def test_unknown_paths_and_wrong_methods_answer_the_json_error(
    alice: rizaio.Riza, method: str, path: str, status: int, code: str
) -> None:
    response = httpx.request(
        method,
        str(alice.base_url).rstrip("/") + path,
        headers={"Authorization": f"Bearer {alice.api_key}"},
        content=b"{}" if method == "POST" else None,
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    if status == 405:
        assert response.headers["Allow"]


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
