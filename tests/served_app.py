"""`jikimi serve` as a real process on a free port, as a deployment runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 60  # a loaded CI machine imports the web stack slowly


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    pid: int


def child_commands(pid: int) -> dict[int, str]:
    """The command lines of a process's children, by pid (from /proc)."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return found


@contextmanager
def served_app(home: Path, *options: str):
    """`jikimi serve OPTIONS` on the workspace (and on JIKIMI_DATABASE_URL, if set) until it
    answers; stops it, and what it started, on the way out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JIKIMI_HOME": str(home), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "jikimi", "serve", "--port", str(port), *options], env=env,
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jikimi serve stopped: {process.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield Served(base, process.pid)
    finally:
        process.terminate()  # serve stops the processes it started, then itself
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
