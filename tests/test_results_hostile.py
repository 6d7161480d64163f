"""Hostile results and files against a live server: what a run gives back is checked in
the sandbox, bounded before the server parses it, and never stalls the server, fails
the run, or breaks a reader of it. The findings of an attack on the feature, each one."""

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Origin

from tests.conftest import LiveServer
from tests.probes import assert_never_stalled, healthz_watch


@pytest.fixture(scope="module")
def api(sandpit_server: LiveServer) -> Iterator[httpx.Client]:
    key = sandpit_server.new_api_key("hostile-results")
    with httpx.Client(
        base_url=sandpit_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        yield client


def _run(api: httpx.Client, code: str, **more: Any) -> dict[str, Any]:
    answer = api.post("/v1/execute", json={"language": "python", "code": code, **more})
    assert answer.status_code == 200, answer.text
    ran: dict[str, Any] = answer.json()
    return ran


@contextmanager
def guest(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        client.get("/")
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        yield client


def test_a_result_of_a_million_values_is_dropped_and_never_stalls_the_server(
    sandpit_server: LiveServer, api: httpx.Client
) -> None:
    code = "display({'application/json': [{}] * 1_000_000}, raw=True)\nprint('on')"
    with healthz_watch(sandpit_server.url) as took:
        ran = [_run(api, code) for _ in range(3)]
    assert_never_stalled(took)
    for one in ran:
        assert one["exit_code"] == 0 and one["stdout"] == "on\n"
        assert one["results"] == []
        assert "more than 50000 JSON values" in one["stderr"]


@pytest.mark.parametrize(
    ("language", "code", "why"),
    [
        ("python", "display({'text/plain': 'a\\x00b'}, raw=True)", "NUL"),
        ("python", "display({'application/json': {'k\\x00': 1}}, raw=True)", "NUL"),
        ("javascript", "display({'text/plain': '\\ud800'})", "not valid Unicode"),
        ("python", "display({'image/gif': ''}, raw=True)", "must not be empty"),
        (
            "python",
            "import os, sys\n"
            "fd = int(open('/proc/self/cmdline', 'rb').read().split(b'\\0')[-2])\n"
            'body = b\'{"data": {"application/json": NaN}}\'\n'
            "os.write(fd, len(body).to_bytes(4, 'big') + body)\n",
            "not JSON that can be kept",
        ),
    ],
)
def test_a_result_no_database_could_keep_is_dropped_and_the_run_goes_on(
    api: httpx.Client, language: str, code: str, why: str
) -> None:
    ran = _run(api, code, language=language)
    assert ran["exit_code"] == 0, ran["stderr"]
    assert ran["results"] == [] and why in ran["stderr"]
    assert api.get(f"/v1/executions/{ran['id']}").status_code == 200


def test_nul_in_output_is_kept_as_a_replacement_character(api: httpx.Client) -> None:
    ran = _run(api, "print('a\\x00b')")
    assert ran["stdout"] == "a\ufffdb\n"
    function = api.post(
        "/v1/execute-function",
        json={"language": "python", "code": "def execute(input):\n    return {'k': 'x\\x00y'}"},
    ).json()
    assert function["output"] == {"k": "x\ufffdy"}


def test_file_names_no_url_could_carry_are_listed_as_skipped(api: httpx.Client) -> None:
    code = (
        "open(b'/work/bad\\xff.txt', 'wb').write(b'hi')\n"
        "open('/work/new\\nline.txt', 'w').write('hi')\n"
        "open('/work/' + 'x' * 250 + '.txt', 'w').write('hi')\n"
        "open('/work/fine.txt', 'w').write('hi')\n"
    )
    ran = _run(api, code, output_files=["*.txt"])
    assert ran["exit_code"] == 0, ran["stderr"]
    files = {f["path"]: f for f in ran["files"]}
    assert files["fine.txt"]["size"] == 2
    skipped = [f for f in ran["files"] if f.get("skipped")]
    assert len(skipped) == 2 and all("printable UTF-8" in f["skipped"] for f in skipped)
    assert {f["path"] for f in skipped} == {"bad\ufffd.txt", "new?line.txt"}
    assert ("x" * 250 + ".txt") in files  # long, but a path the engine keeps
    for path in (
        "/v1/executions",
        f"/v1/executions/{ran['id']}",
        f"/v1/executions/{ran['id']}/files",
    ):
        assert api.get(path).status_code == 200, path


def test_a_guest_keeps_files_only_within_its_quota(sandpit_server: LiveServer) -> None:
    with guest(sandpit_server) as client:
        code = (
            "open('a.bin', 'wb').write(b'a' * 10 * 1024 * 1024)\n"
            "open('b.bin', 'wb').write(b'b' * 7 * 1024 * 1024)\n"
        )
        body = {"mode": "script", "language": "python", "code": code, "output_files": ["*.bin"]}
        started = client.post("/runs", json={**body, "limits": {"memory_size": 256}})
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
    files: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    while not files:
        assert time.monotonic() < deadline, "the run kept no files in time"
        time.sleep(1)
        files = _state_files(sandpit_server, run_id)
    assert files["a.bin"]["size"] == 10 * 1024 * 1024
    assert "room for kept files" in files["b.bin"]["skipped"]


def _state_files(server: LiveServer, run_id: str) -> dict[str, dict[str, Any]]:
    printed = server.manage(
        "shell",
        "-c",
        "import json\nfrom playground.models import Execution\n"
        f"print(json.dumps(Execution.objects.get(id={run_id!r}).files))",
    )
    return {f["path"]: f for f in json.loads(printed.strip().splitlines()[-1])}


def test_a_socket_message_is_bounded_before_it_is_parsed(sandpit_server: LiveServer) -> None:
    with guest(sandpit_server) as client:
        code = "import time\nprint('up', flush=True)\ntime.sleep(20)"
        started = client.post("/runs", json={"mode": "script", "language": "python", "code": code})
        run_id = started.json()["id"]
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())

    async def flood() -> list[dict[str, Any]]:
        url = sandpit_server.url.replace("http://", "ws://") + f"/ws/executions/{run_id}"
        answers = []
        async with websockets.connect(
            url,
            additional_headers={"Cookie": cookie},
            origin=Origin(sandpit_server.url),
            max_size=None,
        ) as socket:
            await socket.recv()  # the snapshot
            for message in ("[" + "{}," * 5_000_000 + "{}]", "not json", b"\x00binary"):
                await socket.send(message)
                answers.append(await _next_problem(socket))
            await socket.send('{"type": "stop"}')
        return answers

    with healthz_watch(sandpit_server.url) as took:
        answers = asyncio.run(flood())
    assert_never_stalled(took)
    assert "at most" in answers[0]["message"]
    assert answers[1]["message"] == "a message must be JSON"
    assert "JSON text" in answers[2]["message"]


async def _next_problem(socket: Any) -> dict[str, Any]:
    while True:
        message = json.loads(await socket.recv())
        if message["type"] == "error":
            return dict(message)


def test_a_download_is_streamed_with_its_length(api: httpx.Client) -> None:
    ran = _run(api, "open('big.bin', 'wb').write(b'z' * 3_000_000)", output_files=["big.bin"])
    [listed] = ran["files"]
    with api.stream("GET", listed["url"]) as download:
        assert download.headers["Content-Length"] == "3000000"
        assert re.match(r"attachment; filename=\"?big.bin", download.headers["Content-Disposition"])
        assert sum(len(piece) for piece in download.iter_bytes()) == 3_000_000
