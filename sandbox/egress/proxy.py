"""The egress proxy of one run: HTTP and HTTPS to the hosts of its http.allow, nowhere else.

It listens on a Unix socket in the run's own egress folder (a forwarder in the sandbox
relays 127.0.0.1:3128 to it) and speaks both ways a client uses a proxy:

- `CONNECT host:port`, then HTTP inside the tunnel: TLS, terminated here with a
  certificate for `host` from Sandpit's CA, on any port but 80; plain HTTP on port 80.
  The host and port are checked before the tunnel opens (nothing is minted for a name
  the run may not reach), and a run opens at most so many tunnels a second.
- An absolute-form request, `GET http://host/path` (or `https://`, as axios sends).

Every request is checked on its own (sandbox/egress/policy.py): its host must match a
rule, its port be allowed, its name resolve to a public address (or be pinned, for a
host a rule names itself); the proxy dials the address it checked, sets the rule's
credential, relays the exchange and writes it in the run's egress log. A refusal is an
HTTP 403 with a one-line reason that the code can read; a request whose framing a server
could read another way (request smuggling) is a 400, and the proxy frames what it sends
upstream itself.
Caps: open connections, bytes both ways, and time (the run's).
HTTP/1.1 framing is h11's: a small, strict state machine from the python-hyper project.
"""

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11

from sandbox import metrics
from sandbox.egress.addresses import AddressRefused, Pin, dial_target
from sandbox.egress.ca import CertificateAuthority
from sandbox.egress.http1 import (
    IDLE_TIMEOUT_S,
    Peer,
    Upstreams,
    answer,
    end_to_end,
    framing_problem,
    header,
    upstream_request,
)
from sandbox.egress.limits import EgressLimits, TunnelRate
from sandbox.egress.outcomes import (
    CapReached,
    EgressEntry,
    Malformed,
    Refused,
    TooFast,
    Unreachable,
)
from sandbox.egress.policy import (
    Rule,
    is_address_literal,
    masked_target,
    normalise_host,
    pins_for,
    rule_for,
)

log = logging.getLogger(__name__)
SOCKET_NAME = "egress.sock"
CONNECT_TIMEOUT_S = 10.0
MAX_LOG_ENTRIES = 1000
PLAIN_HTTP_PORT = 80
# How long a malformed request's body is read before its 400 goes anyway.
DRAIN_TIMEOUT_S = 2.0
# A CONNECT past the run's rate is refused after this pause (a 429's Retry-After; a 403
# if its host is not allowed anyway), holding one of the run's connections meanwhile: a
# flood then goes at the pace of its own refusals, not at the server's event loop's.
TOO_FAST_PAUSE_S = 1.0


