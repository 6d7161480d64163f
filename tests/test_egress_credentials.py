"""Credentials the proxy would add are checked when the run is asked for: a value that
cannot go in an HTTP header as given is a 400 naming its field, by the real rizaio
client against the live server, in clear and by secret_id; and the proxy, given one
anyway, answers a clean 502 instead of dropping the connection with a traceback.
"""

import asyncio
import logging
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import rizaio

from sandbox.egress.addresses import parse_pins
from sandbox.egress.ca import CertificateAuthority
from sandbox.egress.limits import EgressLimits
from sandbox.egress.policy import Credential, Rule
from sandbox.egress.proxy import SOCKET_NAME, EgressProxy
from tests.conftest import LiveServer
from tests.echo import EchoServers

HOST = "api.example.test"
# Each holds SECRET, which no answer may repeat.
SECRET = "s3cr3t"
BAD_VALUES = {
    "empty": "",
    "leading-space": f" {SECRET}",
    "trailing-space": f"{SECRET} ",
    "trailing-newline": f"{SECRET}\n",
    "crlf": f"{SECRET}\r\nX-Injected: 1",
    "nul": f"{SECRET}\x00",
    "tab": "s3\tcr3t",
    "c1-control": f"{SECRET}\x85{SECRET}",
    "not-latin-1": f"{SECRET}\u20ac",
}
REASONS = {
    "empty": "must not be empty",
    "leading-space": "must not begin or end with a space",
    "trailing-space": "must not begin or end with a space",
    "trailing-newline": "must not begin or end with a space",
    "crlf": "must not hold control characters",
    "nul": "must not hold control characters",
    "tab": "must not hold control characters",
    "c1-control": "must not hold control characters",
    "not-latin-1": "Latin-1",
}
BAD_NAMES = {
    "space": ("X Api", "is not a header name"),
    "not-ascii": ("X-Schl\u00fcssel", "is not a header name"),
    "framing": ("Transfer-Encoding", "the proxy sets itself"),
    "length": ("Content-Length", "the proxy sets itself"),
    "host": ("Host", "the proxy sets itself"),
    "hop-by-hop": ("Connection", "the proxy sets itself"),
    "proxy": ("Proxy-Authorization", "the proxy sets itself"),
}


def cases() -> list[Any]:
    """(auth, field, reason) for each bad value in each place a credential holds one."""
    found = []
    for name, value in BAD_VALUES.items():
        reason = REASONS[name]
        found += [
            pytest.param({"bearer": {"token": value}}, "bearer.token", reason, id=f"bearer-{name}"),
            pytest.param(
                {"header": {"name": "X-Key", "value": value}},
                "header.value",
                reason,
                id=f"header-{name}",
            ),
            pytest.param(
                {"query": {"key": "k", "value": value}}, "query.value", reason, id=f"query-{name}"
            ),
            pytest.param(
                {"query": {"key": value, "value": "v"}}, "query.key", reason, id=f"key-{name}"
            ),
        ]
        if value:  # basic's parts may each be empty: user-only (an API key) is common
            found += [
                pytest.param(
                    {"basic": {"user_id": value, "password": "p"}},
                    "basic.user_id",
                    reason,
                    id=f"basic-user-{name}",
                ),
                pytest.param(
                    {"basic": {"user_id": "u", "password": value}},
                    "basic.password",
                    reason,
                    id=f"basic-password-{name}",
                ),
            ]
    for name, (header, reason) in BAD_NAMES.items():
        found.append(
            pytest.param(
                {"header": {"name": header, "value": "v"}},
                "header.name",
                reason,
                id=f"header-name-{name}",
            )
        )
    return found


@pytest.fixture(scope="module")
def client(sandpit_server: LiveServer) -> rizaio.Riza:
    return rizaio.Riza(
        api_key=sandpit_server.new_api_key("credentials"),
        base_url=sandpit_server.url,
        max_retries=0,
        _strict_response_validation=True,
    )


@pytest.fixture(scope="module")
def tool_id(client: rizaio.Riza) -> str:
    code = "def execute(input):\n    return 1"
    return client.tools.create(name="credentials", code=code, language="python").id


