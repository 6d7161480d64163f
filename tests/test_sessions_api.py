"""/v1/sessions against a live server: state, errors, limits, pause and resume, owners,
caps, history and the network, through raw HTTP; history also through Riza's client."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import rizaio

from tests.conftest import LiveServer
from tests.echo import EchoServers
from tests.sessions_client import SessionsClient, error_code, plain


@pytest.fixture(scope="module")
def ana(sandpit_server: LiveServer) -> Iterator[SessionsClient]:
    client = SessionsClient(sandpit_server, sandpit_server.new_api_key("ana"))
    yield client
    for session in client.get("/sessions").json()["sessions"]:
        client.delete(f"/sessions/{session['id']}")


@pytest.fixture(scope="module")
def ben(sandpit_server: LiveServer) -> SessionsClient:
    return SessionsClient(sandpit_server, sandpit_server.new_api_key("ben"))


@pytest.fixture
def opened(ana: SessionsClient) -> Iterator[dict[str, Any]]:
    """A fresh Python session of ana's, ended after the test."""
    session = ana.open()
    yield session
    ana.delete(f"/sessions/{session['id']}")


def test_a_session_opens_ready_with_its_defaults(ana: SessionsClient) -> None:
    session = ana.open(language="javascript", limits={"memory_size": 256}, idle_timeout=60)
    try:
        assert session["id"].startswith("ses_")
        assert (session["language"], session["status"], session["calls"]) == (
            "javascript",
            "ready",
            0,
        )
        assert (session["idle_timeout"], session["memory_size"]) == (60, 256)
        assert (session["state_kept"], session["runtime_revision_id"]) == ("memory", None)
        assert session["ended_reason"] is None and session["expires_at"] > session["created_at"]
    finally:
        ana.delete(f"/sessions/{session['id']}")
    defaulted = ana.open(idle_timeout=None)
    ana.delete(f"/sessions/{defaulted['id']}")
    assert defaulted["idle_timeout"] == 600


def test_calls_share_variables_imports_functions_and_files(ana: SessionsClient) -> None:
    session = ana.open(files=[{"path": "data.csv", "contents": "a,b\n1,2\n"}], env={"UNIT": "kg"})
    sid = session["id"]
    try:
        first = ana.run(sid, "import os\nrows = open('data.csv').read().splitlines()\nlen(rows)")
        ana.run(sid, "def unit(): return os.environ['UNIT']\nopen('made.txt', 'w').write('x')")
        second = ana.run(sid, "print(rows[1])\nunit(), open('made.txt').read()")
        listed = ana.session(sid)
    finally:
        ana.delete(f"/sessions/{sid}")
    assert (first["session_id"], first["exit_code"], plain(first)) == (sid, 0, ["2"])
    assert first["id"].startswith("exec_") and first["error"] is None
    assert (second["stdout"], plain(second)) == ("1,2\n", ["('kg', 'x')"])
    assert listed["calls"] == 3 and listed["last_used_at"] > session["last_used_at"]


def test_an_exception_is_an_error_and_the_next_call_goes_on(
    ana: SessionsClient, opened: dict[str, Any]
) -> None:
    sid = opened["id"]
    ana.run(sid, "n = 1")
    failed = ana.run(sid, "raise KeyError('missing')")
    after = ana.run(sid, "n + 1")
    assert failed["exit_code"] == 1
    assert failed["error"]["name"] == "KeyError" and failed["error"]["value"] == "'missing'"
    assert failed["error"]["traceback"][-1] == "KeyError: 'missing'"
    assert "KeyError: 'missing'" in failed["stderr"]
    assert plain(after) == ["2"] and ana.session(sid)["status"] == "ready"


def test_a_call_past_its_time_is_interrupted_and_the_state_kept(
    ana: SessionsClient, opened: dict[str, Any]
) -> None:
    sid = opened["id"]
    ana.run(sid, "kept = 'yes'")
    slow = ana.run(sid, "import time\ntime.sleep(30)", limits={"execution_timeout": 1})
    assert slow["exit_code"] == 124
    assert "the call hit its time limit of 1 s and was interrupted." in slow["stderr"]
    assert plain(ana.run(sid, "kept")) == ["'yes'"]


