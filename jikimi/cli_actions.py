"""The commands that act on reviewed evidence: review, audit, evidence, takedown, host.

Registered in `jikimi.cli` as `jikimi review`, `jikimi audit ...`, `jikimi evidence ...`,
`jikimi takedown ...` and `jikimi host ...`. Like the rest of the CLI: results on standard
output (`--json` for scripts), messages on standard error, errors as JikimiError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from jikimi.cli_core import core
from jikimi.errors import JikimiError
from jikimi.evidence.verify import verify_package

audit_app = typer.Typer(help="The custody log: who did what to which evidence, signed and chained.", no_args_is_help=True)
evidence_app = typer.Typer(help="Signed evidence packages for police and lawyers.", no_args_is_help=True)
takedown_app = typer.Typer(help="Takedown notices: draft, send, track and re-send until removed.", no_args_is_help=True)
host_app = typer.Typer(help="Recipients of takedown notices (platform abuse desks, regulators).", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DECISIONS = {"confirm": "confirm", "reject": "not_abusive", "not-abusive": "not_abusive",
             "not-subject": "not_subject", "unsure": "unsure"}



def review(
    item_id: Annotated[int, typer.Argument(help="The item, from a scan report.")],
    decision: Annotated[str, typer.Argument(help="confirm, reject (= not-abusive), not-subject or unsure.")],
    note: Annotated[Optional[str], typer.Option(help="Why, in a few words (kept in the custody log).")] = None,
    case: Annotated[Optional[int], typer.Option(help="The case the decision is for (default: the scan's case).")] = None,
) -> None:
    """Record a review decision, exactly as the web review queue does. Confirming banks the item's hashes."""
    verdict = DECISIONS.get(decision.lower())
    if verdict is None:
        raise JikimiError(f"unknown decision {decision!r}: use one of {', '.join(DECISIONS)}")
    jk, actor = core()
    recorded = jk.review.decide(actor, item_id, verdict, note, case)
    where = f" for case {recorded['case_id']}" if recorded["case_id"] else ""
    out.print(f"Item {item_id}: {verdict.replace('_', ' ')}{where}")


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the whole custody log; name the first entry that was altered, removed or reordered."""
    jk, actor = core()
    result = jk.custody.verify(actor)
    if as_json:
        print(json.dumps({"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq,
                          "reason": result.reason}))
    elif result.ok:
        out.print(f"[green]Custody log verified:[/] {result.reason}")
    else:
        out.print(f"[bold red]Custody log NOT intact:[/] {result.reason}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("show")
def audit_show(
    case: Annotated[Optional[int], typer.Option(help="Only the entries of this case.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the custody log (or one case's entries), oldest first."""
    jk, actor = core()
    rows = jk.custody.entries(actor, case)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("seq", "time (UTC)", "actor", "action", "subject", "case")
    for r in rows:
        table.add_row(str(r["seq"]), r["time"][:19].replace("T", " "), r["actor"], r["action"], r["subject"],
                      str(r["case_id"] or ""))
    out.print(table)


@evidence_app.command("export")
def evidence_export(
    case: Annotated[int, typer.Argument(help="The case, from `jikimi case list`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The ZIP file to write.")],
    item: Annotated[Optional[list[int]], typer.Option("--item", help="Export this item (repeatable; default: every confirmed item of the case).")] = None,
    lang: Annotated[str, typer.Option(help="Language of the report: ko or en.")] = "ko",
) -> None:
    """Write a signed evidence package: originals, manifest, custody log, SHA256SUMS, HTML and PDF report."""
    jk, actor = core()
    path = jk.evidence.export(actor, case, item or None, output, lang)
    report = verify_package(path)
    if not report.ok:
        raise JikimiError(f"the package just written does not verify: {report.problems[0]}")
    out.print(f"Wrote {path}: {report.items} item(s), verified. Check it anywhere with `jikimi evidence verify {path.name}`.")


