"""Benchmark: Sandpit over HTTP as a newcomer runs it, beside `docker run --rm`; one table.

    .venv/bin/python bench/api.py [--runs 100] [--seconds 30] [--concurrency 8]
        [--pool-size 2] [--pool-max 8] [--server uvicorn|daphne]

Starts Sandpit under the chosen ASGI server on a free loopback port with `make run`'s
settings (SQLite, pools of 2 growing to 8) and a database of its own, then, all in one
run, with httpx:

- idle: the seed example, one request at a time at a person's pace (p50 / p95);
- back to back: one client with no pause, and one with 50 ms pauses (p50 / p95);
- a burst of 16 at once from an idle server (the slowest answer, beside the time a
  container takes to start);
- runs a second at `--concurrency` clients for `--seconds`, Python and JavaScript;
- plain `docker run --rm --network none` of the same image running the same function,
  at the same concurrency, for each language.

`--pool-max` equal to `--pool-size` turns off the pools' growth with demand. daphne must
be installed for `--server daphne` (`pip install daphne`); it is not a dependency.
Run it on a quiet machine; the README keeps the latest figures.
"""

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SEED: dict[str, object] = {
    "language": "python",
    "code": 'def execute(input): return { "name": input["name"], "executed": True }',
    "input": {"name": "John"},
}
SEED_JS: dict[str, object] = {
    "language": "javascript",
    "code": "function execute(input) { return { name: input.name, executed: true }; }",
    "input": {"name": "John"},
}
EXPECTED = {"name": "John", "executed": True}
# The same functions as one-off processes, for the `docker run --rm` rows.
ONE_OFF = {
    "python": [
        "python3",
        "-c",
        'import json\ndef execute(input): return { "name": input["name"], "executed": True }\n'
        'print(json.dumps(execute({"name": "John"})))',
    ],
    "javascript": [
        "node",
        "-e",
        "function execute(input) { return { name: input.name, executed: true }; }\n"
        'console.log(JSON.stringify(execute({ name: "John" })))',
    ],
}
BURST = 16


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """A database of its own with an API key, and the sandbox image's tag."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=REPO, check=True)
    key = subprocess.run(
        [*manage, "create_api_key", "bench", "--user", "bench"],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    image = subprocess.run(  # built first when the agent's files changed
        [*manage, "sandbox_image"], env=env, cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()[0]
    return key, image


def wait_until_up(base: str) -> None:
    for _ in range(300):
        try:
            httpx.get(f"{base}/healthz")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    time.sleep(3)  # let the pools fill


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(kind: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    if kind == "uvicorn":
        command = [str(BIN / "uvicorn"), "playground.asgi:application", "--port", str(port)]
        command += ["--host", "127.0.0.1", "--lifespan", "on", "--log-level", "warning"]
    else:
        command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
        command += ["playground.asgi:application"]
    return subprocess.Popen(command, env=env, cwd=REPO, stderr=subprocess.DEVNULL)


class Client:
    def __init__(self, base: str, key: str) -> None:
        self.url = f"{base}/v1/execute-function"
        self.headers = {"Authorization": f"Bearer {key}"}

    def session(self) -> httpx.Client:
        return httpx.Client(headers=self.headers, timeout=120)

    def timed(self, http: httpx.Client, body: dict[str, object] = SEED) -> float:
        started = time.perf_counter()
        response = http.post(self.url, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        assert response.json()["output"] == EXPECTED, response.text
        return elapsed

    def paced(self, runs: int, pause_s: float) -> list[float]:
        with self.session() as http:
            latencies = []
            for _ in range(runs):
                latencies.append(self.timed(http))
                time.sleep(pause_s)
            return latencies

    def burst(self, size: int) -> list[float]:
        def one(_: int) -> float:
            with self.session() as http:
                return self.timed(http)

        with ThreadPoolExecutor(size) as pool:
            return list(pool.map(one, range(size)))

    def rate(self, body: dict[str, object], concurrency: int, seconds: float) -> float:
        def make_worker() -> Callable[[], None]:
            http = self.session()

            def once() -> None:
                self.timed(http, body)

            return once

        return rate_of(make_worker, concurrency, seconds)


def rate_of(
    make_worker: Callable[[], Callable[[], None]], concurrency: int, seconds: float
) -> float:
    """Runs a second: `concurrency` threads, each calling its own worker until time's up."""
    done = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        work = make_worker()
        while time.perf_counter() < deadline:
            work()
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.perf_counter() - started)


