"""`jikimi serve`, `jikimi user ...`, `jikimi token ...`: the web app and its accounts.

Registered by jikimi.cli (`app.add_typer(...)`); kept apart so the web stack loads only here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Annotated, Optional

import typer

from jikimi.accounts import DEFAULT_ROLE, TOKEN_DAYS, TOKEN_SCOPES
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
# What `serve` starts beside the web app, each a process of its own: a server restart neither
# stops nor loses a scan, and a delivery half-sent is retried when its lease ends.
BACKGROUND = {"worker": ["worker"], "webhooks": ["webhook", "send", "--watch"]}
CLUSTER_HELP = ("Hash and analyse the web's scans on the workers of this Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                "they must see this workspace at the same path.")

WORKERS_HELP = ("Server processes answering requests on the one port (uvicorn's supervisor replaces one that dies). "
                "Each holds its own lookup index, kept current from the banks' change feed: one per free core "
                "for the platform API's lookups (see docs/api.md). The worker and webhook sender are started once.")
SERVER_APP_FACTORY = "jikimi.web.app:create_app_for_server"  # what each of --workers N processes imports


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Keep 127.0.0.1 unless a TLS proxy is in front.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    forwarded_allow_ips: Annotated[str, typer.Option(
        help="Comma-separated addresses of the reverse proxies whose X-Forwarded-For/-Proto to trust. "
        "Default: none, so no client can choose the address its failed logins count against.")] = "",
    worker: Annotated[bool, typer.Option(help="Also start one `jikimi worker` process for the scans and "
                                              "evidence packages asked for on the web.")] = True,
    webhooks: Annotated[bool, typer.Option(help="Also start the webhook sender (`jikimi webhook send --watch`), "
                                                "which posts the webhooks of matches and decisions.")] = True,
    cluster: Annotated[Optional[str], typer.Option(envvar="JIKIMI_CLUSTER", help=CLUSTER_HELP)] = None,
    workers: Annotated[int, typer.Option(min=1, help=WORKERS_HELP)] = 1,
) -> None:
    """Serve the web app on this workspace: cases, scans, banks, the review queue."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from jikimi.web import create_app

    ws = open_workspace()
    os.environ["JIKIMI_HOME"] = str(ws.home)  # the server processes open this same workspace
    typer.echo(f"Jikimi on http://{host}:{port}/ (workspace {ws.home}); stop with Ctrl-C", err=True)
    # uvicorn re-raises the SIGTERM it caught once it has shut down: with the default handler
    # the process would die there, leaving its children behind, instead of stopping them below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    wanted = {"worker": worker, "webhooks": webhooks}
    processes = [subprocess.Popen([sys.executable, "-m", "jikimi", *BACKGROUND[name],
                                   *(["--cluster", cluster] if cluster and name == "worker" else [])])
                 for name, on in wanted.items() if on]
    try:
        if workers == 1:
            uvicorn.Server(server_config(create_app(ws), host, port, forwarded_allow_ips)).run()
        else:  # uvicorn's supervisor: one listening socket, a process that dies is replaced
            config = server_config(SERVER_APP_FACTORY, host, port, forwarded_allow_ips, workers=workers)
            Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        for process in processes:
            process.terminate()  # the running scan is recorded as interrupted; the next worker resumes it
        for process in processes:
            process.wait(WORKER_STOP_SECONDS)


