"""Login throttling: growing delays per account and per client address, never a hard lock.

A lock after N failures lets anyone lock a person out by typing her name; OWASP's
authentication guidance and Django's (django-axes with a cool-off) recommend throttling
that grows with the failures instead. Two keys, counted over the last `WINDOW`:

- the **account** (a name, from every address): after `ACCOUNT.free` failures each attempt
  waits 1, 2, 4... seconds after the last failure, at most `ACCOUNT.max_delay`, so the real
  person gets in with the right password after at most that wait, whoever failed before;
- the **client address** (as seen through trusted proxies only): after `ADDRESS.free`
  failures the delay grows to `ADDRESS.max_delay`; this stops one machine guessing one
  account or spraying a few common passwords over many names, and hurts only that machine.

A refused attempt checks no password and records nothing, so waiting is the only way on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from jikimi.store.models import utcnow
from jikimi.store.web_models import LoginFailure

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed before any delay
    max_delay: int  # seconds

    def delay(self, failures: int) -> int:
        if failures < self.free:
            return 0
        return min(self.max_delay, 2 ** min(failures - self.free, 30))


# Five typos are free; the delay an attacker can force on a person stays under half a minute.
ACCOUNT = Rule(free=5, max_delay=30)
# A shared office address gets ten; a guessing machine soon waits a quarter hour per try.
ADDRESS = Rule(free=10, max_delay=15 * 60)


def wait_seconds(session: Session, name: str, address: str) -> int:
    """Seconds before this name may try again from this address; 0 when it may now."""
    now = utcnow()
    waits = [_wait(session, LoginFailure.name == name[:200], ACCOUNT, now),
             _wait(session, LoginFailure.address == address[:100], ADDRESS, now)]
    return max(waits)


def record_failure(session: Session, name: str, address: str) -> None:
    session.add(LoginFailure(name=name[:200], address=address[:100]))


def forgive(session: Session, name: str, address: str) -> None:
    """After a right password: that person's own typos from that address no longer count."""
    session.execute(delete(LoginFailure).where(LoginFailure.name == name, LoginFailure.address == address))


def unlock(session: Session, name: str) -> int:
    """An admin clears every failure counted against the account; returns how many."""
    return session.execute(delete(LoginFailure).where(LoginFailure.name == name)).rowcount


def recent_failures(session: Session, name: str) -> int:
    return session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.name == name, LoginFailure.at > utcnow() - WINDOW))


def _wait(session: Session, key, rule: Rule, now: datetime) -> int:
    failures, last = session.execute(select(func.count(), func.max(LoginFailure.at))
                                     .where(key, LoginFailure.at > now - WINDOW)).one()
    delay = rule.delay(failures)
    if not delay:
        return 0
    last = last if last.tzinfo else last.replace(tzinfo=timezone.utc)
    remaining = (last + timedelta(seconds=delay) - now).total_seconds()
    return max(0, int(remaining + 0.999))
