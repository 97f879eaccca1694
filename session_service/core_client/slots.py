"""How many requests made for callers may be on the wire to the core at once."""

from __future__ import annotations

import asyncio


class ConnectionSlots:
    """At most ``limit`` requests made for callers are on the wire at once; the others wait
    here in arrival order (``asyncio.Semaphore`` is FIFO), each within its own time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(limit)

    async def take(self, budget: float) -> bool:
        """Take a slot within ``budget`` seconds; True when the call had to wait for it.
        Raises ``TimeoutError`` when none came free in time."""
        queued = self._free.locked()
        if queued:
            self.waiting += 1
            try:
                async with asyncio.timeout(budget):
                    await self._free.acquire()
            finally:
                self.waiting -= 1
        else:
            await self._free.acquire()  # a free slot: returns without suspending
        self.in_use += 1
        return queued

    def give_back(self) -> None:
        self.in_use -= 1
        self._free.release()
