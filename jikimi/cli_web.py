"""`jikimi serve`, `jikimi user add`, `jikimi token create`: the web app and its accounts.

Registered by jikimi.cli (`app.add_typer(...)`); kept apart so the web stack loads only here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Annotated

import typer

from jikimi.cli_core import core
from jikimi.errors import JikimiError
from jikimi.store.web_models import ROLES
from jikimi.workspace import open_workspace

app = typer.Typer(help="The web app for case workers and reviewers, and its accounts.", no_args_is_help=True)
user_app = typer.Typer(help="Web app accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

WORKER_STOP_SECONDS = 60  # a scan stops at its next file; a long video may take a while



@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Keep 127.0.0.1 unless a TLS proxy is in front.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    worker: Annotated[bool, typer.Option(help="Also start one `jikimi worker` process for the scans and "
                                              "evidence packages asked for on the web.")] = True,
) -> None:
    """Serve the web app on this workspace: cases, scans, banks, the review queue."""
    import uvicorn

    from jikimi.web import create_app

    ws = open_workspace()
    typer.echo(f"Jikimi on http://{host}:{port}/ (workspace {ws.home}); stop with Ctrl-C", err=True)
    # The worker is a process of its own: a server restart neither stops nor loses its scan.
    process = subprocess.Popen([sys.executable, "-m", "jikimi", "worker"]) if worker else None
    try:
        uvicorn.run(create_app(ws), host=host, port=port, proxy_headers=True, server_header=False,
                    log_level="warning")
    finally:
        if process is not None:
            process.terminate()  # the running scan is recorded as interrupted; the next worker resumes it
            process.wait(WORKER_STOP_SECONDS)


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then exit.")] = False,
) -> None:
    """Run the scans and evidence packages asked for on the web, one at a time, as the user who asked.

    Start as many as the machine can take (each scan also uses a process per core). On start
    it resumes the jobs a stopped worker left behind.
    """
    from jikimi.core.worker import Worker, stop_on_signals

    jk, _ = core()
    stop = threading.Event()
    stop_on_signals(stop)
    typer.echo(f"Jikimi worker {os.getpid()} on {jk.ws.home}; stop with Ctrl-C", err=True)
    try:
        Worker(jk).run(once=once, stop=stop)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]
    = False,
) -> None:
    """Add a web user; the password is asked for (twice), or read from standard input."""
    if role not in ROLES:
        raise JikimiError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    jk, actor = core()
    user = jk.accounts.add_user(actor, name, role, password)
    typer.echo(f"Added {user['role']} {user['name']!r}")


@user_app.command("role")
def user_role(name: str, role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")]) -> None:
    """Change a web user's workspace role (logged)."""
    jk, actor = core()
    user = jk.accounts.set_role(actor, name, role)
    typer.echo(f"{user['name']} is now {user['role']}")


@token_app.command("create")
def token_create(
    name: str,
    label: Annotated[str, typer.Option(help="What the token is for, to recognise it later.")] = "cli",
) -> None:
    """Create an API token for user NAME and print it (it is shown only this once)."""
    jk, actor = core()
    print(jk.accounts.create_token(actor, name, label))
