"""The `jikimi` command: a thin face over the core (`jikimi.core.Jikimi`), for people and scripts.

Every command acts as the OS user (or `--actor NAME`, recorded as claimed) through the core,
which checks and logs; this module only translates arguments and prints answers. Progress
goes to standard error, results to standard output, so `--json` output can be piped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy.exc import DBAPIError
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from jikimi import cli_web, clock
from jikimi.cli_actions import audit_app, evidence_app, host_app, review, takedown_app, warn_if_exposed
from jikimi.cli_console import err, labelled, out
from jikimi.cli_core import actor_option, core
from jikimi.cases import ENROLMENT_GUIDANCE, enrolment_advice
from jikimi.cli_webhooks import webhook_app
from jikimi.errors import JikimiError
from jikimi.limits import Limits
from jikimi.private_output import write_private
from jikimi.scan import ScanInterrupted, ScanOptions
from jikimi.store.web_models import CASE_ROLES
from jikimi.signals.face_embedding import active_model_id
from jikimi.workspace import database_problem, open_workspace

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
members_app = typer.Typer(help="Who may see and work on a case (web users).", no_args_is_help=True)
case_app.add_typer(members_app, name="members")
subject_app = typer.Typer(help="Subjects: people to protect, enrolled with consent from reference photos.",
                          no_args_is_help=True)
app.add_typer(subject_app, name="subject")
sources_app = typer.Typer(help="Her ordinary photos she fears were used to make fakes: scans find edited copies of them.",
                          no_args_is_help=True)
subject_app.add_typer(sources_app, name="sources")



class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} items/s" if speed else "", style="progress.data.speed")


class RichProgress:
    """Draws scan phases as Rich progress bars with items/s and time remaining."""

    def __init__(self, enabled: bool = True):
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
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
    """Create the workspace (database, evidence vault) or bring it up to date. Safe to repeat.

    A vault from before encryption has its files encrypted here (logged in the custody log)."""
    jk, actor = core()
    sealed = jk.custody.seal_plain_vault(actor)
    if sealed:
        out.print(f"Encrypted {sealed} vault file(s) written before the vault was encrypted.")
    out.print(f"Workspace ready at {jk.ws.home}")


@bank_app.command("create")
def bank_create(
    name: str,
    pdq_threshold: Annotated[int, typer.Option(help="Largest PDQ distance (0-256 bits) that counts as a match.")] = 31,
    allow: Annotated[bool, typer.Option("--allow", help="An allow bank: content matching it is never reported.")] = False,
    case: Annotated[Optional[int], typer.Option(help="The case the bank belongs to (default: the whole workspace).")] = None,
) -> None:
    """Create a bank, e.g. `jikimi bank create known-images`."""
    jk, actor = core()
    bank = jk.banks.create(actor, name, pdq_threshold, allow, case)
    out.print(f"Created {'allow ' if allow else ''}bank {bank['name']!r} (PDQ threshold {bank['pdq_threshold']})")


@bank_app.command("add")
def bank_add(
    name: str,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
) -> None:
    """Hash files into a bank. Only hashes are kept: the files are not copied."""
    from jikimi.banks import files_under

    jk, actor = core()
    files = files_under(paths)
    with RichProgress(sys.stderr.isatty()) as progress:
        progress.phase(f"Hashing into {name}", len(files))
        result = jk.banks.add_files(actor, name, files, on_file=lambda _: progress.advance())
    for warning in result["warnings"]:
        err.print(labelled("warning:", "yellow", warning))
    out.print(f"Added {result['added']} file(s) to bank {name!r}")


@bank_app.command("import")
def bank_import(
    name: str,
    file: Path,
    fmt: Annotated[Optional[str], typer.Option("--format", help="tx, csv, stopncii, ncmec or hma "
                                               "(default: csv for .csv, ncmec for .xml, else tx).")] = None,
) -> None:
    """Import a hash list: threatexchange lines, CSV, StopNCII records, NCMEC XML or an HMA bank dump.

    Nothing is imported if any line or record is malformed (docs/exchange.md)."""
    fmt = fmt or {".csv": "csv", ".xml": "ncmec"}.get(file.suffix.lower(), "tx")
    jk, actor = core()
    result = jk.banks.import_list(actor, name, _read_text(file), fmt)
    for note in result["skipped"]:
        err.print(labelled("skipped:", "yellow", note))
    out.print(f"Imported {result['imported']} record(s) into bank {name!r}"
              + (f", updated {result['updated']} seen before" if result["updated"] else ""))


@bank_app.command("feedback")
def bank_feedback(
    name: str,
    ref: Annotated[str, typer.Argument(help="The record's id at its source (NCMEC entry, HMA id) or one of its hashes.")],
    state: Annotated[str, typer.Argument(help="confirmed or not_matching.")],
) -> None:
    """Record our feedback on an imported hash, exported back with `bank export --format stopncii|ncmec|hma`."""
    jk, actor = core()
    result = jk.banks.feedback(actor, name, ref, state)
    out.print(f"Feedback {state} on {result['records']} record(s) of bank {name!r}")


@bank_app.command("export")
def bank_export(
    name: str,
    fmt: Annotated[str, typer.Option("--format", help="tx (threatexchange lines), csv, stopncii, ncmec or hma.")] = "tx",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="File to write (default: print).")] = None,
) -> None:
    """Export a bank's hashes to share with platforms (no media leaves the machine). Logged."""
    jk, actor = core()
    _, text = jk.banks.export_list(actor, name, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"Wrote {output}")
    else:
        sys.stdout.write(text)


