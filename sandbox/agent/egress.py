"""A run with http.allow: Python's ways of making HTTP requests go to the run's egress
proxy (the supervisor's forwarder on 127.0.0.1:3128), which alone reaches the network.

- urllib, requests, httpx and pip read HTTP(S)_PROXY, set here, and the CA variables.
- http.client and anything else built on socket.create_connection: the connection is
  a CONNECT tunnel through the proxy, so the code's own TLS runs inside it.
The proxy's CA is mounted over the system store, so default SSL contexts trust it.
"""

import os
import socket

PROXY = ("127.0.0.1", 3128)
PROXY_URL = f"http://{PROXY[0]}:{PROXY[1]}"
CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
MAX_HEAD_BYTES = 65536


def _tunnelled(original):  # type: ignore[no-untyped-def]
    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, *args, **kwargs):  # type: ignore[no-untyped-def]
        host, port = address[0], int(address[1])
        if port == PROXY[1] and host in (PROXY[0], "localhost"):
            return original(address, timeout, *args, **kwargs)
        sock = original(PROXY, timeout, *args, **kwargs)
        try:
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk or len(head) > MAX_HEAD_BYTES:
                    raise ConnectionError("Sandpit egress: the proxy closed the connection")
                head += chunk
            status_line, _, rest = head.partition(b"\r\n")
            if status_line.split(b" ")[1:2] != [b"200"]:
                reason = rest.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()
                raise ConnectionRefusedError(f"Sandpit egress: {reason or status_line.decode()}")
        except BaseException:
            sock.close()
            raise
        return sock

    return create_connection


def open_egress() -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ[name] = PROXY_URL
    for name in ("NO_PROXY", "no_proxy"):
        os.environ.pop(name, None)
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
        os.environ[name] = CA_FILE
    socket.create_connection = _tunnelled(socket.create_connection)
