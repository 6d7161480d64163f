"""Benchmark: what http.allow's egress proxy adds to an HTTPS GET.

    .venv/bin/python bench/egress.py [--requests 200]

An HTTPS echo server on loopback (the tests' own, with its own CA) is reached two ways:
from this process directly, and from a sandbox through its egress proxy under a pinned
name, with a bearer credential added on the way. Both time the first request (a new
connection: for the sandbox a CONNECT, then TLS to the proxy and from the proxy
upstream) and then `--requests` GETs on one kept-alive connection. The README keeps the
latest figures.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

import django

django.setup()

from sandbox import images  # noqa: E402
from sandbox.egress.addresses import parse_pins  # noqa: E402
from sandbox.egress.runs import EgressSettings  # noqa: E402
from sandbox.engine import Engine, EngineConfig  # noqa: E402
from sandbox.jobs import Job, JobKind  # noqa: E402
from sandbox.languages import Language  # noqa: E402
from tests.echo import start_echo  # noqa: E402

# The same measurement inside and outside: a first GET, then N on one connection (ms).
MEASURE = """
import http.client, json, ssl, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
context = ssl.create_default_context(cafile=sys.argv[4] if len(sys.argv) > 4 else None)
if len(sys.argv) > 5:
    context.check_hostname = False  # direct: the server's name is a pinned one
def get(connection):
    started = time.perf_counter()
    connection.request("GET", "/bench")
    connection.getresponse().read()
    return (time.perf_counter() - started) * 1000
first = get(http.client.HTTPSConnection(host, port, context=context))
connection = http.client.HTTPSConnection(host, port, context=context)
get(connection)
print(json.dumps({"first": first, "warm": [get(connection) for _ in range(n)]}))
"""


def summary(label: str, figures: dict[str, Any]) -> str:
    warm = sorted(figures["warm"])
    p50, p95 = statistics.median(warm), warm[int(0.95 * (len(warm) - 1))]
    first = figures["first"]
    return f"{label:<24} first {first:7.2f} ms   warm p50 {p50:6.2f} ms   p95 {p95:6.2f} ms"


async def main(requests: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="sandpit-bench-egress-"))
    echo, stop = start_echo(folder)
    # Direct: the same measurement in a process of its own, on the host.
    args = ["127.0.0.1", str(echo.https_port), str(requests), str(echo.ca_file), "direct"]
    measured = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MEASURE, *args, stdout=asyncio.subprocess.PIPE
    )
    direct = json.loads((await measured.communicate())[0])

    egress = EgressSettings(pins=parse_pins(echo.pins()), ca_bundle=str(echo.ca_file))
    config = replace(EngineConfig.from_settings(), instance="sandpit-bench-egress", egress=egress)
    engine = Engine(config)
    await engine.start()
    try:
        job = Job(
            kind=JobKind.SCRIPT,
            language=Language.PYTHON,
            code=MEASURE,
            args=["api.example.test", "443", str(requests)],
            http_allow=[{"host": "api.example.test", "auth": {"bearer": {"token": "bench"}}}],
        )
        await engine.run(job)  # a first run warms the proxy's certificate cache
        result = await engine.run(job)
        if result.exit_code != 0:
            raise SystemExit(result.stderr)
        proxied = json.loads(result.stdout)
    finally:
        await engine.close()
        stop()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"base image: {images.base_image_tag()}; {requests} warm GETs each")
    print(summary("direct (host)", direct))
    print(summary("through the egress proxy", proxied))
    added = statistics.median(proxied["warm"]) - statistics.median(direct["warm"])
    print(f"added by the proxy, warm p50: {added:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(main(parser.parse_args().requests))
