"""Evidence packages over a real scan of a Telegram export: export, verify, tamper, verify again."""

import json
import os
import shutil
import subprocess
import zipfile

import pytest
from sqlalchemy import select, text

from conftest import picture, save_jpeg
from jikimi import keys
from jikimi.audit import AuditLog
from jikimi.cases import create_case
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.evidence import layout
from jikimi.core.case_items import select_items
from jikimi.evidence.package import VaultTampered, export_package
from jikimi.evidence.verify import verify_package
from jikimi.review import record_decision
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.models import Case, Item

PICTURES = ("chelsea", "coffee", "rocket")
CHAT_ID = -1001234567890
FIRST_MESSAGE = 500
POSTED_AT = 1725000000  # 2024-08-30 06:40:00 UTC


def export(ws, session, case_id: int, item_ids: list[int] | None = None, **options):
    """As the core does it: choose the case's items, then write their package."""
    return export_package(ws, session, session.get(Case, case_id), select_items(session, case_id, item_ids), **options)


def telegram_export(folder, pictures=PICTURES):
    """A one-chat Telegram Desktop export: each picture posted once, the first one twice."""
    messages = []
    for number, name in enumerate(pictures):
        save_jpeg(picture(name), folder / "photos" / f"photo_{number}.jpg")
        messages.append({"id": FIRST_MESSAGE + number, "type": "message", "date_unixtime": str(POSTED_AT + 60 * number),
                         "from": "익명 판매자", "from_id": "user42", "photo": f"photos/photo_{number}.jpg", "text": ""})
    messages.append({**messages[0], "id": FIRST_MESSAGE + 99, "date_unixtime": str(POSTED_AT + 3600)})
    chat = {"name": "교실 합성 채팅방", "type": "private_supergroup", "id": CHAT_ID, "messages": messages}
    (folder / "result.json").write_text(json.dumps(chat, ensure_ascii=False), encoding="utf-8")
    return folder


def reviewed_case(ws, tmp_path, pictures=PICTURES, confirm=None):
    """A case with a scan of a Telegram export whose items are confirmed (all, or the first `confirm`)."""
    with ws.session() as session:
        case_id = create_case(ws, session, "사건 2024-17", "caseworker-kim").id
    scan_id = start_scan(ws, telegram_export(tmp_path / "export", pictures),
                         ScanOptions(jobs=1, case_id=case_id, analyse=False))
    with ws.session() as session:
        item_ids = list(session.scalars(select(Item.id).where(Item.scan_id == scan_id).order_by(Item.id)))
        for item_id in item_ids[:confirm]:
            record_decision(session, ws.home, item_id, "confirm", "caseworker-kim", note="피해자 본인 확인")
    return case_id, item_ids


@pytest.fixture
def package(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("JIKIMI_OPERATOR", "caseworker-kim")
    case_id, item_ids = reviewed_case(ws, tmp_path)
    with ws.session() as session:
        path = export(ws, session, case_id, out=tmp_path / "case.zip", lang="en")
    return path, case_id, item_ids


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rewrite(path, changed):
    """Write the package again with some members' bytes replaced, in Jikimi's own layout."""
    data = {**members(path), **changed}
    path.unlink()
    with layout.open_writer(str(path)) as archive:
        for name, content in data.items():
            layout.add_bytes(archive, name, content)


def test_package_holds_originals_manifest_signature_and_reports(package, ws):
    path, case_id, item_ids = package
    report = verify_package(path)
    assert report.ok, report.problems
    assert report.items == 3 and report.key_fingerprint
    files = members(path)
    manifest = json.loads(files["manifest.json"])
    assert {"manifest.json", "manifest.sig", "public_key.pem", "SHA256SUMS", "report.html", "report.pdf"} <= set(files)
    first = manifest["items"][0]
    assert first["file"] == f"originals/{first['sha256']}.jpg"
    assert files[first["file"]] == ws.vault.path_for(first["sha256"]).read_bytes()
    assert first["media_type"] == "image/jpeg" and first["size"] == len(files[first["file"]])
    assert [p["message_id"] for p in first["provenance"]] == [FIRST_MESSAGE, FIRST_MESSAGE + 99]
    assert first["provenance"][0]["message_time_utc"] == "2024-08-30T06:40:00+00:00"
    assert first["provenance"][0]["link"] == f"https://t.me/c/1234567890/{FIRST_MESSAGE}"
    assert first["provenance"][0]["chat"] == "교실 합성 채팅방" and first["provenance"][0]["sender"] == "익명 판매자"
    assert first["collection"]["collected_at"] and first["collection"]["scan_id"]
    assert [d["verdict"] for d in first["decisions"]] == ["confirm"]
    assert manifest["tool"]["version"] and manifest["created_by"] == "caseworker-kim"
    entries = manifest["custody_log"]["entries"]
    scan = f"scan:{first['collection']['scan_id']}"
    assert {e["subject"] for e in entries} == {f"case:{case_id}", scan} | {f"item:{i}" for i in item_ids}
    assert {e["action"] for e in entries if e["subject"] == f"item:{item_ids[0]}"} == {"ingest", "decision"}
    assert manifest["custody_log"]["head"]["seq"] == entries[-1]["seq"]
    assert all(name.startswith("originals/") or "/" not in name for name in files)


def test_sha256sum_and_openssl_accept_the_package(package, tmp_path):
    path, _, _ = package
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(unpacked)
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=unpacked, check=True)
    if shutil.which("openssl"):
        subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "public_key.pem", "-rawin",
                        "-in", "manifest.json", "-sigfile", "manifest.sig"], cwd=unpacked, check=True,
                       capture_output=True)


