"""http.allow end to end: real sandboxes, the real proxy, echo servers on loopback."""

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from sandbox.egress.addresses import parse_pins
from sandbox.egress.runs import EgressSettings
from sandbox.engine import Engine, EngineConfig
from sandbox.jobs import RunResult
from tests.echo import EchoServers
from tests.runs import script


@pytest.fixture(scope="module")
async def egress_engine(engine_config: EngineConfig, echo: EchoServers) -> AsyncIterator[Engine]:
    egress = EgressSettings(pins=parse_pins(echo.pins_by_scheme()), ca_bundle=str(echo.ca_file))
    config = replace(
        engine_config, instance=f"{engine_config.instance}-egress", pool_size=1, egress=egress
    )
    engine = Engine(config)
    await engine.start()
    yield engine
    await engine.close()
    assert engine.adapter.instance_sandboxes() == []
    engine.adapter.close()


def allow(host: str, **auth: dict[str, str]) -> dict[str, object]:
    return {"host": host, **({"auth": auth} if auth else {})}


async def run(engine: Engine, language: str, code: str, *rules: dict[str, object]) -> RunResult:
    return await engine.run(script(language, code, http_allow=rules))


PY_GET = """
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end="")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(), end="")
except urllib.error.URLError as e:
    print(e.reason)
"""


async def get(engine: Engine, url: str, *rules: dict[str, object]) -> RunResult:
    """A Python urllib GET of `url`: the answer's body, or its status and body, or (for a
    tunnel refused) "Tunnel connection failed: " and the proxy's status line."""
    return await engine.run(script("python", PY_GET, args=[url], http_allow=rules))


CLIENTS = {
    "python urllib": ("python", PY_GET),
    "python http.client": (
        "python",
        """
import http.client, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
connection = kind(url.hostname, timeout=10)
connection.request("GET", url.path + "?" + url.query)
print(connection.getresponse().read().decode(), end="")
""",
    ),
    "node fetch": (
        "javascript",
        "const r = await fetch(process.argv[2]); process.stdout.write(await r.text());",
    ),
    "node http(s).request": (
        "javascript",
        """
const url = new URL(process.argv[2]);
const lib = require(url.protocol === 'https:' ? 'https' : 'http');
lib.get(url, (res) => { res.setEncoding('utf8'); res.on('data', (d) => process.stdout.write(d)); });
""",
    ),
    # What axios does with HTTP(S)_PROXY: the whole URL, https included, sent to the proxy.
    "node absolute-form, as axios": (
        "javascript",
        """
const proxy = new URL(process.env.HTTPS_PROXY);
const req = require('http').request({ host: proxy.hostname, port: proxy.port, path: process.argv[2] });
req.on('response', (res) => { res.setEncoding('utf8'); res.on('data', (d) => process.stdout.write(d)); });
req.end();
""",
    ),
    "typescript fetch": (
        "typescript",
        "const r: Response = await fetch(process.argv[2]); process.stdout.write(await r.text());",
    ),
}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_every_client_goes_out_with_its_credential_added(
    egress_engine: Engine, echo: EchoServers, client: str, scheme: str
) -> None:
    language, code = CLIENTS[client]
    host = "api.example.test" if scheme == "https" else "plain.example.test"
    marker = f"/{client.replace(' ', '-')}-{scheme}-end"
    job = script(
        language,
        code,
        args=[f"{scheme}://{host}{marker}?q=1"],
        http_allow=[allow(host, bearer={"token": f"secret-{marker}"})],
    )
    result = await egress_engine.run(job)
    assert (result.exit_code, result.stdout) == (0, f"ok {marker}\n"), result.stderr
    (seen,) = echo.requests_for(marker)
    assert seen.headers["Authorization"] == f"Bearer secret-{marker}"
    (entry,) = result.egress
    assert entry["host"] == host and entry["status"] == 200 and entry["credential_added"]
    assert entry["path"] == f"{marker}?q=***"


AUTH_KINDS = {
    "bearer": ({"bearer": {"token": "b-secret"}}, "Authorization", "Bearer b-secret"),
    "basic": (
        {"basic": {"user_id": "me", "password": "p-secret"}},
        "Authorization",
        "Basic bWU6cC1zZWNyZXQ=",
    ),
    "header": ({"header": {"name": "X-Api-Key", "value": "h-secret"}}, "X-Api-Key", "h-secret"),
}

