"""`jikimi serve`, `jikimi user add`, `jikimi token create`: the web app and its accounts.

Registered by jikimi.cli (`app.add_typer(...)`); kept apart so the web stack loads only here.
"""

from __future__ import annotations

import sys
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



@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Keep 127.0.0.1 unless a TLS proxy is in front.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
) -> None:
    """Serve the web app on this workspace: cases, scans, banks, the review queue."""
    import uvicorn

    from jikimi.web import create_app

    ws = open_workspace()
    typer.echo(f"Jikimi on http://{host}:{port}/ (workspace {ws.home}); stop with Ctrl-C", err=True)
    uvicorn.run(create_app(ws), host=host, port=port, proxy_headers=True, server_header=False,
                log_level="warning")


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