def docker_run_once(image: str, language: str) -> Callable[[], None]:
    command = ["docker", "run", "--rm", "--network", "none", image, *ONE_OFF[language]]

    def once() -> None:
        out = subprocess.run(command, capture_output=True, check=True, text=True).stdout
        assert '"executed":true' in out.replace(" ", ""), out

    return once


def docker_run_rate(image: str, language: str, concurrency: int, seconds: float) -> float:
    return rate_of(lambda: docker_run_once(image, language), concurrency, seconds)


def docker_run_latency(image: str, runs: int) -> list[float]:
    once = docker_run_once(image, "python")
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--docker-runs", type=int, default=15)
    # make run's defaults: pools of 2 that grow with demand up to 8.
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=8)
    args = parser.parse_args()

    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": tempfile.mkdtemp(prefix="sandpit-bench-"),
        "SANDBOX_INSTANCE": "sandpit-bench-api",
        "SANDBOX_POOL_SIZE": str(args.pool_size),
        "SANDBOX_POOL_MAX": str(args.pool_max),
    }
    key, image = prepare(env)
    port = free_port()
    server = start_server(args.server, port, env)
    base = f"http://127.0.0.1:{port}"
    client = Client(base, key)
    rows: list[tuple[str, str, str]] = []
    try:
        wait_until_up(base)
        idle = client.paced(args.runs, 0.25)
        plain = docker_run_latency(image, args.docker_runs)
        rows.append(("idle, one at a time: p50 / p95", ms(idle), ms(plain)))
        rows.append(("back to back, no pause: p50 / p95", ms(client.paced(args.runs, 0)), ""))
        rows.append(("one client, 50 ms apart: p50 / p95", ms(client.paced(args.runs, 0.05)), ""))
        time.sleep(35)  # the pools shrink back to their floor after a quiet spell
        starts_before = start_buckets(base)
        burst = client.burst(BURST)
        slowest_start = slowest_bucket(starts_before, start_buckets(base))
        rows.append(
            (
                f"a burst of {BURST} at once: slowest answer",
                f"{max(burst):.0f} ms (starts <= {slowest_start})",
                "",
            )
        )
        for language, body in (("Python", SEED), ("JavaScript", SEED_JS)):
            ours = client.rate(body, args.concurrency, args.seconds)
            theirs = docker_run_rate(image, language.lower(), args.concurrency, args.seconds / 2)
            label = f"{language} runs/s at concurrency {args.concurrency}"
            rows.append((label, f"{ours:.1f} ({ours / theirs:.2f}x)", f"{theirs:.1f}"))
    finally:
        server.terminate()
        server.wait(timeout=30)

    pools = f"pools {args.pool_size} growing to {args.pool_max}"
    print(f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; ", end="")
    print(f"{args.server}; {pools}; image {image}\n")
    print(f"| {'measure':<40} | {'Sandpit':<28} | {'docker run --rm':<16} |")
    print(f"|{'-' * 42}|{'-' * 30}|{'-' * 18}|")
    for label, ours_text, theirs_text in rows:
        print(f"| {label:<40} | {ours_text:<28} | {theirs_text:<16} |")


def start_buckets(base: str) -> dict[str, float]:
    """The container start histogram's cumulative buckets, from /metrics (loopback)."""
    prefix = 'sandpit_container_start_seconds_bucket{le="'
    buckets = {}
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith(prefix):
            bound = line[len(prefix) :].split('"')[0]
            buckets[bound] = float(line.split()[-1])
    return buckets


def slowest_bucket(before: dict[str, float], after: dict[str, float]) -> str:
    """The smallest bound that holds every container start between two scrapes."""
    total = after["+Inf"] - before.get("+Inf", 0)
    for bound, count in after.items():
        if count - before.get(bound, 0) >= total:
            return f"{float(bound) * 1000:.0f} ms" if bound != "+Inf" else "more"
    return "?"


def ms(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(values, 95):.1f} ms"


if __name__ == "__main__":
    main()
