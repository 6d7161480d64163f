"""Sessions over time, on a live server of their own: idle pauses, frozen sandboxes let
go, and what a restart (a clean stop, or a crash) leaves of them."""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import docker
import pytest

from sandbox.docker.connection import LABEL_INSTANCE
from tests.conftest import TEST_INSTANCE, LiveServer, free_port, start_server, stop_server
from tests.sessions_client import SessionsClient, plain

pytestmark = pytest.mark.slow
INSTANCE = f"{TEST_INSTANCE}-lifecycle"
FROZEN_S = 3


class Restartable:
    """A live server that can be stopped cleanly, or killed, and started again on the
    same state folder and port."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.env = {
            **os.environ,
            "SANDPIT_STATE_DIR": str(state),
            "SANDBOX_INSTANCE": INSTANCE,
            "SANDBOX_POOL_SIZE": "1",
            "SANDBOX_SESSION_FROZEN_S": str(FROZEN_S),
        }
        self.server, self.process = self._start()

    def _start(self) -> tuple[LiveServer, "Popen[bytes]"]:
        return start_server(self.env, self.state, self.port)

    def restart(self, *, crash: bool = False) -> None:
        if crash:
            self.process.kill()
            self.process.wait()
        else:
            stop_server(self.process)
        self.server, self.process = self._start()

    def stop(self) -> None:
        stop_server(self.process)


@pytest.fixture(scope="module")
def server(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    handle = Restartable(tmp_path_factory.mktemp("sessions-server"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def dora(server: Restartable) -> SessionsClient:
    return SessionsClient(server.server, server.server.new_api_key("dora"))


def containers_of_the_server() -> set[str]:
    client = docker.from_env()
    try:
        found = client.api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={INSTANCE}"})
        return {c["Id"] for c in found}
    finally:
        client.close()


def wait_for(predicate, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "it did not happen in time"
        time.sleep(0.2)


def test_an_idle_session_pauses_by_itself_and_its_next_call_wakes_it(
    dora: SessionsClient,
) -> None:
    sid = dora.open(idle_timeout=10)["id"]
    dora.run(sid, "kept = 1\nopen('f.txt', 'w').write('on disk')")
    started = time.monotonic()
    wait_for(lambda: dora.session(sid)["status"] == "paused", timeout_s=30)
    assert time.monotonic() - started >= 9
    assert dora.session(sid)["paused_reason"] == "paused after 10 s idle"
    soon = dora.run(sid, "kept")
    assert plain(soon) == ["1"] and dora.session(sid)["state_kept"] == "memory"
    dora.delete(f"/sessions/{sid}")


def test_past_its_frozen_spell_a_paused_session_comes_back_with_its_files_only(
    dora: SessionsClient,
) -> None:
    sid = dora.open(language="javascript")["id"]
    dora.run(sid, "var kept = 1; require('fs').writeFileSync('f.txt', 'on disk')")
    dora.post(f"/sessions/{sid}/pause")
    time.sleep(FROZEN_S + 2.5)
    files = dora.run(sid, "require('fs').readFileSync('f.txt', 'utf8')")
    memory = dora.run(sid, "typeof kept")
    assert plain(files) == ["'on disk'"] and plain(memory) == ["'undefined'"]
    assert dora.session(sid)["state_kept"] == "files"
    dora.delete(f"/sessions/{sid}")


def test_a_clean_stop_pauses_running_sessions_with_their_files(
    server: Restartable, dora: SessionsClient
) -> None:
    sid = dora.open()["id"]
    dora.run(sid, "open('a.txt', 'w').write('saved at stop')\nlost = 1")
    server.restart()
    after = dora.session(sid)
    assert (after["status"], after["paused_reason"]) == (
        "paused",
        "the server stopped; its files were saved",
    )
    files = dora.run(sid, "open('a.txt').read()")
    assert plain(files) == ["'saved at stop'"]
    assert dora.session(sid)["state_kept"] == "files"
    dora.delete(f"/sessions/{sid}")


def test_a_crash_ends_running_sessions_keeps_paused_ones_and_leaves_no_sandbox(
    server: Restartable, dora: SessionsClient
) -> None:
    running = dora.open()["id"]
    dora.run(running, "x = 1")
    paused = dora.open()["id"]
    dora.run(paused, "open('p.txt', 'w').write('paused before')")
    dora.post(f"/sessions/{paused}/pause")
    before = containers_of_the_server()
    assert before
    server.restart(crash=True)
    assert not before & containers_of_the_server()
    ended = dora.session(running)
    assert (ended["status"], ended["ended_reason"]) == (
        "ended",
        "the server restarted before its files were saved",
    )
    kept = dora.session(paused)
    assert (kept["status"], kept["paused_reason"]) == ("paused", "paused by its owner")
    assert plain(dora.run(paused, "open('p.txt').read()")) == ["'paused before'"]
    dora.delete(f"/sessions/{paused}")