@bank_app.command("delete")
def bank_delete(name: str) -> None:
    """Delete a bank and its hashes (refused once scans matched it). Logged."""
    jk, actor = core()
    jk.banks.delete(actor, name)
    out.print(f"Deleted bank {name!r}")


@bank_app.command("compact-feed")
def bank_compact_feed(
    keep_days: Annotated[float, typer.Option(min=0, help="Keep the changes of the last N days.")] = 7.0,
) -> None:
    """Delete old changes from the banks' change feed (admins; logged).

    Every matcher (each `jikimi serve`, each running scan) keeps its index current by reading the feed's new changes, so the feed grows with every bank write. Changes older than --keep-days are deleted, the newest one always kept.

    A matcher that has not read the feed since then notices the gap and loads every bank again (what a restart costs), so no change is ever missed: keep more days than any matcher stays idle.

    Run it daily, e.g. from cron: `jikimi bank compact-feed --keep-days 7`.
    """
    jk, actor = core()
    result = jk.banks.compact_feed(actor, keep_days)
    oldest = result["oldest_kept"]
    out.print(f"Removed {result['removed']} change(s) older than {keep_days:g} day(s)"
              + (f"; the feed now starts at change {oldest}" if oldest is not None else "; the feed is empty"))


@bank_app.command("list")
def bank_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List banks with their thresholds and sizes."""
    jk, actor = core()
    rows = jk.banks.list(actor)
    if as_json:
        out.print_json(data=rows)
        return
    table = Table("name", "kind", "case", "PDQ threshold", "contents", "signals")
    for r in rows:
        table.add_row(r["name"], "allow" if r["allow"] else "block", str(r["case_id"] or ""), str(r["pdq_threshold"]),
                      str(r["contents"]), str(r["signals"]))
    out.print(table)


@case_app.command("create")
def case_create(title: str, as_json: Annotated[bool, typer.Option("--json", help="Print the created case as JSON.")] = False) -> None:
    """Open a case, e.g. `jikimi case create "Kim - school deepfakes"`."""
    jk, actor = core()
    case = jk.cases.create(actor, title)
    print(json.dumps(case, ensure_ascii=False)) if as_json else out.print(f"Created case {case['id']}: {case['title']}")


@case_app.command("list")
def case_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List cases with their enrolled subjects."""
    jk, actor = core()
    rows = [{k: v for k, v in c.items() if k not in ("scans", "role")} for c in jk.cases.list(actor)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "title", "subjects", "created by", "created")
    for r in rows:
        table.add_row(str(r["id"]), r["title"], ", ".join(s["name"] for s in r["subjects"] if not s["removed_at"]),
                      r["created_by"], r["created_at"][:10])
    out.print(table)


@members_app.command("add")
def members_add(
    case_id: Annotated[int, typer.Argument(help="The case, from `jikimi case list`.")],
    user: Annotated[str, typer.Argument(help="A web user, from `jikimi user add`.")],
    role: Annotated[str, typer.Option(help=f"Their role in this case: {', '.join(CASE_ROLES)}.")] = "caseworker",
) -> None:
    """Let a user see and work on a case (or change their role in it)."""
    jk, actor = core()
    member = jk.cases.add_member(actor, case_id, user, role)
    out.print(f"{member['user']} is now a {member['role']} of case {case_id}")


@members_app.command("remove")
def members_remove(case_id: int, user: str) -> None:
    """Take a user off a case: they no longer see it."""
    jk, actor = core()
    jk.cases.remove_member(actor, case_id, user)
    out.print(f"{user} is no longer a member of case {case_id}")


