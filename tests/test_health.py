"""/healthz, /readyz and /metrics on a live server."""

import httpx

from tests.conftest import LiveServer


def test_healthz_and_readyz_answer_and_name_the_node(sandpit_server: LiveServer) -> None:
    health = httpx.get(f"{sandpit_server.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = httpx.get(f"{sandpit_server.url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "failing": {}})


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
