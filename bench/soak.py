"""Soak: a fixed rate of runs for a few minutes across the nodes of a cluster.

    make cluster
    .venv/bin/python bench/soak.py --key sp_... [--rate 4] [--seconds 180] \\
        [--url http://127.0.0.1:8001 --url http://127.0.0.1:8002]

Requests go in turn to each URL (loopback only), at `--rate` a second whatever the
answers take (each in its own task, at most `--in-flight` at once). It reports the
latency of accepted runs (p50, p95), the refusals and errors by status, and then checks
that every accepted run has a final record, read back from another node than the one
that ran it. A key comes from `manage.py create_api_key` with the cluster's settings.
"""

import argparse
import asyncio
import ipaddress
import statistics
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx

CODE = "import random\nprint(sum(random.random() for _ in range(10000)))"
FINISHED = {"succeeded", "failed", "timed_out", "out_of_memory", "stopped", "error"}


def loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"{url}: the soak sends to loopback only")
    return url.rstrip("/")


async def main(urls: list[str], key: str, rate: float, seconds: int, in_flight: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    accepted: list[tuple[str, int]] = []  # (execution id, index of the node that ran it)
    gate = asyncio.Semaphore(in_flight)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        node = i % len(urls)
        async with gate:
            started = time.monotonic()
            try:
                answer = await client.post(
                    f"{urls[node]}/v1/execute", json={"language": "python", "code": CODE}
                )
            except httpx.HTTPError as exc:
                outcomes[type(exc).__name__] += 1
                return
            outcomes[str(answer.status_code)] += 1
            if answer.status_code == 200:
                latencies.append((time.monotonic() - started) * 1000)
                accepted.append((answer.json()["id"], node))

    async with httpx.AsyncClient(headers=headers, timeout=120) as client:
        tasks = []
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(client, i)))
        await asyncio.gather(*tasks)
        missing = []
        for execution_id, node in accepted:
            other = urls[(node + 1) % len(urls)]
            record = await client.get(f"{other}/v1/executions/{execution_id}")
            if record.status_code != 200 or record.json()["status"] not in FINISHED:
                missing.append(execution_id)

    sent = int(rate * seconds)
    print(f"{sent} requests at {rate}/s for {seconds} s across {len(urls)} nodes")
    print("answers:", dict(outcomes))
    if latencies:
        ordered = sorted(latencies)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(f"accepted runs: p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms")
    print(f"accepted runs without a final record: {len(missing)} of {len(accepted)}")
    if missing:
        raise SystemExit(f"lost: {missing[:10]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", required=True)
    parser.add_argument("--url", action="append", dest="urls")
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args()
    urls = [loopback(u) for u in args.urls or ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]]
    asyncio.run(main(urls, args.key, args.rate, args.seconds, args.in_flight))