def server_config(app, host: str, port: int, forwarded_allow_ips: str = "", workers: int = 1):
    """uvicorn's settings for `serve`: forwarded headers only from the proxies named.

    uvicorn's own default trusts X-Forwarded-For from 127.0.0.1, so any local client could
    claim a fresh address with each failed login and never be throttled."""
    import uvicorn

    trusted = [ip.strip() for ip in forwarded_allow_ips.split(",") if ip.strip()]
    return uvicorn.Config(app, host=host, port=port, proxy_headers=bool(trusted),
                          forwarded_allow_ips=trusted or "", server_header=False, log_level="warning",
                          workers=workers, factory=isinstance(app, str))


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then exit.")] = False,
    cluster: Annotated[Optional[str], typer.Option(envvar="JIKIMI_CLUSTER", help=CLUSTER_HELP)] = None,
) -> None:
    """Run the scans and evidence packages asked for on the web, one at a time, as the user who asked.

    Start as many as the machine can take (each scan also uses a process per core). On start
    it resumes the jobs a stopped worker left behind. With --cluster, scans hash and analyse
    their files on a Dask cluster's workers instead (see docs/scale.md).
    """
    from jikimi.core.worker import Worker, stop_on_signals

    jk, _ = core()
    stop = threading.Event()
    stop_on_signals(stop)
    typer.echo(f"Jikimi worker {os.getpid()} on {jk.ws.home}; stop with Ctrl-C", err=True)
    try:
        Worker(jk, cluster).run(once=once, stop=stop)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)} (the least privileged by default).")]
    = DEFAULT_ROLE,
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


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every web user: role, disabled or not, recent failed logins."""
    jk, actor = core()
    users = jk.accounts.users(actor)
    if as_json:
        typer.echo(json.dumps(users, ensure_ascii=False, indent=2))
        return
    for u in users:
        state = "disabled" if u["disabled"] else "enabled"
        typer.echo(f"{u['id']:>4}  {u['name']}  {u['role']}  {state}  {u['recent_failures']} failed logins")


@user_app.command("role")
def user_role(name: str, role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")]) -> None:
    """Change a web user's workspace role (logged)."""
    jk, actor = core()
    user = jk.accounts.set_role(actor, name, role)
    typer.echo(f"{user['name']} is now {user['role']}")


@user_app.command("disable")
def user_disable(name: str) -> None:
    """Stop a user logging in; their sessions and API tokens end at once (logged)."""
    jk, actor = core()
    jk.accounts.disable(actor, name)
    typer.echo(f"{name} is disabled; their sessions and tokens have ended")


@user_app.command("enable")
def user_enable(name: str) -> None:
    """Let a disabled user log in again (logged); their old tokens stay revoked."""
    jk, actor = core()
    jk.accounts.enable(actor, name)
    typer.echo(f"{name} is enabled")


@user_app.command("reset-password")
def user_reset_password(name: str) -> None:
    """Give a user a temporary password, printed once; they must replace it when they log in."""
    jk, actor = core()
    print(jk.accounts.reset_password(actor, name)["temporary_password"])


@user_app.command("unlock")
def user_unlock(name: str) -> None:
    """Forget a user's failed logins, so no login delay remains (logged)."""
    jk, actor = core()
    cleared = jk.accounts.unlock(actor, name)["failures_cleared"]
    typer.echo(f"{name}: {cleared} failed logins forgotten")


@token_app.command("create")
def token_create(
    name: str,
    label: Annotated[str, typer.Option(help="What the token is for, to recognise it later.")] = "cli",
    scope: Annotated[list[str], typer.Option(help=f"One or more of: {', '.join(TOKEN_SCOPES)}.")] = ["read"],
    days: Annotated[int, typer.Option(help="Days until the token expires.")] = TOKEN_DAYS,
) -> None:
    """Create an API token for user NAME and print it (it is shown only this once)."""
    jk, actor = core()
    print(jk.accounts.create_token(actor, name, label, scope, days))


@token_app.command("list")
def token_list(name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The API tokens of user NAME: scopes, expiry, last use."""
    jk, actor = core()
    tokens = jk.accounts.user(actor, name)["tokens"]
    if as_json:
        typer.echo(json.dumps(tokens, ensure_ascii=False, indent=2))
        return
    for t in tokens:
        state = "revoked" if t["revoked"] else "expired" if t["expired"] else f"expires {t['expires_at']}"
        typer.echo(f"{t['id']:>4}  {t['label']}  {' '.join(t['scopes'])}  {state}")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke an API token by its id (see `jikimi token list NAME`)."""
    jk, actor = core()
    jk.accounts.revoke_token(actor, token_id)
    typer.echo(f"token {token_id} is revoked")
