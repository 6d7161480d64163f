"""Hostile requests against a running server, with /healthz asked meanwhile.

    .venv/bin/python bench/hostile.py --url http://127.0.0.1:8000 \\
        --key sp_... --other-key sp_... [--only NAME ...]

For each case it reports how the hostile request was answered (status, seconds) and how
/healthz fared while it was handled (answers, p50, slowest): a server that stalls shows
slow or missing /healthz answers. Loopback only; every request has a deadline, so a
server that stalls for hours still lets the bench end (and says so).
The keys come from `manage.py create_api_key`; the two keys must be of two owners.
"""

import argparse
import contextlib
import ipaddress
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

DEADLINE_S = 60.0
PROBE_EVERY_S = 0.02
EVIL_SCHEMA = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}
EVIL_INPUT = {"s": "a" * 40 + "!"}


def loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"{url}: this bench sends to loopback only")
    return url.rstrip("/")


class Probe:
    """GET /healthz again and again in a thread; each answer's seconds (a miss: deadline)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.took: list[float] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=DEADLINE_S) as client:
            while not self._done.is_set():
                started = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"{self.url}/healthz")
                self.took.append(time.monotonic() - started)
                time.sleep(PROBE_EVERY_S)

    def __enter__(self) -> "Probe":
        self._thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(DEADLINE_S + 5)

    def summary(self) -> str:
        if not self.took:
            return "/healthz: no answer"
        ms = sorted(t * 1000 for t in self.took)
        return (
            f"/healthz: {len(ms)} answers, p50 {statistics.median(ms):.0f} ms, "
            f"slowest {ms[-1]:.0f} ms"
        )


def post(url: str, path: str, body: bytes, key: str = "", **headers: str) -> str:
    started = time.monotonic()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        answer = httpx.post(
            url + path,
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=DEADLINE_S,
        )
        said = f"{answer.status_code} {answer.text[:90]!r}"
    except httpx.HTTPError as exc:
        said = f"no answer ({type(exc).__name__})"
    return f"{said} in {time.monotonic() - started:.2f} s"


def escaped_quotes_api(url: str, key: str, other: str) -> str:
    body = b'{"language": "python", "code": "' + b'\\"' * 32_000  # 64 KB, never closed
    return post(url, "/v1/execute", body, key)


def escaped_quotes_guest(url: str, key: str, other: str) -> str:
    with httpx.Client(base_url=url, timeout=DEADLINE_S) as guest:
        guest.get("/")
        token = guest.cookies["csrftoken"]
        started = time.monotonic()
        body = b'{"mode": "script", "language": "python", "code": "' + b'\\"' * 32_000
        try:
            answer = guest.post(
                "/runs",
                content=body,
                headers={"Content-Type": "application/json", "X-CSRFToken": token},
            )
            said = f"{answer.status_code} {answer.text[:90]!r}"
        except httpx.HTTPError as exc:
            said = f"no answer ({type(exc).__name__})"
    return f"{said} in {time.monotonic() - started:.2f} s"


def plain_string_40mb(url: str, key: str, other: str) -> str:
    body = b'{"language": "python", "code": "print(1)", "stdin": "' + b"a" * 40_000_000 + b'"}'
    return post(url, "/v1/execute", body, key)


def mcp_wide_array(url: str, key: str, other: str) -> str:
    arguments = b'{"code": "x", "language": "python", "input": [' + b"0," * 1_900_000 + b"0]}"
    body = (
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
        b'{"name": "run_code", "arguments": ' + arguments + b"}}"
    )
    return post(url, "/mcp", body, key, Accept="application/json, text/event-stream")


def keyless_two_gib(url: str, key: str, other: str) -> str:
    address = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=DEADLINE_S) as conn:
        conn.sendall(
            f"POST /v1/execute HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Content-Length: {2 * 1024**3}\r\nContent-Type: application/json\r\n\r\n".encode()
        )
        conn.sendall(b"x" * (8 * 1024 * 1024))  # a first 8 MiB of the 2 GiB
        try:
            first = conn.recv(200).split(b"\r\n")[0].decode(errors="replace")
        except OSError as exc:
            first = f"no answer ({exc})"
    return f"{first!r} after {time.monotonic() - started:.2f} s"


def schema_checks_of_two_owners(url: str, key: str, other: str) -> str:
    make = {"name": "evil", "code": "def execute(i): return i", "language": "python"}
    headers_a = {"Authorization": f"Bearer {key}"}
    headers_b = {"Authorization": f"Bearer {other}"}
    evil = httpx.post(
        f"{url}/v1/tools", json={**make, "input_schema": EVIL_SCHEMA}, headers=headers_a
    ).json()["id"]
    plain = httpx.post(
        f"{url}/v1/tools", json={**make, "input_schema": EVIL_SCHEMA}, headers=headers_b
    ).json()["id"]

    def run(tool: str, headers: dict[str, str], value: dict[str, str]) -> int:
        return httpx.post(
            f"{url}/v1/tools/{tool}/execute",
            json={"input": value},
            headers=headers,
            timeout=DEADLINE_S,
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        slow = [pool.submit(run, evil, headers_a, EVIL_INPUT) for _ in range(6)]
        time.sleep(0.3)
        quick = [pool.submit(run, plain, headers_b, {"s": "aaa"}) for _ in range(10)]
        quick_ok = sum(f.result() == 200 for f in quick)
        slow_400 = sum(f.result() == 400 for f in slow)
    return f"the other owner's trivial checks: {quick_ok} of 10 ran; {slow_400} of 6 slow were 400s"


def crowd_of_one_owner(url: str, key: str, other: str) -> str:
    code = {"language": "python", "code": "import time\ntime.sleep(5)"}

    def run(k: str, body: dict[str, str]) -> int:
        return httpx.post(
            f"{url}/v1/execute", json=body, headers={"Authorization": f"Bearer {k}"}, timeout=60
        ).status_code

    with ThreadPoolExecutor(48) as pool:
        crowd = [pool.submit(run, key, code) for _ in range(44)]
        time.sleep(1.5)
        theirs = [run(other, {"language": "python", "code": "print(1)"}) for _ in range(3)]
        statuses = sorted(f.result() for f in crowd)
    counts = {s: statuses.count(s) for s in set(statuses)}
    return f"the other owner's print(1): {theirs}; the crowd's 44: {counts}"


CASES: dict[str, Callable[[str, str, str], str]] = {
    "escaped-quotes-api-64k": escaped_quotes_api,
    "escaped-quotes-guest-64k": escaped_quotes_guest,
    "plain-string-40mb": plain_string_40mb,
    "mcp-wide-array": mcp_wide_array,
    "keyless-2gib": keyless_two_gib,
    "schema-checks-two-owners": schema_checks_of_two_owners,
    "crowd-of-one-owner": crowd_of_one_owner,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--other-key", required=True)
    parser.add_argument("--only", nargs="*", default=list(CASES))
    args = parser.parse_args()
    url = loopback(args.url)
    for name in args.only:
        with Probe(url) as probe:
            said = CASES[name](url, args.key, args.other_key)
        print(f"{name}: {said}\n    {probe.summary()}", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
