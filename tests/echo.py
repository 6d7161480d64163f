"""Echo servers on loopback for the egress tests: HTTP and HTTPS (with a test CA of its
own), reached from sandboxes under fake names pinned by SANDBOX_EGRESS_PIN.

Each keeps the requests it got, so that tests see what the server saw (credentials
included) while the code sees only a short answer. Paths: `/redirect?to=URL` answers
302; `/bytes?n=N` answers N bytes; anything else answers 200 "ok <path>".
"""

import datetime
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Every fake name the tests use; all are pinned to the echo servers.
NAMES = ("api.example.test", "example.test", "a.example.test", "other.example.test")


@dataclass
class Seen:
    method: str
    host: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class EchoServers:
    http_port: int
    https_port: int
    ca_file: Path
    seen: list[Seen] = field(default_factory=list)

    def pins(self, *, https: bool = True) -> str:
        port = self.https_port if https else self.http_port
        return ",".join(f"{name}=127.0.0.1:{port}" for name in NAMES)

    def pins_by_scheme(self) -> str:
        """api/a/other.example.test speak HTTPS; plain.example.test plain HTTP."""
        https = [f"{name}=127.0.0.1:{self.https_port}" for name in NAMES]
        return ",".join([*https, f"plain.example.test=127.0.0.1:{self.http_port}"])

    def requests_for(self, marker: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(marker)]


def _handler(servers: EchoServers) -> type[BaseHTTPRequestHandler]:
    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            servers.seen.append(
                Seen(
                    self.command, self.headers.get("Host", ""), self.path, dict(self.headers), body
                )
            )
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", query["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = (
                b"y" * int(query["n"][0]) if url.path == "/bytes" else f"ok {url.path}\n".encode()
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_HEAD = _answer

    return Echo


def _test_ca(folder: Path) -> ssl.SSLContext:
    """A CA of the tests' own and a certificate for every name; the server's context."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "echo test CA")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in (*NAMES, "*.example.test")]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAMES[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.crt").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(
        leaf.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "leaf.pem")
    return context


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-answer (the byte cap's test) is no news


def _serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def start_echo(folder: Path) -> tuple[EchoServers, Callable[[], None]]:
    """Both servers, serving in threads; and how to stop them."""
    context = _test_ca(folder)
    plain = QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    secure = QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    servers = EchoServers(plain.server_address[1], secure.server_address[1], folder / "ca.crt")
    plain.RequestHandlerClass = secure.RequestHandlerClass = _handler(servers)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    _serve(plain)
    _serve(secure)

    def stop() -> None:
        plain.shutdown()
        secure.shutdown()

    return servers, stop


@pytest.fixture(scope="session")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoServers]:
    servers, stop = start_echo(tmp_path_factory.mktemp("echo"))
    yield servers
    stop()
