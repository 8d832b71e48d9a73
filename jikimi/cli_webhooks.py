"""`jikimi webhook ...`: allowed hosts, targets, the delivery log and the sender (admins)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from jikimi.cli_console import out
from jikimi.cli_core import core
from jikimi.webhooks import sender
from jikimi.webhooks.outbox import EVENTS

webhook_app = typer.Typer(help="Signed HTTP posts to your systems after a match or a decision.",
                          no_args_is_help=True)


@webhook_app.command("allow")
def allow(
    host: Annotated[str, typer.Argument(help="A host name (or address) webhooks may be sent to.")],
    address: Annotated[Optional[list[str]], typer.Option(
        "--address", help="A private or loopback address (or network) this host may resolve to (repeatable).")] = None,
) -> None:
    """Allow a destination host. Internal addresses are refused unless named with --address."""
    jk, actor = core()
    row = jk.webhooks.allow_host(actor, host, address or [])
    out.print(f"Webhooks may go to {row['host']}" + (f" (also at {', '.join(row['addresses'])})" if row["addresses"] else ""))


@webhook_app.command("disallow")
def disallow(host: str) -> None:
    """Take a host off the allow list: deliveries to it fail from now on."""
    jk, actor = core()
    jk.webhooks.disallow_host(actor, host)
    out.print(f"Webhooks may no longer go to {host}")


@webhook_app.command("hosts")
def hosts(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The allowed destination hosts."""
    jk, actor = core()
    rows = jk.webhooks.hosts(actor)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("host", "internal addresses allowed", "added by")
    for r in rows:
        table.add_row(r["host"], ", ".join(r["addresses"]), r["added_by"])
    out.print(table)


@webhook_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST, e.g. https://hooks.example.org/jikimi")],
    event: Annotated[Optional[list[str]], typer.Option(
        "--event", help=f"An event to send (repeatable; default all: {', '.join(EVENTS)}).")] = None,
) -> None:
    """Add a target; its signing secret is printed once: give it to the receiver."""
    jk, actor = core()
    target = jk.webhooks.add(actor, url, event)
    out.print(f"Webhook {target['id']} -> {target['url']} ({', '.join(target['events'])})")
    out.print(f"Signing secret (shown only now): {target['secret']}")


@webhook_app.command("list")
def list_targets(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Webhook targets."""
    jk, actor = core()
    rows = jk.webhooks.list(actor)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "url", "events", "enabled", "created by")
    for r in rows:
        table.add_row(str(r["id"]), r["url"], ", ".join(r["events"]), "yes" if r["enabled"] else "no", r["created_by"])
    out.print(table)


@webhook_app.command("remove")
def remove(target_id: int) -> None:
    """Disable a target; its pending deliveries go to the dead-letter list."""
    jk, actor = core()
    jk.webhooks.remove(actor, target_id)
    out.print(f"Webhook {target_id} removed")


@webhook_app.command("deliveries")
def deliveries(
    dead: Annotated[bool, typer.Option("--dead", help="Only the dead-letter list.")] = False,
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The delivery log, newest first (with --dead: deliveries that gave up, to retry)."""
    jk, actor = core()
    rows = jk.webhooks.deliveries(actor, "dead" if dead else None, limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "target", "event", "status", "tries", "last error", "created")
    for r in rows:
        table.add_row(str(r["id"]), str(r["target_id"]), r["event"], r["status"], str(r["attempts"]),
                      r["last_error"] or "", r["created_at"][:19])
    out.print(table)


@webhook_app.command("retry")
def retry(delivery_id: int) -> None:
    """Put a dead delivery back in the outbox, due now."""
    jk, actor = core()
    jk.webhooks.retry(actor, delivery_id)
    out.print(f"Delivery {delivery_id} will be sent again")


@webhook_app.command("send")
def send(
    watch: Annotated[bool, typer.Option("--watch", help="Keep sending as events arrive (the background sender).")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between looks at the outbox with --watch.")] = 5.0,
) -> None:
    """Send the deliveries that are due (once, or continuously with --watch)."""
    jk, actor = core()
    result = jk.webhooks.send_due(actor)
    out.print(f"{result.delivered} delivered, {result.failed} to retry, {result.dead} dead")
    if watch:
        sender.run(jk.ws, poll)
