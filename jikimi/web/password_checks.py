"""Argon2 off the event loop: a few threads, a short queue, and "busy" beyond it.

An argon2id verification takes tens of milliseconds of CPU and 64 MiB on purpose. Run on
the event loop, four concurrent logins with made-up names stalled every page and /healthz
for seconds. Here they run in `WORKERS` threads (argon2-cffi releases the GIL), at most
`WAITING` more wait their turn, and anything beyond is refused at once with 429.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable

WORKERS = 1  # one check at a time (argon2 itself runs 4 lanes): the cores stay free for pages and scans
WAITING = 8  # at ~0.1 s each, the last one waits under a second
# Checking threads (and the lane threads argon2 starts from them, which inherit it) run at
# a lower CPU priority than the event loop, so pages stay quick while the cores are busy.
CHECK_NICENESS = 10


class Busy(Exception):
    """Too many password checks in flight: the caller answers 429 and asks to retry."""


class PasswordChecks:
    def __init__(self, workers: int = WORKERS, waiting: int = WAITING):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="password-check", initializer=_lower_priority)
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


def _lower_priority() -> None:
    """Linux gives each thread its own nice value; elsewhere this thread keeps the process's."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)
    except (AttributeError, OSError):
        pass