@evidence_app.command("verify")
def evidence_verify(
    file: Annotated[Path, typer.Argument(help="An evidence package ZIP.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-check every hash, the signature and the custody log of a package. Needs no workspace."""
    report = verify_package(file)
    if as_json:
        print(json.dumps({"ok": report.ok, "problems": report.problems, "items": report.items,
                          "log_entries": report.log_entries, "key_fingerprint": report.key_fingerprint},
                         ensure_ascii=False))
    else:
        out.print(("[green]" if report.ok else "[bold red]") + report.summary + "[/]")
        for problem in report.problems:
            out.print(f"  - {problem}")
    if not report.ok:
        raise typer.Exit(1)


@takedown_app.command("draft")
def takedown_draft(
    case: Annotated[int, typer.Argument(help="The case, from `jikimi case list`.")],
    to: Annotated[str, typer.Option("--to", help="The host, from `jikimi host list` (e.g. telegram, kcsc).")],
    lang: Annotated[str, typer.Option(help="Language of the notice: ko, en, ja or zh.")],
    item: Annotated[Optional[list[int]], typer.Option("--item", help="Include this item (repeatable; default: every confirmed item).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Folder for the .eml files (default: $JIKIMI_HOME/notices).")] = None,
    legal_basis: Annotated[Optional[str], typer.Option(help="The legal basis to cite (default: the language's standard text).")] = None,
    victim: Annotated[Optional[str], typer.Option(help="Name the victim in the notice. Left out unless given, on purpose.")] = None,
    signature: Annotated[Optional[str], typer.Option(help="Closing lines: the centre's name and contact.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Draft RFC 5322 (.eml) takedown notices to a host for a case's items."""
    jk, actor = core()
    rows = jk.takedown.draft(actor, case, to, lang, item or None, output, legal_basis=legal_basis, victim=victim,
                             signature=signature)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        out.print(f"Drafted {r['reference']} to {r['host']} ({len(r['items'])} item(s)): {r['eml_path']}")
    err.print("Send with `jikimi takedown send`, or send the .eml by hand and run `jikimi takedown mark REF sent`.")


@takedown_app.command("send")
def takedown_send(
    references: Annotated[Optional[list[str]], typer.Argument(help="Notices to send (default: every notice due).")] = None,
    every: Annotated[float, typer.Option(help="With no references: re-send notices last sent this many hours ago.")] = 24,
) -> None:
    """Send notices through the SMTP server in $JIKIMI_HOME/smtp.json (or JIKIMI_SMTP_* variables)."""
    jk, actor = core()
    results = jk.takedown.send(actor, references, every)
    for reference, problem in results:
        if problem:
            err.print(f"[red]not sent:[/] {problem}")
        else:
            out.print(f"Sent {reference}")
    if not results:
        out.print("Nothing to send.")
    if any(problem for _, problem in results):
        raise typer.Exit(1)


@takedown_app.command("mark")
def takedown_mark(
    reference: Annotated[str, typer.Argument(help="The notice, e.g. JKM-2024-000123.")],
    status: Annotated[str, typer.Argument(help="sent, acknowledged, removed or refused.")],
    note: Annotated[Optional[str], typer.Option(help="E.g. the host's reply or reason for refusing.")] = None,
) -> None:
    """Record what happened to a notice: sent by hand, acknowledged, removed or refused."""
    jk, actor = core()
    notice = jk.takedown.mark(actor, reference, status, note)
    out.print(f"{notice['reference']}: {notice['status']}")


@takedown_app.command("due")
def takedown_due(
    every: Annotated[float, typer.Option(help="Re-send notices last sent this many hours ago.")] = 24,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List notices to send now: never sent, or not removed and last sent long enough ago."""
    jk, actor = core()
    rows = jk.takedown.due(actor, every)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("reference", "host", "case", "status", "sent", "last sent", "items")
    for r in rows:
        table.add_row(r["reference"], r["host"], str(r["case_id"]), r["status"], str(r["send_count"]),
                      (r["last_sent_at"] or "never")[:16].replace("T", " "), str(len(r["items"])))
    out.print(table)


@takedown_app.command("stats")
def takedown_stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per host: notices sent, removal rate, median and 90th-percentile hours to removal."""
    jk, actor = core()
    rows = jk.takedown.stats(actor)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("host", "notices", "removed", "refused", "open", "removal rate", "median h", "p90 h")
    for r in rows:
        table.add_row(r["host"], str(r["notices"]), str(r["removed"]), str(r["refused"]), str(r["open"]),
                      f"{r['removal_rate']:.0%}", _hours(r["median_hours"]), _hours(r["p90_hours"]))
    out.print(table)


@host_app.command("add")
def host_add(
    name: Annotated[str, typer.Argument(help="A short name, e.g. example-hosting.")],
    email: Annotated[Optional[str], typer.Option(help="The abuse desk's e-mail address.")] = None,
    url: Annotated[Optional[str], typer.Option(help="The host's report form, when it takes no e-mail.")] = None,
    lang: Annotated[Optional[list[str]], typer.Option("--lang", help="A language the host reads (repeatable; ko, en, ja, zh).")] = None,
    notes: Annotated[Optional[str], typer.Option(help="Anything a case worker should know.")] = None,
) -> None:
    """Add a recipient of takedown notices."""
    jk, actor = core()
    host = jk.takedown.add_host(actor, name, email, lang, url, notes)
    out.print(f"Added host {host['name']} ({host['email'] or host['url']})")


@host_app.command("list")
def host_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the hosts notices can be sent to."""
    jk, actor = core()
    rows = jk.takedown.hosts(actor)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("name", "e-mail", "languages", "kind", "notes")
    for r in rows:
        table.add_row(r["name"], r["email"] or r["url"] or "", ", ".join(r["languages"]), r["kind"], r["notes"] or "")
    out.print(table)


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
