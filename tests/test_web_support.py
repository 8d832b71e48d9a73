"""Shared by the web tests (no tests here): the real app served by uvicorn on a free port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi.routing import APIRoute

from jikimi import accounts
from jikimi.web import create_app

PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parent.parent
ROLE_USERS = {"admin": "ada", "caseworker": "cora", "reviewer": "rhee", "viewer": "vic"}


@contextmanager
def worker(ws):
    """A real `jikimi worker` process on the workspace, as `jikimi serve` starts one; yields it.

    The workspace's own database is named: on PostgreSQL a module's workspace outlives the
    JIKIMI_DATABASE_URL of the test using it, and a worker on that one would find no job."""
    env = {**os.environ, "JIKIMI_HOME": str(ws.home), "JIKIMI_DATABASE_URL": ws.database_url, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "jikimi", "worker"], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stderr.close()


@contextmanager
def serve(ws, with_worker: bool = True, **options):
    """The app on 127.0.0.1 at a random port, in a thread, with a worker process for its scans;
    yields its base URL."""
    if with_worker:
        with worker(ws), serve(ws, with_worker=False, **options) as base:
            yield base
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(ws, **options), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def add_role_users(ws) -> None:
    with ws.session() as session:
        for role, name in ROLE_USERS.items():
            accounts.add_user(session, name, role, PASSWORD)


def login(base: str, name: str, password: str = PASSWORD) -> httpx.Client:
    """A client with a browser session, as after filling in the login form."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = client.post("/login", data={"name": name, "password": password, "csrf_token": csrf, "next": "/"})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def api_routes(routes):
    """Every API route of the app, including those of included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)
