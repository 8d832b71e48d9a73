"""Background jobs asked for on the web: scans and evidence packages, run by `jikimi worker`.

The server only records a job; a worker process claims it, runs the core operation as the
web user who asked (their rights are checked again, the custody log names them) and writes
its progress here. So a server restart neither stops nor loses a scan, and a killed worker
leaves a job that says where it stopped: `resume` queues it again and the scan goes on from
there (`jikimi.scan` is resumable).
"""

from __future__ import annotations

import socket
import zipfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jikimi import keys, messages
from jikimi import scan as scanner
from jikimi.core.access import Access, NotAllowed, NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.case_items import confirmed_item_ids, select_items
from jikimi.core.scans import _authorize as authorize_scan
from jikimi.errors import JikimiError
from jikimi.evidence.package import LANGUAGES
from jikimi.evidence.verify import verify_package
from jikimi.scan import ScanOptions
from jikimi.serialize import iso
from jikimi.sources.browse import confined_folder, list_subfolders
from jikimi.store.job_models import Job
from jikimi.store.models import Content, Item, Scan, utcnow
from jikimi.store.web_models import AllowedPath

RESUMABLE = ("interrupted", "cancelled")  # a scan in one of these goes on with `resume`
UNFINISHED = ("queued", "running")
PDF_NAME = "report.pdf"
# The first files of a phase also pay for loading the models: no estimate from fewer than this.
ETA_MIN_DONE = 3


