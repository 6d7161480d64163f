"""Two nodes on real PostgreSQL and Redis: shared records, live streams from any node,
Stop from any node, shared rate limits, a node killed, the database away and back."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import rizaio
from cryptography.fernet import Fernet
from rizaio.types import CommandExecResponse, Execution
from websockets.sync.client import connect

from tests import backing, leftovers
from tests.conftest import TEST_INSTANCE, LiveServer, free_port, start_server, stop_server
from tests.second_dockerd import SecondDockerd
from tests.waits import wait_for

GUEST_RUNS_PER_MINUTE = 4
NODE_TIMEOUT_S = 3


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    postgres: backing.Postgres
    redis: backing.Redis
    env: dict[str, str]
    folder: Path
    processes: dict[str, subprocess.Popen[bytes]]

    def restart(self, name: str) -> None:
        """Stop a node and start it again: the same instance, state and port."""
        server = self.a if name == "a" else self.b
        stop_server(self.processes[name])
        port = int(server.url.rsplit(":", 1)[1])
        _, self.processes[name] = start_server(server.env, self.folder / name, port)

    def node(self, name: str, **more_env: str) -> tuple[LiveServer, subprocess.Popen[bytes]]:
        """A third node of the cluster, started; stopping it is the caller's."""
        state = self.folder / name
        state.mkdir()
        env = {
            **self.env,
            "SANDPIT_STATE_DIR": str(state),
            "SANDBOX_INSTANCE": f"{TEST_INSTANCE}-{name}",
            **more_env,
        }
        return start_server(env, state, free_port())


