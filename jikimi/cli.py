"""The `jikimi` command: a thin layer over the Python API, for people and for scripts.

Progress goes to standard error, results to standard output, so `--json` output can be piped.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from jikimi import banks as bank_api
from jikimi import cases, cli_web
from jikimi.cli_actions import audit_app, evidence_app, host_app, review, takedown_app
from jikimi.audit import operator_name
from jikimi.errors import JikimiError
from jikimi.limits import Limits
from jikimi.reports import render
from jikimi.reports.data import scan_report, scan_summary
from jikimi.scan import ScanInterrupted, ScanOptions, resume_scan, start_scan
from jikimi.signals.face_embedding import active_model_id
from jikimi.store.models import Scan
from jikimi.workspace import open_workspace

app = typer.Typer(
    help="Find, review, evidence and take down non-consensual intimate images and sexual deepfakes.\n\n"
    "Everything is kept in the workspace folder $JIKIMI_HOME (default ~/.local/share/jikimi).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bank_app = typer.Typer(help="Hash banks: lists of known content to match against.", no_args_is_help=True)
app.add_typer(bank_app, name="bank")
case_app = typer.Typer(help="Cases: the scans, subjects and decisions of one victim's case.", no_args_is_help=True)
app.add_typer(case_app, name="case")
subject_app = typer.Typer(help="Subjects: people to protect, enrolled with consent from reference photos.",
                          no_args_is_help=True)
app.add_typer(subject_app, name="subject")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)



class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} items/s" if speed else "", style="progress.data.speed")


class RichProgress:
    """Draws scan phases as Rich progress bars with items/s and time remaining."""

    def __init__(self, enabled: bool = True):
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            _Rate(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=err, disable=not enabled)
        self.task = None

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc):
        self.bar.stop()

    def phase(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=self.bar.tasks[self.task].completed)
        self.task = self.bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)


@app.command()
def init() -> None:
    """Create the workspace (database, evidence vault) or bring it up to date. Safe to repeat."""
    ws = open_workspace()
    out.print(f"Workspace ready at {ws.home}")


@bank_app.command("create")
def bank_create(
    name: str,
    pdq_threshold: Annotated[int, typer.Option(help="Largest PDQ distance (0-256 bits) that counts as a match.")] = 31,
    allow: Annotated[bool, typer.Option("--allow", help="An allow bank: content matching it is never reported.")] = False,
) -> None:
    """Create a bank, e.g. `jikimi bank create known-images`."""
    with open_workspace().session() as session:
        bank = bank_api.create_bank(session, name, pdq_threshold, allow)
        out.print(f"Created {'allow ' if allow else ''}bank {bank.name!r} (PDQ threshold {bank.pdq_threshold})")


@bank_app.command("add")
def bank_add(
    name: str,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
) -> None:
    """Hash files into a bank. Only hashes are kept: the files are not copied."""
    ws = open_workspace()
    with ws.session() as session:
        bank = bank_api.get_bank(session, name)
        files = bank_api.files_under(paths)
        with RichProgress(sys.stderr.isatty()) as progress:
            progress.phase(f"Hashing into {name}", len(files))
            result = bank_api.add_files(session, bank, files, on_file=lambda _: progress.advance())
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    out.print(f"Added {result.added} file(s) to bank {name!r}")


@bank_app.command("import")
def bank_import(
    name: str,
    file: Path,
    fmt: Annotated[Optional[str], typer.Option("--format", help="tx or csv (default: from the file name).")] = None,
) -> None:
    """Import a hash list: `<signal_type> <hash>` lines (threatexchange) or CSV signal_type,signal,note."""
    fmt = fmt or ("csv" if file.suffix.lower() == ".csv" else "tx")
    text = _read_text(file)
    with open_workspace().session() as session:
        count = bank_api.import_list(session, bank_api.get_bank(session, name), text, fmt)
    out.print(f"Imported {count} signal(s) into bank {name!r}")


@bank_app.command("export")
def bank_export(
    name: str,
    fmt: Annotated[str, typer.Option("--format", help="tx (threatexchange lines) or csv.")] = "tx",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="File to write (default: print).")] = None,
) -> None:
    """Export a bank's hashes to share with platforms (no media leaves the machine)."""
    with open_workspace().session() as session:
        text = bank_api.export_list(session, bank_api.get_bank(session, name), fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"Wrote {output}")
    else:
        sys.stdout.write(text)


