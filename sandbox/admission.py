"""Run slots, handed out in turn between tenants, with a share kept for the others.

A tenant is whoever owns the run (an API key's owner, a playground guest). When runs
wait for a slot, the next free slot goes to the next tenant in turn, not to the oldest
run: one tenant's dozen spin loops never make another's one-liner wait behind all of
them. And so that a crowd from one tenant cannot take everything before anyone else
arrives:

- one slot in RESERVED_SLOT_SHARE is never held by a single tenant (none of 3 or fewer,
  one of 8): another tenant's run starts at once even while one tenant's long runs fill
  the rest. On a server sized for its cores a lone user loses no throughput by it.
- one place in RESERVED_PLACE_SHARE of the waiting line (at least one) is kept for tenants with
  nothing waiting yet: a tenant whose runs already wait is told to slow down (429) when
  only those places are left, so another tenant's first run still finds a place.

Past the waiting line's length the engine is busy (503); past a tenant's own cap of runs
in progress (SANDBOX_MAX_RUNS_PER_TENANT, when set), that tenant is (429).
"""

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator

from sandbox.errors import EngineBusy, TenantBusy

RESERVED_SLOT_SHARE = 8
RESERVED_PLACE_SHARE = 4


class FairAdmission:
    def __init__(self, *, slots: int, max_waiting: int, max_per_tenant: int) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self.max_per_tenant = max_per_tenant
        self.tenant_slots = slots - slots // RESERVED_SLOT_SHARE
        self.reserved_places = -(-max_waiting // RESERVED_PLACE_SHARE)  # rounded up
        self._free = slots
        # Tenants with runs waiting, in turn order (a dict keeps insertion order).
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}
        self._waiting = 0
        self._load: Counter[str] = Counter()  # runs waiting or running, per tenant
        self._running: Counter[str] = Counter()  # slots held, per tenant

    @property
    def waiting(self) -> int:
        return self._waiting

    def check(self, tenant: str) -> None:
        """EngineBusy or TenantBusy if a run of `tenant` asked for now would be refused."""
        if self._free == 0 or self._running[tenant] >= self.tenant_slots:
            if self._waiting >= self.max_waiting:
                raise EngineBusy(
                    f"{self.slots} runs are going and {self._waiting} are waiting; "
                    "try again shortly"
                )
            if tenant in self._queues and self.max_waiting - self._waiting <= self.reserved_places:
                raise TenantBusy(
                    f"{len(self._queues[tenant])} of your runs are waiting for a slot and the "
                    "rest of the line is kept for other owners; wait for one to finish"
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
                self._release(tenant)
        finally:
            self._load[tenant] -= 1
            if not self._load[tenant]:
                del self._load[tenant]

    async def _acquire(self, tenant: str) -> None:
        # A free slot is never left while a tenant that may take it waits (_release hands
        # it over), so whoever may take one now is not jumping the line.
        if self._free > 0 and self._running[tenant] < self.tenant_slots:
            self._free -= 1
            self._running[tenant] += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.setdefault(tenant, deque())
        queue.append(turn)
        self._waiting += 1
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(tenant)  # the slot came with the cancellation: pass it on
            elif turn in queue:
                queue.remove(turn)
                self._waiting -= 1
                if not queue and self._queues.get(tenant) is queue:
                    del self._queues[tenant]
            raise

    def _release(self, tenant: str) -> None:
        """Give `tenant`'s slot to the next tenant in turn that may hold one more, else
        keep it free."""
        self._running[tenant] -= 1
        if not self._running[tenant]:
            del self._running[tenant]
        for waiter in list(self._queues):
            if self._running[waiter] >= self.tenant_slots:
                continue  # its share is full: the slot goes to the next in turn
            queue = self._queues.pop(waiter)
            while queue:
                turn = queue.popleft()
                self._waiting -= 1
                if not turn.done():
                    if queue:
                        self._queues[waiter] = queue  # to the back of the line of tenants
                    self._running[waiter] += 1
                    turn.set_result(None)
                    return
        self._free += 1
