"""Build slots, handed out in turn between owners, one build at a time per owner.

Builds take minutes and only a few run at once: in one first-come line, two slow builds
of one owner held every other owner's builds back for as long as they took. Here:

- an owner's builds run one at a time: their next starts when their last has ended;
- waiting owners take the free slots in turn (an owner just served goes to the back);
- an owner has at most `max_per_owner` builds waiting or running: one more is refused
  (BuildsBusy, a 429) before anything is written.
"""

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator

from sandbox.errors import BuildsBusy


class BuildQueue:
    def __init__(self, *, slots: int, max_per_owner: int) -> None:
        self.slots = slots
        self.max_per_owner = max_per_owner
        self._held: Counter[int] = Counter()  # builds waiting or running, per owner
        self._running: set[int] = set()  # owners with a build holding a slot
        # Owners with builds waiting, in turn order (a dict keeps insertion order).
        self._lines: dict[int, deque[asyncio.Future[None]]] = {}

    def hold(self, owner: int, *, capped: bool = True) -> None:
        """Count one more build of `owner`; BuildsBusy when it would pass the cap."""
        if capped and self._held[owner] >= self.max_per_owner:
            raise BuildsBusy(
                f"you have {self._held[owner]} runtime builds waiting or running, the most "
                "one owner may have; wait for one to finish, or delete a runtime to cancel "
                "its build"
            )
        self._held[owner] += 1

    def release(self, owner: int) -> None:
        """One of `owner`'s held builds has ended (or was never started)."""
        self._held[owner] -= 1
        if self._held[owner] <= 0:
            del self._held[owner]

    @contextlib.asynccontextmanager
    async def turn(self, owner: int) -> AsyncIterator[None]:
        """Hold a slot: when one is free, no other build of `owner` runs, and it is
        `owner`'s turn."""
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._lines.setdefault(owner, deque())
        line.append(ticket)
        self._dispatch()
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._end(owner)  # the slot came with the cancellation: pass it on
            else:
                self._forget(owner, ticket)
            raise
        try:
            yield
        finally:
            self._end(owner)

    def _end(self, owner: int) -> None:
        self._running.discard(owner)
        self._dispatch()

    def _forget(self, owner: int, ticket: "asyncio.Future[None]") -> None:
        line = self._lines.get(owner)
        if line is not None and ticket in line:
            line.remove(ticket)
            if not line:
                del self._lines[owner]

    def _dispatch(self) -> None:
        """Give free slots to waiting owners in turn, skipping those already building."""
        for owner in list(self._lines):
            if len(self._running) >= self.slots:
                return
            if owner in self._running:
                continue
            line = self._lines.pop(owner)
            while line and line[0].done():
                line.popleft()  # cancelled, its task not yet told: _forget will find none
            if not line:
                continue
            ticket = line.popleft()
            if line:
                self._lines[owner] = line  # to the back of the line of owners
            self._running.add(owner)
            ticket.set_result(None)
