"""Request smuggling through the egress proxy: raw bytes over its Unix socket, as the
sandbox's forwarder would relay them, to a loopback echo server that believes
Content-Length and records every request it reads.

A request the proxy and the server frame differently would carry a second request past
the proxy's allow-list and its log; the proxy refuses ambiguous framing and sends its
own framing upstream, never the client's.
"""

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import h11
import pytest

from sandbox.egress.addresses import Pin, parse_pins
from sandbox.egress.ca import CertificateAuthority
from sandbox.egress.limits import EgressLimits
from sandbox.egress.policy import parse_rules
from sandbox.egress.proxy import SOCKET_NAME, EgressProxy
from tests.echo import EchoServers

HOSTS = ("plain.example.test", "api.example.test", "h11.example.test")


@pytest.fixture
async def h11_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A server that reads requests as h11 does, and keeps each raw head and body."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn, raw = h11.Connection(h11.SERVER), b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                raw += data
                conn.receive_data(data)
            elif isinstance(event, h11.EndOfMessage):
                seen.append(raw)
                headers = [("Content-Length", "3")]
                writer.write(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
                writer.write((conn.send(h11.Data(data=b"ok\n")) or b"") + (conn.send(event) or b""))
                await writer.drain()
                writer.close()
                return

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], seen
    server.close()


@pytest.fixture
async def egress(
    tmp_path: Path, echo: EchoServers, h11_server: tuple[int, list[bytes]]
) -> AsyncIterator[EgressProxy]:
    pins = parse_pins(echo.pins_by_scheme())
    pins["h11.example.test"] = Pin("127.0.0.1", h11_server[0])
    proxy = EgressProxy(
        tmp_path,
        parse_rules([{"host": host} for host in HOSTS]),
        ca=CertificateAuthority(tmp_path / "ca"),
        upstream_tls=ssl.create_default_context(cafile=echo.ca_file),
        pins=pins,
        limits=EgressLimits(),
        deadline=time.monotonic() + 60,
    )
    async with proxy:
        yield proxy


async def exchange(proxy: EgressProxy, tunnel: bool, raw: bytes) -> bytes:
    """Send `raw` through the proxy, absolute-form or inside a TLS tunnel; all it answers."""
    reader, writer = await asyncio.open_unix_connection(proxy.socket_path.parent / SOCKET_NAME)
    try:
        if tunnel:
            writer.write(b"CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
            trust = ssl.create_default_context(cafile=proxy.ca.cert_path)
            await writer.start_tls(trust, server_hostname="api.example.test")
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), timeout=10)
    finally:
        writer.close()


def head(tunnel: bool, method: str, path: str, *headers: str) -> bytes:
    target = path if tunnel else f"http://plain.example.test{path}"
    host = HOSTS[1] if tunnel else HOSTS[0]
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *headers, "", ""]
    return "\r\n".join(lines).encode()


def smuggled(marker: str) -> bytes:
    return f"GET /{marker}-smuggled HTTP/1.1\r\nHost: evil.test\r\n\r\n".encode()


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


@pytest.mark.parametrize("tunnel", [False, True], ids=["absolute-form", "tls-tunnel"])
async def test_it_refuses_a_request_with_both_content_length_and_chunked(
    egress: EgressProxy, echo: EchoServers, tunnel: bool
) -> None:
    # TE.CL: the proxy reads one chunked body; a server believing Content-Length reads
    # its first 4 bytes, and then the smuggled request as a second one.
    marker = f"/te-cl-{uuid.uuid4().hex[:8]}"
    raw = head(
        tunnel,
        "POST",
        f"{marker}-front",
        "Content-Length: 4",
        "Transfer-Encoding: chunked",
    ) + chunked(smuggled(marker[1:]))
    answer = await exchange(egress, tunnel, raw)
    assert status(answer) == 400, answer[:200]
    assert b"Content-Length and Transfer-Encoding" in answer
    assert echo.requests_for(marker) == []
    assert [s for s in echo.seen if s.host == "evil.test"] == []
    assert egress.log[-1].status == 400 and "Transfer-Encoding" in egress.log[-1].refused


