"""Files scanned before SHA-1 was kept (migration 0016) get it from the vault when a scan meets
them again, so a SHA-1 list (NCMEC's fingerprints) matches them; a file gone from the vault
stays without, and the scan goes on."""

from __future__ import annotations

import hashlib
import io

from PIL import Image
from skimage import data
from sqlalchemy import select, update

from jikimi import banks
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.models import Content


def _folder_with_a_picture(path):
    path.mkdir()
    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, "JPEG", quality=90)
    (path / "coffee.jpg").write_bytes(buffer.getvalue())
    return path, hashlib.sha1(buffer.getvalue()).hexdigest()


def _scan(ws, folder) -> dict:
    scan_id = start_scan(ws, folder, ScanOptions(jobs=1, analyse=False))
    with ws.session() as session:
        return scan_report(session, scan_id)


def _forget_sha1s(ws) -> None:
    """As a workspace scanned before migration 0016 is."""
    with ws.session() as session:
        session.execute(update(Content).values(sha1=None))


def test_a_rescan_backfills_sha1_from_the_vault_and_a_sha1_list_then_matches(ws, tmp_path):
    folder, sha1 = _folder_with_a_picture(tmp_path / "posts")
    assert _scan(ws, folder)["items"][0]["matches"] == []
    _forget_sha1s(ws)
    with ws.session() as session:
        bank = banks.create_bank(session, "ncmec")
        banks.import_list(session, bank, f"sha1,{sha1},a listed file\n", "csv")
    [item] = _scan(ws, folder)["items"]
    assert [m["kind"] for m in item["matches"]] == ["sha1"]
    with ws.session() as session:
        assert session.scalar(select(Content.sha1)) == sha1


def test_the_vault_gives_no_sha1_for_a_file_gone_or_altered(ws, tmp_path):
    """A re-scan ingests its files again, so their vault files are there; a file gone (or
    altered) on disk since must give no SHA-1 rather than a wrong one."""
    folder, sha1 = _folder_with_a_picture(tmp_path / "posts")
    [item] = _scan(ws, folder)["items"]
    assert ws.vault.digest(item["sha256"], "sha1") == sha1
    path = ws.vault.path_for(item["sha256"])
    path.chmod(0o600)
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    assert ws.vault.digest(item["sha256"], "sha1") is None
    path.unlink()
    assert ws.vault.digest(item["sha256"], "sha1") is None
