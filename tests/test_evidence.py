"""Evidence packages over a real scan of a Telegram export: export, verify, tamper, verify again."""

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

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
    assert files[first["file"]] == ws.vault.read_bytes(first["sha256"])
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


# Issue 10: evidence that holds against an attacker.

def cli(*args):
    from typer.testing import CliRunner

    from jikimi.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def write_package(path, files):
    """Write members in Jikimi's own layout (stored, fixed metadata), as a forger would."""
    path.unlink(missing_ok=True)
    with layout.open_writer(str(path)) as archive:
        for name, content in files.items():
            layout.add_bytes(archive, name, content)


def forge(path, keep_reports):
    """Replace an original, rewrite its custody entry and the head, re-sign everything with a new key."""
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from conftest import jpeg_bytes
    from jikimi.audit import LogRow, compute_hash
    from jikimi.audit_heads import signed_bytes
    from jikimi.evidence.package import html_to_pdf, render_report

    files = members(path)
    manifest = json.loads(files["manifest.json"])
    forger = Ed25519PrivateKey.generate()
    fingerprint = keys.fingerprint(forger.public_key())
    item = manifest["items"][0]
    fake = jpeg_bytes(picture("astronaut"))
    old_sha, sha = item["sha256"], hashlib.sha256(fake).hexdigest()
    del files[item["file"]]
    item.update(sha256=sha, md5=hashlib.md5(fake).hexdigest(), size=len(fake), file=f"originals/{sha}.jpg")
    files[item["file"]] = fake
    for entry in manifest["custody_log"]["entries"]:
        if entry["details"].get("sha256") == old_sha:
            entry["details"]["sha256"] = sha
        row = LogRow(*(entry[k] for k in LogRow._fields[:-2]), None, None)
        entry["entry_hash"] = compute_hash(row)
        entry["signature"] = forger.sign(entry["entry_hash"].encode()).hex()
    head = manifest["custody_log"]["head"]
    head.update(key_fingerprint=fingerprint, signature=forger.sign(
        signed_bytes(head["seq"], head["entry_hash"], head["time"], fingerprint)).hex())
    manifest["public_key"] = forger.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw).hex()
    files["public_key.pem"] = keys.public_pem(forger.public_key())
    if not keep_reports:
        html = render_report(manifest, {}, "en")
        files["report.html"], files["report.pdf"] = html.encode(), html_to_pdf(html)
    for name in ("public_key.pem", "report.html", "report.pdf"):
        manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()
    files["manifest.sig"] = forger.sign(files["manifest.json"])
    files["SHA256SUMS"] = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n"
                                  for n in sorted(files) if n != "SHA256SUMS").encode()
    write_package(path, files)
    return fingerprint


def test_a_package_re_signed_with_another_key_is_never_trusted(package, ws, tmp_path):
    path, _, _ = package
    centre = cli("audit", "key").stdout.strip()
    genuine = tmp_path / "genuine.zip"
    shutil.copy(path, genuine)
    forger = forge(path, keep_reports=False)

    assert verify_package(path).ok  # consistent with the key it carries, as any forgery can be
    assert verify_package(path).key_fingerprint == forger != centre
    assert verify_package(path, centre).status == "other_key"
    unpinned = cli("evidence", "verify", path)
    assert unpinned.exit_code == 3
    assert unpinned.stdout.startswith(f"Signature checked only against the key inside the package, fingerprint {forger}")
    pinned = cli("evidence", "verify", path, "--key", centre)
    assert pinned.exit_code == 4 and pinned.stdout.startswith("NOT TRUSTED")

    assert cli("evidence", "verify", genuine, "--key", centre).exit_code == 0
    assert cli("evidence", "verify", genuine, "--key", ws.home / "keys" / "signing.pub").exit_code == 0
    colons = ":".join(centre[i:i + 2] for i in range(0, 64, 2)).upper()
    assert cli("evidence", "verify", genuine, "--key", f"SHA256:{colons}").exit_code == 0
    assert cli("evidence", "verify", genuine, "--key", "not-a-key").exit_code == 2


def test_a_re_signed_package_that_keeps_the_centres_report_is_not_intact(package):
    path, _, _ = package
    forger = forge(path, keep_reports=True)
    report = verify_package(path)
    assert not report.ok and report.exit_code == 1
    for name in ("report.html", "report.pdf"):
        assert any(p.startswith(f"{name} shows key fingerprint") and f"signed by key {forger}" in p
                   for p in report.problems), report.problems


