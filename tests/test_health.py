"""/healthz, /readyz and /metrics on a live server."""

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_INSTANCE, LiveServer, free_port, start_server, stop_server


@pytest.fixture(scope="module")
def proxied_server(
    base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Sandpit behind a proxy on this host, as `make cluster` runs it (scripts/cluster.sh)."""
    state = tmp_path_factory.mktemp("proxied-server")
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": str(state),
        "SANDBOX_INSTANCE": f"{TEST_INSTANCE}-proxied",
        "SANDBOX_POOL_SIZE": "0",  # /metrics needs no sandbox
        "SANDPIT_TRUSTED_PROXIES": "127.0.0.1",
    }
    server, process = start_server(env, state, free_port())
    try:
        yield server
    finally:
        stop_server(process)


def test_healthz_and_readyz_answer_and_name_the_node(sandpit_server: LiveServer) -> None:
    health = httpx.get(f"{sandpit_server.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = httpx.get(f"{sandpit_server.url}/readyz")
    body = ready.json()
    assert (ready.status_code, body["status"], body["failing"]) == (200, "ready", {})
    # What isolates the sandboxes: crun where the engine declares it (make's engine
    # does), else runc and why (sandbox/docker/oci.py).
    runtime = body["runtime"]
    assert runtime["wanted"] == "auto" and runtime["using"] in ("crun", "runc")
    assert runtime["using"] == "crun" or runtime["note"]


def test_a_runtime_the_engine_lacks_is_said_in_readyz_and_refuses_runs(
    base_image: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": str(tmp_path),
        "SANDBOX_INSTANCE": f"{TEST_INSTANCE}-no-runtime",
        "SANDBOX_POOL_SIZE": "1",
        "SANDBOX_DOCKER_RUNTIME": "sandpit-no-such-runtime",
    }
    server, process = start_server(env, tmp_path, free_port())
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 503 and "runtime" in ready.json()["failing"]
        ran = httpx.post(
            f"{server.url}/v1/execute",
            json={"language": "python", "code": "print(1)"},
            headers={"Authorization": f"Bearer {server.new_api_key('isolated')}"},
            timeout=60,
        )
        assert ran.status_code == 503  # the operator's settings are not the tenant's to read
    finally:
        stop_server(process)
    said = (tmp_path / "server.log").read_text()
    assert "SANDBOX_DOCKER_RUNTIME='sandpit-no-such-runtime'" in said
    assert "declares no such runtime" in said


def test_metrics_count_runs_and_pools(sandpit_server: LiveServer) -> None:
    key = sandpit_server.new_api_key("metered")
    ran = httpx.post(
        f"{sandpit_server.url}/v1/execute",
        json={"language": "python", "code": "print(1)"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert ran.status_code == 200
    text = httpx.get(f"{sandpit_server.url}/metrics").text
    assert 'sandpit_runs_total{kind="script",language="python",status="succeeded"}' in text
    assert "sandpit_run_duration_seconds_bucket" in text
    assert 'sandpit_warm_containers{family="python"' in text
    assert "sandpit_container_starts_total" in text
    started = next(
        line
        for line in text.splitlines()
        if line.startswith("sandpit_container_start_seconds_count")
    )
    assert float(started.split()[-1]) >= 1  # the pools' starts, timed
    assert "sandpit_containers_awaiting_removal" in text
    assert "sandpit_queue_depth" in text
    assert 'sandpit_request_duration_seconds_count{method="POST",route="v1/execute"}' in text


def test_metrics_behind_a_trusted_proxy_answer_only_a_client_on_this_machine(
    proxied_server: LiveServer,
) -> None:
    url = f"{proxied_server.url}/metrics"
    # The proxy's peer is loopback for every client; the client is what it forwards.
    from_afar = httpx.get(url, headers={"X-Forwarded-For": "203.0.113.9"})
    assert from_afar.status_code == 403
    assert "SANDPIT_METRICS_TOKEN" in from_afar.json()["error"]["message"]
    # A client that writes a loopback address itself is named left of what the proxy saw.
    forged = httpx.get(url, headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
    assert forged.status_code == 403
    # Only X-Forwarded-For names the client: another header leaves it unknown.
    assert httpx.get(url, headers={"X-Real-IP": "127.0.0.1"}).status_code == 403
    through_the_proxy = httpx.get(url, headers={"X-Forwarded-For": "127.0.0.1"})
    assert through_the_proxy.status_code == 200
    assert "sandpit_queue_depth" in through_the_proxy.text
    assert httpx.get(url).status_code == 200


def test_metrics_refuse_what_a_proxy_nobody_trusted_forwards(sandpit_server: LiveServer) -> None:
    url = f"{sandpit_server.url}/metrics"
    # Loopback peer, but a proxy's header: the client behind it could be anyone.
    assert httpx.get(url, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    assert httpx.get(url, headers={"Forwarded": "for=127.0.0.1"}).status_code == 403
    assert httpx.get(url).status_code == 200
