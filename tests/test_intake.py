"""One intake: every entry point that takes `http.allow` refuses the same credentials the
same way, a 400 naming the field, and nothing runs or is recorded.

The entry points: /v1/execute, /v1/execute-function, /v1/tools/{id}/execute, and the
playground's POST /runs as a signed-in user (guests get no network at all).
"""

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

Send = Callable[[dict[str, Any]], httpx.Response]

CODE = "def execute(input):\n    return 1"
REFUSED = [
    pytest.param(
        {"bearer": {"token": "a"}, "basic": {"user_id": "u", "password": "p"}},
        "http.allow.0.auth",
        "give one of bearer, basic, header or query, not bearer and basic",
        id="two-kinds",
    ),
    pytest.param(
        {"bearer": {}}, "http.allow.0.auth.bearer", "give token or secret_id", id="empty-bearer"
    ),
    pytest.param(
        {"header": {"name": "X-Key"}},
        "http.allow.0.auth.header",
        "give value or secret_id",
        id="empty-header",
    ),
    pytest.param(
        {"basic": {}}, "http.allow.0.auth.basic", "give user_id, and password", id="empty-basic"
    ),
    pytest.param({}, "http.allow.0.auth", "give one of bearer", id="no-kind"),
    pytest.param({"digest": {"token": "a"}}, "http.allow.0.auth.digest", "xtra", id="unknown-kind"),
    pytest.param(
        {"bearer": {"token": "a", "secret_id": "sec_x"}},
        "http.allow.0.auth.bearer",
        "give token or secret_id, one of them",
        id="both-sources",
    ),
]


@pytest.fixture(scope="module")
def key_and_secrets(sandpit_server: LiveServer) -> tuple[str, str]:
    """A key of one owner, and the id of another owner's secret."""
    theirs = sandpit_server.new_api_key("intake-other")
    secret = httpx.post(
        f"{sandpit_server.url}/v1/secrets",
        json={"name": "theirs", "value": "not-yours"},
        headers={"Authorization": f"Bearer {theirs}"},
    ).json()
    return sandpit_server.new_api_key("intake-owner"), secret["id"]


@pytest.fixture(scope="module")
def page(sandpit_server: LiveServer) -> Iterator[httpx.Client]:
    """A signed-in browser session, without the browser."""
    username, password = "intake-page", "intake-page-pw-0123456789"
    sandpit_server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        f"user, _ = User.objects.get_or_create(username={username!r})\n"
        f"user.set_password({password!r})\nuser.save()",
    )
    with httpx.Client(base_url=sandpit_server.url, timeout=30) as client:
        form = client.get("/accounts/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token is not None
        signed_in = client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        )
        assert signed_in.status_code == 302, signed_in.text
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        yield client


def _entry_points(server: LiveServer, key: str, page: httpx.Client) -> dict[str, Send]:
    headers = {"Authorization": f"Bearer {key}"}
    tool = httpx.post(
        f"{server.url}/v1/tools",
        json={"name": "intake", "language": "python", "code": CODE},
        headers=headers,
    ).json()

    def api(path: str, body: dict[str, Any]) -> Send:
        return lambda http: httpx.post(
            f"{server.url}{path}", json={**body, "http": http}, headers=headers, timeout=30
        )

    return {
        "execute": api("/v1/execute", {"language": "python", "code": "print(1)"}),
        "execute-function": api("/v1/execute-function", {"language": "python", "code": CODE}),
        "tool": api(f"/v1/tools/{tool['id']}/execute", {"input": {}}),
        "page": lambda http: page.post(
            "/runs", json={"mode": "script", "language": "python", "code": "1", "http": http}
        ),
    }


def _count(server: LiveServer) -> int:
    printed = server.manage(
        "shell", "-c", "from playground.models import Execution; print(Execution.objects.count())"
    )
    return int(printed.split()[-1])  # after what the shell says it imported


@pytest.mark.parametrize(("auth", "field", "message"), REFUSED)
def test_every_entry_point_refuses_a_bad_credential_alike(
    sandpit_server: LiveServer,
    key_and_secrets: tuple[str, str],
    page: httpx.Client,
    auth: dict[str, Any],
    field: str,
    message: str,
) -> None:
    key, _ = key_and_secrets
    before = _count(sandpit_server)
    for name, send in _entry_points(sandpit_server, key, page).items():
        answer = send({"allow": [{"host": "api.example.test", "auth": auth}]})
        assert answer.status_code == 400, (name, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field, (name, error)
        assert message in error["message"], (name, error)
    assert _count(sandpit_server) == before  # nothing was recorded, so nothing ran


def test_another_owners_secret_is_refused_by_its_field_everywhere(
    sandpit_server: LiveServer, key_and_secrets: tuple[str, str], page: httpx.Client
) -> None:
    key, theirs = key_and_secrets
    for name, send in _entry_points(sandpit_server, key, page).items():
        answer = send(
            {"allow": [{"host": "api.example.test", "auth": {"bearer": {"secret_id": theirs}}}]}
        )
        assert answer.status_code == 400, (name, answer.text)
        error = answer.json()["error"]
        assert error["field"] == "http.allow.0.auth.bearer.secret_id", (name, error)
        assert "not-yours" not in answer.text


def test_a_guest_gets_no_network_and_lower_ceilings(sandpit_server: LiveServer) -> None:
    with httpx.Client(base_url=sandpit_server.url, timeout=30) as guest:
        guest.get("/")
        guest.headers["X-CSRFToken"] = guest.cookies["csrftoken"]
        body = {"mode": "script", "language": "python", "code": "print(1)"}
        networked = guest.post("/runs", json={**body, "http": {"allow": [{"host": "a.test"}]}})
        assert networked.status_code == 400
        assert networked.json()["error"]["field"] == "http"
        too_long = guest.post("/runs", json={**body, "limits": {"execution_timeout": 299}})
        assert too_long.status_code == 400
        assert too_long.json()["error"]["field"] == "limits.execution_timeout"
        assert guest.post("/runs", json=body).status_code == 201