SNOOP = """
import os, sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "mine", "X-Api-Key": "mine"})
print(urllib.request.urlopen(request, timeout=10).read().decode(), end="")
print(open("/proc/self/environ", "rb").read().decode(errors="replace"))
for folder, _, files in os.walk("/"):
    if folder.startswith(("/proc", "/sys", "/dev", "/usr", "/lib")):
        continue
    for name in files:
        try:
            print(open(os.path.join(folder, name), "rb").read(1 << 16).decode(errors="replace"))
        except OSError:
            pass
"""


@pytest.mark.parametrize("kind", AUTH_KINDS)
async def test_each_credential_reaches_the_server_and_never_the_code(
    egress_engine: Engine, echo: EchoServers, kind: str
) -> None:
    auth, header, value = AUTH_KINDS[kind]
    marker = f"/auth-{kind}"
    job = script(
        "python",
        SNOOP,
        args=[f"https://api.example.test{marker}"],
        http_allow=[{"host": "api.example.test", "auth": auth}],
    )
    result = await egress_engine.run(job)
    assert result.exit_code == 0, result.stderr
    (seen,) = echo.requests_for(marker)
    assert seen.headers[header] == value  # the code's own value was replaced
    secret = value.split()[-1] if kind != "basic" else "p-secret"
    assert secret not in result.stdout + result.stderr
    assert "mine" not in seen.headers.get("Authorization", "") or kind == "header"


async def test_a_query_credential_is_added_and_masked_in_the_log(
    egress_engine: Engine, echo: EchoServers
) -> None:
    rule = allow("api.example.test", query={"key": "api_key", "token": "q-secret"})
    result = await get(egress_engine, "https://api.example.test/query?api_key=mine&x=1", rule)
    assert result.stdout == "ok /query\n"
    (seen,) = echo.requests_for("/query")
    assert seen.path == "/query?x=1&api_key=q-secret"
    assert result.egress[0]["path"] == "/query?api_key=***&x=***"
    assert "q-secret" not in str(result.egress)


TUNNEL_REFUSED = "Tunnel connection failed: 403 Sandpit: "


@pytest.mark.parametrize(
    ("url", "rules", "said", "reason"),
    [
        # HTTPS: refused at CONNECT, before any TLS; urllib shows the status line.
        ("https://other.example.test/no", [allow("api.example.test")], TUNNEL_REFUSED, "not in"),
        ("https://example.test/apex", [allow("*.example.test")], TUNNEL_REFUSED, "not in"),
        ("https://127.0.0.1/literal", [allow("*")], TUNNEL_REFUSED, "is an address"),
        ("https://api.example.test:8443/", [allow("api.example.test")], TUNNEL_REFUSED, "8443"),
        ("http://2130706433/literal", [allow("*")], "403 Sandpit: ", "is an address"),
        ("http://0x7f.1/literal", [allow("*")], "403 Sandpit: ", "is an address"),
        # Allowed by name, refused where it resolves: inside the tunnel, with a body.
        ("https://localhost/private", [allow("*")], "403 Sandpit: ", "not public"),
    ],
)
async def test_refusals_are_403s_with_a_reason_the_code_can_read(
    egress_engine: Engine, url: str, rules: list[dict[str, object]], said: str, reason: str
) -> None:
    result = await get(egress_engine, url, *rules)
    assert result.stdout.startswith(said), result.stdout + result.stderr
    assert reason in result.stdout
    assert result.egress[-1]["refused"] and reason in result.egress[-1]["refused"]


OPEN_TUNNEL = """
import os, socket, sys
from urllib.parse import urlsplit
proxy = urlsplit(os.environ["HTTPS_PROXY"])
with socket.create_connection((proxy.hostname, proxy.port), timeout=10) as s:
    s.sendall(f"CONNECT {sys.argv[1]} HTTP/1.1\\r\\nHost: {sys.argv[1]}\\r\\n\\r\\n".encode())
    print(s.recv(4096).split(b"\\r\\n")[0].decode())
"""


async def test_a_wildcard_opens_tunnels_to_subdomains(egress_engine: Engine) -> None:
    # Only the tunnel: a request in it would resolve a.example.test, since a pin serves
    # only a rule naming its host (tests/test_egress_pins.py), and ask DNS off this host.
    job = script(
        "python", OPEN_TUNNEL, args=["a.example.test:443"], http_allow=[allow("*.example.test")]
    )
    result = await egress_engine.run(job)
    assert result.stdout == "HTTP/1.1 200 Connection established\n", result.stderr


