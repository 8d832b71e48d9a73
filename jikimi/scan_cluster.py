"""A scan's hashing and analysis on the workers of a Dask distributed cluster (`--cluster`).

The cluster is only another executor for the scan's own per-file function: the client keeps
the database, the index and the order of commits, so a scan on the cluster resumes, matches
and reports exactly as a local one. Workers read the vault from the same path as the client
(a shared file system), and the workspace key from `JIKIMI_KEY`, `JIKIMI_KEY_FILE` or that
workspace's keys/.
Dask rather than Ray: see docs/scale.md.
"""

from __future__ import annotations

from concurrent.futures import CancelledError, Executor, Future
from contextlib import contextmanager
from typing import Iterator

from jikimi.errors import JikimiError
from jikimi.text import one_line

CONNECT_TIMEOUT_SECONDS = 10


class ClusterLost(JikimiError):
    """The scheduler cannot be reached, or went away: a resume goes on where the scan stopped."""


@contextmanager
def cluster_executor(address: str) -> Iterator[tuple[Executor, int]]:
    """An executor on the cluster at `address`, and how many tasks its workers run at once."""
    try:
        from distributed import Client
    except ImportError:
        raise JikimiError("--cluster needs Dask: pip install 'jikimi[cluster]'") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterLost(f"cannot reach the cluster at {address}: {one_line(str(e)) or type(e).__name__}") from None
    try:
        threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
        # pure=False: every submission is its own task, never a result left by an earlier client.
        yield client.get_executor(pure=False), max(1, threads)
    finally:
        client.close()


def cluster_result(future: Future, address: str):
    """The task's result, or None for a file whose task killed a worker each time it was tried
    (the scheduler gives up after `distributed.scheduler.allowed-failures`, 3 by default): the
    caller records a crashed decoder. A lost scheduler becomes ClusterLost."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        return None
    except (CancelledError, OSError) as e:
        raise ClusterLost(f"lost the cluster at {address}: {one_line(str(e)) or type(e).__name__}") from None

