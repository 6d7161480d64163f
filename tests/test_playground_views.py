"""The playground's pages and limits, through Django's test clients."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import AsyncClient, Client
from pytest_django.fixtures import Settings as SettingsWrapper

from playground.models import ApiKey, Execution
from playground.runs import services
from playground.runs.serializers import execution_state
from sandbox.engine import Engine
from sandbox.jobs import Limits
from tests.runs import script


@pytest.mark.django_db(transaction=True)
async def test_guests_past_their_rate_get_a_429_that_says_so(
    engine: Engine, settings: SettingsWrapper
) -> None:
    settings.PLAYGROUND_GUEST_RUNS_PER_MINUTE = 2
    cache.clear()  # other tests' guest runs count too: all come from 127.0.0.1
    client = AsyncClient(enforce_csrf_checks=False)
    body = {"mode": "script", "language": "python", "code": "print(1)"}
    answers = [await client.post("/runs", body, content_type="application/json") for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert "a minute" in answers[2].json()["error"]["message"]
    assert answers[2]["Retry-After"] == "60"
    for answer in answers[:2]:  # let the started runs finish inside this test's database
        execution_id = answer.json()["id"]
        for _ in range(200):
            if (await Execution.objects.aget(id=execution_id)).is_finished:
                break
            await asyncio.sleep(0.05)


@pytest.mark.django_db(transaction=True)
async def test_a_guest_past_the_rate_is_refused_before_the_body_is_read(
    settings: SettingsWrapper,
) -> None:
    settings.PLAYGROUND_GUEST_RUNS_PER_MINUTE = 1
    cache.clear()
    client = AsyncClient()
    not_json = b"{" * 100 + b"this is not JSON"
    first = await client.post("/runs", not_json, content_type="application/json")
    second = await client.post("/runs", not_json, content_type="application/json")
    assert first.status_code == 400  # its one run of the minute: the body was read, and bad
    assert second.status_code == 429  # no longer read at all


@pytest.mark.django_db(transaction=True)
async def test_guests_have_a_smaller_body_limit_than_users(settings: SettingsWrapper) -> None:
    settings.PLAYGROUND_GUEST_MAX_REQUEST_BYTES = 4096
    settings.PLAYGROUND_GUEST_MAX_REQUEST_ELEMENTS = 100
    cache.clear()
    client = AsyncClient()
    big = {"mode": "script", "language": "python", "code": "#" * 8192}
    wide = {"mode": "function", "language": "python", "code": "x", "input": list(range(500))}
    too_big = await client.post("/runs", big, content_type="application/json")
    too_wide = await client.post("/runs", wide, content_type="application/json")
    assert too_big.status_code == 413
    assert "4096 bytes" in too_big.json()["error"]["message"]
    assert too_wide.status_code == 400
    assert "100 JSON values" in too_wide.json()["error"]["message"]


@pytest.mark.django_db
def test_a_bad_run_request_names_its_field() -> None:
    client = Client()
    answer = client.post(
        "/runs",
        {"mode": "script", "language": "python", "code": "x", "limits": {"memory_size": 1}},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "limits.memory_size"
    assert (
        client.post("/runs", {"mode": "nope"}, content_type="application/json").json()["error"][
            "field"
        ]
        == "mode"
    )


@pytest.mark.django_db
def test_the_keys_page_shows_a_new_key_once_and_revokes(django_user_model: type[User]) -> None:
    user = django_user_model.objects.create_user("keyholder", password="pw-for-tests")
    client = Client()
    client.force_login(user)
    created = client.post("/keys", {"name": "ci"})
    key = created.context["new_key"]
    assert key.startswith("sp_") and key in created.content.decode()
    listing = client.get("/keys").content.decode()
    assert key not in listing and key[:11] in listing
    api_key = ApiKey.objects.get(owner=user)
    client.post("/keys", {"revoke": str(api_key.pk)})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert client.post("/keys", {"revoke": "not-a-number"}).status_code == 200


@pytest.mark.django_db
def test_the_admin_shows_runs_masked_with_a_permalink(
    admin_client: Client, admin_user: User
) -> None:
    from asgiref.sync import async_to_sync

    request = {"code": "print(1)", "env": {"TOKEN": "admin-must-not-see"}}
    execution = async_to_sync(services.execution_create)(
        services.Submission(
            owner=admin_user,
            kind=Execution.Kind.SCRIPT,
            job=script("python", "print(1)"),
            request=request,
        )
    )
    page = admin_client.get(f"/admin/playground/execution/{execution.id}/change/").content.decode()
    assert "admin-must-not-see" not in page
    assert f"/e/{execution.id}" in page
    listing = admin_client.get("/admin/playground/execution/?exit=non_zero&status=queued")
    assert listing.status_code == 200
    assert admin_client.get("/admin/playground/apikey/").status_code == 200


@pytest.mark.django_db
def test_history_filters_by_language(django_user_model: type[User]) -> None:
    user = django_user_model.objects.create_user("historian")
    for language in ("python", "javascript"):
        Execution.objects.create(owner=user, kind="script", language=language, code="x")
    client = Client()
    client.force_login(user)
    page = client.get("/history?language=javascript")
    assert [e.language for e in page.context["page"].object_list] == ["javascript"]


@pytest.mark.django_db(transaction=True)
async def test_guests_have_lower_ceilings_for_time_and_memory(settings: SettingsWrapper) -> None:
    settings.PLAYGROUND_GUEST_MAX_TIMEOUT_S = 30
    settings.PLAYGROUND_GUEST_MAX_MEMORY_MIB = 64
    cache.clear()
    client = AsyncClient()
    for limits, field in (
        ({"execution_timeout": 60}, "limits.execution_timeout"),
        ({"memory_size": 512}, "limits.memory_size"),
    ):
        body = {"mode": "script", "language": "python", "code": "x", "limits": limits}
        answer = await client.post("/runs", body, content_type="application/json")
        assert answer.status_code == 400
        assert answer.json()["error"]["field"] == field
    assert await Execution.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_an_api_key_owner_past_the_request_rate_gets_a_429(
    settings: SettingsWrapper,
) -> None:
    settings.SANDPIT_API_RUNS_PER_MINUTE = 2
    cache.clear()
    owner = await User.objects.acreate(username="hasty")
    _, key = await sync_to_async(services.api_key_create)(owner=owner, name="k")
    auth = {"Authorization": f"Bearer {key}"}
    answers = [
        await AsyncClient().post(
            "/v1/execute", b"{}", content_type="application/json", headers=auth
        )
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert answers[2]["Retry-After"] == "60"


@pytest.mark.django_db(transaction=True)
async def test_one_owner_past_its_runs_in_progress_gets_a_429_and_others_still_run(
    engine: Engine,
) -> None:
    cache.clear()
    busy = await User.objects.acreate(username="busy")
    other = await User.objects.acreate(username="other")
    keys = [
        (await sync_to_async(services.api_key_create)(owner=u, name="k"))[1] for u in (busy, other)
    ]
    quick = {"language": "python", "code": "print('ok')"}
    saved = engine.admission.max_per_tenant
    engine.admission.max_per_tenant = 1
    try:
        running = await services.execution_start(
            services.Submission(
                owner=busy,
                kind=Execution.Kind.SCRIPT,
                job=script(
                    "python", "import time\ntime.sleep(30)", limits=Limits(execution_timeout_s=30)
                ),
                request={},
            )
        )
        for _ in range(200):
            if (await Execution.objects.aget(id=running.id)).status == "running":
                break
            await asyncio.sleep(0.05)
        second, theirs = [
            await AsyncClient().post(
                "/v1/execute",
                quick,
                content_type="application/json",
                headers={"Authorization": f"Bearer {key}"},
            )
            for key in keys
        ]
        assert await services.execution_stop(execution=running)
    finally:
        engine.admission.max_per_tenant = saved
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "too_many_runs"
    assert "Retry-After" in second
    assert (theirs.status_code, theirs.json()["stdout"]) == (200, "ok\n")
    for _ in range(200):  # let the stopped run finish inside this test's database
        if (await Execution.objects.aget(id=running.id)).is_finished:
            break
        await asyncio.sleep(0.05)


@pytest.mark.django_db
def test_the_permalink_and_the_admin_read_the_one_serialiser(
    admin_client: Client, admin_user: User
) -> None:
    execution = Execution.objects.create(
        owner=admin_user,
        kind="script",
        language="python",
        code="print('x' * 10**7)",
        status="succeeded",
        exit_code=0,
        stdout="x" * 100,
        stdout_truncated=True,
        is_shared=True,
    )
    page = Client().get(f"/e/{execution.id}").content.decode()
    shown = json.loads(page.split('id="run-state" type="application/json">')[1].split("<")[0])
    assert shown == execution_state(execution)
    assert shown["stdout_truncated"] is True
    admin_page = admin_client.get(f"/admin/playground/execution/{execution.id}/change/")
    assert "&quot;stdout_truncated&quot;: true" in admin_page.content.decode()


@pytest.mark.django_db
def test_the_admin_lists_tools_and_secrets_and_never_a_secret_s_value(
    admin_client: Client, admin_user: User
) -> None:
    from asgiref.sync import async_to_sync

    from playground.secrets import vault
    from playground.tools import services as tools

    secret = async_to_sync(vault.secret_create)(
        owner=admin_user, name="ADMIN_CANNOT_READ", value="value-the-admin-never-sees"
    )
    tool = async_to_sync(tools.tool_create)(
        owner=admin_user,
        fields=tools.ToolFields(name="listed", code="def execute(i): return i", language="python"),
    )
    pages = [
        "/admin/playground/secret/",
        f"/admin/playground/secret/{secret.id}/change/",
        "/admin/playground/tool/",
        f"/admin/playground/tool/{tool.id}/change/",
    ]
    for page in pages:
        answer = admin_client.get(page)
        assert answer.status_code == 200, page
        text = answer.content.decode()
        assert "value-the-admin-never-sees" not in text
        assert secret.ciphertext not in text
    assert "ADMIN_CANNOT_READ" in admin_client.get(pages[0]).content.decode()
    assert "listed" in admin_client.get(pages[3]).content.decode()
