"""Benchmark: what rich results and files cost a run, over HTTP, beside a plain run.

    .venv/bin/python -m bench.results [--runs 60]

Starts Sandpit as bench/api.py does (SQLite, `make run`'s pools) and times, one request
at a time at a person's pace, interleaved so that the machine's drift hits all alike:

- plain: a script that makes a 100 KiB picture and a 1 MiB file, and gives back neither;
- a 100 KiB PNG result: the same, giving the picture back through display();
- a 1 MiB output file: the same, keeping the file through output_files;
- both;
and `docker run --rm` of the same image running a one-line script, for scale.
"""

import argparse
import os
import platform
import tempfile
import time

import httpx

from bench.api import (
    docker_run_latency,
    free_port,
    ms,
    percentile,
    prepare,
    start_server,
    wait_until_up,
)

# Every case does the same work (a 100 KiB picture and a 1 MiB file made); they differ
# only in what they give back, so the difference is Sandpit's.
WORK = (
    "import base64, os\n"
    "picture = base64.b64encode(os.urandom(100 * 1024)).decode()\n"
    "open('out.bin', 'wb').write(os.urandom(1024 * 1024))\n"
)
SHOW = "display({'image/png': picture}, raw=True)\n"
CASES: dict[str, tuple[dict[str, object], int, int]] = {
    "plain": ({"code": WORK}, 0, 0),
    "a 100 KiB PNG result": ({"code": WORK + SHOW}, 1, 0),
    "a 1 MiB output file": ({"code": WORK, "output_files": ["out.bin"]}, 0, 1),
    "both": ({"code": WORK + SHOW, "output_files": ["out.bin"]}, 1, 1),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--docker-runs", type=int, default=15)
    args = parser.parse_args()
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": tempfile.mkdtemp(prefix="sandpit-bench-results-"),
        "SANDBOX_INSTANCE": "sandpit-bench-res",
    }
    key, image = prepare(env)
    port = free_port()
    server = start_server("uvicorn", port, env)
    base = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = {name: [] for name in CASES}
    try:
        wait_until_up(base)
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            for _ in range(args.runs):
                for name, (body, results, files) in CASES.items():
                    started = time.perf_counter()
                    answer = http.post(f"{base}/v1/execute", json={"language": "python", **body})
                    times[name].append((time.perf_counter() - started) * 1000)
                    ran = answer.json()
                    assert answer.status_code == 200 and ran["exit_code"] == 0, answer.text
                    assert (len(ran["results"]), len(ran["files"])) == (results, files)
                    time.sleep(0.25)
        plain_docker = docker_run_latency(image, args.docker_runs)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; ", end="")
    print(f"image {image}; {args.runs} runs of each, interleaved\n")
    base_p50 = percentile(times["plain"], 50)
    print(f"| {'run':<24} | {'p50 / p95':<20} | {'p50 more than plain':<20} |")
    print(f"|{'-' * 26}|{'-' * 22}|{'-' * 22}|")
    for name, values in times.items():
        more = percentile(values, 50) - base_p50
        print(f"| {name:<24} | {ms(values):<20} | {more:+.1f} ms{'':<13} |")
    print(f"| {'docker run --rm, plain':<24} | {ms(plain_docker):<20} | {'':<20} |")


if __name__ == "__main__":
    main()
