"""`jikimi serve` starts what the web app needs beside it: the webhook sender (and the worker)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import picture, save_jpeg
from jikimi.core import Actor, Jikimi
from jikimi.scan import ScanOptions
from served_app import child_commands, served_app
from test_webhooks import Receiver, hook

DELIVERY_SECONDS = 30  # the sender looks at the outbox every 5 s; a loaded machine starts it slowly


def test_serve_starts_the_webhook_sender(ws, tmp_path):
    """A match made while the server runs reaches the receiver with no `jikimi webhook send`."""
    receiver = Receiver()
    try:
        jk = Jikimi(ws)
        hook(jk, receiver)
        known = save_jpeg(picture("astronaut"), tmp_path / "known" / "known.jpg")
        jk.banks.create(Actor.cli(), "known")
        jk.banks.add_files(Actor.cli(), "known", [known])
        with served_app(ws.home, "--no-worker"):
            scan_id = jk.scans.start(Actor.cli(), known.parent, ScanOptions(jobs=1, analyse=False))
            deadline = time.monotonic() + DELIVERY_SECONDS
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.2)
        [sent] = receiver.requests
        payload = json.loads(sent["body"])
        assert payload["type"] == "match.created" and payload["data"]["scan_id"] == scan_id
    finally:
        receiver.close()


def test_stopping_serve_stops_what_it_started(ws):
    with served_app(ws.home) as app:
        children = child_commands(app.pid)
        commands = sorted(" ".join(c.split()[2:4]) for c in children.values())
        assert commands == ["jikimi webhook", "jikimi worker"]
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
