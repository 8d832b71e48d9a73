"""Argon2 off the event loop: a few threads, a short queue, and "busy" beyond it.

An argon2id verification takes tens of milliseconds of CPU and 64 MiB on purpose. Run on
the event loop, four concurrent logins with made-up names stalled every page and /healthz
for seconds. Here they run in `WORKERS` threads (argon2-cffi releases the GIL), at most
`WAITING` more wait their turn, and anything beyond is refused at once with 429.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable

WORKERS = 2  # the server's cores are shared with scans; two verifications at a time
WAITING = 16  # at ~0.1 s each, the last one waits under a second


class Busy(Exception):
    """Too many password checks in flight: the caller answers 429 and asks to retry."""


class PasswordChecks:
    def __init__(self, workers: int = WORKERS, waiting: int = WAITING):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="password-check")
        self._capacity = workers + waiting
        self._in_flight = 0  # changed only on the event loop

    async def run(self, work: Callable[..., Any], *args: Any) -> Any:
        """`work(*args)` in the pool, or Busy when the pool and its queue are full."""
        if self._in_flight >= self._capacity:
            raise Busy()
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, partial(work, *args))
        finally:
            self._in_flight -= 1