@bank_app.command("list")
def bank_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List banks with their thresholds and sizes."""
    with open_workspace().session() as session:
        rows = [{"id": s.bank.id, "name": s.bank.name, "allow": s.bank.is_allow, "pdq_threshold": s.bank.pdq_threshold,
                 "contents": s.contents, "signals": s.signals} for s in bank_api.list_banks(session)]
    if as_json:
        out.print_json(data=rows)
        return
    table = Table("name", "kind", "PDQ threshold", "contents", "signals")
    for r in rows:
        table.add_row(r["name"], "allow" if r["allow"] else "block", str(r["pdq_threshold"]), str(r["contents"]),
                      str(r["signals"]))
    out.print(table)


@case_app.command("create")
def case_create(title: str, as_json: Annotated[bool, typer.Option("--json", help="Print the created case as JSON.")] = False) -> None:
    """Open a case, e.g. `jikimi case create "Kim - school deepfakes"`."""
    ws = open_workspace()
    with ws.session() as session:
        case = cases.create_case(ws, session, title, operator_name())
        data = _case_json(case)
    print(json.dumps(data, ensure_ascii=False)) if as_json else out.print(f"Created case {case.id}: {case.title}")


@case_app.command("list")
def case_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List cases with their enrolled subjects."""
    with open_workspace().session() as session:
        rows = [_case_json(c) for c in cases.list_cases(session)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "title", "subjects", "created by", "created")
    for r in rows:
        table.add_row(str(r["id"]), r["title"], ", ".join(s["name"] for s in r["subjects"] if not s["removed_at"]),
                      r["created_by"], r["created_at"][:10])
    out.print(table)


def _case_json(case) -> dict:
    return {"id": case.id, "title": case.title, "created_by": case.created_by, "created_at": case.created_at.isoformat(),
            "subjects": [_subject_json(s) for s in case.subjects]}


def _subject_json(subject) -> dict:
    return {"id": subject.id, "case_id": subject.case_id, "name": subject.name, "consent": subject.consent,
            "templates": len(subject.templates), "models": sorted({t.model for t in subject.templates}),
            "reference_crops_kept": sum(t.reference_crop is not None for t in subject.templates),
            "created_at": subject.created_at.isoformat(),
            "removed_at": subject.removed_at.isoformat() if subject.removed_at else None}


@subject_app.command("add")
def subject_add(
    case_id: Annotated[int, typer.Argument(help="The case, from `jikimi case list`.")],
    photos: Annotated[list[Path], typer.Argument(help="Reference photos, each showing her face clearly.")],
    name: Annotated[str, typer.Option(help="How she is named in reports (a pseudonym is fine).")],
    consent: Annotated[str, typer.Option(help="What she consented to, in her words or the form's.")],
    consented_by: Annotated[Optional[str], typer.Option(help="Who gave consent (default: the subject; a guardian for a minor).")] = None,
    face: Annotated[Optional[int], typer.Option(help="In a group photo, which face (1 = leftmost).")] = None,
    keep_photos: Annotated[bool, typer.Option("--keep-photos", help="Also keep the photos, encrypted (default: templates only).")] = False,
    keep_reference_crops: Annotated[bool, typer.Option("--keep-reference-crops", help="With her consent: keep a small encrypted crop of each face, so a new face model can re-enrol her without new photos.")] = False,
    known: Annotated[Optional[list[Path]], typer.Option(help="Intimate files she holds: hashed into the case's bank, never stored (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the created subject as JSON.")] = False,
) -> None:
    """Enrol a person to protect, with her consent. Each photo must show exactly one usable face."""
    ws = open_workspace()
    record = cases.Consent(consented_by=consented_by or name, scope=consent,
                           consented_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           recorded_by=operator_name())
    with ws.session() as session:
        subject = cases.enrol_subject(ws, session, cases.get_case(session, case_id), name, record, photos,
                                      face=face, keep_photos=keep_photos, known=known or [],
                                      keep_reference_crops=keep_reference_crops)
        data = _subject_json(subject)
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        out.print(f"Enrolled subject {data['id']} ({name}) in case {case_id} from {data['templates']} photo(s); "
                  f"{'photos kept, encrypted' if keep_photos else 'photos not kept'}; "
                  f"{'reference face crops kept, encrypted' if keep_reference_crops else 'no reference face crops kept'}.")


