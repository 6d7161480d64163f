"""Benchmark: a hello-world function through the engine, beside `docker run --rm`.

    .venv/bin/python bench/engine.py [--runs 50] [--concurrency 8] [--pool-size 2]

For Python and JavaScript it reports the end-to-end latency of sequential runs (p50,
p95), the in-sandbox `duration`, the sustained throughput with `--concurrency` runs at
once (every run in a fresh container), and the same function through a plain
`docker run --rm` of the same image. Run it by hand on a quiet machine; the README keeps
the latest figures.
"""

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

import django

django.setup()

from sandbox import images  # noqa: E402
from sandbox.engine import Engine, EngineConfig  # noqa: E402
from sandbox.jobs import Job, JobKind  # noqa: E402
from sandbox.languages import Language  # noqa: E402

FUNCTIONS = {
    Language.PYTHON: 'def execute(input):\n    return {"hello": input["name"]}\n',
    Language.JAVASCRIPT: "function execute(input) {\n  return { hello: input.name };\n}\n",
}
# The same function as a one-off process, for the `docker run --rm` column.
ONE_OFF = {
    Language.PYTHON: [
        "python3",
        "-c",
        'import json\ndef execute(input):\n    return {"hello": input["name"]}\n'
        'print(json.dumps(execute({"name": "bench"})))',
    ],
    Language.JAVASCRIPT: [
        "node",
        "-e",
        "function execute(input) { return { hello: input.name }; }\n"
        'console.log(JSON.stringify(execute({ name: "bench" })))',
    ],
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def job(language: Language) -> Job:
    return Job(
        kind=JobKind.FUNCTION, language=language, code=FUNCTIONS[language], input={"name": "bench"}
    )


async def sequential(
    engine: Engine, language: Language, runs: int
) -> tuple[list[float], list[int]]:
    latencies, durations = [], []
    for _ in range(runs):
        # Give the pool its moment to refill, as between a user's runs.
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        result = await engine.run(job(language))
        latencies.append((time.perf_counter() - started) * 1000)
        durations.append(result.duration_ms)
        assert result.output == {"hello": "bench"}, result
    return latencies, durations


async def throughput(engine: Engine, language: Language, runs: int, concurrency: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(runs):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            result = await engine.run(job(language))
            assert result.output == {"hello": "bench"}, result

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return runs / (time.perf_counter() - started)


def docker_run(image: str, language: Language, runs: int) -> list[float]:
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", image, *ONE_OFF[language]],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        latencies.append((time.perf_counter() - started) * 1000)
        assert '"hello"' in out, out
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--docker-runs", type=int, default=15)
    args = parser.parse_args()

    config = replace(
        EngineConfig.from_settings(), instance="sandpit-bench", pool_size=args.pool_size
    )
    engine = Engine(config)
    await engine.start()
    image = images.base_image_tag()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.release()}")
    print(f"image: {image}; pool size {args.pool_size}; concurrency {args.concurrency}\n")
    header = (
        f"{'language':<11} {'p50 ms':>7} {'p95 ms':>7} {'duration p50':>13} "
        f"{'runs/s @' + str(args.concurrency):>11} {'docker run p50':>15} {'p95':>6} {'x':>5}"
    )
    print(header)
    try:
        for language in FUNCTIONS:
            await engine.run(job(language))  # warm the pools
            latencies, durations = await sequential(engine, language, args.runs)
            rate = await throughput(engine, language, args.runs * 2, args.concurrency)
            plain = await asyncio.to_thread(docker_run, image, language, args.docker_runs)
            p50 = statistics.median(latencies)
            print(
                f"{language.value:<11} {p50:>7.1f} {percentile(latencies, 95):>7.1f} "
                f"{statistics.median(durations):>13.0f} {rate:>11.1f} "
                f"{statistics.median(plain):>15.0f} {percentile(plain, 95):>6.0f} "
                f"{statistics.median(plain) / p50:>5.1f}"
            )
    finally:
        await engine.close()
        engine.adapter.close()


if __name__ == "__main__":
    asyncio.run(main())
