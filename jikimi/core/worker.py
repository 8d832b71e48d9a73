"""`jikimi worker`: the process that runs the jobs the web app queued (`jk.jobs`).

It claims one queued job at a time with a conditional update (of two workers exactly one
gets it), runs it as the web user who asked, and writes its progress from a small thread
about once a second (the scan itself holds the database's write lock for seconds at a time,
so it never waits on its own progress). When it starts it queues again the jobs a dead
worker left behind, so a scan killed with the machine goes on by itself.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from jikimi.core import Jikimi
from jikimi.core.actor import Actor
from jikimi.core.jobs import effective_status, packages_dir
from jikimi.errors import JikimiError
from jikimi.evidence.verify import verify_package
from jikimi import keys
from jikimi.scan import Progress, ScanInterrupted
from jikimi.store.job_models import Job
from jikimi.store.models import Scan, utcnow
from jikimi.store.web_models import WebUser

PROGRESS_WRITE_SECONDS = 1.0
IDLE_POLL_SECONDS = 0.5


class Cancelled(KeyboardInterrupt):
    """Raised inside the scan at its next step after Cancel: the scan stops as after Ctrl-C."""


class JobProgress(Progress):
    """Counts in memory; a thread writes them to the job row and reads back a cancel request."""

    def __init__(self, core: Jikimi, job_id: int):
        self.core, self.job_id = core, job_id
        self.phase_name, self.total, self.done = None, None, 0
        self.phase_started = utcnow()
        self.cancelled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write_loop, name="jikimi-job-progress", daemon=True)

    def phase(self, name: str, total: int | None) -> None:
        self.phase_name, self.total, self.done, self.phase_started = name, total, 0, utcnow()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.cancelled:
            raise Cancelled()

    def __enter__(self) -> JobProgress:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self._write()

    def _write_loop(self) -> None:
        while not self._stop.wait(PROGRESS_WRITE_SECONDS):
            try:
                self._write()
            except OperationalError:  # a busy database: the next second's write says the same
                pass

    def _write(self) -> None:
        with self.core.ws.session() as session:
            session.execute(update(Job).where(Job.id == self.job_id).values(
                phase=self.phase_name, done=self.done, total=self.total, phase_started_at=self.phase_started,
                heartbeat_at=utcnow()))
            self.cancelled = self.cancelled or bool(
                session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)))


class Worker:
    def __init__(self, core: Jikimi, cluster: str | None = None):
        self.core = core
        self.cluster = cluster  # a Dask scheduler's address: the scans' files are hashed on its workers

    def run(self, once: bool = False, stop: threading.Event | None = None) -> int:
        """Run jobs until `stop` is set (or, with `once`, until the queue is empty); how many ran."""
        self.requeue_abandoned()
        ran = 0
        while stop is None or not stop.is_set():
            job_id = self.claim()
            if job_id is None:
                if once:
                    break
                time.sleep(IDLE_POLL_SECONDS)
                continue
            self.run_job(job_id)
            ran += 1
        return ran

    def requeue_abandoned(self) -> list[int]:
        """Queue again the jobs whose worker on this machine died: they resume where they stopped."""
        with self.core.ws.session() as session:
            abandoned = [j for j in session.scalars(select(Job).where(Job.status.in_(("running", "interrupted"))))
                         if effective_status(j) == "interrupted"]
            for job in abandoned:
                session.execute(update(Job).where(Job.id == job.id, Job.status == job.status,
                                                  Job.pid.is_not_distinct_from(job.pid))
                                .values(status="queued", pid=None, cancel_requested=False))
            return [j.id for j in abandoned]

    def claim(self) -> int | None:
        """The oldest queued job, now ours; None when there is none."""
        while True:
            with self.core.ws.session() as session:
                job_id = session.scalar(select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(1))
                if job_id is None:
                    return None
                claimed = session.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
                    status="running", pid=os.getpid(), host=socket.gethostname(), heartbeat_at=utcnow(),
                    error=None)).rowcount
            if claimed:
                return job_id

    def run_job(self, job_id: int) -> None:
        """Run one claimed job to its end and record how it ended; never raises for the job's own failure."""
        with self.core.ws.session() as session:
            job = session.get(Job, job_id)
            kind, args, scan_id, case_id = job.kind, dict(job.args), job.scan_id, job.case_id
            user = session.get(WebUser, job.user_id)
            actor = Actor.of_user(user, job.channel) if user is not None and user.disabled_at is None else None
        if actor is None:
            return self._end(job_id, "failed", error="the account that asked for this job is disabled")
        progress = JobProgress(self.core, job_id)
        try:
            with progress:
                if kind == "scan":
                    self.core.scans.run_queued(actor, scan_id, progress, self.cluster)
                    result = {}
                else:
                    result = self._build_package(actor, job_id, case_id, args, progress)
        except ScanInterrupted as e:
            if progress.cancelled:
                self._end(job_id, "cancelled", scan_status="cancelled", scan_id=scan_id)
            else:
                self._end(job_id, "interrupted", error=str(e))
            return
        except JikimiError as e:
            return self._end(job_id, "failed", error=str(e))
        except KeyboardInterrupt:  # SIGTERM or Ctrl-C outside a scan: the job is queued again on restart
            self._end(job_id, "interrupted", error="the worker was stopped")
            raise
        except Exception as e:  # noqa: BLE001  (the job records why it stopped; the worker goes on)
            return self._end(job_id, "failed", error=f"the job stopped: {e.__class__.__name__}: {e}")
        self._end(job_id, "complete", result=result)

    def _build_package(self, actor: Actor, job_id: int, case_id: int, args: dict, progress: JobProgress) -> dict:
        progress.phase("Building the evidence package", len(args["items"]))
        out = packages_dir(self.core.ws.home) / f"evidence-case{case_id}-job{job_id}.zip"
        path = self.core.evidence.export(actor, case_id, args["items"], out, args["lang"])
        progress.phase("Verifying the package", None)
        report = verify_package(path, keys.fingerprint(keys.public_key(self.core.ws.home)))
        if report.status != "trusted":
            raise JikimiError(f"the package just written does not verify: {report.summary}")
        progress.done = len(args["items"])
        return {"file": path.name, "size": path.stat().st_size, "items": report.items}

    def _end(self, job_id: int, status: str, error: str | None = None, result: dict | None = None,
             scan_status: str | None = None, scan_id: int | None = None) -> None:
        with self.core.ws.session() as session:
            values = {"status": status, "error": error, "finished_at": utcnow() if status != "interrupted" else None}
            if result is not None:
                values["result"] = result
            session.execute(update(Job).where(Job.id == job_id).values(**values))
            if scan_status and scan_id is not None:
                session.execute(update(Scan).where(Scan.id == scan_id).values(status=scan_status))


def stop_on_signals(stop: threading.Event) -> None:
    """`kill PID`, Ctrl-C and `jikimi serve` stopping end the running scan as Ctrl-C does (recorded
    as interrupted, resumed by the next worker), then the worker."""
    def handler(_signum, _frame):
        stop.set()
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