@members_app.command("list")
def members_list(case_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The members of a case and their roles."""
    jk, actor = core()
    rows = jk.cases.members(actor, case_id)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("user", "role", "added by", "since")
    for r in rows:
        table.add_row(r["user"], r["role"], r["added_by"], r["created_at"][:10])
    out.print(table)


@subject_app.command("add")
def subject_add(
    case_id: Annotated[int, typer.Argument(help="The case, from `jikimi case list`.")],
    photos: Annotated[list[Path], typer.Argument(help=f"Reference photos, each showing her face clearly: {ENROLMENT_GUIDANCE}.")],
    name: Annotated[str, typer.Option(help="How she is named in reports (a pseudonym is fine).")],
    consent: Annotated[str, typer.Option(help="What she consented to, in her words or the form's.")],
    consented_by: Annotated[Optional[str], typer.Option(help="Who gave consent (default: the subject; a guardian for a minor).")] = None,
    face: Annotated[Optional[int], typer.Option(help="In a group photo, which face (1 = leftmost).")] = None,
    keep_photos: Annotated[bool, typer.Option("--keep-photos", help="Also keep the photos, encrypted (default: templates only).")] = False,
    no_cross_case: Annotated[bool, typer.Option("--no-cross-case", help="Look for her only in this case's scans (her choice, kept with her consent).")] = False,
    keep_reference_crops: Annotated[bool, typer.Option("--keep-reference-crops", help="With her consent: keep a small encrypted crop of each face, so a new face model can re-enrol her without new photos.")] = False,
    known: Annotated[Optional[list[Path]], typer.Option(help="Intimate files she holds: hashed into the case's bank, never stored (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the created subject as JSON.")] = False,
) -> None:
    """Enrol a person to protect, with her consent. Each photo must show exactly one usable face.

    Give 3-5 photos of her from different occasions: she is found in more of her other photos than from one or two, at the same false-match rate (figures in docs/faces.md).
    """
    jk, actor = core()
    data = jk.subjects.enrol(actor, case_id, name, photos, scope=consent, consented_by=consented_by,
                             cross_case=not no_cross_case, face=face, keep_photos=keep_photos, known=known or [],
                             keep_reference_crops=keep_reference_crops)
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        out.print(f"Enrolled subject {data['id']} ({name}) in case {case_id} from {data['templates']} photo(s); "
                  f"{'photos kept, encrypted' if keep_photos else 'photos not kept'}; "
                  f"{'reference face crops kept, encrypted' if keep_reference_crops else 'no reference face crops kept'}.")
        if advice := enrolment_advice(data["templates"]):
            out.print(f"Note: {advice}.")


@subject_app.command("reenrol")
def subject_reenrol(subject_id: int) -> None:
    """Recompute a subject's face templates with the current face model, from her kept crops or photos."""
    jk, actor = core()
    subject = jk.subjects.reenrol(actor, subject_id)
    out.print(f"Re-enrolled subject {subject_id} ({subject['name']}): {subject['templates']} template(s) "
              f"now of model {', '.join(subject['models'])}.")


@sources_app.command("add")
def sources_add(
    subject_id: Annotated[int, typer.Argument(help="The subject, from `jikimi case list`.")],
    photos: Annotated[list[Path], typer.Argument(help="Her photos (e.g. from her Instagram or KakaoTalk profile).")],
    label: Annotated[Optional[list[str]], typer.Option(help="A name for each photo, in order (default: its file name; repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registered sources as JSON.")] = False,
) -> None:
    """Register, with her consent, photos she fears were used to make fakes: scans then report
    posts that are edited copies of them (kind "derived"), with which region changed. Only their
    local features and region hashes are kept, encrypted; never the photos."""
    jk, actor = core()
    rows = jk.subject_sources.add(actor, subject_id, photos, label or [])
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        out.print(f"Registered {len(rows)} source photo(s) of subject {subject_id}: "
                  + ", ".join(f"{r['id']} ({r['label']})" for r in rows) + "; the photos are not kept.")


@sources_app.command("list")
def sources_list(subject_id: int,
                 as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Her registered source photos (labels only: the photos are not kept)."""
    jk, actor = core()
    rows = jk.subject_sources.list(actor, subject_id)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "label", "size", "registered by", "registered")
    for r in rows:
        table.add_row(str(r["id"]), r["label"], f"{r['width']} x {r['height']}", r["created_by"], clock.local(r["created_at"]))
    out.print(table)


@sources_app.command("remove")
def sources_remove(subject_id: int, source_id: int) -> None:
    """Delete a source photo's features: scans stop looking for copies of it."""
    jk, actor = core()
    row = jk.subject_sources.remove(actor, subject_id, source_id)
    out.print(f"Removed source photo {source_id} ({row['label']}) of subject {subject_id}.")


@subject_app.command("remove")
def subject_remove(subject_id: int) -> None:
    """Delete a subject's face templates and photos. The consent record and the removal are kept in the log."""
    jk, actor = core()
    subject = jk.subjects.remove(actor, subject_id)
    out.print(f"Removed subject {subject_id} ({subject['name']}): templates and photos deleted.")


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
    only_case: Annotated[bool, typer.Option("--only-case", help="Look only for the case's own subjects (default: every enrolled subject; matches go to each subject's case).")] = False,
    hashes_only: Annotated[bool, typer.Option("--hashes-only", help="Skip faces, nudity and provenance (much faster).")] = False,
    cluster: Annotated[Optional[str], typer.Option(help="Hash and analyse on the workers of this Dask scheduler (e.g. tcp://10.0.0.5:8786); they must see this workspace at the same path.")] = None,
) -> None:
    """Collect a source into the evidence vault, hash every file and match it against the banks.

    Stop it at any time with Ctrl-C and continue with `jikimi scan --resume ID`.
    """
    if (source is None) == (resume is None):
        raise JikimiError("give either a SOURCE to scan or --resume SCAN_ID")
    if only_case and case is None:
        raise JikimiError("--only-case needs --case ID")
    jk, actor = core()
    options = ScanOptions(jobs=max(1, jobs), banks=bank or None,
                          limits=Limits(max_image_pixels=max_pixels, max_video_seconds=max_video_seconds,
                                        max_file_bytes=max_file_mb * 2**20),
                          case_id=case, only_case=only_case, analyse=not hashes_only, cluster=cluster)
    if options.analyse:
        _warn_reenrolment(jk, actor)
    with RichProgress(not as_json or sys.stderr.isatty()) as progress:
        if resume is not None:
            scan_id = jk.scans.resume(actor, resume, progress, jobs=options.jobs, cluster=cluster)
        else:
            scan_id = jk.scans.start(actor, source, options, progress,
                                     on_start=lambda i: err.print(f"Scan {i} started (resume with --resume {i} if stopped)"))
    summary = jk.scans.get(actor, scan_id)["scan"]
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)