class EgressProxy:
    def __init__(
        self,
        folder: Path,
        rules: Sequence[Rule],
        *,
        ca: CertificateAuthority,
        upstream_tls: ssl.SSLContext,
        pins: Mapping[str, Pin],
        limits: EgressLimits,
        deadline: float,
    ) -> None:
        self.socket_path = folder / SOCKET_NAME
        self.rules = tuple(rules)
        self.ca = ca
        self.upstream_tls = upstream_tls
        self.pins = pins_for(self.rules, pins)
        self.limits = limits
        self.deadline = deadline
        self.log: list[EgressEntry] = []
        self.bytes_moved = 0
        self._tunnel_rate = TunnelRate(limits.tunnel_burst, limits.tunnels_per_s)
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> "EgressProxy":
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))
        # The sandbox's users are not ours: they need write permission to connect.
        os.chmod(self.socket_path, 0o666)  # noqa: S103
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._open):
            task.cancel()
        await asyncio.gather(*self._open, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def records(self) -> list[dict[str, Any]]:
        return [entry.as_dict() for entry in self.log]

    # --- connections ----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Peer(reader, writer, h11.SERVER)
        if len(self._open) >= self.limits.max_connections:
            reason = f"a run may have {self.limits.max_connections} connections open at once"
            self._note(EgressEntry("CONNECT", "", 0, "", 403, refused=reason))
            with contextlib.suppress(Exception):
                # Read the request first: a reply to an unread one may be reset away.
                await client.next_event(timeout_s=2.0)
                await client.send(*answer(403, f"Sandpit: {reason}"))
            client.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        try:
            async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                await self._converse(client)
        except (ConnectionError, TimeoutError, h11.ProtocolError, ssl.SSLError, OSError):
            pass
        except Exception:
            # Whatever a hostile client sends ends its connection, never the proxy.
            log.exception("egress proxy: a connection failed")
        finally:
            self._open.discard(task)
            client.close()

    async def _next_request(self, client: Peer) -> h11.Request | None:
        """The client's next request; None at its end or after answering a head h11
        refused (conflicting Content-Length, a Transfer-Encoding but chunked)."""
        try:
            request = await client.next_event()
        except h11.RemoteProtocolError as exc:
            reason = f"a malformed request ({str(exc)[:200]})"
            self._note(EgressEntry("", "", 0, "", 400, refused=reason))
            if client.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                await client.send(*answer(400, f"Sandpit: {reason}", close=True))
            return None
        return request if isinstance(request, h11.Request) else None

    async def _converse(self, client: Peer) -> None:
        request = await self._next_request(client)
        if request is None:
            return
        if request.method == b"CONNECT":
            await self._tunnel(client, request)
            return
        upstreams = Upstreams()
        try:
            while request is not None:
                target = urlsplit(request.target.decode("latin-1"))
                try:
                    port = target.port or (443 if target.scheme == "https" else 80)
                except ValueError:  # a port that is no port
                    port = 0
                if target.scheme not in ("http", "https") or not target.hostname or not port:
                    await self._drain(client)
                    await client.send(*answer(400, "Sandpit: send requests by absolute URL"))
                    return
                origin = (target.path or "/") + (f"?{target.query}" if target.query else "")
                await self._exchange(
                    client, upstreams, request, target.scheme, target.hostname, port, origin
                )
                if not client.reusable():
                    return
                request = await self._next_request(client)
        finally:
            upstreams.close()

    async def _tunnel(self, client: Peer, connect: h11.Request) -> None:
        authority = connect.target.decode("latin-1")
        host, _, port_text = authority.rpartition(":")
        host = host.strip("[]")
        port = int(port_text) if port_text.isdigit() else 0
        scheme = "http" if port == PLAIN_HTTP_PORT else "https"
        too_fast = not self._tunnel_rate.take()
        try:
            # Before any TLS: a name the run may not reach gets no tunnel and no leaf.
            name = self._check_host(host, port)
            if too_fast:
                raise TooFast(
                    f"a run may open {self.limits.tunnel_burst} tunnels at once, then "
                    f"{self.limits.tunnels_per_s:g} a second; keep connections open, or "
                    "try again in a second"
                )
            context = await self.ca.server_context(name) if scheme == "https" else None
        except Refused as refusal:
            entry = EgressEntry("CONNECT", host.lower()[:253], port, "", refusal.status)
            entry.refused = str(refusal)
            self._note(entry)
            if too_fast:
                await asyncio.sleep(TOO_FAST_PAUSE_S)
            retry = []
            if isinstance(refusal, TooFast):
                retry = [("Retry-After", f"{TOO_FAST_PAUSE_S:g}")]
            await client.send(
                *answer(refusal.status, f"Sandpit: {refusal}", close=True, headers=retry)
            )
            return
        await client.send(
            h11.Response(status_code=200, headers=[], reason=b"Connection established")
        )
        reader, writer = client.reader, client.writer
        if context is not None:
            # The client opens TLS to `host` inside the tunnel: it gets our certificate.
            await writer.start_tls(context)
        inner = Peer(reader, writer, h11.SERVER)
        upstreams = Upstreams()
        try:
            while True:
                request = await self._next_request(inner)
                if request is None:
                    return
                origin = request.target.decode("latin-1")
                if not origin.startswith("/"):
                    origin = urlsplit(origin).path or "/"
                await self._exchange(inner, upstreams, request, scheme, host, port, origin)
                if not inner.reusable():
                    return
        finally:
            upstreams.close()

    # --- one request ----------------------------------------------------------------

    async def _exchange(
        self,
        client: Peer,
        upstreams: "Upstreams",
        request: h11.Request,
        scheme: str,
        raw_host: str,
        port: int,
        origin: str,
    ) -> None:
        started = time.monotonic()
        method = request.method.decode("latin-1")
        entry = EgressEntry(method, raw_host.lower()[:253], port, masked_target(origin))
        try:
            if problem := framing_problem(request):
                raise Malformed(problem)
            host = self._check(request, raw_host, port)
            entry.host = host
            rule = rule_for(self.rules, host)
            assert rule is not None
            entry.credential_added = rule.credential is not None
            outgoing = upstream_request(request, scheme, host, port, origin, rule)
            upstream = await upstreams.get(scheme, host, port, self._dial)
            await upstream.send(outgoing)
            await self._relay_body(client, upstream, entry)
            response = await upstream.next_event()
            while isinstance(response, h11.InformationalResponse):
                response = await upstream.next_event()
            if not isinstance(response, h11.Response):
                raise Unreachable(f"{host} closed the connection without answering")
            entry.status = response.status_code
            kept = end_to_end(response.headers)
            await client.send(
                h11.Response(status_code=response.status_code, headers=kept, reason=response.reason)
            )
            while isinstance(event := await upstream.next_event(), h11.Data):
                entry.bytes_received += len(event.data)
                self._count(len(event.data))
                await client.send(event)
            await client.send(h11.EndOfMessage())
            upstreams.done(scheme, host, port)
        except Refused as refusal:
            entry.refused = str(refusal)
            entry.status = refusal.status
            if client.conn.our_state is h11.SEND_RESPONSE:
                malformed = isinstance(refusal, Malformed)
                await self._drain(client, quietly=malformed)
                await client.send(*answer(refusal.status, f"Sandpit: {refusal}", close=malformed))
            upstreams.drop(scheme, entry.host, port)
        except CapReached as cap:
            entry.refused = str(cap)
            upstreams.drop(scheme, entry.host, port)
            raise  # the connection ends here, mid-message
        except (h11.ProtocolError, OSError) as exc:
            upstreams.drop(scheme, entry.host, port)
            upstream_fault = not isinstance(exc, h11.LocalProtocolError)
            if not (upstream_fault and client.conn.our_state is h11.SEND_RESPONSE):
                raise
            entry.status = 502
            entry.refused = f"{entry.host} failed to answer ({type(exc).__name__})"
            await self._drain(client)
            await client.send(*answer(502, f"Sandpit: {entry.refused}"))
        finally:
            entry.duration_ms = int((time.monotonic() - started) * 1000)
            self._note(entry)

    def _check(self, request: h11.Request, raw_host: str, port: int) -> str:
        """The request's normalised host, or Refused saying why it may not go."""
        host = self._check_host(raw_host, port)
        if header(request, b"upgrade"):
            raise Refused("protocol upgrades (WebSocket) are not allowed")
        return host

    def _check_host(self, raw_host: str, port: int) -> str:
        """The normalised host, if the run may reach it on this port; else Refused."""
        if is_address_literal(raw_host):
            raise Refused(f"{raw_host} is an address; http.allow takes host names only")
        try:
            host = normalise_host(raw_host)
        except ValueError:
            raise Refused(f"{raw_host[:100]!r} is not a host name") from None
        if rule_for(self.rules, host) is None:
            raise Refused(f"{host} is not in this run's http.allow")
        if port not in self.limits.ports:
            allowed = ", ".join(str(p) for p in sorted(self.limits.ports))
            raise Refused(f"port {port} is not allowed (only {allowed})")
        if self.bytes_moved >= self.limits.max_bytes:
            raise Refused(f"the run moved its cap of {self.limits.max_bytes} bytes already")
        return host

    async def _dial(self, scheme: str, host: str, port: int) -> "Peer":
        try:
            address, dial_port = await dial_target(host, port, self.pins, public_only=True)
        except AddressRefused as exc:
            raise Refused(str(exc)) from None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(
                    address,
                    dial_port,
                    ssl=self.upstream_tls if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                )
        except ssl.SSLError as exc:
            raise Unreachable(f"{host}'s certificate is not trusted ({exc.reason})") from None
        except (OSError, TimeoutError) as exc:
            raise Unreachable(
                f"{host} could not be reached ({exc.strerror or 'timeout'})"
            ) from None
        return Peer(reader, writer, h11.CLIENT)

    async def _relay_body(self, client: Peer, upstream: Peer, entry: EgressEntry) -> None:
        if client.conn.they_are_waiting_for_100_continue:
            await client.send(h11.InformationalResponse(status_code=100, headers=[]))
        while isinstance(event := await client.next_event(), h11.Data):
            entry.bytes_sent += len(event.data)
            self._count(len(event.data))
            await upstream.send(event)
        await upstream.send(h11.EndOfMessage())

    async def _drain(self, client: Peer, *, quietly: bool = False) -> None:
        """Read what is left of a refused request's body, so the answer can follow.

        quietly: for a body whose framing is in doubt, as far as it reads in a moment.
        """
        if client.conn.their_state is not h11.SEND_BODY:
            return
        timeout_s = DRAIN_TIMEOUT_S if quietly else IDLE_TIMEOUT_S
        try:
            while isinstance(event := await client.next_event(timeout_s), h11.Data):
                self._count(len(event.data))  # a refused body still counts to the cap
        except (h11.RemoteProtocolError, TimeoutError):
            if not quietly:
                raise

    def _count(self, size: int) -> None:
        self.bytes_moved += size
        if self.bytes_moved > self.limits.max_bytes:
            raise CapReached(f"the run passed its cap of {self.limits.max_bytes} bytes")

    def _note(self, entry: EgressEntry) -> None:
        refused = entry.status in (400, 403, 429)
        outcome = "refused" if refused else "failed" if entry.refused else "sent"
        metrics.EGRESS_REQUESTS.labels(outcome).inc()
        if len(self.log) < MAX_LOG_ENTRIES:
            self.log.append(entry)
