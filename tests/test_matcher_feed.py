"""Two matcher processes on one database stay in sync through the banks' change feed.

Two real `jikimi serve` processes (instance A and B) share one workspace database (SQLite,
or the suite's PostgreSQL server with JIKIMI_TEST_DB=postgres). Every change is made through
A's HMA routes; B, which loaded its index once, must answer with it within a second.
"""

from __future__ import annotations

import random
import time

import httpx
import pytest

from conftest import jpeg_bytes, picture
from jikimi import accounts
from jikimi.workspace import Workspace
from served_app import served_app
from test_platform_api import flip
from test_web_support import PASSWORD

FRESHNESS_SECONDS = 1.0  # issue 13: a change through any instance is seen by every instance within 1 s
POLL_SECONDS = 0.01
BANK = "SHARED"


def platform_workspace(root) -> tuple[Workspace, str]:
    """A new workspace with an admin `platform` and its lookup and curate token, closed for servers to open."""
    ws = Workspace(root / "home")
    ws.init()
    with ws.session() as session:
        user = accounts.add_user(session, "platform", "admin", PASSWORD)
        token = accounts.create_token(session, user, "platform", scopes=("lookup", "curate"))
    ws.engine.dispose()
    return ws, token


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    """(A, B): HTTP clients of two server processes on one workspace database."""
    ws, token = platform_workspace(tmp_path_factory.mktemp("feed"))
    headers = {"Authorization": f"Bearer {token}"}
    with served_app(ws.home, "--no-worker", "--no-webhooks") as a, \
            served_app(ws.home, "--no-worker", "--no-webhooks") as b:
        with httpx.Client(base_url=a.base, headers=headers, timeout=30) as client_a, \
                httpx.Client(base_url=b.base, headers=headers, timeout=30) as client_b:
            assert client_a.post("/c/banks", json={"name": BANK}).status_code == 201
            for client in (client_a, client_b):  # each loads its index now, before any change below
                assert client.get("/m/index/status").status_code == 200
            yield client_a, client_b


def random_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def raw_lookup(client: httpx.Client, pdq: str) -> list[int]:
    answer = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq})
    assert answer.status_code == 200, answer.text
    return answer.json()["matches"]


def seconds_until(condition) -> float:
    """How long after now the first request that found `condition()` true was sent.

    The send time, not the answer's: a loaded CI machine may take long to answer any request,
    which is not the feed's doing; what is measured is how soon after the change a lookup
    sent to B comes back with it."""
    started = time.monotonic()
    while True:
        sent = time.monotonic() - started
        if condition():
            return sent
        assert sent < 10 * FRESHNESS_SECONDS, "never seen by the other instance"
        time.sleep(POLL_SECONDS)


def test_a_hash_added_through_one_instance_is_matched_by_the_other_within_a_second(instances):
    a, b = instances
    rng = random.Random(13)
    delays = []
    for _ in range(5):
        pdq = random_pdq(rng)
        assert raw_lookup(b, pdq) == []
        content_id = a.post(f"/c/bank/{BANK}/signal", json={"pdq": pdq}).json()["id"]
        delays.append(seconds_until(lambda: raw_lookup(b, flip(pdq, 10)) == [content_id]))
    assert max(delays) <= FRESHNESS_SECONDS, delays


def test_an_uploaded_picture_banked_through_one_instance_is_matched_by_the_other(instances):
    a, b = instances
    photo = jpeg_bytes(picture("chelsea"))
    pdq = b.post("/h/hash", files={"photo": ("cat.jpg", photo)}).json()["pdq"]
    added = a.post(f"/c/bank/{BANK}/content", files={"photo": ("cat.jpg", photo)}).json()
    assert seconds_until(lambda: added["id"] in raw_lookup(b, pdq)) <= FRESHNESS_SECONDS


def test_removal_disable_and_threshold_changes_reach_the_other_instance(instances):
    a, b = instances
    rng = random.Random(14)
    gone, paused, near = random_pdq(rng), random_pdq(rng), random_pdq(rng)
    gone_id = a.post(f"/c/bank/{BANK}/signal", json={"pdq": gone}).json()["id"]
    paused_id = a.post(f"/c/bank/{BANK}/signal", json={"pdq": paused}).json()["id"]
    near_id = a.post(f"/c/bank/{BANK}/signal", json={"pdq": near}).json()["id"]
    seconds_until(lambda: raw_lookup(b, gone) and raw_lookup(b, paused) and raw_lookup(b, near))

    assert a.delete(f"/c/bank/{BANK}/content/{gone_id}").json() == {"deleted": 1}
    assert seconds_until(lambda: raw_lookup(b, gone) == []) <= FRESHNESS_SECONDS

    def matched_by_lookup(pdq: str) -> bool:
        return bool(b.get("/m/lookup", params={"signal_type": "pdq", "signal": pdq}).json())

    assert a.put(f"/c/bank/{BANK}/content/{paused_id}", json={"disable_until_ts": 0}).status_code == 200
    assert seconds_until(lambda: not matched_by_lookup(paused)) <= FRESHNESS_SECONDS
    assert a.put(f"/c/bank/{BANK}/content/{paused_id}", json={"disable_until_ts": 1}).status_code == 200
    assert seconds_until(lambda: matched_by_lookup(paused)) <= FRESHNESS_SECONDS

    copy = flip(near, 20)
    assert raw_lookup(b, copy) == [near_id]
    assert a.put(f"/c/bank/{BANK}", json={"pdq_threshold": 10}).status_code == 200
    assert seconds_until(lambda: raw_lookup(b, copy) == []) <= FRESHNESS_SECONDS
    assert raw_lookup(b, flip(near, 5)) == [near_id]
    a.put(f"/c/bank/{BANK}", json={"pdq_threshold": 31})
