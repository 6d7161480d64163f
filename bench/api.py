"""Benchmark: the seed example through HTTP, beside `docker run --rm` of the same image.

    .venv/bin/python bench/api.py [--server uvicorn|daphne] [--runs 100] [--concurrency 8]
        [--pool-size 2] [--pool-max 8]

Starts Sandpit under the chosen ASGI server on a free loopback port, with a database of
its own, then sends the seed example with httpx: sequential runs at a person's pace
for p50 / p95, one client with 50 ms pauses (faster than a small pool refills), then
`--concurrency` clients at once for throughput and p95 under load. `--pool-max` equal
to `--pool-size` turns off the pools' growth with demand, for comparison. daphne must be
installed for `--server daphne` (`pip install daphne`); it is not a dependency.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SEED = {
    "language": "python",
    "code": 'def execute(input): return { "name": input["name"], "executed": True }',
    "input": {"name": "John"},
}
DOCKER_RUN = [
    "python3",
    "-c",
    'import json\ndef execute(input): return { "name": input["name"], "executed": True }\n'
    'print(json.dumps(execute({"name": "John"})))',
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


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


def timed_post(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.post(url, json=SEED)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    assert response.json()["output"] == {"name": "John", "executed": True}
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--docker-runs", type=int, default=15)
    # make run's defaults: a pool of 2 that grows with demand up to 8.
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=8)
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="sandpit-bench-")
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": state,
        "SANDBOX_INSTANCE": "sandpit-bench-api",
        "SANDBOX_POOL_SIZE": str(args.pool_size),
        "SANDBOX_POOL_MAX": str(args.pool_max),
    }
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
    port = free_port()
    server = start_server(args.server, port, env)
    url = f"http://127.0.0.1:{port}/v1/execute-function"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(headers=headers, timeout=60) as client:
            for _ in range(200):
                try:
                    client.get(f"http://127.0.0.1:{port}/v1/openapi.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            time.sleep(3)  # let the pools fill
            sequential = []
            for _ in range(args.runs):
                sequential.append(timed_post(client, url))
                time.sleep(0.2)  # a person's pace: the pool refills between runs
            # One client back to back with 50 ms pauses: faster than a pool of 2 refills.
            paced = []
            for _ in range(args.runs):
                paced.append(timed_post(client, url))
                time.sleep(0.05)

        loaded: list[float] = []
        lock = threading.Lock()
        per_client = args.runs // args.concurrency

        def hammer() -> None:
            with httpx.Client(headers=headers, timeout=60) as client:
                for _ in range(per_client):
                    elapsed = timed_post(client, url)
                    with lock:
                        loaded.append(elapsed)

        threads = [threading.Thread(target=hammer) for _ in range(args.concurrency)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rate = len(loaded) / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)

    image = subprocess.run(
        [*manage, "sandbox_image", "--check"], env=env, cwd=REPO, capture_output=True, text=True
    ).stdout.split()[0]
    plain = []
    for _ in range(args.docker_runs):
        started = time.perf_counter()
        subprocess.run(
            ["docker", "run", "--rm", "--network", "none", image, *DOCKER_RUN],
            check=True,
            capture_output=True,
        )
        plain.append((time.perf_counter() - started) * 1000)

    p50 = statistics.median(sequential)
    pools = f"pool size {args.pool_size}, growing to {args.pool_max}"
    print(f"server: {args.server}; {os.cpu_count()} cores; {pools}")
    print(f"sequential:   p50 {p50:.1f} ms   p95 {percentile(sequential, 95):.1f} ms")
    print(
        f"50 ms apart:  p50 {statistics.median(paced):.1f} ms   p95 {percentile(paced, 95):.1f} ms"
    )
    print(
        f"concurrency {args.concurrency}: {rate:.1f} runs/s   "
        f"p50 {statistics.median(loaded):.0f} ms   p95 {percentile(loaded, 95):.0f} ms"
    )
    print(
        f"docker run --rm: p50 {statistics.median(plain):.0f} ms   "
        f"p95 {percentile(plain, 95):.0f} ms   ({statistics.median(plain) / p50:.1f}x slower)"
    )


if __name__ == "__main__":
    main()
