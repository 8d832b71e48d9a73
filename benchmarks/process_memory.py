"""Memory of a process and all its descendants (scan workers), sampled from /proc every 50 ms.

    with TreeMemory() as memory: ...      # memory.peak: highest summed RSS of this process tree
    with TreePeaks(pid) as peaks: ...     # peaks.peaks: each process's own high-water mark (VmHWM)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

SAMPLE_SECONDS = 0.05


def process_tree(root: int) -> dict[int, list[str]]:
    """`root` and its descendants, each with the fields of its /proc/PID/stat after the name."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
    found, frontier = {}, [root] if root in stats else []
    while frontier:
        found.update({pid: stats[pid] for pid in frontier})
        frontier = [pid for pid, fields in stats.items() if int(fields[1]) in frontier and pid not in found]
    return found


class _Sampler:
    """Calls `sample()` every 50 ms in a thread while the block runs."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        raise NotImplementedError


class TreeMemory(_Sampler):
    """Peak total RSS of this process and all its descendants."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        total = sum(int(fields[21]) * page for fields in process_tree(os.getpid()).values())
        self.peak = max(self.peak, total)


class TreePeaks(_Sampler):
    """The highest VmHWM of each process under `root`."""

    def __init__(self, root: int) -> None:
        super().__init__()
        self.root, self.peaks = root, {}

    def sample(self) -> None:
        for pid in process_tree(self.root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peaks[pid] = max(self.peaks.get(pid, 0), int(line.split()[1]) * 1024)
