"""The CLI's way into the core: the workspace's `Jikimi` object and who is acting.

A CLI user works on the workspace's own machine with its keys, so they act with the admin
role; they are named by their OS user, or by `jikimi --actor NAME ...` for a shared service
account, recorded as claimed next to the OS user.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from jikimi.core import Actor, Jikimi
from jikimi.workspace import open_workspace

_claimed: dict[str, str | None] = {"name": None}  # `--actor` of the command being run


def actor_option(
    ctx: typer.Context,
    actor: Annotated[Optional[str], typer.Option(
        "--actor", help="Act as this person (a shared service account): recorded as claimed, with the OS user.")] = None,
) -> None:
    """Find, review, evidence and take down non-consensual intimate images and sexual deepfakes."""
    _claimed["name"] = actor
    ctx.call_on_close(lambda: _claimed.update(name=None))  # one command's claim never outlives it


def core() -> tuple[Jikimi, Actor]:
    return Jikimi(open_workspace()), Actor.cli(_claimed["name"])
