"""Waits for something to happen, as polls with a deadline: a test never sleeps a fixed
time and hopes, and one that waits in vain fails saying what it was waiting for."""

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(
    what: str, check: Callable[[], T | None], *, timeout_s: float, every_s: float = 0.1
) -> T:
    """Call `check` until it answers something true, and return that; past `timeout_s`,
    fail the test saying that `what` did not happen."""
    deadline = time.monotonic() + timeout_s
    while not (answer := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s} s for {what}, in vain")
        time.sleep(every_s)
    return answer


async def eventually(
    what: str, check: Callable[[], T | None], *, timeout_s: float = 5, every_s: float = 0.005
) -> T:
    """wait_for, on the event loop: the loop runs on between checks."""
    deadline = time.monotonic() + timeout_s
    while not (answer := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s} s for {what}, in vain")
        await asyncio.sleep(every_s)
    return answer
