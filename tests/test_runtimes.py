"""Custom runtimes through Riza's client: real builds with pip and npm, real runs on them.

Builds reach the package indexes, so they are few and small: one Python runtime (six,
and requests and httpx for the egress tests) with a second, failing revision, and one
JavaScript runtime (is-number).
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import rizaio

from tests.conftest import LiveServer
from tests.echo import EchoServers

BUILD_WAIT_S = 600
# One requirements.txt line that a backtracking pattern takes O(n²) steps to refuse: the
# name's characters are the specifiers' too, and the line fails only at its last one.
HOSTILE_REQUIREMENT = "a" * 64_000 + "@"
HEALTHZ_MAX_S = 1.0


@dataclass
class Built:
    client: rizaio.Riza
    python_runtime: str
    python_revision: str
    failed_revision: str
    js_runtime: str
    js_revision: str


def wait_for_build(client: rizaio.Riza, runtime_id: str, revision_id: str) -> str:
    deadline = time.monotonic() + BUILD_WAIT_S
    while time.monotonic() < deadline:
        revision = client.runtimes.revisions.get(revision_id, runtime_id=runtime_id)
        if revision.status not in ("pending", "building"):
            if revision.status == "failed":
                reason = getattr(revision, "failure_reason", "")  # ours, beyond Riza's
                print(f"{revision_id} failed: {reason}")  # shown when a test fails
            return revision.status
        time.sleep(1)
    raise AssertionError(f"{revision_id} still building after {BUILD_WAIT_S} s")


@pytest.fixture(scope="module")
def built(sandpit_server: LiveServer) -> Iterator[Built]:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("builder"), base_url=sandpit_server.url, max_retries=0
    )
    python = client.runtimes.create(
        name="with six",
        language="python",
        # requests and httpx: the egress tests' third-party clients.
        manifest_file={"name": "requirements.txt", "contents": "six==1.17.0\nrequests\nhttpx\n"},
        additional_python_imports="six",
    )
    js = client.runtimes.create(
        name="with is-number",
        language="javascript",
        manifest_file={
            "name": "package.json",
            "contents": '{"dependencies": {"is-number": "7.0.0"}}',
        },
    )
    assert (python.status, js.status) == ("pending", "pending"), "creating answers at once"
    assert wait_for_build(client, python.id, python.revision_id) == "succeeded"
    assert wait_for_build(client, js.id, js.revision_id) == "succeeded"
    failing = client.runtimes.revisions.create(
        python.id,
        manifest_file={
            "name": "requirements.txt",
            "contents": "six\nsandpit-no-such-package-anywhere==9.9.9\n",
        },
    )
    assert wait_for_build(client, python.id, failing.id) == "failed"
    yield Built(client, python.id, python.revision_id, failing.id, js.id, js.revision_id)
    for runtime in client.runtimes.list():  # their images go with them
        client.runtimes.delete(runtime.id)


def test_a_python_runtime_serves_its_package_and_the_base_image_does_not(built: Built) -> None:
    code = "import six\ndef execute(input):\n    return six.__version__"
    on_runtime = built.client.command.exec_func(
        language="python", code=code, runtime_revision_id=built.python_revision
    )
    assert (on_runtime.output_status, on_runtime.output) == ("valid", "1.17.0")
    on_base = built.client.command.exec_func(language="python", code=code)
    assert on_base.output_status == "error"
    assert "ModuleNotFoundError: No module named 'six'" in on_base.execution.stderr


def test_additional_python_imports_are_loaded_before_the_run(built: Built) -> None:
    result = built.client.command.exec(
        language="python",
        code="import sys\nprint('six' in sys.modules)",
        runtime_revision_id=built.python_revision,
    )
    assert result.stdout == "True\n"


def test_a_javascript_runtime_serves_javascript_and_typescript(built: Built) -> None:
    js = built.client.command.exec_func(
        language="javascript",
        code="const isNumber = require('is-number');\nfunction execute(input) { return [isNumber(5), isNumber('x')]; }",
        runtime_revision_id=built.js_revision,
    )
    ts = built.client.command.exec_func(
        language="typescript",
        code="import isNumber from 'is-number';\nexport function execute(input: unknown): boolean { return isNumber(input); }",
        input=3,
        runtime_revision_id=built.js_revision,
    )
    assert (js.output, ts.output) == ([True, False], True)


def test_a_failed_build_keeps_pips_error_and_refuses_runs(built: Built) -> None:
    revision = built.client.runtimes.revisions.get(
        built.failed_revision, runtime_id=built.python_runtime
    )
    assert revision.status == "failed"
    assert "sandpit-no-such-package-anywhere" in revision.build_log  # type: ignore[attr-defined]
    assert "ERROR" in revision.failure_reason  # type: ignore[attr-defined]
    with pytest.raises(rizaio.BadRequestError) as refused:
        built.client.command.exec(
            language="python", code="print(1)", runtime_revision_id=built.failed_revision
        )
    assert "failed to build" in str(refused.value)


def test_the_newest_revision_is_current_and_the_old_one_still_runs(built: Built) -> None:
    runtime = built.client.runtimes.get(built.python_runtime)
    assert runtime.revision_id == built.failed_revision
    assert runtime.status == "failed"
    old = built.client.command.exec(
        language="python",
        code="import six; print(six.PY3)",
        runtime_revision_id=built.python_revision,
    )
    assert old.stdout == "True\n"
    revisions = built.client.runtimes.revisions.list(built.python_runtime).revisions
    assert [r.id for r in revisions] == [built.failed_revision, built.python_revision]


def test_runtimes_are_listed_and_scoped_to_their_owner(
    built: Built, sandpit_server: LiveServer
) -> None:
    listed = [r.id for r in built.client.runtimes.list()]
    assert set(listed) >= {built.python_runtime, built.js_runtime}
    stranger = rizaio.Riza(
        api_key=sandpit_server.new_api_key("stranger"), base_url=sandpit_server.url, max_retries=0
    )
    with pytest.raises(rizaio.NotFoundError):
        stranger.runtimes.get(built.python_runtime)
    with pytest.raises(rizaio.BadRequestError) as refused:
        stranger.command.exec(
            language="python", code="print(1)", runtime_revision_id=built.python_revision
        )
    assert "does not exist" in str(refused.value)
    with pytest.raises(rizaio.BadRequestError):
        built.client.command.exec(
            language="javascript", code="1", runtime_revision_id=built.python_revision
        )


def test_a_manifest_of_the_wrong_kind_is_a_400(built: Built) -> None:
    with pytest.raises(rizaio.BadRequestError) as refused:
        built.client.runtimes.create(
            name="mixed",
            language="python",
            manifest_file={"name": "package.json", "contents": "{}"},
        )
    assert refused.value.body["error"]["field"] == "manifest_file.name"  # type: ignore[index]


def test_deleting_a_runtime_hides_it_and_past_runs_stay(built: Built) -> None:
    ran = built.client.command.exec(
        language="javascript",
        code="console.log(require('is-number')(1))",
        runtime_revision_id=built.js_revision,
    )
    deleted = built.client.runtimes.delete(built.js_runtime)
    assert (deleted.id, deleted.deleted) == (built.js_runtime, True)
    assert built.js_runtime not in [r.id for r in built.client.runtimes.list()]
    with pytest.raises(rizaio.BadRequestError):
        built.client.command.exec(
            language="javascript", code="1", runtime_revision_id=built.js_revision
        )
    assert built.client.executions.get(ran.id).exit_code == 0


@pytest.mark.parametrize(
    ("language", "name", "contents"),
    [
        ("python", "requirements.txt", "six\n--index-url http://127.0.0.1:9/simple\n"),
        ("python", "requirements.txt", "pkg @ http://127.0.0.1:9/pkg.whl\n"),
        ("javascript", "package.json", '{"dependencies": {"x": "git+http://127.0.0.1:9/x.git"}}'),
        ("javascript", "package.json", "not json"),
    ],
)
def test_a_manifest_that_would_fetch_from_elsewhere_is_a_400(
    built: Built, language: str, name: str, contents: str
) -> None:
    with pytest.raises(rizaio.BadRequestError) as refused:
        built.client.runtimes.create(
            name="sneaky",
            language=language,  # type: ignore[arg-type]
            manifest_file={"name": name, "contents": contents},  # type: ignore[typeddict-item]
        )
    assert refused.value.body["error"]["field"] == "manifest_file.contents"  # type: ignore[index]


def test_a_refused_runtime_leaves_nothing_behind(built: Built) -> None:
    before = [r.id for r in built.client.runtimes.list()]
    with pytest.raises(rizaio.BadRequestError) as refused:
        built.client.runtimes.create(
            name="bad imports",
            language="python",
            manifest_file={"name": "requirements.txt", "contents": "six\n"},
            additional_python_imports="not a module!",
        )
    assert refused.value.body["error"]["field"] == "additional_python_imports"  # type: ignore[index]
    assert [r.id for r in built.client.runtimes.list()] == before


RUNTIME_CLIENTS = {
    "requests": (
        "python",
        "import requests\nprint(requests.get('https://api.example.test/requests').text, end='')",
    ),
    "httpx": (
        "python",
        "import httpx\nprint(httpx.get('https://api.example.test/httpx').text, end='')",
    ),
}


@pytest.mark.parametrize("client", RUNTIME_CLIENTS)
def test_third_party_clients_go_out_through_http_allow(
    built: Built, echo: EchoServers, client: str
) -> None:
    language, code = RUNTIME_CLIENTS[client]
    revision = built.python_revision
    result = built.client.command.exec(
        language=language,  # type: ignore[arg-type]
        code=code,
        runtime_revision_id=revision,
        http={
            "allow": [{"host": "api.example.test", "auth": {"bearer": {"token": f"t-{client}"}}}]
        },
    )
    assert (result.exit_code, result.stdout) == (0, f"ok /{client}\n"), result.stderr
    assert echo.requests_for(f"/{client}")[-1].headers["Authorization"] == f"Bearer t-{client}"


class HealthProbe:
    """GET /healthz back to back from a thread; the slowest answer, once stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest_s = 0.0
        self.answers = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)
        self._thread.start()

    def _probe(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._done.is_set():
                started = time.monotonic()
                assert client.get(f"{self.url}/healthz").status_code == 200
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
                self.answers += 1
                time.sleep(0.02)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.slowest_s


def test_a_hostile_requirement_line_is_a_400_and_the_server_keeps_answering(
    sandpit_server: LiveServer,
) -> None:
    client = rizaio.Riza(
        api_key=sandpit_server.new_api_key("hostile-manifest"),
        base_url=sandpit_server.url,
        max_retries=0,
        timeout=120,
    )
    probe = HealthProbe(sandpit_server.url)
    try:
        time.sleep(0.2)  # the probe is answering before the hostile request goes
        started = time.monotonic()
        with pytest.raises(rizaio.BadRequestError) as refused:
            client.runtimes.create(
                name="hostile",
                language="python",
                manifest_file={"name": "requirements.txt", "contents": HOSTILE_REQUIREMENT},
            )
        took = time.monotonic() - started
        time.sleep(0.2)
    finally:
        slowest = probe.stop()
    print(
        f"refused in {took:.2f} s; /healthz answered {probe.answers} times, slowest {slowest:.2f} s"
    )
    assert refused.value.body["error"]["field"] == "manifest_file.contents"  # type: ignore[index]
    assert slowest < HEALTHZ_MAX_S
