import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from django.conf import settings

# Plugins of this folder (below) get pytest's assertion rewriting though imported here.
pytest.register_assert_rewrite("tests.api_clients", "tests.browser", "tests.echo")

from sandbox import images  # noqa: E402
from sandbox.docker.connection import DockerConnection  # noqa: E402
from sandbox.docker.images import DockerImages  # noqa: E402
from sandbox.engine import Engine, EngineConfig, use_engine  # noqa: E402
from tests.echo import EchoServers  # noqa: E402

# The Chromium fixture and helpers of the UI tests; the echo servers of the egress tests;
# the reaping of what earlier sessions left.
pytest_plugins = ["tests.api_clients", "tests.browser", "tests.echo", "tests.leftovers"]

# Containers of the test session carry their own instance label, so that tests never
# touch the containers of a server running beside them, nor it theirs.
TEST_INSTANCE = f"sandpit-test-{os.getpid()}"
REPO = Path(__file__).resolve().parent.parent
LIVE_SERVER_MAX_REQUEST_BYTES = 2 * 1024 * 1024
LIVE_SERVER_MAX_LIST_PAGE_BYTES = 3 * 1024 * 1024
SERVER_START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def base_image() -> Iterator[str]:
    connection = DockerConnection(
        instance=TEST_INSTANCE, timeout_s=settings.SANDBOX_DOCKER_TIMEOUT_S
    )
    try:
        yield images.ensure_base_image(DockerImages(connection))
    finally:
        connection.close()


@pytest.fixture(scope="session")
def engine_config(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> EngineConfig:
    return replace(
        EngineConfig.from_settings(),
        instance=TEST_INSTANCE,
        state_dir=Path(tmp_path_factory.mktemp("sandbox-state")),
        pool_size=2,
    )


@pytest.fixture(scope="session", autouse=True)
def _test_engine_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Any engine made from the settings in this process (get_engine) is the tests' own,
    # never one that would reap the containers of a `make run` server beside them.
    settings.SANDBOX_INSTANCE = f"{TEST_INSTANCE}-app"
    settings.SANDBOX_STATE_DIR = tmp_path_factory.mktemp("app-sandbox-state")


@pytest.fixture(scope="session")
async def engine(engine_config: EngineConfig) -> AsyncIterator[Engine]:
    engine = Engine(engine_config)
    await engine.start()
    # The services reach the engine through get_engine(): in this loop, it is this one.
    use_engine(engine)
    yield engine
    await engine.close()
    assert engine.adapter.instance_sandboxes() == [], "the engine left sandboxes behind"
    engine.adapter.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        """Run a management command against the live server's database; its stdout."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        return done.stdout

    def new_api_key(self, username: str) -> str:
        return self.manage("create_api_key", "test", "--user", username).strip().splitlines()[-1]


@pytest.fixture(scope="session")
def sandpit_server(
    base_image: str, echo: EchoServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Sandpit served by uvicorn in a process of its own, as `make run` serves it."""
    state = tmp_path_factory.mktemp("live-server")
    port = free_port()
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": str(state),
        "SANDBOX_INSTANCE": f"{TEST_INSTANCE}-server",
        "SANDBOX_POOL_SIZE": "2",
        # Small enough to be reached by a test, as are the slots below.
        "MAX_REQUEST_BYTES": str(LIVE_SERVER_MAX_REQUEST_BYTES),
        "SANDBOX_MAX_CONCURRENT_RUNS": "3",
        "SANDBOX_MAX_QUEUED_RUNS": "2",
        "SANDPIT_MAX_LIST_PAGE_BYTES": str(LIVE_SERVER_MAX_LIST_PAGE_BYTES),
        # http.allow reaches the echo servers under their fake names, and trusts their CA.
        "SANDBOX_EGRESS_PIN": echo.pins_by_scheme(),
        "SANDBOX_EGRESS_CA_BUNDLE": str(echo.ca_file),
    }
    server, process = start_server(env, state, port)
    try:
        yield server
    finally:
        stop_server(process)


def start_server(
    env: dict[str, str], state: Path, port: int
) -> tuple[LiveServer, subprocess.Popen[bytes]]:
    """Migrate, collect static files, and serve with uvicorn as `make run` does."""
    env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    server = LiveServer(url=f"http://127.0.0.1:{port}", env=env)
    server.manage("migrate", "--noinput", "-v", "0")
    server.manage("collectstatic", "--noinput", "-v", "0")
    log = (state / "server.log").open("a")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "uvicorn"),
            "playground.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "on",
            "--no-proxy-headers",
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        _wait_until_up(server.url, process)
    except BaseException:
        stop_server(process)
        raise
    return server, process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the live server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/v1/openapi.json", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the live server did not answer within {SERVER_START_TIMEOUT_S} s")


# CI sets SANDPIT_REQUIRE_ALL=1: there a test that would skip (no PostgreSQL, no Docker
# engine of its own) fails instead, so that a green run means that every test ran.
REQUIRE_ALL = os.environ.get("SANDPIT_REQUIRE_ALL") or "0"
if REQUIRE_ALL not in ("0", "1"):
    raise pytest.UsageError(f"SANDPIT_REQUIRE_ALL is 1 or 0, not {REQUIRE_ALL!r}")


def _fail_if_skipped(report: pytest.TestReport | pytest.CollectReport) -> None:
    if REQUIRE_ALL == "1" and report.skipped and not hasattr(report, "wasxfail"):
        why = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{str(why).removeprefix('Skipped: ')} (a skip: SANDPIT_REQUIRE_ALL=1)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_if_skipped(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report() -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_if_skipped(report)
    return report
