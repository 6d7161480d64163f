"""CONNECT tunnels: the host is checked before any TLS, leaves are minted once per name
and off the event loop, and a run opens tunnels at a bounded pace.

The proxy is driven over its Unix socket with raw bytes, as the sandbox's forwarder
relays them; the flood comes from a real run on the live server, /healthz probed.
"""

import asyncio
import json
import ssl
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import rizaio

from sandbox.egress.addresses import parse_pins
from sandbox.egress.ca import CertificateAuthority
from sandbox.egress.limits import TUNNEL_BURST, TUNNELS_PER_S, EgressLimits
from sandbox.egress.policy import parse_rules
from sandbox.egress.proxy import SOCKET_NAME, TOO_FAST_PAUSE_S, EgressProxy
from tests.conftest import LiveServer
from tests.echo import EchoServers
from tests.probes import assert_never_stalled, healthz_watch

MakeProxy = Callable[..., EgressProxy]


@pytest.fixture
def make_proxy(tmp_path: Path, echo: EchoServers) -> MakeProxy:
    """Proxies of runs allowed `hosts`, one folder each, all sharing one CA."""
    ca = CertificateAuthority(tmp_path / "ca")
    runs = iter(range(1000))

    def make(*hosts: str, limits: EgressLimits | None = None) -> EgressProxy:
        folder = tmp_path / f"run-{next(runs)}"
        folder.mkdir()
        return EgressProxy(
            folder,
            parse_rules([{"host": host} for host in hosts]),
            ca=ca,
            upstream_tls=ssl.create_default_context(cafile=echo.ca_file),
            pins=parse_pins(echo.pins_by_scheme()),
            limits=limits or EgressLimits(),
            deadline=time.monotonic() + 60,
        )

    return make


async def connect(
    proxy: EgressProxy, authority: str
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """CONNECT `authority`; the answer's head (and the body, for a refusal)."""
    reader, writer = await asyncio.open_unix_connection(proxy.socket_path.parent / SOCKET_NAME)
    writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    if not head.startswith(b"HTTP/1.1 200 "):
        head += await asyncio.wait_for(reader.read(-1), timeout=10)
    return head, reader, writer


async def leaf_of(proxy: EgressProxy, host: str) -> bytes:
    """The certificate the proxy presents in a tunnel to host:443, DER."""
    head, _, writer = await connect(proxy, f"{host}:443")
    assert head.startswith(b"HTTP/1.1 200 "), head
    trust = ssl.create_default_context(cafile=proxy.ca.cert_path)
    await writer.start_tls(trust, server_hostname=host)
    tls = writer.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True)
    writer.close()
    return bytes(der)


async def test_a_host_not_allowed_is_a_403_before_any_tls_and_nothing_is_minted(
    make_proxy: MakeProxy,
) -> None:
    async with make_proxy("api.example.test") as proxy:
        refused = {
            "other.example.test:443": b"other.example.test is not in this run's http.allow",
            "127.0.0.1:443": b"127.0.0.1 is an address",
            "[::1]:443": b"::1 is an address",
            "api.example.test:8443": b"port 8443 is not allowed",
        }
        for authority, reason in refused.items():
            head, _, writer = await connect(proxy, authority)
            writer.close()
            status_line = head.split(b"\r\n", 1)[0]
            # The reason is the status line too: urllib and undici show only that line.
            assert status_line.startswith(b"HTTP/1.1 403 Sandpit: "), head
            assert reason in status_line and reason in head.split(b"\r\n\r\n", 1)[1]
    assert proxy.ca.leaves_minted == 0
    assert [(e.method, e.status) for e in proxy.log] == [("CONNECT", 403)] * len(refused)
    assert [bool(e.refused) for e in proxy.log] == [True] * len(refused)


