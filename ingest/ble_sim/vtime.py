"""An asyncio event loop whose clock jumps ahead whenever it would otherwise sleep.

Tests need minutes to hours of streaming (link drops every 30 s for 5 minutes, 24 h of clock
drift). Every timer in bumble, bleak, bleak-retry-connector and the gateway goes through
``loop.time()``/``call_at``, so a loop that advances its clock to the next timer instead of
sleeping runs the same code path as wall time, only faster — a discrete-event simulation.
Blocking file I/O (spool fsync, DuckDB merges) then takes zero simulated time, which is the
conservative choice for the latency figures: they are measured in wall time by the bench.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """Polls real file descriptors without blocking; an idle wait advances the loop's clock."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None or self.loop is None:
            return super().select(timeout)  # nothing scheduled: wait for a thread's wake-up
        self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """Event loop with simulated time starting at ``start_s`` (seconds, any origin)."""

    def __init__(self, start_s: float = 0.0) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._now_s = float(start_s)

    def time(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> None:
        self._now_s += max(0.0, dt_s)


def run_virtual(coro: Coroutine[Any, Any, T], start_s: float = 0.0) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop(start_s)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