class Jobs(Part):
    def scan(self, actor: Actor, source: Path, options: ScanOptions, name: str) -> dict:
        """Queue a scan of `source` (an upload or an allowed server path) for a worker.

        The scan row exists at once (status queued), so its page can be shown right away."""
        with self._open(actor) as (session, access):
            authorize_scan(access, options.case_id)
            _need_user(actor)
        options.started_by = actor.log_name
        scan_id = scanner.queue_scan(self.ws, source, options)
        with self._open(actor) as (session, access):
            job = _add(session, actor, "scan", {"name": name}, options.case_id, scan_id)
            return job_json(job)

    def evidence(self, actor: Actor, case_id: int, item_ids: list[int] | None, lang: str) -> dict:
        """Queue the signed evidence package of the chosen items (default: every confirmed one)."""
        if lang not in LANGUAGES:
            raise JikimiError.coded("error.report_language", languages=" or ".join(LANGUAGES), lang=repr(lang))
        with self._open(actor) as (session, access):
            access.case(case_id, "manage")
            _need_user(actor)
            items = select_items(session, case_id, item_ids)  # a wrong choice is named now, not in the worker
            job = _add(session, actor, "evidence", {"items": [i.id for i in items], "lang": lang}, case_id, None)
            return job_json(job)

    def evidence_choices(self, actor: Actor, case_id: int) -> dict:
        """The case and its confirmed items, each ticked by default on the package form."""
        with self._open(actor) as (session, access):
            case = access.case(case_id)
            ids = confirmed_item_ids(session, case_id)
            rows = session.execute(select(Item.id, Item.sha256, Content.kind).outerjoin(
                Content, Content.sha256 == Item.sha256).where(Item.id.in_(ids)).order_by(Item.id)).all()
            return {"case": {"id": case.id, "title": case.title},
                    "confirmed": [{"id": i, "sha256": sha, "kind": kind} for i, sha, kind in rows]}

    def get(self, actor: Actor, job_id: int) -> dict:
        with self._open(actor) as (session, access):
            return job_json(_job(access, job_id))

    def list(self, actor: Actor, case_id: int, kind: str | None = None) -> list[dict]:
        """A case's jobs, newest first."""
        with self._open(actor) as (session, access):
            access.case(case_id)
            query = select(Job).where(Job.case_id == case_id).order_by(Job.id.desc())
            if kind:
                query = query.where(Job.kind == kind)
            return [job_json(j) for j in session.scalars(query)]

    def of_scans(self, actor: Actor, scan_ids: list[int]) -> dict[int, dict]:
        """The latest job of each scan the actor sees: its live progress."""
        with self._open(actor) as (session, access):
            rows = session.scalars(select(Job).where(Job.scan_id.in_(scan_ids)).order_by(Job.id))
            return {j.scan_id: job_json(j) for j in rows if access.sees(j.case_id)}

    def resume(self, actor: Actor, scan_id: int) -> dict:
        """Queue an interrupted or cancelled scan again (also one started from the CLI)."""
        with self._open(actor) as (session, access):
            scan = access.scan(scan_id, "manage")
            authorize_scan(access, scan.case_id)
            _need_user(actor)
            status = scanner.effective_status(scan)
            latest = _latest(session, scan_id)
            if status not in RESUMABLE or (latest is not None and effective_status(latest) in UNFINISHED):
                raise JikimiError.coded("error.resume_status", id=scan_id, status=messages.status(status))
            name = latest.args.get("name") if latest else Path(scan.source).name
            return job_json(_add(session, actor, "scan", {"name": name, "resume": True}, scan.case_id, scan_id))

    def cancel(self, actor: Actor, job_id: int) -> dict:
        """A queued job is cancelled at once; a running one stops at its next progress step."""
        with self._open(actor) as (session, access):
            job = _job(access, job_id, "manage")
            if effective_status(job) not in UNFINISHED:
                raise JikimiError.coded("error.nothing_to_cancel", id=job_id,
                                        status=messages.status(effective_status(job)))
            cancelled = session.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
                status="cancelled", finished_at=utcnow())).rowcount
            if cancelled and job.scan_id is not None:
                session.execute(update(Scan).where(Scan.id == job.scan_id, Scan.status == "queued")
                                .values(status="cancelled"))
            elif not cancelled:
                job.cancel_requested = True
            self._log(session, actor, "job_cancel", f"job:{job_id}", {"kind": job.kind, "scan_id": job.scan_id},
                      case_id=job.case_id)
            session.flush()
            session.refresh(job)
            return job_json(job)

    def cancel_scan(self, actor: Actor, scan_id: int) -> dict:
        with self._open(actor) as (session, access):
            access.scan(scan_id, "manage")
            latest = _latest(session, scan_id)
            if latest is None:
                raise JikimiError.coded("error.scan_not_from_web", id=scan_id)
        return self.cancel(actor, latest.id)

    def package(self, actor: Actor, job_id: int) -> Path:
        """The built evidence package, for download; the download is logged under the actor's name."""
        with self._open(actor) as (session, access):
            job = _job(access, job_id, "manage")
            path = self._package_path(job)
            self._log(session, actor, "evidence_download", f"case:{job.case_id}",
                      {"file": path.name, "job_id": job_id}, case_id=job.case_id)
            return path

    def report_pdf(self, actor: Actor, job_id: int) -> bytes:
        """The PDF report inside a built package (blurred thumbnails only), logged when read."""
        with self._open(actor) as (session, access):
            job = _job(access, job_id, "manage")
            path = self._package_path(job)
            with zipfile.ZipFile(path) as archive:
                data = archive.read(PDF_NAME)
            self._log(session, actor, "evidence_view", f"case:{job.case_id}",
                      {"file": path.name, "job_id": job_id, "part": PDF_NAME}, case_id=job.case_id)
            return data

    def verify(self, actor: Actor, path: Path) -> dict:
        """Check an uploaded package with the verifier, against this workspace's key."""
        with self._open(actor) as (session, access):
            access.require("read")
        own = keys.fingerprint(keys.public_key(self.ws.home))
        report = verify_package(path, own)
        return {"ok": report.ok, "status": report.status, "problems": report.problems,
                "problem_messages": report.problem_messages, "items": report.items,
                "log_entries": report.log_entries, "key_fingerprint": report.key_fingerprint,
                "workspace_fingerprint": own, "this_workspace": report.ok and report.key_fingerprint == own,
                "summary": report.summary}

    def source_folders(self, actor: Actor, path_id: int, relative: str = "") -> dict:
        """The subfolders of a folder inside an allowed server path, for the folder picker."""
        root = self._allowed_root(actor, path_id)
        folders, left_out = list_subfolders(root, relative)
        return {"path_id": path_id, "root": str(root), "relative": relative.strip("/"), "left_out": left_out,
                "folders": [vars(f) for f in folders]}

    def source_folder(self, actor: Actor, path_id: int, relative: str = "") -> Path:
        """The chosen folder to scan; it cannot lie outside the allowed path (symlinks resolved)."""
        return confined_folder(self._allowed_root(actor, path_id), relative)

    def _allowed_root(self, actor: Actor, path_id: int) -> Path:
        with self._open(actor) as (session, access):
            access.require("manage")
            row = session.get(AllowedPath, path_id)
            if row is None:
                raise NotFound.coded("notfound.scan_path")
            return Path(row.path)

    def _package_path(self, job: Job) -> Path:
        if job.kind != "evidence" or job.status != "complete":
            raise JikimiError.coded("error.no_package", id=job.id)
        path = packages_dir(self.ws.home) / job.result["file"]
        if not path.is_file():
            raise JikimiError.coded("error.package_gone", id=job.id)
        return path


