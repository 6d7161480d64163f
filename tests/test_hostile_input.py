"""Hostile input at every way in, against the live server, with /healthz asked meanwhile:
every one is answered with a 4xx naming what is wrong, and the server never stalls."""

import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import rizaio

from tests.api_clients import raw_post
from tests.conftest import (
    LIVE_SERVER_MAX_REQUEST_BYTES,
    TEST_INSTANCE,
    LiveServer,
    free_port,
    start_server,
    stop_server,
)
from tests.probes import assert_never_stalled, healthz_watch

# An unterminated string of escaped quotes: every quote once began a match of the old
# string pattern that ran to the end of the body (quadratic, under the GIL: an hour for
# the guests' 1 MiB).
ESCAPED_QUOTES = b'{"language": "python", "code": "' + b'\\"' * 500_000
GUEST_BODY_BYTES = 1024 * 1024


@contextmanager
def guest_client(server: LiveServer) -> Iterator[httpx.Client]:
    """A browser-like guest: the page's CSRF cookie, sent back as the page's script does."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        client.get("/")
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        yield client


def test_an_unterminated_string_of_escapes_is_a_400_at_once_through_the_api(
    sandpit_server: LiveServer, alice: rizaio.Riza
) -> None:
    body = ESCAPED_QUOTES + b'\\"' * (LIVE_SERVER_MAX_REQUEST_BYTES // 2 - len(ESCAPED_QUOTES))
    body = body[: LIVE_SERVER_MAX_REQUEST_BYTES - 16]
    with healthz_watch(sandpit_server.url) as took:
        answer = raw_post(alice, "/v1/execute", body)
    assert answer.status_code == 400, answer.text
    assert "not valid JSON" in answer.json()["error"]["message"]
    assert_never_stalled(took)


def test_an_unterminated_string_of_escapes_is_a_400_at_once_from_a_guest(
    sandpit_server: LiveServer,
) -> None:
    body = (ESCAPED_QUOTES + b'\\"' * GUEST_BODY_BYTES)[: GUEST_BODY_BYTES - 16]
    with guest_client(sandpit_server) as guest, healthz_watch(sandpit_server.url) as took:
        answer = guest.post("/runs", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_json"
    assert_never_stalled(took)


def test_a_long_plain_string_is_refused_by_its_size_before_it_is_read(
    sandpit_server: LiveServer, alice: rizaio.Riza
) -> None:
    # Declared far over the limit and never sent: the answer cannot wait for the body.
    answer = raw_request(sandpit_server, "/v1/execute", 40_000_000, key=alice.api_key)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request_too_large" in answer


def test_a_body_without_a_valid_key_is_refused_before_it_is_read(
    sandpit_server: LiveServer,
) -> None:
    for path in ("/v1/execute", "/v1/tools", "/mcp"):
        for key in ("", "sp_not-a-real-key"):
            answer = raw_request(sandpit_server, path, 2 * 1024**3, key=key)
            assert answer.startswith(b"HTTP/1.1 401"), (path, answer[:200])
            assert b'error="invalid_token"' in answer if key else b"Bearer" in answer


def test_a_guest_body_past_the_guests_allowance_is_refused_before_it_is_read(
    sandpit_server: LiveServer,
) -> None:
    for path in ("/runs", "/accounts/login/", "/no-such-page"):
        answer = raw_request(sandpit_server, path, GUEST_BODY_BYTES + 1)
        assert answer.startswith(b"HTTP/1.1 413"), (path, answer[:200])


def test_a_streamed_body_is_cut_off_at_the_allowance(sandpit_server: LiveServer) -> None:
    def chunks() -> object:
        for _ in range(4 * GUEST_BODY_BYTES // 65536):
            yield b"x" * 65536

    with httpx.Client(timeout=60) as client:
        try:
            answer = client.post(f"{sandpit_server.url}/runs", content=chunks())  # type: ignore[arg-type]
        except httpx.TransportError:
            return  # cut off mid-upload: the server stopped reading, as it should
    assert answer.status_code == 413, answer.text


def raw_request(server: LiveServer, path: str, length: int, key: str = "") -> bytes:
    """POST headers that declare `length` bytes, and no body: what the server says."""
    address = urlsplit(server.url)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n"
        + (f"Authorization: Bearer {key}\r\n" if key else "")
        + "\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        deadline = time.monotonic() + 10
        while not _complete(answer) and time.monotonic() < deadline:
            piece = conn.recv(65536)
            if not piece:
                break
            answer += piece
        return answer


def _complete(answer: bytes) -> bool:
    """Whether the headers and as much body as they declare have come (they may come apart)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def test_the_server_stops_promptly_after_its_checkers_were_replaced_many_times(
    base_image: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": str(tmp_path),
        "SANDBOX_INSTANCE": f"{TEST_INSTANCE}-stopping",
        "SANDBOX_POOL_SIZE": "1",
    }
    server, process = start_server(env, tmp_path, free_port())
    try:
        client = rizaio.Riza(
            api_key=server.new_api_key("stopper"), base_url=server.url, max_retries=0
        )
        tool = client.tools.create(
            name="slow",
            code="def execute(i): return i",
            language="python",
            input_schema={
                "type": "object",
                "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}},
            },
        )
        # Each check overruns: its worker is killed and another started, again and again.
        with ThreadPoolExecutor(4) as callers:
            tries = [
                callers.submit(client.tools.exec, tool.id, input={"s": "a" * 40 + "!"})
                for _ in range(8)
            ]
            for attempt in tries:
                with pytest.raises(rizaio.BadRequestError):
                    attempt.result()
        # And two more are under way when the stop comes.
        callers = ThreadPoolExecutor(2)
        for _ in range(2):
            callers.submit(client.tools.exec, tool.id, input={"s": "a" * 40 + "!"})
        time.sleep(0.5)
    finally:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        finally:
            stop_server(process)
    assert time.monotonic() - started < 30, "the server's stop was not bounded"
    # uvicorn ends a graceful stop by raising the signal it caught again: -SIGTERM.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
    callers.shutdown(wait=True)
