"""The commands that act on reviewed evidence: review, audit, evidence, takedown, host.

Registered in `jikimi.cli` as `jikimi review`, `jikimi audit ...`, `jikimi evidence ...`,
`jikimi takedown ...` and `jikimi host ...`. Like the rest of the CLI: results on standard
output (`--json` for scripts), messages on standard error, errors as JikimiError.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from jikimi import keys
from jikimi.audit_heads import HeadReceipt, ReceiptError, load_witness
from jikimi.cli_console import err, labelled, out
from jikimi.cli_core import core
from jikimi.errors import JikimiError
from jikimi.evidence.verify import verify_package
from jikimi.private_output import exposure_warning, write_private

audit_app = typer.Typer(help="The custody log: who did what to which evidence, signed and chained.", no_args_is_help=True)
evidence_app = typer.Typer(help="Signed evidence packages for police and lawyers.", no_args_is_help=True)
takedown_app = typer.Typer(help="Takedown notices: draft, send, track and re-send until removed.", no_args_is_help=True)
host_app = typer.Typer(help="Recipients of takedown notices (platform abuse desks, regulators).", no_args_is_help=True)

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
def audit_verify(
    witness: Annotated[Optional[list[Path]], typer.Option(
        "--witness", help="A head receipt kept elsewhere (from `audit anchor`, a JSON or HTML report, or an evidence "
                          "package): fail unless the log still contains that head. Repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check the whole custody log; name the first entry that was altered, removed or reordered.

    The chain alone cannot show entries cut from its end, nor an older copy of the database put
    back: give receipts kept off this machine with --witness to rule that out.
    """
    receipts = [_witness(path) for path in witness or []]
    jk, actor = core()
    result = jk.custody.verify(actor)
    problems = jk.custody.witness_problems(actor, receipts)
    cut = [(path, problem) for path, problem in zip(witness or [], problems) if problem]
    ok = result.ok and not cut
    if as_json:
        print(json.dumps({"ok": ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq,
                          "reason": result.reason, "witnesses": len(receipts),
                          "witness_problems": [{"file": str(path), "problem": p} for path, p in cut]},
                         ensure_ascii=False))
    elif ok:
        held = f"; it contains the head of each of {len(receipts)} receipt(s)" if receipts else ""
        out.print(labelled("Custody log verified:", "green", f"{result.reason}{held}"))
        if not receipts:
            err.print("Entries cut from the end of the log cannot be seen without a receipt kept elsewhere: "
                      "check with `jikimi audit verify --witness FILE` (see `jikimi audit anchor`).")
    else:
        if not result.ok:
            out.print(labelled("Custody log NOT intact:", "bold red", result.reason))
        for path, problem in cut:
            out.print(labelled("Custody log NOT intact:", "bold red", f"{problem} (receipt {path})"))
    if not ok:
        raise typer.Exit(1)


def _witness(path: Path) -> HeadReceipt:
    """The receipt a witness file holds; an evidence package is verified in full first."""
    try:
        with open(path, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"
    except OSError as e:
        raise ReceiptError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not is_zip:
        return load_witness(path)
    report = verify_package(path)
    if not report.ok:
        raise ReceiptError(f"{path}: the evidence package is not intact ({report.problems[0]}), so it is no witness")
    try:
        return HeadReceipt.from_json(report.head)
    except ReceiptError as e:
        raise ReceiptError(f"{path}: {e}") from None


@audit_app.command("anchor")
def audit_anchor(
    output: Annotated[Path, typer.Option("-o", "--output", help="The receipt file to write (JSON).")],
) -> None:
    """Write a signed receipt for the custody log's current head. Keep it off this machine.

    Like a Certificate Transparency signed tree head: later, `jikimi audit verify --witness FILE`
    fails if the log no longer contains this head (entries cut from its end, an older or empty
    database put in its place).
    """
    jk, actor = core()
    receipt = jk.custody.anchor(actor)
    write_private(output, json.dumps(receipt.to_json(), indent=2) + "\n")
    out.print(f"Wrote a receipt for custody-log entry {receipt.seq} ({receipt.entry_hash[:16]}…) to {output}. "
              "Keep it away from this machine: mail it, print it, or copy it to another disk.")


@audit_app.command("key")
def audit_key(pem: Annotated[bool, typer.Option("--pem", help="Print the public key itself (PEM).")] = False) -> None:
    """Print the fingerprint of this workspace's public signing key, to publish for `evidence verify --key`."""
    jk, _ = core()
    public_key = keys.public_key(jk.ws.home)
    if pem:
        sys.stdout.write(keys.public_pem(public_key).decode("ascii"))
    else:
        print(keys.fingerprint(public_key))


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
    """Write a signed evidence package: originals, manifest, custody log, SHA256SUMS, HTML and PDF report.

    The file is written 0600 (readable by you only): it holds the originals.
    """
    warn_if_exposed(output)
    jk, actor = core()
    path = jk.evidence.export(actor, case, item or None, output, lang)
    fingerprint = keys.fingerprint(keys.public_key(jk.ws.home))
    report = verify_package(path, fingerprint)
    if report.status != "trusted":
        raise JikimiError(f"the package just written does not verify: {report.summary}")
    out.print(f"Wrote {path} (readable by you only): {report.items} item(s), verified. Check it anywhere "
              f"with `jikimi evidence verify {path.name} --key {fingerprint}`.")


@evidence_app.command("verify")
def evidence_verify(
    file: Annotated[Path, typer.Argument(help="An evidence package ZIP.")],
    key: Annotated[Optional[str], typer.Option(
        "--key", help="The key you trust: the SHA-256 fingerprint the centre publishes, or its public key PEM file.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-check every hash, the signature and the custody log of a package. Needs no workspace.

    Exit status: 0 intact and signed by the --key you trust; 1 not intact (altered, damaged or
    not a package); 3 intact, but no --key was given, so the signer is unchecked: compare the
    printed fingerprint with the centre's published one; 4 intact but signed by another key
    than --key: do not trust it.
    """
    try:
        trusted = keys.trusted_fingerprint(key) if key is not None else None
    except keys.WorkspaceKeyError as e:
        raise typer.BadParameter(str(e), param_hint="--key") from None
    report = verify_package(file, trusted)
    if as_json:
        print(json.dumps({"ok": report.ok, "status": report.status, "problems": report.problems,
                          "items": report.items, "log_entries": report.log_entries,
                          "key_fingerprint": report.key_fingerprint, "trusted_fingerprint": trusted,
                          "head": report.head}, ensure_ascii=False))
    else:
        colour = {"trusted": "green", "unpinned": "yellow"}.get(report.status, "bold red")
        out.print(report.summary, style=colour)
        for problem in report.problems[1:]:
            out.print(f"  - {problem}")
    if report.exit_code:
        raise typer.Exit(report.exit_code)


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
    """Draft RFC 5322 (.eml) takedown notices to a host for a case's items (written 0600, readable by you only)."""
    if output is not None:
        warn_if_exposed(output / "notice.eml")
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
            err.print(labelled("not sent:", "red", problem))
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


def warn_if_exposed(path: Path) -> None:
    """Say so on standard error when an export goes into a folder other users can read."""
    warning = exposure_warning(path)
    if warning:
        err.print(labelled("warning:", "yellow", warning))


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
