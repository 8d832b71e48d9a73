"""What encrypting the vault costs: the demo scan and an evidence export, sealed vs plain.

    python benchmarks/vault_encryption.py --rounds 2 --items 100

Both modes run in this process, alternating, each in a fresh temporary workspace. "plain" is
the baseline: originals written to the vault unencrypted, as before encryption (the vault still
reads such files). Timed: `run_demo` (the bundled sample case, `--jobs 2`: building the sample
export, collection into the vault, hashing, faces, nudity, matching, the HTML report) and `export_package` over `--items` confirmed
1280-px pictures (decrypting every original into the ZIP), plus the vault alone (ingest and
read back 200 MB). Prints medians and ratios sealed / plain as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
from evidence_pipeline import distinct_pictures, telegram_export  # noqa: E402

from jikimi.cases import create_case  # noqa: E402
from jikimi.core.case_items import select_items  # noqa: E402
from jikimi.demo.run import run_demo  # noqa: E402
from jikimi.evidence.package import export_package  # noqa: E402
from jikimi.review import record_decision  # noqa: E402
from jikimi.scan import ScanOptions, start_scan  # noqa: E402
from jikimi.store.models import Case, Item  # noqa: E402
from jikimi.store.vault import Stored, Vault  # noqa: E402
from jikimi.workspace import Workspace  # noqa: E402


class PlainVault(Vault):
    """The baseline: ingest writes the original as it is (readers take such files as they are)."""

    def ingest(self, stream, max_bytes: int) -> Stored:
        data = stream.read()
        stored = Stored(hashlib.sha256(data).hexdigest(), len(data))
        path = self.path_for(stored.sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return stored

    def __reduce__(self):  # scan workers only read, and read plain files the same way
        return Vault, (self.root, self.home)


def workspace(tmp: Path, name: str, mode: str) -> Workspace:
    os.environ["JIKIMI_HOME"] = str(tmp / name)
    ws = Workspace(tmp / name)
    ws.init()
    if mode == "plain":
        ws.vault = PlainVault(ws.vault.root, ws.home)
    return ws


def time_demo(tmp: Path, mode: str, n: int) -> float:
    ws = workspace(tmp, f"demo-{mode}-{n}", mode)
    started = time.perf_counter()
    result = run_demo(ws, tmp / f"demo-out-{mode}-{n}", jobs=2)
    elapsed = time.perf_counter() - started
    assert result.found == result.expected and result.false_matches == 0
    return elapsed


def time_export(tmp: Path, mode: str, n: int, source: Path, items: int) -> float:
    ws = workspace(tmp, f"export-{mode}-{n}", mode)
    with ws.session() as session:
        case_id = create_case(ws, session, "benchmark case", "bench").id
    scan_id = start_scan(ws, source, ScanOptions(case_id=case_id, analyse=False))
    with ws.session() as session:
        ids = list(session.scalars(select(Item.id).where(Item.scan_id == scan_id)))
        assert len(ids) == items
        for item_id in ids:
            record_decision(session, ws.home, item_id, "confirm", "bench")
    started = time.perf_counter()
    with ws.session() as session:
        export_package(ws, session, session.get(Case, case_id), select_items(session, case_id, None),
                       out=tmp / f"case-{mode}-{n}.zip", lang="en", actor="bench")
    return time.perf_counter() - started


def time_vault(tmp: Path, mode: str, n: int, blob: bytes) -> float:
    ws = workspace(tmp, f"vault-{mode}-{n}", mode)
    started = time.perf_counter()
    stored = ws.vault.ingest(io.BytesIO(blob), max_bytes=len(blob))
    assert ws.vault.verify(stored.sha256)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--items", type=int, default=100, help="confirmed pictures in the exported case")
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {k: {"plain": [], "sealed": []} for k in ("demo", "export", "vault")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = telegram_export(tmp / "export-source", distinct_pictures(args.items, 1280))
        blob = os.urandom(200 * 2**20)
        for n in range(args.rounds):
            for mode in (("plain", "sealed") if n % 2 == 0 else ("sealed", "plain")):
                figures["demo"][mode].append(time_demo(tmp, mode, n))
                figures["export"][mode].append(time_export(tmp, mode, n, source, args.items))
                figures["vault"][mode].append(time_vault(tmp, mode, n, blob))
    result = {}
    for name, runs in figures.items():
        plain, sealed = statistics.median(runs["plain"]), statistics.median(runs["sealed"])
        result[name] = {"plain_s": round(plain, 2), "sealed_s": round(sealed, 2), "ratio": round(sealed / plain, 2)}
    print(json.dumps({"rounds": args.rounds, "export_items": args.items, "vault_mb": 200, **result}, indent=2))


if __name__ == "__main__":
    main()