def test_one_call_at_a_time_and_interrupt_stops_the_one_going_on(
    ana: SessionsClient, opened: dict[str, Any]
) -> None:
    sid = opened["id"]
    ana.run(sid, "kept = 7")
    answers: list[dict[str, Any]] = []
    going = threading.Thread(
        target=lambda: answers.append(ana.run(sid, "import time\ntime.sleep(60)"))
    )
    going.start()
    deadline = time.monotonic() + 10
    while ana.session(sid)["status"] != "busy" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ana.session(sid)["status"] == "busy"
    assert error_code(ana.post(f"/sessions/{sid}/execute", {"code": "1"})) == (409, "session_busy")
    assert error_code(ana.post(f"/sessions/{sid}/pause")) == (409, "session_busy")
    interrupted = ana.post(f"/sessions/{sid}/interrupt")
    going.join(timeout=30)
    assert interrupted.status_code == 200 and interrupted.json()["interrupted"] is True
    (stopped,) = answers
    assert stopped["exit_code"] == 130 and stopped["error"]["name"] == "KeyboardInterrupt"
    assert plain(ana.run(sid, "kept")) == ["7"]
    assert ana.post(f"/sessions/{sid}/interrupt").json()["interrupted"] is False


def test_past_its_memory_the_session_ends(ana: SessionsClient) -> None:
    sid = ana.open(language="javascript", limits={"memory_size": 64})["id"]
    hog = ana.run(sid, "const blocks = [];\nwhile (true) blocks.push(Buffer.alloc(8 << 20, 1));")
    assert hog["exit_code"] == 137
    assert "the session hit its memory limit of 64 MiB." in hog["stderr"]
    ended = ana.session(sid)
    assert (ended["status"], ended["ended_reason"]) == ("ended", "the session ran out of memory")
    assert error_code(ana.post(f"/sessions/{sid}/execute", {"code": "1"})) == (409, "session_ended")
    assert error_code(ana.post(f"/sessions/{sid}/resume")) == (409, "session_ended")


def test_a_paused_session_wakes_at_its_next_call_with_its_memory(
    ana: SessionsClient, opened: dict[str, Any]
) -> None:
    sid = opened["id"]
    ana.run(sid, "kept = [1, 2, 3]")
    paused = ana.post(f"/sessions/{sid}/pause").json()
    assert (paused["status"], paused["paused_reason"]) == ("paused", "paused by its owner")
    assert ana.post(f"/sessions/{sid}/pause").json()["status"] == "paused"
    woke = ana.run(sid, "sum(kept)")
    assert plain(woke) == ["6"]
    session = ana.session(sid)
    assert (session["status"], session["state_kept"], session["paused_reason"]) == (
        "ready",
        "memory",
        None,
    )
    ana.post(f"/sessions/{sid}/pause")
    resumed = ana.post(f"/sessions/{sid}/resume").json()
    assert (resumed["status"], resumed["state_kept"]) == ("ready", "memory")
    ana.run(sid, "import os\nos.mkfifo('pipe')")
    with_fifo = ana.post(f"/sessions/{sid}/pause").json()
    assert with_fifo["paused_reason"] == "paused by its owner; not saved: pipe"


def test_ending_a_session_removes_it_and_refuses_its_calls(ana: SessionsClient) -> None:
    sid = ana.open()["id"]
    ended = ana.delete(f"/sessions/{sid}")
    assert ended.status_code == 200
    assert (ended.json()["status"], ended.json()["ended_reason"]) == ("ended", "ended by its owner")
    assert error_code(ana.post(f"/sessions/{sid}/execute", {"code": "1"})) == (409, "session_ended")
    assert error_code(ana.post(f"/sessions/{sid}/pause")) == (409, "session_ended")
    assert ana.delete(f"/sessions/{sid}").status_code == 200


def test_another_owners_session_is_a_404_everywhere(
    ana: SessionsClient, ben: SessionsClient, opened: dict[str, Any]
) -> None:
    sid = opened["id"]
    for answer in (
        ben.get(f"/sessions/{sid}"),
        ben.post(f"/sessions/{sid}/execute", {"code": "1"}),
        ben.post(f"/sessions/{sid}/interrupt"),
        ben.post(f"/sessions/{sid}/pause"),
        ben.post(f"/sessions/{sid}/resume"),
        ben.delete(f"/sessions/{sid}"),
    ):
        assert error_code(answer) == (404, "not_found")
    assert sid not in [s["id"] for s in ben.get("/sessions").json()["sessions"]]
    assert ana.session(sid)["status"] == "ready"