@pytest.fixture(scope="module")
def cluster(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    why = backing.available()
    if why:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("cluster")
    postgres = backing.Postgres.create()
    redis = backing.Redis.create(folder / "redis")
    env = {
        **os.environ,
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "SECRET_KEY": "cluster-" + Fernet.generate_key().decode(),
        "SANDPIT_SECRETS_KEY": Fernet.generate_key().decode(),
        "SANDBOX_POOL_SIZE": "1",
        "SANDPIT_NODE_HEARTBEAT_S": "0.5",
        "SANDPIT_NODE_TIMEOUT_S": str(NODE_TIMEOUT_S),
        "PLAYGROUND_GUEST_RUNS_PER_MINUTE": str(GUEST_RUNS_PER_MINUTE),
    }
    running: dict[str, subprocess.Popen[bytes]] = {}
    try:
        nodes = {}
        for name in ("a", "b"):
            state = folder / name
            state.mkdir()
            node_env = {
                **env,
                "SANDPIT_STATE_DIR": str(state),
                "SANDBOX_INSTANCE": f"{TEST_INSTANCE}-{name}",
            }
            server, process = start_server(node_env, state, free_port())
            nodes[name] = server
            running[name] = process
        yield Cluster(nodes["a"], nodes["b"], postgres, redis, env, folder, running)
    finally:
        for process in running.values():
            stop_server(process)
        redis.stop()
        postgres.stop()
        postgres.remove()


def guest(server: LiveServer, address: str = "127.0.0.1") -> httpx.Client:
    """A browser's session, from `address`: its cookies, its CSRF token."""
    transport = httpx.HTTPTransport(local_address=address)
    client = httpx.Client(base_url=server.url, timeout=30, transport=transport)
    client.get("/")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def start_run(client: httpx.Client, code: str) -> str:
    answer = client.post("/runs", json={"language": "python", "code": code})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def watch(
    server: LiveServer, client: httpx.Client, execution_id: str
) -> Generator[dict[str, object], None, None]:
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    url = server.url.replace("http://", "ws://") + f"/ws/executions/{execution_id}"
    with connect(url, additional_headers={"Cookie": cookies, "Origin": server.url}) as socket:
        while True:
            message = json.loads(socket.recv(timeout=60))
            yield message
            if message["type"] in ("snapshot", "finished") and message["execution"][
                "status"
            ] not in (
                "queued",
                "running",
            ):
                return


def _watch_if_output_is_out(
    server: LiveServer, client: httpx.Client, execution_id: str
) -> list[dict[str, object]] | None:
    """Every message of a watcher whose first (the snapshot) shows output, else None."""
    messages = watch(server, client, execution_id)
    snapshot = next(messages)
    if not snapshot["execution"]["stdout"]:  # type: ignore[index]
        messages.close()
        return None
    return [snapshot, *messages]


def _running(api: rizaio.Riza) -> list[Execution]:
    """The owner's runs now running."""
    return [e for e in api.executions.list() if e.status == "running"]  # type: ignore[attr-defined]


def _unless_running(execution: Execution) -> Execution | None:
    return None if execution.status == "running" else execution  # type: ignore[attr-defined]


def _watched_live(cluster: Cluster, client: httpx.Client) -> list[dict[str, object]] | None:
    """Every message of a new run of `client`'s, watched on b; None if it was not live."""
    execution_id = start_run(
        client, "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)"
    )
    messages = list(watch(cluster.b, client, execution_id))
    return None if any(m["type"] == "error" for m in messages) else messages


def _ready(server: LiveServer) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200


def _answered(response: httpx.Response) -> httpx.Response | None:
    """The response, unless it is a 503 (something the node needs is still away)."""
    return None if response.status_code == 503 else response


def test_a_run_on_one_node_is_read_on_the_other(cluster: Cluster) -> None:
    key = cluster.a.new_api_key("clustered")
    on_a = rizaio.Riza(api_key=key, base_url=cluster.a.url, max_retries=0)
    on_b = rizaio.Riza(api_key=key, base_url=cluster.b.url, max_retries=0)
    ran = on_a.command.exec(language="python", code="print('from a')")
    assert on_b.executions.get(ran.id).details.response.stdout == "from a\n"  # type: ignore[union-attr]


def test_a_late_watcher_on_the_other_node_gets_every_line_once(cluster: Cluster) -> None:
    client = guest(cluster.a)
    code = (
        "import time\nfor i in range(6):\n    print(f'line {i}', flush=True)\n    time.sleep(0.3)"
    )
    execution_id = start_run(client, code)
    # A watcher that comes once the first lines are out, and stays to the end.
    messages = wait_for(
        "a watcher on the other node to see the first line",
        lambda: _watch_if_output_is_out(cluster.b, client, execution_id),
        timeout_s=30,
    )
    text = messages[0]["execution"]["stdout"] + "".join(  # type: ignore[index]
        str(m["text"]) for m in messages if m["type"] == "stdout"
    )
    assert messages[0]["execution"]["stdout"].startswith("line 0")  # type: ignore[index]
    assert text == "".join(f"line {i}\n" for i in range(6))
    assert messages[-1]["type"] == "finished"


def test_stop_reaches_the_run_from_the_other_node(cluster: Cluster) -> None:
    client = guest(cluster.a)
    execution_id = start_run(client, "import time\nprint('up', flush=True)\ntime.sleep(60)")
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    url = cluster.b.url.replace("http://", "ws://") + f"/ws/executions/{execution_id}"
    with connect(url, additional_headers={"Cookie": cookies, "Origin": cluster.b.url}) as socket:
        wait_for("the run's first line", lambda: "up" in socket.recv(timeout=30), timeout_s=30)
        socket.send(json.dumps({"type": "stop"}))
        while True:
            message = json.loads(socket.recv(timeout=30))
            if message["type"] == "finished":
                break
    assert message["execution"]["status"] == "stopped"


def test_guest_rate_limits_are_counted_across_nodes(cluster: Cluster) -> None:
    answers = []
    for i in range(GUEST_RUNS_PER_MINUTE + 1):
        # From an address of this test's own: the others' guest runs count too.
        client = guest(cluster.a if i % 2 else cluster.b, address="127.0.0.77")
        answers.append(client.post("/runs", json={"language": "python", "code": "print(1)"}))
    assert [a.status_code for a in answers[:-1]] == [201] * GUEST_RUNS_PER_MINUTE
    assert answers[-1].status_code == 429


@pytest.fixture
def doomed_node(cluster: Cluster) -> Iterator[tuple[LiveServer, subprocess.Popen[bytes]]]:
    """A third node, for the test to kill; what it leaves behind is removed after."""
    server, process = cluster.node("doomed")
    try:
        yield server, process
    finally:
        stop_server(process)
        leftovers.remove_instance_containers(f"{TEST_INSTANCE}-doomed")


def test_a_killed_node_s_run_ends_as_an_error_and_the_other_node_serves_on(
    cluster: Cluster, doomed_node: tuple[LiveServer, subprocess.Popen[bytes]]
) -> None:
    doomed, process = doomed_node
    key = doomed.new_api_key("unlucky-cluster")
    client = rizaio.Riza(api_key=key, base_url=doomed.url, max_retries=0)

    def long_run() -> None:
        with contextlib.suppress(rizaio.APIConnectionError):  # its node dies under it
            client.command.exec(
                language="python",
                code="import time\ntime.sleep(60)",
                limits={"execution_timeout": 90},
            )

    thread = threading.Thread(target=long_run, daemon=True)
    on_a = rizaio.Riza(api_key=key, base_url=cluster.a.url, max_retries=0)
    thread.start()
    running = wait_for("the run to start", lambda: _running(on_a), timeout_s=30, every_s=0.2)
    os.kill(process.pid, signal.SIGKILL)
    record = wait_for(
        "the dead node's run to be ended",
        lambda: _unless_running(on_a.executions.get(running[0].id)),
        timeout_s=NODE_TIMEOUT_S + 15,
        every_s=0.5,
    )
    assert record.status == "error"  # type: ignore[attr-defined]
    assert "the node running it stopped" in record.details.response.stderr  # type: ignore[union-attr]
    assert on_a.command.exec(language="python", code="print('still here')").stdout == "still here\n"


def test_the_database_away_is_a_503_and_service_comes_back(cluster: Cluster) -> None:
    key = cluster.a.new_api_key("patient")
    headers = {"Authorization": f"Bearer {key}"}
    cluster.postgres.stop()
    try:
        away = httpx.post(
            f"{cluster.a.url}/v1/execute",
            json={"language": "python", "code": "print(1)"},
            headers=headers,
            timeout=30,
        )
        page = httpx.get(f"{cluster.b.url}/history", timeout=30)
        ready = httpx.get(f"{cluster.a.url}/readyz", timeout=30)
    finally:
        cluster.postgres.start()
    assert away.status_code == 503 and away.headers["Retry-After"]
    assert away.json()["error"]["code"] == "database_unavailable"
    assert page.status_code == 503 and "briefly unavailable" in page.text
    assert ready.status_code == 503 and "database" in ready.json()["failing"]
    back = wait_for(
        "the API to run code again once PostgreSQL was back",
        lambda: _answered(
            httpx.post(
                f"{cluster.a.url}/v1/execute",
                json={"language": "python", "code": "print('back')"},
                headers=headers,
                timeout=30,
            )
        ),
        timeout_s=30,
        every_s=0.5,
    )
    assert back.json()["stdout"] == "back\n"


def test_redis_away_runs_go_on_and_watchers_get_the_record(cluster: Cluster) -> None:
    key = cluster.a.new_api_key("no-redis")
    api = rizaio.Riza(api_key=key, base_url=cluster.a.url, max_retries=0)
    client = guest(cluster.a, address="127.0.0.88")
    cluster.redis.stop()
    try:
        assert api.command.exec(language="python", code="print('no redis')").stdout == "no redis\n"
        execution_id = start_run(client, "import time\ntime.sleep(1)\nprint('recorded')")
        messages = list(watch(cluster.b, client, execution_id))
    finally:
        cluster.redis.start()
    assert any(m["type"] == "error" and "unavailable" in str(m["message"]) for m in messages)
    assert messages[-1]["type"] == "finished"
    assert messages[-1]["execution"]["stdout"] == "recorded\n"  # type: ignore[index]
    # Redis back: live streaming again, from the other node, for a run started after.
    # A node's first watchers may still find its old connections to Redis broken.
    for node in (cluster.a, cluster.b):
        wait_for(f"{node.url} to be ready again", partial(_ready, node), timeout_s=30, every_s=0.2)
    addresses = (f"127.0.0.{n}" for n in range(100, 200))
    messages = wait_for(
        "a run watched live once Redis was back",
        lambda: _watched_live(cluster, guest(cluster.a, address=next(addresses))),
        timeout_s=30,
    )
    assert messages[-1]["execution"]["stdout"] == "0\n1\n2\n"  # type: ignore[index]


def test_a_node_that_restarts_touches_only_its_own_runs(cluster: Cluster) -> None:
    key = cluster.a.new_api_key("undisturbed")
    on_a = rizaio.Riza(api_key=key, base_url=cluster.a.url, max_retries=0)
    results: list[object] = []
    thread = threading.Thread(
        target=lambda: results.append(
            on_a.command.exec(language="python", code="import time\ntime.sleep(4)\nprint('done')")
        )
    )
    thread.start()
    wait_for("a's run to start", lambda: _running(on_a), timeout_s=30, every_s=0.2)
    cluster.restart("b")  # its start-up recovery must leave a's running run alone
    thread.join(timeout=60)
    assert results and results[0].stdout == "done\n"  # type: ignore[attr-defined]
    assert on_a.executions.get(results[0].id).status == "succeeded"  # type: ignore[attr-defined]


DATABASE_TESTS = [
    "tests/test_executions.py",
    "tests/test_playground_views.py",
    "tests/test_streaming.py",
    "tests/test_secret_rotation.py",
]


def test_the_database_tests_pass_on_postgresql(cluster: Cluster) -> None:
    env = {**os.environ, "DATABASE_URL": cluster.postgres.url}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DATABASE_TESTS],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.fixture
