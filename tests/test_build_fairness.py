"""An owner's runtime builds past the cap are a 429, through Riza's client, on a live server.

The server's package index is a loopback listener that accepts and never answers, so
every build hangs in its fetch step and nothing leaves this machine. Which builds run
while others wait is tested in tests/test_build_sandbox.py and tests/unit/.
"""

import os
import time
from collections.abc import Iterator

import pytest
import rizaio

from sandbox.builds.orchestrator import MAX_BUILDS_PER_OWNER
from tests.conftest import TEST_INSTANCE, LiveServer, free_port, start_server, stop_server
from tests.test_build_sandbox import Listener

BUILDING_WAIT_S = 60


@pytest.fixture(scope="module")
def hanging_server(
    base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    listener = Listener()
    state = tmp_path_factory.mktemp("hanging-builds-server")
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": str(state),
        "SANDBOX_INSTANCE": f"{TEST_INSTANCE}-hanging-builds",
        "SANDBOX_POOL_SIZE": "0",
        "SANDBOX_BUILD_PIP_INDEX_URL": "https://hanging-index.test/simple",
        "SANDBOX_EGRESS_PIN": f"hanging-index.test=127.0.0.1:{listener.port}",
    }
    server, process = start_server(env, state, free_port())
    try:
        yield server
    finally:
        stop_server(process)
        listener.close()


def _client(server: LiveServer, owner: str) -> rizaio.Riza:
    return rizaio.Riza(api_key=server.new_api_key(owner), base_url=server.url, max_retries=0)


def _create(client: rizaio.Riza, name: str) -> rizaio.types.Runtime:
    return client.runtimes.create(
        name=name,
        language="python",
        manifest_file={"name": "requirements.txt", "contents": "six\n"},
    )


def _wait_until_building(client: rizaio.Riza, runtime: rizaio.types.Runtime) -> None:
    deadline = time.monotonic() + BUILDING_WAIT_S
    while client.runtimes.get(runtime.id).status != "building":
        assert time.monotonic() < deadline, f"{runtime.id} never started building"
        time.sleep(0.2)


def test_an_owner_past_the_build_cap_gets_a_429_and_another_owner_still_builds(
    hanging_server: LiveServer,
) -> None:
    eager = _client(hanging_server, "eager-builder")
    patient = _client(hanging_server, "patient-builder")
    mine = [_create(eager, f"runtime {i}") for i in range(MAX_BUILDS_PER_OWNER)]
    try:
        with pytest.raises(rizaio.RateLimitError) as refused:
            _create(eager, "one too many")
        error = refused.value.body["error"]  # type: ignore[index]
        assert error["code"] == "too_many_builds"
        assert f"{MAX_BUILDS_PER_OWNER} runtime builds waiting or running" in error["message"]
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        assert len(eager.runtimes.list().runtimes) == MAX_BUILDS_PER_OWNER  # nothing written
        theirs = _create(patient, "first")
        # Not held back by eager's line: it builds beside eager's one running build.
        _wait_until_building(patient, theirs)
        statuses = [eager.runtimes.get(r.id).status for r in mine]
        assert statuses.count("building") == 1
    finally:
        for client in (eager, patient):
            for runtime in client.runtimes.list().runtimes:
                client.runtimes.delete(runtime.id)