@subject_app.command("reenrol")
def subject_reenrol(subject_id: int) -> None:
    """Recompute a subject's face templates with the current face model, from her kept crops or photos."""
    ws = open_workspace()
    with ws.session() as session:
        subject = cases.reenrol_subject(ws, session, subject_id, operator_name())
        models = sorted({t.model for t in subject.templates})
    out.print(f"Re-enrolled subject {subject_id} ({subject.name}): {len(subject.templates)} template(s) "
              f"now of model {', '.join(models)}.")


@subject_app.command("remove")
def subject_remove(subject_id: int) -> None:
    """Delete a subject's face templates and photos. The consent record and the removal are kept in the log."""
    ws = open_workspace()
    with ws.session() as session:
        subject = cases.remove_subject(ws, session, subject_id, operator_name())
    out.print(f"Removed subject {subject_id} ({subject.name}): templates and photos deleted.")


@app.command()
def scan(
    source: Annotated[Optional[Path], typer.Argument(
        help="A folder, a ZIP, a single file, or a Telegram Desktop export (folder with result.json).")] = None,
    bank: Annotated[Optional[list[str]], typer.Option("--bank", help="Match only this bank (repeatable; default: all). Allow banks always apply.")] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes (default: number of cores).")] = os.cpu_count() or 1,
    resume: Annotated[Optional[int], typer.Option(help="Resume an interrupted scan by its id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary (with the scan id) at the end.")] = False,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels (decompression bombs).")] = Limits.max_image_pixels,
    max_video_seconds: Annotated[float, typer.Option(help="Refuse longer videos.")] = Limits.max_video_seconds,
    max_file_mb: Annotated[int, typer.Option(help="Refuse larger files.")] = Limits.max_file_bytes // 2**20,
    case: Annotated[Optional[int], typer.Option(help="Attach the scan and its items to this case.")] = None,
    only_case: Annotated[bool, typer.Option("--only-case", help="Look only for the case's own subjects (default: every enrolled subject).")] = False,
    hashes_only: Annotated[bool, typer.Option("--hashes-only", help="Skip faces, nudity and provenance (much faster).")] = False,
) -> None:
    """Collect a source into the evidence vault, hash every file and match it against the banks.

    Stop it at any time with Ctrl-C and continue with `jikimi scan --resume ID`.
    """
    ws = open_workspace()
    if (source is None) == (resume is None):
        raise JikimiError("give either a SOURCE to scan or --resume SCAN_ID")
    if only_case and case is None:
        raise JikimiError("--only-case needs --case ID")
    options = ScanOptions(jobs=max(1, jobs), banks=bank or None,
                          limits=Limits(max_image_pixels=max_pixels, max_video_seconds=max_video_seconds,
                                        max_file_bytes=max_file_mb * 2**20),
                          case_id=case, only_case=only_case, analyse=not hashes_only)
    if options.analyse:
        _warn_reenrolment(ws)
    with RichProgress(not as_json or sys.stderr.isatty()) as progress:
        if resume is not None:
            scan_id = resume_scan(ws, resume, progress, jobs=options.jobs)
        else:
            scan_id = start_scan(ws, source, options, progress,
                                 on_start=lambda i: err.print(f"Scan {i} started (resume with --resume {i} if stopped)"))
    with ws.session() as session:
        summary = scan_summary(session, session.get(Scan, scan_id))
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)


