"""A CONNECT-only proxy on a Unix socket that opens tunnels to listed hosts and no others.

A runtime build fetches its packages through one of these: pip and npm speak HTTPS
through an HTTP proxy, so all they ask is `CONNECT host:443`. The proxy answers only for
the package indexes' hosts on port 443 (names the operator configured, never the
tenant), resolves the name itself and dials the address it checked: never this machine
or its link (or the operator's pin for that name). Everything else gets a 403
with a one-line reason, and is noted for the build's log.
"""

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.egress.addresses import AddressRefused, Pin, dial_target

log = logging.getLogger(__name__)

SOCKET_NAME = "proxy.sock"
# A request head is one line and a few headers; anything longer is not pip or npm.
MAX_HEAD_BYTES = 8192
HEAD_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0
# A tunnel that moves nothing for this long is closed: indexes answer within seconds.
IDLE_TIMEOUT_S = 120.0
RELAY_CHUNK_BYTES = 65536
TLS_PORT = 443
# Tunnels open at once: pip and npm use a handful; more is not a package manager.
MAX_OPEN_TUNNELS = 16


@dataclass
class TunnelLog:
    """What went through, for the build's log: one line per tunnel or refusal."""

    lines: list[str] = field(default_factory=list)
    bytes_received: int = 0


class TunnelProxy:
    """Serves one build (or run): its own socket, its own allow-list, its own byte cap."""

    def __init__(
        self,
        folder: Path,
        *,
        allowed_hosts: frozenset[str],
        pins: Mapping[str, Pin],
        max_bytes: int,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.socket_path = folder / SOCKET_NAME
        self.allowed_hosts = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        self.pins = pins
        self.max_bytes = max_bytes
        self.bytes_moved = 0
        self._note = note or (lambda line: None)
        self._server: asyncio.AbstractServer | None = None
        self._tunnels: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> "TunnelProxy":
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.socket_path), limit=MAX_HEAD_BYTES
        )
        # The container's user is not ours: it needs write permission to connect.
        os.chmod(self.socket_path, 0o666)  # noqa: S103
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tunnels):
            task.cancel()
        await asyncio.gather(*self._tunnels, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tunnels) >= MAX_OPEN_TUNNELS:
            self._refused("a connection", f"more than {MAX_OPEN_TUNNELS} open at once")
            await _refuse(writer, 403, f"at most {MAX_OPEN_TUNNELS} connections at once")
            writer.close()
            return
        self._tunnels.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._tunnels.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, ValueError):
            await _refuse(writer, 431, "the request head is too large")
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = request_line.partition(" ")
        target = rest.partition(" ")[0]
        if method != "CONNECT":
            self._refused(f"{method[:16]} {target[:200]}", "only HTTPS to the package indexes")
            await _refuse(writer, 403, "only HTTPS (CONNECT) to the package indexes goes out")
            return
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]").lower().rstrip(".")
        port = int(port_text) if port_text.isdigit() else 0
        if host not in self.allowed_hosts:
            self._refused(target[:200], "not a package index")
            await _refuse(writer, 403, f"{host[:200]} is not a package index of this server")
            return
        if port != TLS_PORT:
            self._refused(target[:200], "port not allowed")
            await _refuse(writer, 403, f"only port {TLS_PORT} is allowed")
            return
        try:
            address, dial_port = await dial_target(host, port, self.pins, public_only=False)
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                up_reader, up_writer = await asyncio.open_connection(address, dial_port)
        except (AddressRefused, OSError, TimeoutError) as exc:
            self._refused(target, str(exc) or type(exc).__name__)
            await _refuse(writer, 502, f"{host} could not be reached")
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        before = self.bytes_moved
        try:
            await asyncio.gather(self._relay(reader, up_writer), self._relay(up_reader, writer))
        finally:
            up_writer.close()
            self._note(f"Sandpit: fetched from {host} ({self.bytes_moved - before} bytes)")

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(IDLE_TIMEOUT_S):
                    chunk = await reader.read(RELAY_CHUNK_BYTES)
                if not chunk:
                    break
                self.bytes_moved += len(chunk)
                if self.bytes_moved > self.max_bytes:
                    self._note(f"Sandpit: the build moved more than {self.max_bytes} bytes")
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()
                else:
                    writer.close()

    def _refused(self, target: str, reason: str) -> None:
        self._note(f"Sandpit: refused {target}: {reason}")


async def _refuse(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    body = (reason + "\n").encode()
    phrase = {403: "Forbidden", 431: "Request Header Fields Too Large", 502: "Bad Gateway"}
    writer.write(
        f"HTTP/1.1 {status} {phrase.get(status, 'Refused')}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
