"""Review-queue page, its JSON twin and filtered list pages with 100,000 items across 50 cases:
median and p95 time.

Builds a workspace with one scan per case, N items in all (each a distinct content with a
blurred thumbnail, a PDQ match to a bank, a triage priority and two posts; one in ten also
matches the face of another case's subject, so it waits in that case's queue too), serves
the real app with uvicorn on 127.0.0.1 and times GET /review and GET /api/review with the
membership checks on: as an admin (every case, no membership filter: the baseline), as a
reviewer who is a member of every case, and as one who is a member of five; then the
filtered list pages (the queue as a table by tier and chat, decisions by verdict, the
custody log by action, cases by search). Times are
measured by the client over loopback, so they include HTTP and are an upper bound on the
server's. Target: p95 under 200 ms.

    .venv/bin/python benchmarks/review_queue.py [--items 100000] [--cases 50] [--requests 200]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import picture  # noqa: E402
from jikimi.media.thumbnails import blurred_thumbnail  # noqa: E402
from jikimi.review import record_decision  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from jikimi import accounts  # noqa: E402
from jikimi.store.models import Bank, BankContent, Case, Content, Item, ItemLocator, Match, Scan, Subject  # noqa: E402
from jikimi.store.web_models import CaseMember, WebUser  # noqa: E402
from jikimi.workspace import Workspace  # noqa: E402
from test_web_support import PASSWORD, add_role_users, login, serve  # noqa: E402

FEW_CASES = 5
CHATS = 40
TARGET_P95_MS = 200
BATCH = 5_000


def populate(ws: Workspace, count: int, cases: int) -> None:
    thumbnail = blurred_thumbnail(picture("coffee"))
    with ws.session() as session:
        bank = Bank(name="known", pdq_threshold=31)
        session.add(bank)
        session.flush()
        known = BankContent(bank_id=bank.id, kind="image", label="known.jpg")
        session.add(known)
        session.flush()
        scans, subjects = [], []
        for n in range(cases):
            case = Case(title=f"case {n}", created_by="bench")
            session.add(case)
            session.flush()
            subject = Subject(case_id=case.id, name=f"subject {n}", consent={})
            scan = Scan(source=f"/bench/{n}", source_kind="folder", status="complete", options={}, enumerated=True,
                        case_id=case.id)
            session.add_all([subject, scan])
            session.flush()
            scans.append(scan.id)
            subjects.append(subject.id)
        for start in range(0, count, BATCH):  # written in batches of plain rows: 100,000 items in about a minute
            contents, items, locators, matches = [], [], [], []
            for n in range(start, min(count, start + BATCH)):
                sha, item_id, scan_id = hashlib.sha256(str(n).encode()).hexdigest(), n + 1, scans[n % cases]
                contents.append({"sha256": sha, "md5": sha[:32], "size": 1000, "kind": "image",
                                 "mime_type": "image/jpeg", "width": 640, "height": 480, "pdq": "0" * 64,
                                 "pdq_quality": 100, "thumbnail": thumbnail})
                items.append({"id": item_id, "scan_id": scan_id, "first_ordinal": 2 * n, "sha256": sha, "done": True,
                              "priority": (n * 7919) % 3000, "reason": "matches bank 'known' (pdq, distance 12)"})
                locators += [{"scan_id": scan_id, "item_id": item_id, "ordinal": 2 * n,
                              "fields": {"path": f"photos/{n}.jpg", "chat": f"room {n % CHATS}"}},
                             {"scan_id": scan_id, "item_id": item_id, "ordinal": 2 * n + 1,
                              "fields": {"path": f"photos/{n}b.jpg"}}]
                matches.append({"item_id": item_id, "kind": "pdq", "bank_id": bank.id, "bank_content_id": known.id,
                                "distance": 12, "detail": {}})
                if n % 10 == 0:  # her face, in a room another case scanned: routed to her case
                    matches.append({"item_id": item_id, "kind": "face", "subject_id": subjects[(n + 1) % cases],
                                    "distance": 0.4, "detail": {}})
            for model, rows in ((Content, contents), (Item, items), (ItemLocator, locators), (Match, matches)):
                session.execute(insert(model), rows)
        # Some work already done: a hundred decisions on the most urgent items.
        top = session.scalars(Item.__table__.select().with_only_columns(Item.id)
                              .order_by(Item.priority.desc()).limit(100)).all()
        for item_id in top:
            record_decision(session, ws.home, item_id, "not_abusive", "bench")
        users = {u.name: u for u in session.scalars(select(WebUser))}
        for case_id in range(1, cases + 1):
            session.add(CaseMember(case_id=case_id, user_id=users["rhee"].id, role="reviewer", added_by="bench"))
            if case_id <= FEW_CASES:
                session.add(CaseMember(case_id=case_id, user_id=users["mina"].id, role="reviewer", added_by="bench"))


def timings(client, path: str, requests: int) -> list[float]:
    client.get(path)  # warm up
    spent = []
    for _ in range(requests):
        start = time.perf_counter()
        answer = client.get(path)
        spent.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, answer.text[:200]
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "home")
        ws.init()
        add_role_users(ws)
        with ws.session() as session:
            accounts.add_user(session, "mina", "reviewer", PASSWORD)
        started = time.perf_counter()
        populate(ws, args.items, args.cases)
        print(f"workspace with {args.items:,} items across {args.cases} cases built in "
              f"{time.perf_counter() - started:.1f} s")
        with serve(ws) as base:
            readers = {"admin (all cases, baseline)": "ada", f"reviewer, member of {args.cases} cases": "rhee",
                       f"reviewer, member of {FEW_CASES} cases": "mina"}
            baseline, worst = {}, 0.0
            print(f"{'who':<34}{'route':<26}{'waiting':>8}{'median ms':>10}{'p95 ms':>8}{'max ms':>8}{'p95 ratio':>10}")
            for who, name in readers.items():
                client = login(base, name)
                waiting = client.get("/api/review").json()["waiting"]
                waiting = "many" if waiting is None else waiting  # not counted within the page's time limit
                item = client.get("/api/review").json()["upcoming"][5]["id"]
                lists = {"/review/table?tier&chat": "/review/table?tier=2&chat=room%203",
                         "/api/review/table?tier": "/api/review/table?tier=2&page=3",
                         "/decisions?verdict": "/decisions?verdict=not_abusive",
                         "/audit?action": "/audit?action=decision", "/cases?q": "/cases?q=case%201"}
                paths = {"/review": "/review", "/api/review": "/api/review", "/review?item": f"/review?item={item}",
                         "/api/review?item": f"/api/review?item={item}", **lists}
                for key, path in paths.items():
                    spent = sorted(timings(client, path, args.requests))
                    p95 = spent[int(0.95 * len(spent)) - 1]
                    baseline.setdefault(key, p95)
                    worst = max(worst, p95)
                    print(f"{who:<34}{key:<26}{waiting:>8}{statistics.median(spent):>10.1f}{p95:>8.1f}"
                          f"{spent[-1]:>8.1f}{p95 / baseline[key]:>10.2f}")
                client.close()
            print(f"slowest p95: {worst:.1f} ms (target < {TARGET_P95_MS} ms): {'met' if worst < TARGET_P95_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
