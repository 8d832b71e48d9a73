"""Scans of hostile sources end complete or interrupted, never crash, and lose no item (issue 10)."""

import json
import os
import subprocess
import zipfile

import pytest

from conftest import jpeg_bytes, picture, save_jpeg, sqlite_only
from jikimi.reports import render
from jikimi.reports.data import scan_report
from jikimi.scan import Progress, ScanInterrupted, ScanOptions, resume_scan, start_scan


class StopAfter(Progress):
    """Ctrl-C after `count` collected entries: a real interruption at a chosen moment."""

    def __init__(self, count: int):
        self.left = count

    def advance(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise KeyboardInterrupt


def every_format(ws, scan_id):
    with ws.session() as s:
        report = scan_report(s, scan_id)
        media = render.report_media(ws, s, report, "tester", lambda face_id: True)
    for fmt in ("json", "csv", "html"):
        render.render(report, fmt, media).encode("utf-8")
    return report


def locators(report):
    return {loc["path"]: (loc, item) for item in report["items"] for loc in item["locators"]}


def test_names_that_are_not_utf8_are_scanned_and_resumed(ws, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for n, name in enumerate([b"caf\xe9.jpg", b"\xff\xfe.jpg", b"plain.jpg", b"z\x80.jpg"]):
        path = os.path.join(os.fsencode(source), name)
        with open(path, "wb") as f:
            f.write(jpeg_bytes(picture("astronaut").resize((64 + n, 64))))

    with pytest.raises(ScanInterrupted):
        start_scan(ws, source, ScanOptions(jobs=1), StopAfter(2))
    scan_id = resume_scan(ws, 1)

    report = every_format(ws, scan_id)
    found = locators(report)
    assert report["scan"]["status"] == "complete"
    assert sorted(found) == ["\\xff\\xfe.jpg", "caf\\xe9.jpg", "plain.jpg", "z\\x80.jpg"]
    assert bytes.fromhex(found["caf\\xe9.jpg"][0]["path_bytes"]) == b"caf\xe9.jpg"
    assert all(item["error"] is None and item["kind"] == "image" for _, item in found.values())


def write_hostile_export(root):
    (root / "photos").mkdir(parents=True)
    save_jpeg(picture("coffee"), root / "photos" / "ok.jpg")
    messages = [
        {"id": 1, "type": "message", "photo": "photos/ok.jpg", "from": "Sell\ud800er", "text": "hi \udfff",
         "date_unixtime": "99999999999999999999"},
        {"id": 2, "type": "message", "photo": "photos/\ud800.jpg"},
        {"id": 3, "type": "message", "photo": "photos/" + "y" * 300 + ".jpg"},
        {"id": 4, "type": "message", "file": [1, 2]},
        {"id": 5, "type": "message", "photo": "photos/a\u0000.jpg"},
    ]
    chat = {"name": "=HYPERLINK(\"http://x\")\ud800", "type": "private_supergroup", "id": 5, "messages": messages}
    text = json.dumps(chat).replace('"id": 5,', '"id": ' + "7" * 5000 + ",", 1)
    (root / "result.json").write_text(text)
    return root


def test_hostile_result_json_values_scan_and_report_in_every_format(ws, tmp_path):
    scan_id = start_scan(ws, write_hostile_export(tmp_path / "export"), ScanOptions(jobs=1))

    report = every_format(ws, scan_id)
    assert report["scan"]["status"] == "complete"
    assert report["scan"]["counts"]["locators"] == 5
    ok = locators(report)["photos/ok.jpg"]
    assert ok[0]["sender"] == "Sell\\ud800er" and "date_unixtime" not in ok[0]
    assert ok[1]["error"] is None and ok[1]["kind"] == "image"
    errors = sorted(item["error"] for item in report["items"] if item["error"])
    assert errors == ["the export gives the file as a list, not a file name",
                      "the file cannot be opened: its name is too long",
                      "the path in the export contains a NUL character",
                      "the path in the export is not valid text"]


def test_a_zip_nested_too_deep_is_kept_and_reported(ws, tmp_path):
    def zipped(members):
        path = tmp_path / f"{len(members)}-{os.urandom(4).hex()}.zip"
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members:
                z.writestr(name, data)
        return path.read_bytes()

    deepest = zipped([("deep.jpg", jpeg_bytes(picture("rocket")))])
    middle = zipped([("m.jpg", jpeg_bytes(picture("chelsea"))), ("c.zip", deepest)])
    source = tmp_path / "src"
    source.mkdir()
    (source / "outer.zip").write_bytes(zipped([("b.zip", middle)]))

    report = every_format(ws, start_scan(ws, source, ScanOptions(jobs=1)))

    found = locators(report)
    assert sorted(found) == ["outer.zip", "outer.zip!/b.zip", "outer.zip!/b.zip!/c.zip", "outer.zip!/b.zip!/m.jpg"]
    assert found["outer.zip!/b.zip!/m.jpg"][1]["kind"] == "image"
    kept = found["outer.zip!/b.zip!/c.zip"][1]
    assert kept["sha256"] and kept["error"].startswith("zip archive nested more than 2 deep")


@pytest.fixture
def small_vault(ws):
    """The workspace's vault on a 3 MB tmpfs: a full disk under vault/ only."""
    vault = ws.vault.root
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(vault)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {result.stderr.decode().strip()}")
    yield vault
    subprocess.run(["umount", str(vault)], check=True)


def test_a_full_vault_interrupts_the_scan_and_resume_redoes_every_affected_item(ws, tmp_path, small_vault):
    source = tmp_path / "src"
    source.mkdir()
    for n in range(12):
        (source / f"{n:02}.bin").write_bytes(os.urandom(400 * 1024))

    with pytest.raises(ScanInterrupted, match="^scan 1 interrupted: the disk holding the evidence vault is full"):
        start_scan(ws, source, ScanOptions(jobs=1))
    with ws.session() as s:
        stopped = scan_report(s, 1)
    assert stopped["scan"]["status"] == "interrupted"
    assert stopped["scan"]["error"].startswith("the disk holding the evidence vault is full")
    assert not any(item["error"] for item in stopped["items"])

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_vault)], check=True)
    resume_scan(ws, 1)

    report = every_format(ws, 1)
    assert report["scan"]["status"] == "complete" and report["scan"]["error"] is None
    assert sorted(locators(report)) == [f"{n:02}.bin" for n in range(12)]
    assert not any(item["error"] for item in report["items"])
    assert all(ws.vault.verify(item["sha256"]) for item in report["items"])
    assert not list((small_vault / "tmp").iterdir())


@sqlite_only  # the database fills the small disk only as the workspace's own file; a full vault is tested above
def test_a_full_disk_under_the_whole_workspace_interrupts_and_resume_loses_nothing(tmp_path, monkeypatch):
    from jikimi.workspace import Workspace

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.decode().strip()}")
    try:
        monkeypatch.setenv("JIKIMI_HOME", str(disk / "home"))
        ws = Workspace(disk / "home")
        ws.init()
        source = tmp_path / "src"
        for n in range(60):  # real pictures: the database holds their thumbnails and signals too
            save_jpeg(picture("astronaut").resize((200 + n, 200)), source / f"{n:02}.jpg", quality=95)
        with pytest.raises(ScanInterrupted, match=r"^scan 1 interrupted: the disk holding the (evidence vault|"
                                                  r"workspace database) is full"):
            start_scan(ws, source, ScanOptions(jobs=1, analyse=False))
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resume_scan(ws, 1)
        report = every_format(ws, 1)
        assert report["scan"]["status"] == "complete"
        assert sorted(locators(report)) == [f"{n:02}.jpg" for n in range(60)]
        assert not any(item["error"] for item in report["items"])
        assert all(item["pdq"] for item in report["items"])
        ws.engine.dispose()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)
