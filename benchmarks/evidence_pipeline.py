"""From a reviewed case to a verified evidence package and drafted notices: how long it takes.

    python benchmarks/evidence_pipeline.py --items 100

Setup (not timed): 100 distinct harmless pictures (windows of scikit-image's public-domain
photographs, scaled to phone-photo size) posted in a Telegram Desktop export, scanned into a
case in a temporary workspace, every item confirmed. Timed: `export_package` (originals,
manifest, signature, HTML and PDF report in Korean), `verify_package` on the result, and
notices drafted to Telegram (English) and KCSC (Korean). Target: under 60 s in all.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data
from sqlalchemy import select

from jikimi.cases import create_case
from jikimi.core.case_items import select_items
from jikimi.evidence.package import export_package
from jikimi.evidence.verify import verify_package
from jikimi.review import record_decision
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.models import Case, Item
from jikimi.takedown.notices import draft_notices
from jikimi.workspace import Workspace

PICTURES = ("chelsea", "coffee", "rocket", "astronaut", "immunohistochemistry", "horse", "coins", "retina")


def distinct_pictures(count: int, width: int) -> list[Image.Image]:
    """`count` different pictures: a moving window over each photograph, scaled to `width`."""
    sources = []
    for name in PICTURES:
        array = getattr(data, name)()
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        sources.append(Image.fromarray(array.astype(np.uint8)).convert("RGB"))
    pictures = []
    for n in range(count):
        source = sources[n % len(sources)]
        step = n // len(sources)
        w, h = source.size
        box = (step * w // 60, step * h // 80, w - (step % 5) * w // 50, h - (step % 7) * h // 60)
        crop = source.crop(box)
        pictures.append(crop.resize((width, width * crop.size[1] // crop.size[0])))
    return pictures


def telegram_export(folder: Path, pictures: list[Image.Image]) -> Path:
    messages = []
    for n, picture in enumerate(pictures):
        (folder / "photos").mkdir(parents=True, exist_ok=True)
        picture.save(folder / "photos" / f"photo_{n}.jpg", "JPEG", quality=90)
        messages.append({"id": 1000 + n, "type": "message", "date_unixtime": str(1725000000 + 37 * n),
                         "from": "seller", "photo": f"photos/photo_{n}.jpg", "text": ""})
    chat = {"name": "benchmark room", "type": "private_supergroup", "id": -1001234567890, "messages": messages}
    (folder / "result.json").write_text(json.dumps(chat), encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--width", type=int, default=1280, help="picture width in pixels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["JIKIMI_HOME"] = str(tmp / "home")
        ws = Workspace(tmp / "home")
        ws.init()
        started = time.perf_counter()
        source = telegram_export(tmp / "export", distinct_pictures(args.items, args.width))
        with ws.session() as session:
            case_id = create_case(ws, session, "benchmark case", "bench").id
        scan_id = start_scan(ws, source, ScanOptions(case_id=case_id, analyse=False))
        with ws.session() as session:
            item_ids = list(session.scalars(select(Item.id).where(Item.scan_id == scan_id)))
            for item_id in item_ids:
                record_decision(session, ws.home, item_id, "confirm", "bench")
        setup = time.perf_counter() - started
        assert len(item_ids) == args.items, f"{len(item_ids)} distinct items, expected {args.items}"

        timings = {}
        t0 = time.perf_counter()
        with ws.session() as session:
            items = select_items(session, case_id, None)
            package = export_package(ws, session, session.get(Case, case_id), items, out=tmp / "case.zip", lang="ko",
                                     actor="bench")
        timings["export_package_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = verify_package(package)
        timings["verify_package_s"] = time.perf_counter() - t1
        assert report.ok, report.problems
        t2 = time.perf_counter()
        with ws.session() as session:
            items = select_items(session, case_id, None)
            notices = (draft_notices(ws, session, case_id, "telegram", "en", items, actor="bench")
                       + draft_notices(ws, session, case_id, "kcsc", "ko", items, actor="bench"))
        timings["draft_notices_s"] = time.perf_counter() - t2
        timings["total_s"] = time.perf_counter() - t0
        print(json.dumps({
            "items": args.items, "picture_width": args.width, "setup_scan_and_review_s": round(setup, 2),
            **{k: round(v, 2) for k, v in timings.items()},
            "package_mb": round(package.stat().st_size / 2**20, 1), "notices": len(notices),
            "target_s": 60, "met": timings["total_s"] < 60,
        }, indent=2))


if __name__ == "__main__":
    main()
