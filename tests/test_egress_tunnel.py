"""The build's way out, on its own: only listed hosts, only port 443, only so many at once."""

import asyncio
from pathlib import Path

from sandbox.egress.addresses import Pin
from sandbox.egress.tunnel import MAX_OPEN_TUNNELS, TunnelProxy


async def _upstream() -> tuple[asyncio.Server, list[int]]:
    seen: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        data = await reader.read(100)
        writer.write(b"echo:" + data)
        await writer.drain()
        await asyncio.sleep(30)  # hold the tunnel open

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, seen


async def _connect(proxy: TunnelProxy, target: str) -> tuple[bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(proxy.socket_path))
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    return head, writer


async def test_it_tunnels_to_listed_hosts_and_refuses_the_rest(tmp_path: Path) -> None:
    server, seen = await _upstream()
    port = server.sockets[0].getsockname()[1]
    notes: list[str] = []
    proxy = TunnelProxy(
        tmp_path,
        allowed_hosts=frozenset({"index.test"}),
        pins={"index.test": Pin("127.0.0.1", port)},
        max_bytes=1 << 20,
        note=notes.append,
    )
    async with proxy, server:
        ok, writer = await _connect(proxy, "index.test:443")
        assert ok.startswith(b"HTTP/1.1 200")
        writer.close()
        for target in ("127.0.0.1:443", "other.test:443", f"127.0.0.1:{port}", "index.test:80"):
            refused, writer = await _connect(proxy, target)
            assert refused.startswith(b"HTTP/1.1 403"), target
            writer.close()
    assert len(seen) == 1
    assert sum("refused" in note for note in notes) == 4


async def test_it_holds_at_most_so_many_tunnels_at_once(tmp_path: Path) -> None:
    server, seen = await _upstream()
    port = server.sockets[0].getsockname()[1]
    proxy = TunnelProxy(
        tmp_path,
        allowed_hosts=frozenset({"index.test"}),
        pins={"index.test": Pin("127.0.0.1", port)},
        max_bytes=1 << 20,
    )
    async with proxy, server:
        open_ones = [await _connect(proxy, "index.test:443") for _ in range(MAX_OPEN_TUNNELS)]
        assert all(head.startswith(b"HTTP/1.1 200") for head, _ in open_ones)
        one_more, writer = await _connect(proxy, "index.test:443")
        assert one_more.startswith(b"HTTP/1.1 403")
        for _, w in [*open_ones, (one_more, writer)]:
            w.close()
    assert len(seen) == MAX_OPEN_TUNNELS
