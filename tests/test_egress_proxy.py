"""The egress proxy's caps, driven over its Unix socket as the sandbox's forwarder would."""

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.egress.addresses import parse_pins
from sandbox.egress.ca import CertificateAuthority
from sandbox.egress.limits import EgressLimits
from sandbox.egress.policy import parse_rules
from sandbox.egress.proxy import SOCKET_NAME, EgressProxy
from tests.echo import EchoServers


def proxy(
    folder: Path, echo: EchoServers, limits: EgressLimits, deadline_s: float = 30
) -> EgressProxy:
    return EgressProxy(
        folder,
        parse_rules([{"host": "plain.example.test"}]),
        ca=CertificateAuthority(folder / "ca"),
        upstream_tls=ssl.create_default_context(cafile=echo.ca_file),
        pins=parse_pins(echo.pins_by_scheme()),
        limits=limits,
        deadline=time.monotonic() + deadline_s,
    )


async def request(folder: Path, path: str) -> tuple[bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(folder / SOCKET_NAME)
    head = f"GET http://plain.example.test{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    writer.write(head.encode())
    return await asyncio.wait_for(reader.read(-1), timeout=10), writer


@pytest.fixture
async def folder(tmp_path: Path) -> AsyncIterator[Path]:
    yield tmp_path


async def test_past_its_connections_a_run_gets_a_403(folder: Path, echo: EchoServers) -> None:
    async with proxy(folder, echo, EgressLimits(max_connections=2)) as egress:
        held = [await asyncio.open_unix_connection(folder / SOCKET_NAME) for _ in range(2)]
        await asyncio.sleep(0.05)
        answer, writer = await request(folder, "/third")
        assert answer.startswith(b"HTTP/1.1 403 ") and b"2 connections open" in answer
        for _, w in held:
            w.close()
        writer.close()
    assert egress.log[0].refused


async def test_past_its_bytes_a_run_is_cut_off(folder: Path, echo: EchoServers) -> None:
    async with proxy(folder, echo, EgressLimits(max_bytes=1 << 20)) as egress:
        answer, writer = await request(folder, f"/bytes?n={2 << 20}")
        writer.close()
        assert len(answer) < (1 << 20) + 65536 * 2  # cut, not the whole 2 MiB
        again, writer = await request(folder, "/after")
        writer.close()
    assert b"403" in again.split(b"\r\n")[0] and b"cap" in again
    assert egress.bytes_moved >= 1 << 20


async def test_no_request_outlives_the_run(folder: Path, echo: EchoServers) -> None:
    async with proxy(folder, echo, EgressLimits(), deadline_s=0.5):
        reader, writer = await asyncio.open_unix_connection(folder / SOCKET_NAME)
        writer.write(b"GET http://plain.example.test/slow HTTP/1.1\r\n")  # and never the rest
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        assert time.monotonic() - started < 2
        writer.close()


async def test_a_malformed_target_is_a_400_not_a_crash(folder: Path, echo: EchoServers) -> None:
    async with proxy(folder, echo, EgressLimits()):
        for target in (b"http://plain.example.test:99999/", b"/no-host", b"ftp://x/"):
            reader, writer = await asyncio.open_unix_connection(folder / SOCKET_NAME)
            writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(-1), timeout=10)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 400 "), (target, answer[:80])