def test_sessions_of_one_owner_share_nothing(ana: SessionsClient) -> None:
    one, two = ana.open()["id"], ana.open()["id"]
    try:
        ana.run(one, "secret = 1\nopen('mine.txt', 'w').write('1')")
        looked = ana.run(two, "import os\n[os.path.exists('mine.txt'), 'secret' in globals()]")
    finally:
        ana.delete(f"/sessions/{one}")
        ana.delete(f"/sessions/{two}")
    assert plain(looked) == ["[False, False]"]


def test_past_the_owners_cap_a_session_is_a_429(sandpit_server: LiveServer) -> None:
    cara = SessionsClient(sandpit_server, sandpit_server.new_api_key("cara"))
    opened = [cara.open()["id"] for _ in range(4)]
    try:
        refused = cara.post("/sessions", {"language": "python"})
        assert error_code(refused) == (429, "too_many_sessions")
        cara.post(f"/sessions/{opened[0]}/pause")  # paused is still live
        assert cara.post("/sessions", {"language": "python"}).status_code == 429
        cara.delete(f"/sessions/{opened[0]}")
        opened[0] = cara.open()["id"]
    finally:
        for sid in opened:
            cara.delete(f"/sessions/{sid}")
    listed = cara.get("/sessions?limit=2").json()["sessions"]
    assert len(listed) == 2 and all(s["status"] == "ended" for s in listed)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "cobol"}, "language"),
        ({"language": "python", "idle_timeout": 5}, "idle_timeout"),
        ({"language": "python", "limits": {"memory_size": 1 << 20}}, "limits.memory_size"),
        ({"language": "python", "files": [{"path": "../x", "contents": ""}]}, "files.0.path"),
        ({"language": "python", "runtime_revision_id": "rev_nope"}, "runtime_revision_id"),
    ],
)
def test_a_bad_opening_is_a_400_naming_the_field(
    ana: SessionsClient, body: dict[str, Any], field: str
) -> None:
    answer = ana.post("/sessions", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_bad_call_is_a_400_and_runs_nothing(ana: SessionsClient, opened: dict[str, Any]) -> None:
    sid = opened["id"]
    for body, field in (
        ({}, "code"),
        ({"code": "1", "limits": {"execution_timeout": 0}}, "limits.execution_timeout"),
        ({"code": "1", "output_files": ["/etc/*"]}, "output_files.0"),
    ):
        answer = ana.post(f"/sessions/{sid}/execute", body)
        assert (answer.status_code, answer.json()["error"]["field"]) == (400, field)
    assert ana.session(sid)["calls"] == 0


def test_every_call_is_an_execution_in_the_history(
    sandpit_server: LiveServer, ana: SessionsClient, opened: dict[str, Any]
) -> None:
    sid = opened["id"]
    ran = ana.run(sid, "1 / 0", stdin="ignored")
    record = ana.get(f"/executions/{ran['id']}").json()
    details = record["details"]
    assert (details["type"], details["session_id"], details["request"]["code"]) == (
        "session",
        sid,
        "1 / 0",
    )
    assert details["response"]["error"]["name"] == "ZeroDivisionError"
    assert (record["exit_code"], record["status"]) == (1, "failed")
    # Riza's client reads the history with the session's calls in it; its strict mode
    # knows three kinds only, so its view of a page with a "session" one is left to a
    # client that knows it.
    riza = rizaio.Riza(api_key=ana.key, base_url=sandpit_server.url, max_retries=0)
    listed = {e.id: e for e in riza.executions.list()}
    details_read = listed[ran["id"]].details
    assert details_read is not None and details_read.type == "session"  # type: ignore[comparison-overlap]
    assert riza.executions.get(ran["id"]).exit_code == 1


def test_a_session_reaches_the_hosts_its_opening_allows(
    ana: SessionsClient, echo: EchoServers
) -> None:
    session = ana.open(
        http={"allow": [{"host": "api.example.test", "auth": {"bearer": {"token": "tok-s"}}}]}
    )
    sid = session["id"]
    try:
        code = (
            "import urllib.request\n"
            "urllib.request.urlopen('https://api.example.test/session-{n}').read().decode().strip()"
        )
        first = ana.run(sid, code.format(n=1))
        second = ana.run(sid, code.format(n=2))
        record = ana.get(f"/executions/{second['id']}").json()
    finally:
        ana.delete(f"/sessions/{sid}")
    assert plain(first) == ["'ok /session-1'"] and plain(second) == ["'ok /session-2'"]
    (seen,) = echo.requests_for("/session-2")
    assert seen.headers["Authorization"] == "Bearer tok-s"
    assert [e["path"] for e in record["egress"]] == ["/session-2"]
    assert "tok-s" not in str(ana.session(sid))
