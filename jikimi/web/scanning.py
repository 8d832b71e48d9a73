"""Scans started from the browser run in a background thread of the server.

The scan itself is the core's `scans.start`, exactly as from the CLI: it records its status
in the database and can be resumed with `jikimi scan --resume` if the server stops. This
class only keeps the live progress (phase, done, total) for the progress page.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from jikimi.core import Actor, Jikimi
from jikimi.errors import JikimiError
from jikimi.scan import ScanOptions
from jikimi.sources import open_source

START_WAIT_SECONDS = 60


@dataclass
class LiveProgress:
    phase: str = "starting"
    done: int = 0
    total: int | None = None
    error: str | None = None
    finished: bool = False

    def to_json(self) -> dict:
        return {"phase": self.phase, "done": self.done, "total": self.total, "error": self.error,
                "finished": self.finished}


@dataclass
class _Progress:
    live: LiveProgress = field(default_factory=LiveProgress)

    def phase(self, name: str, total: int | None) -> None:
        self.live.phase, self.live.total, self.live.done = name, total, 0

    def advance(self, n: int = 1) -> None:
        self.live.done += n


class ScanRunner:
    def __init__(self, core: Jikimi):
        self.core = core
        self.live: dict[int, LiveProgress] = {}

    def start(self, actor: Actor, source: Path, options: ScanOptions) -> int:
        """Check the source opens, start scanning it in the background, return the scan id."""
        self.core.ws.refuse_as_source(source)
        open_source(source, options.limits)  # refuse a source that cannot open before any thread starts
        progress = _Progress()
        started = threading.Event()
        scan_ids: list[int] = []

        def on_start(scan_id: int) -> None:
            self.live[scan_id] = progress.live
            scan_ids.append(scan_id)
            started.set()

        def run() -> None:
            try:
                self.core.scans.start(actor, source, options, progress, on_start)
            except JikimiError as e:
                progress.live.error = str(e)
            except Exception as e:  # noqa: BLE001  (the thread must record why it stopped)
                progress.live.error = f"the scan stopped: {e.__class__.__name__}: {e}"
            finally:
                progress.live.finished = True
                started.set()

        threading.Thread(target=run, name="jikimi-scan", daemon=True).start()
        if not started.wait(START_WAIT_SECONDS) or not scan_ids:
            raise JikimiError(progress.live.error or "the scan did not start")
        return scan_ids[0]

    def progress(self, scan_id: int) -> dict | None:
        live = self.live.get(scan_id)
        return live.to_json() if live else None
