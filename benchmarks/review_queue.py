"""Review-queue page and its JSON twin with 10,000 items waiting: median and p95 time.

Builds a workspace with one scan of N items (each a distinct content with a blurred
thumbnail, a PDQ match to a bank, a triage priority and two posts), serves the real app
with uvicorn on 127.0.0.1 and times GET /review and GET /api/review as a logged-in reviewer.
Times are measured by the client over loopback, so they include HTTP and are an upper bound
on the server's. Half the requests go to a decided-upon queue position (after decisions), as
in real use. Target: p95 under 200 ms.

    .venv/bin/python benchmarks/review_queue.py [--items 10000] [--requests 200]
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
from jikimi.store.models import Bank, BankContent, Content, Item, ItemLocator, Match, Scan  # noqa: E402
from jikimi.workspace import Workspace  # noqa: E402
from test_web_support import add_role_users, login, serve  # noqa: E402


def populate(ws: Workspace, count: int) -> None:
    thumbnail = blurred_thumbnail(picture("coffee"))
    with ws.session() as session:
        bank = Bank(name="known", pdq_threshold=31)
        session.add(bank)
        session.flush()
        known = BankContent(bank_id=bank.id, kind="image", label="known.jpg")
        scan = Scan(source="/bench", source_kind="folder", status="complete", options={}, enumerated=True)
        session.add_all([known, scan])
        session.flush()
        for n in range(count):
            sha = hashlib.sha256(str(n).encode()).hexdigest()
            session.add(Content(sha256=sha, md5=sha[:32], size=1000, kind="image", mime_type="image/jpeg",
                                width=640, height=480, pdq="0" * 64, pdq_quality=100, thumbnail=thumbnail))
            item = Item(scan_id=scan.id, first_ordinal=2 * n, sha256=sha, done=True, priority=(n * 7919) % 3000,
                        reason="matches bank 'known' (pdq, distance 12)")
            session.add(item)
            session.flush()
            session.add_all([
                ItemLocator(scan_id=scan.id, item_id=item.id, ordinal=2 * n, fields={"path": f"photos/{n}.jpg"}),
                ItemLocator(scan_id=scan.id, item_id=item.id, ordinal=2 * n + 1, fields={"path": f"photos/{n}b.jpg"}),
                Match(item_id=item.id, kind="pdq", bank_id=bank.id, bank_content_id=known.id, distance=12, detail={}),
            ])
        # Some work already done: a hundred decisions on the most urgent items.
        top = session.scalars(Item.__table__.select().with_only_columns(Item.id)
                              .order_by(Item.priority.desc()).limit(100)).all()
        for item_id in top:
            record_decision(session, ws.home, item_id, "not_abusive", "bench")


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
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "home")
        ws.init()
        started = time.perf_counter()
        populate(ws, args.items)
        print(f"workspace with {args.items:,} items built in {time.perf_counter() - started:.1f} s")
        add_role_users(ws)
        with serve(ws) as base:
            client = login(base, "rhee")
            assert client.get("/api/review").json()["waiting"] == args.items - 100
            print(f"{'route':<22}{'median ms':>8}{'p95 ms':>10}{'max ms':>10}")
            for path in ("/review", "/api/review", "/review?item=5000", "/api/review?item=5000"):
                spent = sorted(timings(client, path, args.requests))
                p95 = spent[int(0.95 * len(spent)) - 1]
                print(f"{path:<22}{statistics.median(spent):>8.1f}{p95:>10.1f}{spent[-1]:>10.1f}")


if __name__ == "__main__":
    main()
