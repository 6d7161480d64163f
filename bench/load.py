"""Load shapes for the benches: runs from some threads at once, for a time or a number."""

import threading
import time
from collections.abc import Callable

# What makes one thread's worker; the worker makes one run a call.
MakeWorker = Callable[[], Callable[[], None]]


def runs_of(make_worker: MakeWorker, concurrency: int, runs: int) -> None:
    """`runs` calls in all, from `concurrency` threads each calling its own worker."""
    left = [runs]
    lock = threading.Lock()

    def loop() -> None:
        work = make_worker()
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            work()

    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def rate_of(make_worker: MakeWorker, concurrency: int, seconds: float) -> float:
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
