"""Load shapes for the benches: runs from some threads at once, for a time or a number.

A worker that fails stops the whole measure with its error once every thread is done:
a figure made by fewer threads than it says is worse than none.
"""

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

    _in_threads(loop, concurrency)


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

    started = time.perf_counter()
    _in_threads(loop, concurrency)
    return done[0] / (time.perf_counter() - started)


def _in_threads(loop: Callable[[], None], concurrency: int) -> None:
    failures: list[BaseException] = []

    def guarded() -> None:
        try:
            loop()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {concurrency} threads failed") from failures[0]
