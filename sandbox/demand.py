"""How many ready sandboxes a warm pool should hold: as many as the demand it sees.

Enough to cover the runs that come while one container starts, with headroom: runs a
second (over a sliding window), times the time a container takes to start, times 1.5,
plus one; never below the pool's idle size (its floor), never above its ceiling. When
the runs stop, the window empties and the target falls back to the floor.
"""

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 10.0
HEADROOM = 1.5
# Until a start is measured: about what one takes on a small machine.
FIRST_GUESS_START_S = 0.3
# How much each new start moves the average (an exponential moving average).
START_WEIGHT = 0.3


class Demand:
    def __init__(
        self, floor: int, ceiling: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.floor = floor
        self.ceiling = max(floor, ceiling)
        self.start_s = FIRST_GUESS_START_S
        self._clock = clock
        self._runs: deque[float] = deque()

    def note_run(self) -> None:
        self._runs.append(self._clock())

    def note_start(self, seconds: float) -> None:
        self.start_s += START_WEIGHT * (seconds - self.start_s)

    def rate(self) -> float:
        """Runs a second, over the last WINDOW_S."""
        horizon = self._clock() - WINDOW_S
        while self._runs and self._runs[0] < horizon:
            self._runs.popleft()
        return len(self._runs) / WINDOW_S

    def target(self) -> int:
        rate = self.rate()
        wanted = math.ceil(rate * self.start_s * HEADROOM) + 1 if rate else 0
        return max(self.floor, min(self.ceiling, wanted))
