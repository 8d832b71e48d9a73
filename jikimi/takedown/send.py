"""Deliver notices through the SMTP server the centre configures, and nowhere else.

Without configuration nothing is sent: drafts are `.eml` files a person sends by hand and
then marks sent. The configuration is `$JIKIMI_HOME/smtp.json`:

    {"host": "smtp.example.org", "port": 587, "security": "starttls",
     "username": "centre", "password": "...", "sender": "Case team <cases@example.org>"}

or the same keys as `JIKIMI_SMTP_HOST`, `JIKIMI_SMTP_PORT`, `JIKIMI_SMTP_SECURITY`
(`starttls`, `ssl` or `none`), `JIKIMI_SMTP_USERNAME`, `JIKIMI_SMTP_PASSWORD`,
`JIKIMI_SMTP_SENDER`; the environment wins over the file.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.policy import SMTP
from pathlib import Path

from sqlalchemy.orm import Session

from jikimi.errors import JikimiError
from jikimi.private_output import write_private
from jikimi.store.models import utcnow
from jikimi.store.takedown_models import Notice
from jikimi.takedown.tracking import mark

SECURITY = ("starttls", "ssl", "none")
SETTINGS = ("host", "port", "security", "username", "password", "sender")
CONFIG_FILE = "smtp.json"
TIMEOUT_SECONDS = 30
EMAIL_IN = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


class SmtpNotConfigured(JikimiError):
    """No SMTP server is configured: notices stay drafts to send by hand."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = None


def load_config(home: Path) -> SmtpConfig | None:
    """The user's SMTP settings, or None when there are none."""
    path = home / CONFIG_FILE
    values = {**_file_values(home), **_env_values()}
    if not values.get("host"):
        return None
    if not values.get("sender"):
        raise JikimiError("SMTP is configured without a sender: set \"sender\" in smtp.json or JIKIMI_SMTP_SENDER")
    unknown = set(values) - set(SETTINGS)
    if unknown:
        raise JikimiError(f"unknown SMTP setting {sorted(unknown)[0]!r} in {path}")
    try:
        values["port"] = int(values.get("port", 587))
    except ValueError:
        raise JikimiError(f"SMTP port {values['port']!r} is not a number") from None
    if values.get("security", "starttls") not in SECURITY:
        raise JikimiError(f"SMTP security must be one of {', '.join(SECURITY)}")
    return SmtpConfig(**values)


def _file_values(home: Path) -> dict:
    path = home / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise JikimiError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise JikimiError(f"{path} must hold one JSON object")
    return values


def _env_values() -> dict:
    return {key: env for key in SETTINGS if (env := os.environ.get(f"JIKIMI_SMTP_{key.upper()}")) is not None}


def settings_view(home: Path) -> dict:
    """The settings as an admin may see them: every value but the password, which is only said to be set.

    `from_environment` names the settings a JIKIMI_SMTP_* variable gives; they win over the file.
    """
    values = {**_file_values(home), **_env_values()}
    return {"host": values.get("host") or "", "port": int(values.get("port") or 587),
            "security": values.get("security") or "starttls", "username": values.get("username") or "",
            "sender": values.get("sender") or "", "password_set": bool(values.get("password")),
            "configured": bool(values.get("host")), "from_environment": sorted(_env_values())}


def save_settings(home: Path, host: str, port: int | str | None, security: str, username: str | None,
                  sender: str, password: str | None = None, clear_password: bool = False) -> list[str]:
    """Write smtp.json (readable by the workspace's owner only); the names of the settings changed.

    An empty `password` keeps the one saved, so the form never needs to show it.
    """
    old = _file_values(home)
    new = {"host": host.strip(), "security": security or "starttls", "sender": " ".join(sender.split())}
    if not new["host"] or any(c in new["host"] for c in " /@:"):
        raise JikimiError("give the SMTP server's host name, e.g. smtp.example.org")
    try:
        new["port"] = int(port or 587)
    except ValueError:
        raise JikimiError(f"SMTP port {port!r} is not a number") from None
    if not 0 < new["port"] < 65536:
        raise JikimiError(f"SMTP port {new['port']} is not a port number (1-65535)")
    if new["security"] not in SECURITY:
        raise JikimiError(f"SMTP security must be one of {', '.join(SECURITY)}")
    if not EMAIL_IN.search(new["sender"]):
        raise JikimiError("the sender must hold an e-mail address, e.g. Case team <cases@example.org>")
    if (username or "").strip():
        new["username"] = username.strip()
    if password:
        new["password"] = password
    elif old.get("password") and not clear_password:
        new["password"] = old["password"]
    changed = sorted(k for k in SETTINGS if old.get(k) != new.get(k))
    write_private(home / CONFIG_FILE, json.dumps(new, ensure_ascii=False, indent=2) + "\n")
    return changed


def send_notice(session: Session, home: Path, notice: Notice, config: SmtpConfig | None,
                actor: str | None = None, clock: Callable[[], datetime] = utcnow) -> Notice:
    """Send (or re-send) one notice, then mark it sent. Raises and marks nothing on failure."""
    if config is None:
        raise SmtpNotConfigured(
            f"no SMTP server configured: send {notice.eml_path or notice.reference + '.eml'} by hand, then run "
            f"`jikimi takedown mark {notice.reference} sent` (or configure $JIKIMI_HOME/smtp.json)")
    if not notice.host.email:
        raise JikimiError(f"host {notice.host.name} takes no e-mail ({notice.host.url or 'see its notes'}): "
                          f"submit {notice.reference} by hand, then mark it sent")
    message = message_from_bytes(notice.eml, policy=SMTP)
    del message["From"]
    message["From"] = config.sender
    try:
        with _connect(config) as smtp:
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as e:
        raise JikimiError(f"could not send {notice.reference} through {config.host}:{config.port}: {e}") from None
    notice.eml = message.as_bytes(policy=SMTP)
    return mark(session, home, notice, "sent", actor=actor, clock=clock)


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.security == "ssl":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=TIMEOUT_SECONDS,
                                context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=TIMEOUT_SECONDS)
    try:
        if config.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp
