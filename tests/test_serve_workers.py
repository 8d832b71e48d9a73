"""`jikimi serve --workers 2`: two server processes on one port, each answering lookups from
its own index kept current from the banks' change feed, all stopped by one SIGTERM.

Which process answered is found from outside, as an operator would: the kernel's table of
TCP connections (/proc/net/tcp) gives the inode of the server side of each client connection,
and each worker's open file descriptors (/proc/PID/fd) say which process holds it. The app has
no header or route naming its process.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from served_app import child_commands, served_app
from test_matcher_feed import FRESHNESS_SECONDS, platform_workspace, random_pdq

WORKERS = 2
MAX_CONNECTIONS = 200  # the kernel hands each new connection to whichever worker accepts first
STOP_SECONDS = 60
BANK = "SHARED"
ESTABLISHED = "01"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the serve process, its worker pids, a token) of `jikimi serve --workers 2` with its
    background worker and webhook sender, as deployed."""
    ws, token = platform_workspace(tmp_path_factory.mktemp("workers"))
    with served_app(ws.home, "--workers", str(WORKERS)) as server:
        yield server, server_processes(server.pid), token


def server_processes(pid: int) -> list[int]:
    """The pids of uvicorn's worker processes under `jikimi serve` (once all have started)."""
    deadline = time.monotonic() + STOP_SECONDS
    while True:
        found = [child for child, command in child_commands(pid).items() if "multiprocessing.spawn" in command]
        if len(found) == WORKERS:
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {WORKERS} server processes started"
        time.sleep(0.1)


def holder_of(connection: http.client.HTTPConnection, port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server side of this (accepted) client connection."""
    client_port = connection.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == client_port \
                and state == ESTABLISHED:
            inode = fields[9]
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def request(connection: http.client.HTTPConnection, method: str, path: str, token: str, body=None) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    answer = connection.getresponse()
    data = answer.read()
    assert answer.status < 300, data
    return json.loads(data)


def one_connection_per_process(port: int, pids: list[int], token: str) -> dict[int, http.client.HTTPConnection]:
    """Open connections until each server process has accepted one; the others are closed."""
    held: dict[int, http.client.HTTPConnection] = {}
    for _ in range(MAX_CONNECTIONS):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        request(connection, "GET", "/m/index/status", token)  # accepted, answered: and its index loaded
        pid = holder_of(connection, port, pids)
        if pid is not None and pid not in held:
            held[pid] = connection
            if len(held) == len(pids):
                return held
        else:
            connection.close()
    raise AssertionError(f"after {MAX_CONNECTIONS} connections only {sorted(held)} of {pids} accepted one")


def raw_lookup(connection: http.client.HTTPConnection, token: str, pdq: str) -> list[int]:
    query = urlencode({"signal_type": "pdq", "signal": pdq})
    return request(connection, "GET", f"/m/raw_lookup?{query}", token)["matches"]


def test_both_processes_answer_and_match_a_hash_added_through_the_api_within_a_second(served):
    server, pids, token = served
    port = int(server.base.rsplit(":", 1)[1])
    held = one_connection_per_process(port, pids, token)
    first = next(iter(held.values()))
    request(first, "POST", "/c/banks", token, {"name": BANK})
    rng = random.Random(13)
    for _ in range(3):
        pdq = random_pdq(rng)
        assert all(raw_lookup(connection, token, pdq) == [] for connection in held.values())
        added = time.monotonic()
        content_id = request(first, "POST", f"/c/bank/{BANK}/signal", token, {"pdq": pdq})["id"]
        for pid, connection in held.items():  # the process that did not take the add follows the feed
            while raw_lookup(connection, token, pdq) != [content_id]:
                assert time.monotonic() - added < 10 * FRESHNESS_SECONDS, f"process {pid} never matched it"
                time.sleep(0.01)
            assert time.monotonic() - added < FRESHNESS_SECONDS, f"process {pid} matched it late"
    for connection in held.values():
        connection.close()


def descendants(pid: int) -> list[int]:
    children = list(child_commands(pid))
    return children + [grandchild for child in children for grandchild in descendants(child)]


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_to_serve_stops_every_process_it_started(served):
    server, pids, _ = served
    started = descendants(server.pid)
    commands = " ".join(child_commands(server.pid).values())
    assert set(pids) <= set(started) and " worker" in commands and "webhook send" in commands
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while any(running(pid) for pid in [server.pid, *started]):
        assert time.monotonic() < deadline, [pid for pid in [server.pid, *started] if running(pid)]
        time.sleep(0.1)
