"""A package index of the tests' own: PEP 503 over HTTPS on 127.0.0.1, serving wheels
made in the test, so that builds install hostile packages without leaving this machine.

Builds reach it as https://wheels.example.test/simple, a name pinned to its port by
SANDBOX_EGRESS_PIN and certified by the echo servers' test CA (whose certificate
covers *.example.test); `settings()` gives the overrides, npm's registry among them.
"""

import base64
import hashlib
import html
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.test import override_settings

from tests.echo import _test_ca

INDEX_HOST = "wheels.example.test"
VERSION = "1.0"


def wheel(name: str, source: str) -> tuple[str, bytes]:
    """A pure-Python wheel of one module `name` whose __init__ is `source`: its file name."""
    dist_info = f"{name}-{VERSION}.dist-info"
    files = {
        f"{name}/__init__.py": source.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {VERSION}\n".encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: sandpit-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()] + [
        f"{dist_info}/RECORD,,"
    ]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{name}-{VERSION}-py3-none-any.whl", out.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


class WheelIndex:
    """Serves /simple/<name>/ and /files/<wheel> for the wheels added to it."""

    def __init__(self, folder: Path) -> None:
        self.wheels: dict[str, tuple[str, bytes]] = {}
        context = _test_ca(folder)
        self.ca_file = folder / "ca.crt"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def add(self, name: str, source: str) -> None:
        self.wheels[name] = wheel(name, source)

    def settings(self) -> override_settings:
        return override_settings(
            SANDBOX_BUILD_PIP_INDEX_URL=f"https://{INDEX_HOST}/simple",
            # No npm package here: npm's every request is answered 404, on loopback.
            SANDBOX_BUILD_NPM_REGISTRY=f"https://{INDEX_HOST}/npm/",
            SANDBOX_EGRESS_PIN=f"{INDEX_HOST}=127.0.0.1:{self.port}",
            SANDBOX_BUILD_CA_BUNDLE=str(self.ca_file),
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "simple" and parts[1] in self.wheels:
            file_name, data = self.wheels[parts[1]]
            href = f"/files/{file_name}#sha256={hashlib.sha256(data).hexdigest()}"
            page = f'<html><body><a href="{html.escape(href)}">{file_name}</a></body></html>'
            return 200, "text/html", page.encode()
        if len(parts) == 2 and parts[0] == "files":
            for file_name, data in self.wheels.values():
                if file_name == parts[1]:
                    return 200, "application/octet-stream", data
        return 404, "text/plain", b"not here\n"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, kind, body = index._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
