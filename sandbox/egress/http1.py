"""HTTP/1.1 both ways for the egress proxy: h11's state machine over asyncio streams, the
headers that go upstream, and the upstream connections a client connection keeps."""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import h11

from sandbox.egress.outcomes import CredentialUnfit
from sandbox.egress.policy import Rule, with_query

CHUNK_BYTES = 65536
IDLE_TIMEOUT_S = 60.0
# Headers about one connection, never passed on (RFC 9110 7.6.1), with every Proxy-* one
# and those a Connection header names. The message's framing is not passed on either:
# each hop gets the framing h11 read, written by h11, so no two parties read one message
# two ways (the request smuggling of RFC 9112 11.2).
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
FRAMING = frozenset({b"content-length", b"transfer-encoding"})
MAX_REASON_CHARS = 200


class Peer:
    """One side of an HTTP/1.1 conversation: h11's state machine over a stream."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, role: type
    ) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(role)

    async def next_event(self, timeout_s: float = IDLE_TIMEOUT_S) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(timeout_s):
                self.conn.receive_data(await self.reader.read(CHUNK_BYTES))

    async def send(self, *events: Any) -> None:
        for event in events:
            data = self.conn.send(event)
            if data:
                self.writer.write(data)
        await self.writer.drain()

    def reusable(self) -> bool:
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def header(request: h11.Request, name: bytes) -> str:
    for key, value in request.headers:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def answer(
    status: int, reason: str, *, close: bool = False, headers: Sequence[tuple[str, str]] = ()
) -> list[Any]:
    """A short plain-text answer. The reason is its reason phrase too, since a client
    refused a tunnel shows that line and never the body (urllib, undici)."""
    body = (reason + "\n").encode()
    head = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *headers,
    ]
    if close:
        head.append(("Connection", "close"))
    phrase = "".join(c if " " <= c <= "~" else "?" for c in reason[:MAX_REASON_CHARS])
    return [
        h11.Response(status_code=status, headers=head, reason=phrase.encode("ascii")),
        h11.Data(data=body),
        h11.EndOfMessage(),
    ]


class Upstreams:
    """A client connection's upstream connections, kept while they may be reused."""

    def __init__(self) -> None:
        self._peers: dict[tuple[str, str, int], Peer] = {}

    async def get(self, scheme: str, host: str, port: int, dial: Any) -> Peer:
        peer = self._peers.get((scheme, host, port))
        if peer is None:
            peer = self._peers[(scheme, host, port)] = await dial(scheme, host, port)
        return peer

    def done(self, scheme: str, host: str, port: int) -> None:
        peer = self._peers.get((scheme, host, port))
        if peer is not None and not peer.reusable():
            self.drop(scheme, host, port)

    def drop(self, scheme: str, host: str, port: int) -> None:
        peer = self._peers.pop((scheme, host, port), None)
        if peer is not None:
            peer.close()

    def close(self) -> None:
        for peer in self._peers.values():
            peer.close()
        self._peers.clear()


def framing_problem(request: h11.Request) -> str:
    """Why a request's framing could be read two ways, or "". h11 itself refuses several
    differing Content-Length and any Transfer-Encoding but chunked."""
    names = {name for name, _ in request.headers}
    if names >= FRAMING:
        return "a request may not carry both Content-Length and Transfer-Encoding"
    return ""


def end_to_end(headers: Any) -> list[tuple[bytes, bytes]]:
    """The headers that go on to the next hop: none about this connection, and the body's
    framing as h11 read it (chunked, else one Content-Length), for h11 to write anew."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
    }
    kept = [
        (name, value)
        for name, value in headers
        if name not in HOP_BY_HOP
        and name not in FRAMING
        and name not in named
        and not name.startswith(b"proxy-")
    ]
    lengths = [value for name, value in headers if name == b"content-length"]
    if any(name == b"transfer-encoding" for name, _ in headers):
        kept.append((b"transfer-encoding", b"chunked"))
    elif lengths:
        kept.append((b"content-length", lengths[0]))
    return kept


def forwarded_headers(
    request: h11.Request, host: str, port: int, scheme: str, credential: Any
) -> list[tuple[bytes, bytes]]:
    """The request's headers as they go upstream: no hop-by-hop ones, Host set to where
    it goes, and the credential set in place of whatever the code sent."""
    replaced = {b"host"}
    set_header = credential.headers() if credential is not None else None
    if set_header is not None:
        replaced.add(set_header[0].lower().encode("latin-1"))
    headers = [(k, v) for k, v in end_to_end(request.headers) if k not in replaced]
    default_port = 443 if scheme == "https" else 80
    authority = host if port == default_port else f"{host}:{port}"
    headers.insert(0, (b"host", authority.encode("latin-1")))
    if set_header is not None:
        headers.append((set_header[0].encode("latin-1"), set_header[1].encode("latin-1")))
    return headers


def upstream_request(
    request: h11.Request, scheme: str, host: str, port: int, origin: str, rule: Rule
) -> h11.Request:
    """The request as it goes upstream, the rule's credential set (h11 checks each header
    as the request is made); CredentialUnfit if that credential cannot go in one."""
    try:
        headers = forwarded_headers(request, host, port, scheme, rule.credential)
        target = with_query(origin, rule.credential).encode("latin-1")
        return h11.Request(method=request.method, target=target, headers=headers)
    except (UnicodeEncodeError, h11.LocalProtocolError):
        if rule.credential is None:
            raise
        raise CredentialUnfit(
            f"this run's credential for {host} cannot go in an HTTP request; fix it in http.allow"
        ) from None