def _warn_reenrolment(ws) -> None:
    """Subjects whose templates are of another model cannot be found by this scan: say so."""
    model_id = active_model_id()
    with ws.session() as session:
        for subject in cases.subjects_needing_reenrolment(session, model_id):
            err.print(f"Subject {subject.id} ({subject.name}) was enrolled with another face model and will not be "
                      f"found by this scan ({model_id}): re-enrol her with `jikimi subject reenrol {subject.id}` "
                      "(needs kept reference crops or photos) or `jikimi subject add` with new photos.")


def _print_summary(summary: dict) -> None:
    c = summary["counts"]
    out.print(f"Scan {summary['id']} {summary['status']}: {c['items']} items in {c['locators']} posts, "
              f"[bold red]{c['matched']} matched[/], {c['errors']} could not be read, {c['allowed']} allowed.")
    out.print(f"Report: jikimi report {summary['id']} --format html -o report.html")


@app.command()
def scans(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List scans with their status (running / interrupted / complete / failed) and counts."""
    with open_workspace().session() as session:
        rows = [scan_summary(session, s) for s in session.query(Scan).order_by(Scan.id)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "status", "source", "items", "matched", "errors", "started")
    for r in rows:
        c = r["counts"]
        table.add_row(str(r["id"]), r["status"], r["source"], str(c["items"]), str(c["matched"]), str(c["errors"]),
                      r["started_at"][:19])
    out.print(table)


@app.command()
def report(
    scan_id: int,
    fmt: Annotated[str, typer.Option("--format", help="json, csv or html (one self-contained file).")] = "html",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="File to write (default: print).")] = None,
) -> None:
    """Write the report of a scan: matched items with where they were posted, and read errors."""
    ws = open_workspace()
    with ws.session() as session:
        data = scan_report(session, scan_id)
        media = render.report_media(ws, session, data, operator_name()) if fmt == "html" else None
    text = render.render(data, fmt, media)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        err.print(f"Wrote {output}")
    else:
        sys.stdout.write(text)


@app.command()
def demo(
    dest: Annotated[Optional[Path], typer.Option(help="Where to build the sample case (default: $JIKIMI_HOME/demo).")] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes (default: number of cores).")] = os.cpu_count() or 1,
) -> None:
    """Build a harmless sample Telegram export, bank its known files, enrol a demo subject from a
    public-domain NASA portrait, scan it and write the report.

    Runs offline; every picture is public-domain or drawn by the demo itself.
    """
    from jikimi.demo.run import run_demo

    ws = open_workspace()
    with RichProgress(sys.stderr.isatty()) as progress:
        result = run_demo(ws, dest or ws.home / "demo", max(1, jobs), progress)
    _print_summary(result.summary)
    out.print(f"Found {result.found} of {result.expected} altered copies of known files that PDQ can see; "
              f"{result.false_matches} unrelated posts reported as matches.")
    out.print(f"Found {result.subject_found} of {result.subject_expected} posts showing the demo subject by her face "
              f"(recall {result.subject_recall:.0%}, precision {result.subject_precision:.0%}: "
              f"{result.subject_reported} posts matched her; case {result.case_id}).")
    out.print(f"{result.errors_reported} of {result.errors_expected} broken, hostile or missing files "
              "reported with a reason; the scan went on.")
    out.print(f"HTML report: {result.report_path}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise JikimiError(f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise JikimiError(f"cannot read {path}: {e.strerror or e}") from None


# Commands that live in their own modules: review and actions, the web app and its accounts.
app.command()(review)
app.add_typer(audit_app, name="audit")
app.add_typer(evidence_app, name="evidence")
app.add_typer(takedown_app, name="takedown")
app.add_typer(host_app, name="host")
app.command()(cli_web.serve)
app.add_typer(cli_web.user_app, name="user")
app.add_typer(cli_web.token_app, name="token")


def main() -> None:
    try:
        app()
    except ScanInterrupted as e:
        err.print(f"[yellow]{e}[/]")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
    except JikimiError as e:
        err.print(f"[red]error:[/] {e}")
        sys.exit(1)