@pytest.mark.parametrize("tunnel", [False, True], ids=["absolute-form", "tls-tunnel"])
@pytest.mark.parametrize(
    ("framing", "reason"),
    [
        (("Content-Length: 4", "Content-Length: 60"), b"Content-Length"),
        (("Content-Length: 4, 60",), b"Content-Length"),
        (("Transfer-Encoding: gzip, chunked",), b"Transfer-Encoding"),
        (("Transfer-Encoding: chunked", "Transfer-Encoding: identity"), b"Transfer-Encoding"),
        (("Transfer-Encoding: xchunked",), b"Transfer-Encoding"),
    ],
)
async def test_it_refuses_framing_a_server_could_read_another_way(
    egress: EgressProxy,
    echo: EchoServers,
    tunnel: bool,
    framing: tuple[str, ...],
    reason: bytes,
) -> None:
    marker = f"/framing-{uuid.uuid4().hex[:8]}"
    raw = head(tunnel, "POST", f"{marker}-front", *framing) + b"abcd" + smuggled(marker[1:])
    answer = await exchange(egress, tunnel, raw)
    assert status(answer) == 400, answer[:200]
    assert reason in answer
    assert echo.requests_for(marker) == []
    assert egress.log[-1].status == 400


@pytest.mark.parametrize("tunnel", [False, True], ids=["absolute-form", "tls-tunnel"])
async def test_hop_by_hop_headers_stay_with_the_proxy_and_the_body_is_framed_anew(
    egress: EgressProxy, echo: EchoServers, tunnel: bool
) -> None:
    marker = f"/hop-{uuid.uuid4().hex[:8]}"
    raw = (
        head(
            tunnel,
            "POST",
            marker,
            "Connection: close, X-Named-In-Connection",
            "X-Named-In-Connection: drop me",
            "Keep-Alive: timeout=5",
            "Proxy-Authorization: Basic c3B5OnNweQ==",
            "Proxy-Anything: drop me",
            "TE: trailers",
            "Trailer: X-Later",
            "X-Kept: yes",
            "Content-Length: 5",
        )
        + b"hello"
    )
    answer = await exchange(egress, tunnel, raw)
    assert status(answer) == 200, answer[:200]
    (seen,) = echo.requests_for(marker)
    sent = {name.lower(): value for name, value in seen.headers.items()}
    assert sent.keys().isdisjoint(
        {
            "x-named-in-connection",
            "keep-alive",
            "proxy-authorization",
            "proxy-anything",
            "te",
            "trailer",
            "transfer-encoding",
        }
    )
    assert sent["x-kept"] == "yes"
    assert sent["content-length"] == "5" and seen.body == b"hello"


async def test_the_server_reads_exactly_the_requests_the_proxy_logged(
    egress: EgressProxy, echo: EchoServers
) -> None:
    # Three requests on one connection, one with a body: the server sees the same three.
    marker = f"/kept-{uuid.uuid4().hex[:8]}"
    raw = (
        head(False, "GET", f"{marker}-1")
        + head(False, "POST", f"{marker}-2", "Content-Length: 3")
        + b"abc"
        + head(False, "GET", f"{marker}-3", "Connection: close")
    )
    answer = await exchange(egress, False, raw)
    assert answer.count(b"HTTP/1.1 200 ") == 3, answer
    assert [s.path for s in echo.requests_for(marker)] == [f"{marker}-{i}" for i in (1, 2, 3)]
    assert [e.path for e in egress.log] == [f"{marker}-{i}" for i in (1, 2, 3)]


async def test_a_chunked_body_goes_upstream_chunked_under_one_framing_header(
    egress: EgressProxy, h11_server: tuple[int, list[bytes]]
) -> None:
    raw = (
        b"POST http://h11.example.test/chunked HTTP/1.1\r\nHost: h11.example.test\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    answer = await exchange(egress, False, raw)
    assert status(answer) == 200, answer[:200]
    (upstream,) = h11_server[1]
    head, _, body = upstream.partition(b"\r\n\r\n")
    lines = [line.lower() for line in head.split(b"\r\n")[1:]]
    framing = [line for line in lines if line.startswith((b"content-length", b"transfer-enc"))]
    assert framing == [b"transfer-encoding: chunked"]
    assert body == b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