def _warn_reenrolment(jk, actor) -> None:
    """Subjects whose templates are of another model cannot be found by this scan: say so."""
    model_id = active_model_id()
    for subject in jk.subjects.needing_reenrolment(actor, model_id):
        err.print(f"Subject {subject['id']} ({subject['name']}) was enrolled with another face model and will "
                  f"not be found by this scan ({model_id}): re-enrol her with `jikimi subject reenrol {subject['id']}` "
                  "(needs kept reference crops or photos) or `jikimi subject add` with new photos.")


def _print_summary(summary: dict) -> None:
    c = summary["counts"]
    out.print(Text.assemble(f"Scan {summary['id']} {summary['status']}: {c['items']} items in {c['locators']} posts, ",
                            (f"{c['matched']} matched", "bold red"),
                            f", {c['errors']} could not be read, {c['allowed']} allowed."))
    out.print(f"Report: jikimi report {summary['id']} --format html -o report.html")


@app.command()
def scans(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List scans with their status (running / interrupted / complete / failed) and counts."""
    jk, actor = core()
    rows = jk.scans.list(actor)[::-1]
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
    lang: Annotated[str, typer.Option("--lang", help="Language of an HTML report: en or ko.")] = "en",
) -> None:
    """Write the report of a scan: matched items with where they were posted, and read errors."""
    jk, actor = core()
    if lang not in ("en", "ko"):
        raise typer.BadParameter("use en or ko", param_hint="--lang")
    text = jk.scans.report(actor, scan_id, fmt, lang)
    if output:
        warn_if_exposed(output)
        write_private(output, text)
        err.print(f"Wrote {output} (readable by you only)")
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
app.command("worker")(cli_web.worker_command)
app.add_typer(cli_web.user_app, name="user")
app.add_typer(cli_web.token_app, name="token")
app.add_typer(webhook_app, name="webhook")
app.callback()(actor_option)


def _exit_now(status: int) -> None:
    """Leave at once after Ctrl-C: what a scan must keep is already committed, and the normal
    interpreter shutdown would wait on worker threads that Ctrl-C may have left half-stopped,
    printing their tracebacks after our one line."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main() -> None:
    try:
        app()
    except ScanInterrupted as e:
        err.print(str(e), style="yellow")
        _exit_now(130)
    except KeyboardInterrupt:
        err.print("interrupted", style="yellow")
        _exit_now(130)
    except JikimiError as e:
        err.print(labelled("error:", "red", e))
        sys.exit(1)
    except DBAPIError as e:  # the workspace database failed while a command ran
        err.print(labelled("error:", "red", database_problem(e)))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001  (a bug or a broken system: one line, not a traceback)
        err.print(labelled("error:", "red", f"{e.__class__.__name__}: {e}"))
        err.print("This is a bug in Jikimi or a problem with this machine; set JIKIMI_DEBUG=1 for details.", style="dim")
        if os.environ.get("JIKIMI_DEBUG"):
            raise
        sys.exit(1)
