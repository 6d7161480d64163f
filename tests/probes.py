"""The server's pulse while something hostile is handled: /healthz, asked again and again.

A request that stalls the event loop or holds the GIL shows as a /healthz answer that
takes seconds; one handled properly leaves every answer at milliseconds.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

# Far above a healthy answer on a loaded 2-core machine (tens of ms at worst), far below
# the stalls these tests look for (seconds, or hours for the worst of them).
STALL_S = 1.5
PROBE_EVERY_S = 0.02


@contextmanager
def healthz_watch(base_url: str) -> Iterator[list[float]]:
    """Seconds each /healthz took while the block ran (at least a few answers)."""
    took: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=120) as client:
            while not done.is_set() or len(took) < 3:
                started = time.monotonic()
                assert client.get(f"{base_url}/healthz").status_code == 200
                took.append(time.monotonic() - started)
                time.sleep(PROBE_EVERY_S)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    time.sleep(0.1)  # a few answers before the hostile request goes out
    try:
        yield took
    finally:
        done.set()
        prober.join(timeout=180)


def assert_never_stalled(took: list[float]) -> None:
    assert took, "/healthz was never answered"
    assert max(took) < STALL_S, f"/healthz stalled: slowest {max(took):.2f} s of {len(took)}"