def packages_dir(home: Path) -> Path:
    """Where the worker writes evidence packages built for the web (0600 files, 0700 folder)."""
    folder = home / "packages"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def effective_status(job: Job) -> str:
    """A job whose worker died (killed, power loss) still says running: call it interrupted."""
    if job.status == "running" and job.host == socket.gethostname() and not scanner.process_alive(job.pid):
        return "interrupted"
    return job.status


def job_json(job: Job, now: datetime | None = None) -> dict:
    status = effective_status(job)
    return {"id": job.id, "kind": job.kind, "status": status, "case_id": job.case_id, "scan_id": job.scan_id,
            "name": job.args.get("name"), "lang": job.args.get("lang"), "items": job.args.get("items"),
            "phase": job.phase, "done": job.done, "total": job.total,
            "eta_seconds": eta_seconds(job, now or utcnow()) if status == "running" else None,
            "cancel_requested": job.cancel_requested, "pid": job.pid, "error": job.error,
            "result": job.result, "created_at": iso(job.created_at), "finished_at": iso(job.finished_at),
            "heartbeat_at": iso(job.heartbeat_at)}


def eta_seconds(job: Job, now: datetime) -> int | None:
    """Time left in the current phase at the rate it has gone so far (None until it can tell)."""
    if not job.total or job.done < ETA_MIN_DONE or job.phase_started_at is None:
        return None
    elapsed = (now.replace(tzinfo=None) - job.phase_started_at.replace(tzinfo=None)).total_seconds()
    return max(0, round(elapsed / job.done * (job.total - job.done)))


def _add(session: Session, actor: Actor, kind: str, args: dict, case_id: int | None, scan_id: int | None) -> Job:
    job = Job(kind=kind, status="queued", args=args, result={}, user_id=actor.user_id, channel=actor.channel,
              case_id=case_id, scan_id=scan_id, done=0, cancel_requested=False)
    session.add(job)
    session.flush()
    return job


def _need_user(actor: Actor) -> None:
    if actor.user_id is None:
        raise NotAllowed("background jobs run for a web user: from the command line, run the command itself")


def _job(access: Access, job_id: int, permission: str = "read") -> Job:
    job = access.session.get(Job, job_id)
    if job is None or not access.sees(job.case_id) or (job.case_id is None and not access.actor.is_admin):
        raise NotFound.coded("notfound.job", id=job_id)
    if job.case_id is not None:
        access.case(job.case_id, permission)
    return job


def _latest(session: Session, scan_id: int) -> Job | None:
    return session.scalar(select(Job).where(Job.scan_id == scan_id).order_by(Job.id.desc()).limit(1))

