"""The operator's pins serve only runs whose http.allow names the pinned host itself.

SANDBOX_EGRESS_PIN may send a name to a private address (a mirror, an internal API):
through `*` or a wildcard, a run would reach it by guessing its name. Here `localhost`
is pinned to the echo server; unpinned, it resolves (from /etc/hosts, no DNS asked) to
loopback, which no run may reach. Raw bytes through the real proxy's socket.
"""

import asyncio
import ssl
import time
import uuid
from pathlib import Path

import pytest

from sandbox.egress.addresses import parse_pins
from sandbox.egress.ca import CertificateAuthority
from sandbox.egress.limits import EgressLimits
from sandbox.egress.policy import parse_rules
from sandbox.egress.proxy import SOCKET_NAME, EgressProxy
from tests.echo import EchoServers


async def get_localhost(folder: Path, echo: EchoServers, hosts: list[str], tunnel: bool) -> bytes:
    """GET http://localhost/... through a run's proxy allowed `hosts`; the answer."""
    proxy = EgressProxy(
        folder,
        parse_rules([{"host": host} for host in hosts]),
        ca=CertificateAuthority(folder / "ca"),
        upstream_tls=ssl.create_default_context(cafile=echo.ca_file),
        pins=parse_pins(f"{echo.pins_by_scheme()},localhost=127.0.0.1:{echo.http_port}"),
        limits=EgressLimits(),
        deadline=time.monotonic() + 30,
    )
    path = f"/pin-{uuid.uuid4().hex[:8]}"
    async with proxy:
        reader, writer = await asyncio.open_unix_connection(folder / SOCKET_NAME)
        if tunnel:
            writer.write(b"CONNECT localhost:80 HTTP/1.1\r\nHost: localhost:80\r\n\r\n")
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        target = path if tunnel else f"http://localhost{path}"
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        answer = await asyncio.wait_for(reader.read(-1), timeout=10)
        writer.close()
    seen = echo.requests_for(path)
    assert len(seen) == (1 if answer.startswith(b"HTTP/1.1 200 ") else 0), (answer, seen)
    return answer


@pytest.mark.parametrize("tunnel", [False, True], ids=["absolute-form", "tunnel"])
async def test_a_rule_naming_the_pinned_host_reaches_its_pin(
    tmp_path: Path, echo: EchoServers, tunnel: bool
) -> None:
    answer = await get_localhost(tmp_path, echo, ["localhost"], tunnel)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"ok /pin-" in answer, answer


@pytest.mark.parametrize("tunnel", [False, True], ids=["absolute-form", "tunnel"])
@pytest.mark.parametrize("hosts", [["*"], ["*", "api.example.test"]], ids=["star", "star+other"])
async def test_star_never_reaches_a_pinned_host(
    tmp_path: Path, echo: EchoServers, hosts: list[str], tunnel: bool
) -> None:
    answer = await get_localhost(tmp_path, echo, hosts, tunnel)
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert b"localhost resolves only to addresses that are not public" in answer
