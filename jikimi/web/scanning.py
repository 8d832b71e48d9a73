"""Scans started from the browser run in a background thread of the server.

The scan itself is `jikimi.scan.start_scan`, exactly as from the CLI: it records its status
in the database and can be resumed with `jikimi scan --resume` if the server stops. This
class only keeps the live progress (phase, done, total) for the progress page.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from jikimi.errors import JikimiError
from jikimi.scan import ScanOptions, start_scan
from jikimi.sources import open_source
from jikimi.store.models import Scan
from jikimi.workspace import Workspace

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
    def __init__(self, ws: Workspace):
        self.ws = ws
        self.live: dict[int, LiveProgress] = {}

    def start(self, source: Path, case_id: int | None, actor: str, options: ScanOptions | None = None) -> int:
        """Check the source opens, start scanning it in the background, return the scan id."""
        options = options or ScanOptions()
        open_source(source, options.limits)  # refuse a source that cannot open before any thread starts
        progress = _Progress()
        started = threading.Event()
        scan_ids: list[int] = []

        def on_start(scan_id: int) -> None:
            with self.ws.session() as session:
                scan = session.get(Scan, scan_id)
                scan.case_id = case_id
                scan.options = {**scan.options, "started_by": actor}
            self.live[scan_id] = progress.live
            scan_ids.append(scan_id)
            started.set()

        def run() -> None:
            try:
                start_scan(self.ws, source, options, progress, on_start)
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