def node_on_its_own_docker(
    cluster: Cluster, base_image: str
) -> Iterator[tuple[LiveServer, SecondDockerd]]:
    """A node whose Docker engine is a second dockerd of the test's own, which the test
    may stop: stopping the machine's would take the containers of everything beside."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("a Docker engine of the test's own needs root and dockerd")
    engine = SecondDockerd.create(prefix=f"{TEST_INSTANCE}-dockerd-")
    try:
        engine.copy_image(base_image)
        server, process = cluster.node("own-docker", DOCKER_HOST=engine.host)
        try:
            yield server, engine
        finally:
            stop_server(process)
    finally:
        engine.remove()


def test_a_docker_restart_ends_runs_as_errors_answers_503_then_recovers(
    node_on_its_own_docker: tuple[LiveServer, SecondDockerd],
) -> None:
    node, engine = node_on_its_own_docker
    key = node.new_api_key("docker-restart")
    api = rizaio.Riza(api_key=key, base_url=node.url, max_retries=0)
    results: list[CommandExecResponse | rizaio.APIError] = []

    def in_flight() -> None:
        try:
            results.append(api.command.exec(language="python", code="import time\ntime.sleep(30)"))
        except rizaio.APIError as exc:
            results.append(exc)

    thread = threading.Thread(target=in_flight)
    thread.start()
    wait_for("the run to start", lambda: _running(api), timeout_s=30, every_s=0.2)
    engine.stop()
    try:
        down = httpx.post(
            f"{node.url}/v1/execute",
            json={"language": "python", "code": "print(1)"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
    finally:
        engine.start()
    thread.join(timeout=60)
    assert results, "the in-flight run's request never ended"
    cut = results[0]
    assert isinstance(cut, CommandExecResponse), f"the in-flight run's request failed: {cut}"
    assert cut.exit_code == -1 and "stopped unexpectedly" in cut.stderr
    assert down.status_code == 503 and down.headers["Retry-After"]
    assert down.json()["error"]["code"] == "engine_unavailable"
    back = wait_for(
        "the node to run code again once Docker was back",
        lambda: _ran(api, "print('pools rebuilt')"),
        timeout_s=60,
        every_s=1,
    )
    assert back.stdout == "pools rebuilt\n"


def _ran(api: rizaio.Riza, code: str) -> CommandExecResponse | None:
    """The run's result, or None if the API refused it (a 503 while Docker comes back)."""
    try:
        return api.command.exec(language="python", code=code)
    except rizaio.APIStatusError:
        return None
