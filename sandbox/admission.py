"""Run slots, handed out in turn between tenants.

A tenant is whoever owns the run (an API key's owner, a playground guest). When runs
wait for a slot, the next free slot goes to the next tenant in turn, not to the oldest
run: one tenant's dozen spin loops never make another's one-liner wait behind all of
them, and a tenant alone still gets every slot. Past the waiting line's length the
engine is busy (503); past a tenant's own cap of runs in progress, that tenant is (429).
"""

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator

from sandbox.errors import EngineBusy, TenantBusy


class FairAdmission:
    def __init__(self, *, slots: int, max_waiting: int, max_per_tenant: int) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self.max_per_tenant = max_per_tenant
        self._free = slots
        # Tenants with runs waiting, in turn order (a dict keeps insertion order).
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}
        self._waiting = 0
        self._load: Counter[str] = Counter()  # runs waiting or running, per tenant

    @property
    def waiting(self) -> int:
        return self._waiting

    def check(self, tenant: str) -> None:
        """EngineBusy or TenantBusy if a run of `tenant` asked for now would be refused."""
        if self._free == 0 and self._waiting >= self.max_waiting:
            raise EngineBusy(
                f"{self.slots} runs are going and {self._waiting} are waiting; try again shortly"
            )
        if self.max_per_tenant and self._load[tenant] >= self.max_per_tenant:
            raise TenantBusy(
                f"you have {self._load[tenant]} runs in progress, the most one owner may "
                "have; wait for one to finish"
            )

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        """Hold a run slot for `tenant`, waiting in turn; refuses as check() does."""
        self.check(tenant)
        self._load[tenant] += 1
        try:
            await self._acquire(tenant)
            try:
                yield
            finally:
                self._release()
        finally:
            self._load[tenant] -= 1
            if not self._load[tenant]:
                del self._load[tenant]

    async def _acquire(self, tenant: str) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.setdefault(tenant, deque())
        queue.append(turn)
        self._waiting += 1
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # the slot came with the cancellation: pass it on
            elif turn in queue:
                queue.remove(turn)
                self._waiting -= 1
                if not queue and self._queues.get(tenant) is queue:
                    del self._queues[tenant]
            raise

    def _release(self) -> None:
        """Give a freed slot to the next tenant in turn, else keep it free."""
        while self._queues:
            tenant = next(iter(self._queues))
            queue = self._queues.pop(tenant)
            turn = queue.popleft()
            self._waiting -= 1
            if queue:
                self._queues[tenant] = queue  # to the back of the line of tenants
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1
