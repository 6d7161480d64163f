"""Benchmark: Sandpit over HTTP as a newcomer runs it, beside `docker run --rm`; one table.

    .venv/bin/python -m bench.api [--runs 100] [--seconds 30] [--concurrency 8]
        [--pool-size 2] [--pool-max 8] [--server uvicorn|daphne]
        [--private-docker] [--cpu-runs 120] [--json FILE]

Starts Sandpit under the chosen ASGI server on a free loopback port with `make run`'s
settings (SQLite, pools of 2 growing to 8) and a database of its own, then, all in one
run, with httpx:

- idle: the seed example, one request at a time at a person's pace (p50 / p95);
- back to back: one client with no pause, and one with 50 ms pauses (p50 / p95);
- a burst of 16 at once from an idle server (the slowest answer, beside the time a
  container takes to start);
- runs a second at `--concurrency` clients for `--seconds`, Python and JavaScript;
- plain `docker run --rm --network none` of the same image running the same function,
  at the same concurrency, for each language;
- with `--private-docker` (root, cgroup v1): the machine's CPU per run, Sandpit's (the
  server, Docker's daemons, shims and runtime, the sandboxes) over `--cpu-runs` Python
  runs at `--concurrency`, and `docker run --rm`'s (the CLI too) over a third as many,
  all on a Docker engine of the bench's own (bench/cgroups.py), so that other work on
  the machine's engine is not counted.

The backend and runtime are the environment's (SANDBOX_BACKEND, SANDBOX_DOCKER_RUNTIME),
as for `make run`; bench/backends.py runs this for each in turn.

`--pool-max` equal to `--pool-size` turns off the pools' growth with demand. daphne must
be installed for `--server daphne` (`pip install daphne`); it is not a dependency.
Run it on a quiet machine; the README keeps the latest figures.
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import cgroups
from bench.load import rate_of, runs_of

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
INSTANCE = "sandpit-bench-api"
# Removals of finished containers wait for a quiet second (sandbox/limits.py).
SETTLE_S = 3


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
    """The server, its log in its state folder (server.log)."""
    if kind == "uvicorn":
        command = [str(BIN / "uvicorn"), "playground.asgi:application", "--port", str(port)]
        command += ["--host", "127.0.0.1", "--lifespan", "on", "--log-level", "warning"]
    else:
        command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
        command += ["playground.asgi:application"]
    with (Path(env["SANDPIT_STATE_DIR"]) / "server.log").open("ab") as log:
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=log)


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

    def worker(self, body: dict[str, object]) -> Callable[[], Callable[[], None]]:
        """What makes one thread's worker: a session of its own, one run a call."""

        def make_worker() -> Callable[[], None]:
            http = self.session()

            def once() -> None:
                self.timed(http, body)

            return once

        return make_worker

    def rate(self, body: dict[str, object], concurrency: int, seconds: float) -> float:
        return rate_of(self.worker(body), concurrency, seconds)


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
    parser.add_argument("--private-docker", action="store_true")
    parser.add_argument("--cpu-runs", type=int, default=120)
    parser.add_argument("--json", type=Path, help="also write the figures here, as JSON")
    args = parser.parse_args()

    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": tempfile.mkdtemp(prefix="sandpit-bench-"),
        "SANDBOX_INSTANCE": INSTANCE,
        "SANDBOX_POOL_SIZE": str(args.pool_size),
        "SANDBOX_POOL_MAX": str(args.pool_max),
        # The bench's one key sends faster than a tenant may (600 a minute).
        "SANDPIT_API_RUNS_PER_MINUTE": str(10**6),
    }
    key, image = prepare(env)
    docker = None
    if args.private_docker:
        if not cgroups.available():
            raise SystemExit("--private-docker needs root and cgroup v1's cpuacct")
        docker = cgroups.PrivateDocker(REPO / ".sandpit" / "bench-docker")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, object] = {}
    server = None
    try:
        if docker is not None:
            host = docker.start()
            docker.load(image)
            os.environ["DOCKER_HOST"] = env["DOCKER_HOST"] = host
        server = start_server(args.server, port, env)
        if docker is not None:
            cgroups.move(server.pid, cgroups.SERVER)
        wait_until_up(base)
        figures["runtime"] = httpx.get(f"{base}/readyz").json().get("runtime")
        rows = measure(Client(base, key), base, image, args, figures)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if docker is not None:
            docker.stop()

    pools = f"pools {args.pool_size} growing to {args.pool_max}"
    print(f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; ", end="")
    print(f"{args.server}; {pools}; image {image}; {figures['runtime']}")
    print(f"load average (1 min) at the start: {figures['load_1min']:.1f}\n")
    print(f"| {'measure':<40} | {'Sandpit':<28} | {'docker run --rm':<16} |")
    print(f"|{'-' * 42}|{'-' * 30}|{'-' * 18}|")
    for label, ours_text, theirs_text in rows:
        print(f"| {label:<40} | {ours_text:<28} | {theirs_text:<16} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


def measure(
    client: Client, base: str, image: str, args: argparse.Namespace, figures: dict[str, object]
) -> list[tuple[str, str, str]]:
    """Every row of the table, in one run; `figures` gets them as numbers."""
    figures["load_1min"] = os.getloadavg()[0]
    client.paced(5, 0.25)  # the first runs of an image may wait for it (crun unpacks it)
    idle = client.paced(args.runs, 0.25)
    plain = docker_run_latency(image, args.docker_runs)
    rows = [("idle, one at a time: p50 / p95", ms(idle), ms(plain))]
    back_to_back = client.paced(args.runs, 0)
    rows.append(("back to back, no pause: p50 / p95", ms(back_to_back), ""))
    paced = client.paced(args.runs, 0.05)
    rows.append(("one client, 50 ms apart: p50 / p95", ms(paced), ""))
    figures.update(
        idle_p50=statistics.median(idle),
        docker_run_p50=statistics.median(plain),
        back_to_back_p50=statistics.median(back_to_back),
        paced_50ms_p50=statistics.median(paced),
    )
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
        figures[f"{language.lower()}_rate"], figures[f"{language.lower()}_docker_rate"] = (
            ours,
            theirs,
        )
    if args.private_docker:
        ours_cpu, theirs_cpu = cpu_per_run(client, image, args)
        figures.update(cpu=ours_cpu, docker_run_cpu=theirs_cpu)
        rows.append(("machine CPU per run, ms", cgroups.text(ours_cpu), cgroups.text(theirs_cpu)))
    return rows


def cpu_per_run(
    client: Client, image: str, args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, float]]:
    """ms of CPU per Python run, by part: Sandpit's, then plain `docker run --rm`'s."""
    # The pool grown to what this load asks first, so that the window's starts are its
    # runs' replacements and no more.
    runs_of(client.worker(SEED), args.concurrency, 2 * args.concurrency)
    time.sleep(SETTLE_S)
    before = cgroups.CpuSnapshot.take(INSTANCE)
    runs_of(client.worker(SEED), args.concurrency, args.cpu_runs)
    time.sleep(SETTLE_S)  # its containers removed and the pool refilled: a run's whole cost
    ours = cgroups.CpuSnapshot.take(INSTANCE).since(before, args.cpu_runs)
    docker_runs = max(1, args.cpu_runs // 3)
    before = cgroups.CpuSnapshot.take(INSTANCE)
    runs_of(lambda: docker_run_once(image, "python"), args.concurrency, docker_runs)
    time.sleep(SETTLE_S)
    return ours, cgroups.CpuSnapshot.take(INSTANCE).since(before, docker_runs)


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