def test_export_is_recorded_in_the_custody_log(package, ws):
    path, case_id, _ = package
    with ws.session() as session:
        last = list(AuditLog(session, ws.home).entries(case_id=case_id))[-1]
        assert (last.action, last.subject, last.details["file"]) == ("evidence_export", f"case:{case_id}", "case.zip")
        assert len(last.details["items"]) == 3
        assert AuditLog(session, ws.home).verify().ok
    import hashlib
    assert last.details["package_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_package_verifies_without_the_workspace(package, ws, monkeypatch):
    path, _, _ = package
    ws.engine.dispose()
    shutil.rmtree(ws.home)
    monkeypatch.delenv("JIKIMI_HOME")
    assert verify_package(path).ok


@pytest.mark.parametrize("member", ["originals", "manifest.json", "manifest.sig", "public_key.pem", "SHA256SUMS",
                                    "report.html", "report.pdf"])
def test_a_changed_byte_in_any_file_is_named(package, member):
    path, _, _ = package
    files = members(path)
    name = next(n for n in files if n.startswith(member))
    data = bytearray(files[name])
    data[len(data) // 2] ^= 0x01
    rewrite(path, {name: bytes(data)})
    report = verify_package(path)
    assert not report.ok
    assert any(problem.startswith(name) for problem in report.problems), report.problems


def test_a_changed_byte_anywhere_in_the_zip_is_found(package):
    """Headers and directory included: the package is rebuilt from its files and compared."""
    path, _, _ = package
    original = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        directory = archive.start_dir
    headers = [o for info in infos for o in range(info.header_offset, info.header_offset + 30 + len(info.filename))]
    offsets = headers[::3] + list(range(directory, len(original), 5)) + list(range(0, len(original), len(original) // 60))
    for offset in offsets:
        tampered = bytearray(original)
        tampered[offset] ^= 0x20
        path.write_bytes(bytes(tampered))
        assert not verify_package(path).ok, f"a change at byte {offset} went unnoticed"


def test_a_changed_custody_log_entry_in_the_package_is_named(package):
    path, _, _ = package
    files = members(path)
    manifest = json.loads(files["manifest.json"])
    manifest["custody_log"]["entries"][1]["details"]["verdict"] = "unsure"
    seq = manifest["custody_log"]["entries"][1]["seq"]
    rewrite(path, {"manifest.json": json.dumps(manifest).encode()})
    problems = verify_package(path).problems
    assert f"custody log: entry {seq} was altered: its contents do not match its hash" in problems


def test_a_resigned_package_with_a_forged_log_entry_is_caught(package, tmp_path):
    """Someone with another key re-signs everything: the log entries still carry the real key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path, _, _ = package
    files = members(path)
    forger = Ed25519PrivateKey.generate()
    manifest = json.loads(files["manifest.json"])
    manifest["public_key"] = forger.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw).hex()
    body = json.dumps(manifest).encode()
    pem = forger.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    changed = {"manifest.json": body, "manifest.sig": forger.sign(body), "public_key.pem": pem}
    import hashlib
    sums = "".join(f"{hashlib.sha256({**files, **changed}[n]).hexdigest()}  {n}\n"
                   for n in sorted(files) if n != "SHA256SUMS")
    rewrite(path, {**changed, "SHA256SUMS": sums.encode()})
    report = verify_package(path)
    assert not report.ok
    assert any(p.startswith("custody log: entry") and "not signed" in p for p in report.problems), report.problems


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "originals/../../x", "C:/x", "a\\..\\b"])
def test_a_zip_with_unsafe_names_is_rejected(package, name):
    path, _, _ = package
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"x")
    report = verify_package(path)
    assert not report.ok and "unsafe entry name" in report.problems[0]


def test_not_a_zip_is_reported_plainly(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"not a zip")
    report = verify_package(path)
    assert not report.ok and "not a readable ZIP" in report.problems[0]


def test_an_altered_vault_file_stops_the_export(ws, tmp_path):
    case_id, item_ids = reviewed_case(ws, tmp_path)
    with ws.session() as session:
        sha256 = session.get(Item, item_ids[1]).sha256
    stored = ws.vault.path_for(sha256)
    os.chmod(stored, 0o644)
    data = bytearray(stored.read_bytes())
    data[-100] ^= 0x01
    stored.write_bytes(bytes(data))
    assert not ws.vault.verify(sha256)
    with ws.session() as session:
        with pytest.raises(VaultTampered, match=f"item {item_ids[1]}:"):
            export(ws, session, case_id, out=tmp_path / "case.zip")
    assert not (tmp_path / "case.zip").exists()
    assert not list(tmp_path.glob(".case.zip*"))


def test_an_altered_workspace_log_entry_is_named(ws, tmp_path):
    reviewed_case(ws, tmp_path)
    with ws.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3"))
    with ws.session() as session:
        result = AuditLog(session, ws.home).verify()
    assert not result.ok and result.first_bad_seq == 3


def test_only_confirmed_items_by_default_and_named_items_must_belong(ws, tmp_path):
    case_id, item_ids = reviewed_case(ws, tmp_path, confirm=2)
    with ws.session() as session:
        path = export(ws, session, case_id, out=tmp_path / "a.zip", lang="en")
    assert [i["item_id"] for i in json.loads(members(path)["manifest.json"])["items"]] == item_ids[:2]
    with ws.session() as session:
        path = export(ws, session, case_id, [item_ids[2]], out=tmp_path / "b.zip", lang="en")
        other = create_case(ws, session, "another case", "kim").id
    assert json.loads(members(path)["manifest.json"])["items"][0]["item_id"] == item_ids[2]
    with ws.session() as session:
        with pytest.raises(WorkspaceError, match=f"item {item_ids[0]} does not belong to case {other}"):
            export(ws, session, other, [item_ids[0]], out=tmp_path / "c.zip")
        with pytest.raises(JikimiError, match="no confirmed items"):
            export(ws, session, other, out=tmp_path / "c.zip")


def test_korean_report_renders_with_a_cjk_font(ws, tmp_path):
    case_id, _ = reviewed_case(ws, tmp_path)
    with ws.session() as session:
        path = export(ws, session, case_id, out=tmp_path / "ko.zip", lang="ko")
    files = members(path)
    assert "증거 보고서" in files["report.html"].decode() and "data:image/jpeg;base64," in files["report.html"].decode()
    pdf = files["report.pdf"]
    assert pdf.startswith(b"%PDF-")
    if not shutil.which("pdftotext"):
        pytest.skip("reading the PDF's text needs pdftotext (Debian's poppler-utils)")
    (tmp_path / "r.pdf").write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(tmp_path / "r.pdf")], capture_output=True, text=True, check=True).stdout
    assert "CJK-KR" in fonts
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "증거 보고서" in text


def test_keys_in_package_are_the_workspace_keys(package, ws):
    path, _, _ = package
    manifest = json.loads(members(path)["manifest.json"])
    assert bytes.fromhex(manifest["public_key"]) == keys.public_key_bytes(ws.home)