async def test_a_redirect_to_a_host_not_allowed_is_refused_and_takes_no_credential(
    egress_engine: Engine, echo: EchoServers
) -> None:
    rule = allow("api.example.test", bearer={"token": "stay-home"})
    url = "https://api.example.test/redirect?to=https://other.example.test/landed"
    result = await get(egress_engine, url, rule)
    assert result.stdout.startswith(f"{TUNNEL_REFUSED}other.example.test is not in")
    assert echo.requests_for("/landed") == []
    assert [e["status"] for e in result.egress] == [302, 403]


async def test_a_redirect_to_another_allowed_host_gets_that_host_s_credential(
    egress_engine: Engine, echo: EchoServers
) -> None:
    rules = [
        allow("api.example.test", bearer={"token": "for-api"}),
        allow("a.example.test", bearer={"token": "for-a"}),
    ]
    url = "https://api.example.test/redirect?to=https://a.example.test/moved"
    result = await get(egress_engine, url, *rules)
    assert result.stdout == "ok /moved\n"
    assert echo.requests_for("/moved")[0].headers["Authorization"] == "Bearer for-a"


async def test_a_run_without_http_has_no_way_out_and_no_proxy_variables(
    egress_engine: Engine,
) -> None:
    code = """
import os, socket
print(sorted(k for k in os.environ if "proxy" in k.lower()), os.listdir("/run/sandpit"))
try:
    socket.create_connection(("127.0.0.1", 3128), timeout=2)
    print("connected")
except OSError as exc:
    print(type(exc).__name__)
"""
    result = await egress_engine.run(script("python", code))
    assert result.stdout == "[] []\nConnectionRefusedError\n"
    assert result.egress == []


async def test_two_runs_at_once_never_mix_their_credentials(
    egress_engine: Engine, echo: EchoServers
) -> None:
    code = "import sys, time, urllib.request\nfor i in range(5):\n    urllib.request.urlopen(sys.argv[1] + str(i)).read()\n    time.sleep(0.05)"
    jobs = [
        script(
            "python",
            code,
            args=[f"https://api.example.test/mix-{who}-"],
            http_allow=[allow("api.example.test", bearer={"token": f"token-of-{who}"})],
        )
        for who in ("ann", "bob")
    ]
    results = await asyncio.gather(*(egress_engine.run(job) for job in jobs))
    assert [r.exit_code for r in results] == [0, 0]
    for who in ("ann", "bob"):
        seen = echo.requests_for(f"/mix-{who}-")
        assert len(seen) == 5
        assert {s.headers["Authorization"] for s in seen} == {f"Bearer token-of-{who}"}


async def test_websocket_upgrades_are_refused(egress_engine: Engine) -> None:
    code = """
import http.client
c = http.client.HTTPSConnection("api.example.test", timeout=10)
c.request("GET", "/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket"})
r = c.getresponse()
print(r.status, r.read().decode(), end="")
"""
    result = await run(egress_engine, "python", code, allow("api.example.test"))
    assert result.stdout.startswith("403 Sandpit: protocol upgrades")


async def test_an_allowed_host_that_cannot_be_reached_is_a_502(
    tmp_path_factory: pytest.TempPathFactory, engine_config: EngineConfig, echo: EchoServers
) -> None:
    # A pin to a port nothing listens on, and the echo server under a name its CA did
    # not sign for: allowed, but nothing to talk to that the proxy trusts.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = unused.getsockname()[1]
    pins = f"dead.example.test=127.0.0.1:{dead},wrong.test=127.0.0.1:{echo.https_port}"
    egress = EgressSettings(pins=parse_pins(pins), ca_bundle=str(echo.ca_file))
    config = replace(engine_config, instance=f"{engine_config.instance}-dead", pool_size=0)
    engine = Engine(replace(config, egress=egress))
    try:
        dead_end = await get(engine, "https://dead.example.test/x", allow("dead.example.test"))
        untrusted = await get(engine, "https://wrong.test/x", allow("wrong.test"))
    finally:
        await engine.close()
        engine.adapter.close()
    assert dead_end.stdout.startswith("502 Sandpit: dead.example.test could not be reached")
    assert untrusted.stdout.startswith("502 Sandpit: wrong.test's certificate is not trusted")
    assert dead_end.egress[0]["status"] == 502
