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
from jikimi.store.models import utcnow
from jikimi.store.takedown_models import Notice
from jikimi.takedown.tracking import mark

SECURITY = ("starttls", "ssl", "none")
TIMEOUT_SECONDS = 30


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
    values: dict = {}
    path = home / "smtp.json"
    if path.exists():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise JikimiError(f"{path} is not valid JSON ({e})") from None
        if not isinstance(values, dict):
            raise JikimiError(f"{path} must hold one JSON object")
    for key in ("host", "port", "security", "username", "password", "sender"):
        if (env := os.environ.get(f"JIKIMI_SMTP_{key.upper()}")) is not None:
            values[key] = env
    if not values.get("host"):
        return None
    if not values.get("sender"):
        raise JikimiError("SMTP is configured without a sender: set \"sender\" in smtp.json or JIKIMI_SMTP_SENDER")
    unknown = set(values) - {"host", "port", "security", "username", "password", "sender"}
    if unknown:
        raise JikimiError(f"unknown SMTP setting {sorted(unknown)[0]!r} in {path}")
    try:
        values["port"] = int(values.get("port", 587))
    except ValueError:
        raise JikimiError(f"SMTP port {values['port']!r} is not a number") from None
    if values.get("security", "starttls") not in SECURITY:
        raise JikimiError(f"SMTP security must be one of {', '.join(SECURITY)}")
    return SmtpConfig(**values)


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