def test_the_package_names_the_key_that_signed_it(ws, tmp_path):
    """Even if signing.pub was swapped, manifest, public_key.pem and reports carry the signer."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    case_id, _ = reviewed_case(ws, tmp_path)
    signer = keys.fingerprint(keys.signing_key(ws.home).public_key())
    (ws.home / "keys" / "signing.pub").write_bytes(keys.public_pem(Ed25519PrivateKey.generate().public_key()))
    with ws.session() as session:
        path = export(ws, session, case_id, out=tmp_path / "case.zip", lang="en")
    assert verify_package(path, signer).status == "trusted"
    assert f"jikimi-signing-key-sha256:{signer}" in members(path)["report.html"].decode()


def test_the_package_carries_a_signed_head_receipt_that_witnesses_the_log(package, ws, tmp_path):
    path, _, _ = package
    report = verify_package(path)
    head = report.head
    with ws.session() as session:
        seqs = [e.seq for e in AuditLog(session, ws.home).entries()]
    assert head["seq"] == seqs[-2]  # the export's own entry comes after the package was signed
    assert cli("audit", "verify", "--witness", path).exit_code == 0
    with ws.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq >= :seq"), {"seq": head["seq"]})
    result = cli("audit", "verify", "--witness", path)
    assert result.exit_code == 1 and f"vouches for entry {head['seq']}" in result.stdout


def test_scan_reports_carry_a_head_receipt(ws, tmp_path):
    reviewed_case(ws, tmp_path)
    for fmt in ("json", "html"):
        result = cli("report", "1", "--format", fmt, "-o", tmp_path / f"report.{fmt}")
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"report.{fmt}").stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "report.json").read_text())["custody_head"]["seq"] > 0
    assert cli("audit", "verify", "--witness", tmp_path / "report.json", "--witness", tmp_path / "report.html").exit_code == 0


def test_a_zip_bomb_is_refused_unread_in_bounded_memory_and_time(tmp_path):
    import time
    import tracemalloc

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("manifest.json", "w", force_zip64=True) as member:
            for _ in range(BOMB_MIB):
                member.write(b" " * 1024**2)
        for name in ("manifest.sig", "public_key.pem", "SHA256SUMS", "report.html", "report.pdf"):
            archive.writestr(name, b"x")
    tracemalloc.start()
    started = time.perf_counter()
    report = verify_package(path)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"\nzip bomb: {path.stat().st_size:,} bytes inflating to {BOMB_MIB} MiB; verify took {seconds:.3f} s, "
          f"peak Python memory {peak / 1024**2:.1f} MiB")
    assert report.summary.startswith("NOT INTACT: manifest.json is compressed")
    assert peak < 16 * 1024**2 and seconds < 5


BOMB_MIB = 512


def test_oversized_and_overcrowded_zips_are_refused_unread(package, monkeypatch):
    from jikimi.evidence import verify

    path, _, _ = package
    monkeypatch.setitem(verify.SMALL_MEMBER_LIMITS, "manifest.json", 1000)
    assert "manifest.json is" in verify_package(path).problems[0] and "over the limit of 1,000" in verify_package(path).problems[0]
    monkeypatch.undo()
    monkeypatch.setattr(verify, "MAX_PACKAGE_ENTRIES", 5)
    assert verify_package(path).summary.startswith("NOT INTACT: the ZIP has 9 entries, over the limit of 5")


def test_entries_sharing_their_bytes_are_refused(package):
    """The trick of the largest zip bombs: two directory records pointing at the same data."""
    path, _, _ = package
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        start = archive.start_dir
    end = data.rfind(b"PK\x05\x06")
    name = b"report.pdf"
    record_start = data.rfind(b"PK\x01\x02", start, data.find(name, start))
    record = bytearray(data[record_start:record_start + 46 + len(name)])
    assert record[30:34] == b"\0\0\0\0"  # no extra field, no comment
    record[46:] = b"report.pdg"
    footer = bytearray(data[end:])
    for field in (slice(8, 10), slice(10, 12)):
        footer[field] = (int.from_bytes(footer[field], "little") + 1).to_bytes(2, "little")
    footer[12:16] = (int.from_bytes(footer[12:16], "little") + len(record)).to_bytes(4, "little")
    path.write_bytes(data[:end] + bytes(record) + bytes(footer))
    assert verify_package(path).summary.startswith("NOT INTACT: the ZIP's entries overlap")


HOSTILE_MANIFESTS = {
    "deeply nested": b"[" * 200_000 + b"]" * 200_000,
    "items not a list": json.dumps({"format": layout.FORMAT, "public_key": "", "files": {}, "items": {"a": 1},
                                    "custody_log": {"entries": []}}).encode(),
    "items not objects": json.dumps({"format": layout.FORMAT, "public_key": "", "files": {}, "items": [1, "x"],
                                     "custody_log": {"entries": []}}).encode(),
    "files not names": json.dumps({"format": layout.FORMAT, "public_key": "", "files": [1], "items": [],
                                   "custody_log": {"entries": []}}).encode(),
    "entry seq not a number": json.dumps({"format": layout.FORMAT, "public_key": "", "files": {}, "items": [],
                                          "custody_log": {"entries": [{"seq": "x"}, {"seq": []}]}}).encode(),
}


@pytest.mark.parametrize("name", HOSTILE_MANIFESTS)
def test_a_hostile_manifest_signed_by_its_own_key_gets_a_sentence(tmp_path, name):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    body = HOSTILE_MANIFESTS[name]
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    files = {"manifest.json": body, "manifest.sig": key.sign(body), "public_key.pem": pem,
             "SHA256SUMS": b"", "report.html": b"<html></html>", "report.pdf": b"%PDF-1.7\n"}
    path = tmp_path / "hostile.zip"
    write_package(path, files)
    report = verify_package(path)
    assert not report.ok and report.summary.startswith("NOT INTACT: ")
    assert any("manifest.json" in p or "custody log" in p for p in report.problems), report.problems


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_pdf_report_reads_cleanly_in_both_languages(ws, tmp_path, monkeypatch, lang):
    """No Python repr, every label translated, each item's kind named, nothing outside the page."""
    import re

    from jikimi.evidence.package import REPORT_TEXT

    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.skip("reading the PDF needs pdftotext and pdftoppm (Debian's poppler-utils)")
    monkeypatch.setenv("JIKIMI_OPERATOR", "collector-lee")
    case_id, _ = reviewed_case(ws, tmp_path)
    monkeypatch.setenv("JIKIMI_OPERATOR", "exporter-park")
    with ws.session() as session:
        path = export(ws, session, case_id, out=tmp_path / "case.zip", lang=lang)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(members(path)["report.pdf"])
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "object at 0x" not in text and "<built-in" not in text
    labels = REPORT_TEXT[lang]
    for key in ("title", "case", "prepared_by", "prepared_at", "tool", "item_count", "fingerprint", "item", "kind",
                "file", "size", "type", "collected", "operator", "provenance", "decisions", "custody", "head"):
        assert labels[key] in text, f"label {key!r} ({labels[key]!r}) is missing"
    if lang == "ko":
        for key in ("prepared_by", "item_count", "kind", "collected", "custody"):
            assert REPORT_TEXT["en"][key] not in text, f"{REPORT_TEXT['en'][key]!r} is not translated"
        assert not re.search(r"\b(ingest|decision|case_create)\b", text), "custody actions are not translated"
    assert labels["kinds"]["image"] in text and not re.search(r"\d+ · (image|video|other)", text)
    for operator in ("collector-lee", "exporter-park", "caseworker-kim"):  # as the custody entries hold them
        assert operator in text
    assert keys.fingerprint(keys.public_key(ws.home)) in text.replace(" ", "").replace("\n", "")

    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    margin = 15 / 25.4 * 72  # the @page side margin, 15 mm
    for page in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', bbox, re.S):
        width, height = float(page.group(1)), float(page.group(2))
        for x_min, y_min, x_max, y_max, word in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', page.group(3)):
            assert margin - 1 <= float(x_min) and float(x_max) <= width - margin + 1, f"{word!r} runs off the page"
            assert 0 <= float(y_min) and float(y_max) <= height, f"{word!r} is outside the page"
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
    assert (tmp_path / "page-1.png").exists()


def test_exports_are_written_owner_only_whatever_the_umask(ws, tmp_path, monkeypatch):
    from jikimi.private_output import exposure_warning
    from jikimi.takedown.notices import draft_notices

    old = os.umask(0o022)
    try:
        case_id, _ = reviewed_case(ws, tmp_path)
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        shared.chmod(0o755)
        result = cli("evidence", "export", case_id, "-o", shared / "case.zip", "--lang", "en")
        assert result.exit_code == 0, result.output
        assert "can be read by every user of this machine" in result.stderr
        with ws.session() as session:
            [notice] = draft_notices(ws, session, case_id, "telegram", "en", select_items(session, case_id, None),
                                     out_dir=shared / "eml")
        for written in (shared / "case.zip", Path(notice.eml_path)):
            assert written.stat().st_mode & 0o777 == 0o600, written
    finally:
        os.umask(old)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert exposure_warning(private / "x.zip") is None and exposure_warning(shared / "x.zip")
