"""What the /v1 API refuses, and how: every refusal in the one error shape, naming the
field at fault; never a 500, never a hang."""

import json
import threading

import httpx
import pytest
import rizaio

from tests.api_clients import raw_get, raw_post
from tests.conftest import LIVE_SERVER_MAX_REQUEST_BYTES, LiveServer
from tests.waits import wait_for


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


def sleepers(client: rizaio.Riza, count: int, outcomes: list[str]) -> list[threading.Thread]:
    """`count` runs of 3 s of `client`'s owner, started at once; each adds its outcome."""

    def sleep_there() -> None:
        try:
            client.command.exec(language="python", code="import time\ntime.sleep(3)")
            outcomes.append("ran")
        except rizaio.APIStatusError as exc:
            outcomes.append(str(exc.status_code))

    threads = [threading.Thread(target=sleep_there) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def wait_until_recorded(client: rizaio.Riza, count: int) -> None:
    """Until `count` runs of the client's owner are recorded, hence admitted."""
    wait_for(
        f"{count} runs to be admitted",
        lambda: len(client.executions.list().data) >= count,
        timeout_s=20,
        every_s=0.02,
    )


def test_one_owners_crowd_leaves_room_and_past_everything_the_api_answers_503(
    sandpit_server: LiveServer,
) -> None:
    crowd, other, third = (
        rizaio.Riza(
            api_key=sandpit_server.new_api_key(name), base_url=sandpit_server.url, max_retries=0
        )
        for name in ("crowd", "crowd-neighbour", "latecomer")
    )
    outcomes: list[str] = []
    # The live server runs 3 at once and lets 2 wait, one place kept for other owners:
    # the crowd's fifth run is its own 429, and another owner still finds a place.
    threads = sleepers(crowd, 4, outcomes)
    try:
        wait_until_recorded(crowd, 4)
        fifth = raw_post(crowd, "/v1/execute", b'{"language": "python", "code": "print(1)"}')
        threads += sleepers(other, 1, outcomes)
        wait_until_recorded(other, 1)
        # Now every slot and place is taken: the engine is busy for everyone.
        response = raw_post(third, "/v1/execute", b'{"language": "python", "code": "print(1)"}')
    finally:
        for thread in threads:
            thread.join()
    assert fifth.status_code == 429 and fifth.json()["error"]["code"] == "too_many_runs"
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "engine_busy"
    assert outcomes == ["ran"] * 5
    # Refused before it was accepted: the client was told to retry, and no row was added.
    assert len(crowd.executions.list().data) == 4
    assert len(third.executions.list().data) == 0


def test_one_owners_crowd_never_makes_another_owners_run_busy(
    sandpit_server: LiveServer,
) -> None:
    crowd, victim = (
        rizaio.Riza(
            api_key=sandpit_server.new_api_key(name), base_url=sandpit_server.url, max_retries=0
        )
        for name in ("hog", "victim")
    )
    outcomes: list[str] = []
    threads = sleepers(crowd, 8, outcomes)  # far past what one owner may have in progress
    try:
        wait_until_recorded(crowd, 4)
        answers = [victim.command.exec(language="python", code="print(1)") for _ in range(3)]
    finally:
        for thread in threads:
            thread.join()
    assert [a.stdout for a in answers] == ["1\n"] * 3
    assert sorted(outcomes) == ["429"] * 4 + ["ran"] * 4


def test_a_run_in_progress_shows_as_running(sandpit_server: LiveServer) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("watcher"), base_url=sandpit_server.url, max_retries=0
    )
    runner = threading.Thread(
        target=client.command.exec,
        kwargs={"language": "python", "code": "import time\ntime.sleep(2)"},
    )
    runner.start()

    def listed_running() -> bool:
        listed = client.executions.list().data
        status = listed[0].status if listed else None  # type: ignore[attr-defined]
        assert status != "succeeded", "the run was never listed as running, and it is over"
        return status == "running"

    try:
        wait_for("the run to be listed as running", listed_running, timeout_s=10, every_s=0.01)
    finally:
        runner.join()
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
