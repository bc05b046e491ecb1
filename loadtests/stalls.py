"""How long the event loop stalls while an action runs: a 1 ms ticker records its gaps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import time


@dataclass
class StallResult:
    """Longest gaps seen by the ticker, in ms, and how long the action took."""

    max_gap_ms: float
    request_ms: float


async def measure_stall(action: Callable[[], Awaitable[object]]) -> StallResult:
    """Run `action`; return the longest loop stall meanwhile and its wall time, in ms."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    gaps: list[float] = []

    async def ticker() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = loop.time()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    gaps.clear()
    start = time.perf_counter()
    await action()
    request_ms = (time.perf_counter() - start) * 1000
    await asyncio.sleep(0.02)  # anything the action left scheduled (state writes, saves)
    stop.set()
    await task
    return StallResult(max(gaps) * 1000 if gaps else 0.0, request_ms)