async def test_a_repeated_host_reuses_its_leaf_across_tunnels_and_runs(
    make_proxy: MakeProxy,
) -> None:
    async with make_proxy("api.example.test") as one, make_proxy("api.example.test") as two:
        leaves = [await leaf_of(one, "api.example.test") for _ in range(3)]
        # At once, from another run: one mint, however many ask while it is under way.
        leaves += await asyncio.gather(*(leaf_of(two, "api.example.test") for _ in range(6)))
    assert len(set(leaves)) == 1
    assert one.ca.leaves_minted == 1


async def test_leaves_of_names_met_at_once_are_minted_once_each(make_proxy: MakeProxy) -> None:
    async with make_proxy("*.example.test") as proxy:
        names = [f"n{i}.example.test" for i in range(8)]
        leaves = await asyncio.gather(*(leaf_of(proxy, name) for name in names * 2))
    assert len(set(leaves)) == len(names)
    assert proxy.ca.leaves_minted == len(names)


async def test_past_its_rate_a_run_gets_a_429_that_says_when_to_try_again(
    make_proxy: MakeProxy,
) -> None:
    limits = EgressLimits(tunnel_burst=3, tunnels_per_s=1.0)
    async with make_proxy("plain.example.test", limits=limits) as proxy:
        answers = []
        for _ in range(3):
            head, _, writer = await connect(proxy, "plain.example.test:80")
            writer.close()
            answers.append(head.split(b"\r\n", 1)[0])
        assert answers == [b"HTTP/1.1 200 Connection established"] * 3
        started = time.monotonic()
        head, _, writer = await connect(proxy, "plain.example.test:80")
        writer.close()
        # The refusal waits out its own Retry-After: a flood goes at its refusals' pace.
        assert time.monotonic() - started >= TOO_FAST_PAUSE_S * 0.9
        assert head.startswith(b"HTTP/1.1 429 Sandpit: a run may open 3 tunnels at once"), head
        assert b"\r\nretry-after: 1\r\n" in head.lower()
        # A second later the bucket holds one tunnel again.
        head, _, writer = await connect(proxy, "plain.example.test:80")
        writer.close()
        assert head.startswith(b"HTTP/1.1 200 "), head
    assert [e.status for e in proxy.log] == [429]


# Threads of a run open tunnels to names never seen, each with a TLS handshake, as fast
# as they can: before, each was answered and minted a leaf on the server's event loop.
FLOOD = r"""
import json, os, random, socket, ssl, sys, threading, time
from urllib.parse import urlsplit
proxy = urlsplit(os.environ["HTTPS_PROXY"])
seconds, threads = float(sys.argv[1]), int(sys.argv[2])
counts, lock = {}, threading.Lock()
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
def work(n):
    end, i = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        i += 1
        host = f"h{n}x{i}x{random.randrange(1 << 30)}.flood.example"
        try:
            s = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
            s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head and (data := s.recv(4096)):
                head += data
            code = head.split(b" ")[1].decode() if head else "closed"
            if code == "200":
                context.wrap_socket(s, server_hostname=host).close()
            else:
                s.close()
        except OSError as e:
            code = type(e).__name__
        with lock:
            counts[code] = counts.get(code, 0) + 1
workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(json.dumps(counts))
"""
FLOOD_S = 5
FLOOD_THREADS = 8


@pytest.mark.slow
def test_a_tunnel_flood_from_a_run_leaves_the_server_answering(
    sandpit_server: LiveServer, alice: rizaio.Riza
) -> None:
    with healthz_watch(sandpit_server.url) as took:
        result = alice.command.exec(
            language="python",
            code=FLOOD,
            args=[str(FLOOD_S), str(FLOOD_THREADS)],
            http={"allow": [{"host": "*"}]},
            limits={"execution_timeout": FLOOD_S + 20},
        )
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts.get("200", 0) <= TUNNEL_BURST + TUNNELS_PER_S * (FLOOD_S + 2), counts
    assert counts.get("429", 0) > 0, counts
    assert_never_stalled(took)
    # Before: /healthz p50 went from 3-7 ms to 183-329 ms under this flood.
    assert statistics.median(took) < 0.1, f"/healthz p50 {statistics.median(took):.3f} s"