def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(rizaio.BadRequestError) as refused:
        call()
    error: dict[str, Any] = refused.value.response.json()["error"]
    return error


@pytest.mark.parametrize(("auth", "field", "reason"), cases())
def test_a_credential_that_cannot_go_in_a_header_is_a_400_naming_its_field(
    client: rizaio.Riza, tool_id: str, auth: dict[str, Any], field: str, reason: str
) -> None:
    http: Any = {"allow": [{"host": HOST, "auth": auth}]}
    for error in (
        refusal(lambda: client.command.exec(language="python", code="print(1)", http=http)),
        refusal(lambda: client.tools.exec(tool_id, input={}, http=http)),
    ):
        assert error["field"] == f"http.allow.0.auth.{field}", error
        assert reason in error["message"], error
        assert SECRET not in error["message"] and "X-Injected" not in error["message"]


@pytest.mark.parametrize("name", ["empty", "trailing-newline", "crlf", "not-latin-1"])
def test_a_secret_whose_value_cannot_go_in_a_header_is_a_400_naming_its_secret_id(
    client: rizaio.Riza, tool_id: str, name: str
) -> None:
    secret = client.secrets.create(name=f"bad-{name}", value=BAD_VALUES[name])
    http: Any = {"allow": [{"host": HOST, "auth": {"bearer": {"secret_id": secret.id}}}]}
    for error in (
        refusal(lambda: client.command.exec(language="python", code="print(1)", http=http)),
        refusal(lambda: client.tools.exec(tool_id, input={}, http=http)),
    ):
        assert error["field"] == "http.allow.0.auth.bearer.secret_id", error
        assert "the secret's value must" in error["message"], error
        assert REASONS[name] in error["message"], error
        assert SECRET not in error["message"]


def test_good_credentials_still_go_out(
    client: rizaio.Riza, tool_id: str, echo: EchoServers
) -> None:
    secret = client.secrets.create(name="good", value="good-secret-value")
    code = (
        "import urllib.request\n"
        "for path in ('/cred-bearer', '/cred-header?x=1'):\n"
        "    print(urllib.request.urlopen('https://api.example.test' + path).read())"
    )
    http: Any = {
        "allow": [
            {"host": HOST, "auth": {"bearer": {"secret_id": secret.id}}},
            {"host": "a.example.test", "auth": {"header": {"name": "X-Key", "value": "a b"}}},
        ]
    }
    result = client.command.exec(language="python", code=code, http=http)
    assert result.exit_code == 0, result.stderr
    assert echo.requests_for("/cred-bearer")[0].headers["Authorization"] == (
        "Bearer good-secret-value"
    )


@pytest.mark.parametrize("name", ["empty", "trailing-space", "crlf", "nul", "not-latin-1"])
async def test_the_proxy_answers_a_bad_credential_with_a_502_and_no_traceback(
    tmp_path: Path, echo: EchoServers, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    # Built past parse_rules, as only a bug could: the proxy's own last line of defence.
    rule = Rule("plain.example.test", Credential("bearer", secret=BAD_VALUES[name]))
    proxy = EgressProxy(
        tmp_path,
        [rule],
        ca=CertificateAuthority(tmp_path / "ca"),
        upstream_tls=ssl.create_default_context(cafile=echo.ca_file),
        pins=parse_pins(echo.pins_by_scheme()),
        limits=EgressLimits(),
        deadline=time.monotonic() + 30,
    )
    path = f"/cred-proxy-{name}"
    with caplog.at_level(logging.WARNING, logger="sandbox.egress"):
        async with proxy:
            reader, writer = await asyncio.open_unix_connection(tmp_path / SOCKET_NAME)
            writer.write(
                f"GET http://plain.example.test{path} HTTP/1.1\r\n"
                "Host: plain.example.test\r\nConnection: close\r\n\r\n".encode()
            )
            answer = await asyncio.wait_for(reader.read(-1), timeout=10)
            writer.close()
    assert answer.startswith(b"HTTP/1.1 502 "), answer
    assert b"credential" in answer and SECRET.encode() not in answer
    assert echo.requests_for(path) == []
    assert [r for r in caplog.records if r.exc_info] == []
    assert proxy.log[-1].status == 502
