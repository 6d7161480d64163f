"""Execution records and API keys at the service level: what the API relies on."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.test import AsyncClient

from playground.models import ApiKey, Execution
from playground.runs import services
from sandbox.docker.connection import DockerConnection
from sandbox.docker.runs import DockerRuns
from sandbox.engine import Engine, EngineConfig, get_engine, use_engine
from sandbox.errors import EngineUnavailable
from tests.fake_runs import FakeRunSandboxes, fake_engine_config
from tests.runs import script


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create(username="owner")


def test_a_key_is_shown_once_and_stored_only_as_a_hash(owner: User) -> None:
    api_key, key = services.api_key_create(owner=owner, name="laptop")
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert key.startswith("sp_") and stored.prefix == key[:11]
    assert key not in {stored.hashed_key, stored.prefix, stored.name}
    assert async_to_sync(services.api_key_authenticate)(key=key) == stored


def test_a_revoked_key_no_longer_authenticates(owner: User) -> None:
    api_key, key = services.api_key_create(owner=owner, name="old")
    services.api_key_revoke(api_key=api_key)
    assert async_to_sync(services.api_key_authenticate)(key=key) is None


def test_a_run_the_engine_cannot_take_is_recorded_as_an_error(
    owner: User, engine_config: EngineConfig, tmp_path: Path
) -> None:
    adapter = DockerRuns(
        DockerConnection(instance="nowhere", timeout_s=2, base_url=f"unix://{tmp_path}/no.sock")
    )
    down = Engine(replace(engine_config, instance="nowhere", pool_size=0), adapter=adapter)

    async def run() -> None:
        use_engine(down)  # this loop's engine: one whose Docker does not answer
        await services.execution_run(
            services.Submission(
                owner=owner,
                kind=Execution.Kind.SCRIPT,
                job=script("python", "print(1)"),
                request={"code": "print(1)"},
            )
        )

    with pytest.raises(EngineUnavailable):
        async_to_sync(run)()
    execution = Execution.objects.get(owner=owner)
    assert execution.status == Execution.Status.ERROR
    assert execution.code == "print(1)"
    assert "Docker engine" in execution.error_reason


def test_runs_left_unfinished_by_a_restart_end_as_errors(owner: User) -> None:
    mine = Execution.objects.create(
        owner=owner, kind="script", language="python", code="x", node="here"
    )
    other_node = Execution.objects.create(
        owner=owner, kind="script", language="python", code="x", node="there"
    )
    assert services.executions_fail_interrupted(node="here") == 1
    mine.refresh_from_db()
    other_node.refresh_from_db()
    assert mine.status == Execution.Status.ERROR
    assert "restarted" in mine.error_reason
    assert other_node.status == Execution.Status.QUEUED


@pytest.mark.django_db(transaction=True)
async def test_an_api_run_that_hits_a_bug_of_ours_is_recorded_and_answered_in_json(
    tmp_path: Path,
) -> None:
    owner = await User.objects.acreate(username="unlucky")
    _, key = await sync_to_async(services.api_key_create)(owner=owner, name="k")
    # A Docker that fails in a way the engine has no answer for, once a run resizes.
    fake = Engine(fake_engine_config(tmp_path), FakeRunSandboxes(set_memory_error=True))
    previous = get_engine()
    use_engine(fake)
    try:
        response = await AsyncClient().post(
            "/v1/execute",
            {"language": "python", "code": "out hi", "limits": {"memory_size": 300}},
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
    finally:
        use_engine(previous)
        await fake.close()
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    execution = await Execution.objects.aget(owner=owner)
    assert execution.status == Execution.Status.ERROR
    assert "RuntimeError" in execution.error_reason


def test_the_sweeps_end_a_dead_node_s_runs_and_this_node_s_stale_ones(
    owner: User, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from playground.cluster import nodes
    from playground.models import Node

    settings.SANDBOX_INSTANCE = "me"
    long_ago = timezone.now() - timedelta(hours=2)
    Node.objects.create(name="dead", last_seen=long_ago)
    Node.objects.create(name="alive", last_seen=timezone.now())

    def run(node: str, started: Any = None) -> Execution:
        return Execution.objects.create(
            owner=owner,
            kind="script",
            language="python",
            code="x",
            node=node,
            status="running",
            started_at=started or timezone.now(),
        )

    on_dead, on_alive, stale_here, fresh_here, going_here = (
        run("dead"),
        run("alive"),
        run("me", long_ago),
        run("me"),
        run("me", long_ago),
    )
    assert [e.id for e in nodes.sweep()] == [on_dead.id]
    assert not Node.objects.filter(name="dead").exists()
    assert [e.id for e in nodes.sweep_own({going_here.id})] == [stale_here.id]
    statuses = {
        e.id: e.status
        for e in Execution.objects.filter(
            id__in=[on_dead.id, on_alive.id, stale_here.id, fresh_here.id, going_here.id]
        )
    }
    assert statuses == {
        on_dead.id: "error",
        on_alive.id: "running",
        stale_here.id: "error",
        fresh_here.id: "running",
        going_here.id: "running",
    }
    assert nodes.NODE_DIED in Execution.objects.get(id=on_dead.id).error_reason
