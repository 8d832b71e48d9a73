"""The `jikimi` command as a user runs it: real processes, real signals, real workspace."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import sqlite_only
from jikimi.demo.sample_export import build_sample_export

JIKIMI = [sys.executable, "-m", "jikimi"]


def run(home, *args, check=True):
    env = {**os.environ, "JIKIMI_HOME": str(home)}
    result = subprocess.run([*JIKIMI, *map(str, args)], env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"jikimi {args} failed ({result.returncode}): {result.stderr}")
    return result


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample_export(tmp_path_factory.mktemp("sample"))


def prepare(home, sample):
    run(home, "init")
    run(home, "bank", "create", "known")
    run(home, "bank", "add", "known", sample.known_dir)


def report_without_ids(home, scan_id):
    """The report without database row ids: a resumed scan stores rows in another order."""
    report = json.loads(run(home, "report", scan_id, "--format", "json").stdout)
    for item in report["items"]:
        del item["id"]
        for match in item["matches"]:
            del match["target_id"]
            match.pop("face_id", None)
        for face in item.get("faces", []):
            del face["id"]
    return report["items"]


def test_bank_export_import_and_listing(tmp_path, sample):
    home = tmp_path / "home"
    prepare(home, sample)
    exported = run(home, "bank", "export", "known", "--format", "tx").stdout
    (tmp_path / "list.txt").write_text(exported)
    run(home, "bank", "create", "copy", "--pdq-threshold", "20", "--allow")
    assert "Imported" in run(home, "bank", "import", "copy", tmp_path / "list.txt").stdout
    banks = {b["name"]: b for b in json.loads(run(home, "bank", "list", "--json").stdout)}
    assert banks["copy"]["signals"] == banks["known"]["signals"] > 0
    assert banks["copy"]["allow"] and banks["copy"]["pdq_threshold"] == 20
    assert run(home, "bank", "export", "copy", "--format", "tx").stdout == exported


def test_errors_are_one_line_with_nonzero_status(tmp_path):
    home = tmp_path / "home"
    for args, message in [
        (("report", "42"), "error: no scan with id 42"),
        (("scan", tmp_path / "nowhere"), "error: source not found"),
        (("bank", "add", "nobank", tmp_path), "error: no bank named 'nobank'"),
    ]:
        result = run(home, *args, check=False)
        assert result.returncode == 1
        assert result.stderr.strip().startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_result_json_fails_the_source_with_one_clear_error(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "result.json").write_text("{not json")
    result = run(tmp_path / "home", "scan", export, "--json", check=False)
    assert result.returncode == 1
    assert "result.json" in result.stderr and "JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(run(tmp_path / "home", "scans", "--json").stdout) == []


def start_scan_process(home, source):
    env = {**os.environ, "JIKIMI_HOME": str(home)}
    return subprocess.Popen([*JIKIMI, "scan", str(source), "--jobs", "2", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_sigkill_at_any_moment_then_resume_gives_the_same_report(tmp_path, sample, second_database, monkeypatch):
    reference = tmp_path / "reference"
    with monkeypatch.context() as patch:
        if second_database:  # the reference workspace has its own database, as its own file on SQLite
            patch.setenv("JIKIMI_DATABASE_URL", second_database)
        prepare(reference, sample)
        started = time.monotonic()
        summary = json.loads(run(reference, "scan", sample.export_dir, "--jobs", "2", "--json").stdout)
        duration = time.monotonic() - started
        assert summary["status"] == "complete" and summary["counts"]["matched"] > 0
        expected = report_without_ids(reference, summary["id"])

    home = tmp_path / "killed"
    prepare(home, sample)
    process = start_scan_process(home, sample.export_dir)
    time.sleep(duration * 0.25)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    scans = json.loads(run(home, "scans", "--json").stdout)
    assert [s["status"] for s in scans] == ["interrupted"]
    scan_id = scans[0]["id"]
    for fraction in (0.3, 0.5):  # kill the resumed scan too, later in its work
        env = {**os.environ, "JIKIMI_HOME": str(home)}
        process = subprocess.Popen([*JIKIMI, "scan", "--resume", str(scan_id), "--jobs", "2"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(duration * fraction)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    run(home, "scan", "--resume", scan_id, "--jobs", "2")
    assert json.loads(run(home, "scans", "--json").stdout)[0]["status"] == "complete"
    assert report_without_ids(home, scan_id) == expected


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, sample):
    home = tmp_path / "home"
    prepare(home, sample)
    process = start_scan_process(home, sample.export_dir)
    assert process.stderr.readline().startswith("Scan 1 started")  # the scan is under way
    time.sleep(1)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the scan finished before Ctrl-C arrived")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "resume it with `jikimi scan --resume 1`" in stderr
    assert json.loads(run(home, "scans", "--json").stdout)[0]["status"] == "interrupted"
    run(home, "scan", "--resume", "1")
    assert json.loads(run(home, "scans", "--json").stdout)[0]["status"] == "complete"


def test_reports_in_every_format(tmp_path, sample):
    home = tmp_path / "home"
    prepare(home, sample)
    scan_id = json.loads(run(home, "scan", sample.export_dir, "--json").stdout)["id"]
    for fmt in ("json", "csv", "html"):
        run(home, "report", scan_id, "--format", fmt, "-o", tmp_path / f"report.{fmt}")
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report) == {"scan", "items", "custody_head"}  # the head receipt: see docs/evidence.md
    assert all((tmp_path / f"report.{fmt}").stat().st_mode & 0o777 == 0o600 for fmt in ("json", "csv", "html"))
    item = next(i for i in report["items"] if i["matches"])
    assert {"id", "locators", "sha256", "kind", "matches", "nudity", "error"} <= set(item)
    locator = item["locators"][0]
    assert {"path", "chat", "message_id", "sender", "date_unixtime", "link"} <= set(locator)
    assert locator["link"].startswith("https://t.me/c/1987654321/")
    csv_lines = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_lines[0].startswith("item_id,sha256,kind,path")
    assert len(csv_lines) == 1 + sum(len(i["locators"]) for i in report["items"])
    html = (tmp_path / "report.html").read_text()
    assert "Matched items" in html and "Could not be read" in html
    assert html.count("data:image/jpeg;base64,") == sum(1 for i in report["items"] if i["matches"])


def wait_for_status(home, status, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scans = json.loads(run(home, "scans", "--json").stdout)
        if scans and scans[-1]["status"] == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"the scan never became {status}")


def resume_process(home, scan_id):
    env = {**os.environ, "JIKIMI_HOME": str(home)}
    return subprocess.Popen([*JIKIMI, "scan", "--resume", str(scan_id), "--jobs", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def killed_scan(home, sample):
    process = start_scan_process(home, sample.export_dir)
    scan_id = int(process.stderr.readline().split()[1])  # "Scan N started ..."
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return scan_id


def test_two_resumes_of_one_scan_one_runs_and_the_other_says_which_process(tmp_path, sample):
    home = tmp_path / "home"
    prepare(home, sample)
    scan_id = killed_scan(home, sample)
    first = resume_process(home, scan_id)
    wait_for_status(home, "running")
    os.killpg(first.pid, signal.SIGSTOP)  # it holds the scan while the second one tries
    try:
        second = run(home, "scan", "--resume", scan_id, check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert second.returncode == 1
    assert second.stderr.strip() == f"error: scan {scan_id} is being resumed by process {first.pid}"
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr

    # Two started at the same moment: one wins, the other stops with the same sentence.
    again = killed_scan(home, sample)
    racers = [resume_process(home, again) for _ in range(2)]
    results = [(p.wait(timeout=600), p.communicate()[1]) for p in racers]
    for code, stderr in results:
        assert "Traceback" not in stderr and "IntegrityError" not in stderr, stderr
        assert code == 0 or stderr.strip().startswith(f"error: scan {again} is being resumed by process")
    assert 0 in [code for code, _ in results]
    assert report_without_ids(home, again) == report_without_ids(home, scan_id)


def small_scan(tmp_path, home):
    source = tmp_path / "small"
    source.mkdir()
    for n in range(3):
        (source / f"{n}.bin").write_bytes(os.urandom(100 + n))
    run(home, "init")
    return json.loads(run(home, "scan", source, "--hashes-only", "--json").stdout)["id"]


def one_line_error(result, message):
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip() == f"error: {message}", result.stderr


@pytest.fixture
def read_only_home(tmp_path):
    """A workspace made read-only: a read-only bind mount as root, else file modes."""
    home = tmp_path / "home"
    scan_id = small_scan(tmp_path, home)
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(home), str(home)], check=True)
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(home)]).returncode != 0:
            subprocess.run(["umount", str(home)], check=True)
            pytest.skip("remounting read-only is not permitted here")
        yield home, scan_id
        subprocess.run(["umount", str(home)], check=True)
    else:
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        yield home, scan_id
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


@sqlite_only  # read-only media hold a SQLite workspace; a server database's rights are the server's
def test_a_read_only_workspace_can_still_be_read(read_only_home):
    home, scan_id = read_only_home
    assert [s["status"] for s in json.loads(run(home, "scans", "--json").stdout)] == ["complete"]
    report = json.loads(run(home, "report", scan_id, "--format", "json").stdout)
    assert len(report["items"]) == 3
    assert run(home, "report", scan_id, "--format", "csv").stdout.startswith("item_id,")
    source = home.parent / "source"
    source.mkdir(exist_ok=True)
    one_line_error(run(home, "scan", source, check=False),
                   "the workspace is read-only: only commands that read it (scans, report) work")


@sqlite_only
def test_a_damaged_or_emptied_database_gets_one_sentence_and_no_new_workspace(tmp_path):
    home = tmp_path / "home"
    small_scan(tmp_path, home)
    database = home / "jikimi.db"
    for name in ("jikimi.db-wal", "jikimi.db-shm"):
        (home / name).unlink(missing_ok=True)
    database.write_bytes(b"this is not an SQLite database" * 200)
    for args in (("scans",), ("report", "1", "--format", "json"), ("audit", "verify")):
        one_line_error(run(home, *args, check=False),
                       "the workspace database jikimi.db is damaged: restore it from a backup")

    database.write_bytes(b"")
    for args in (("scans",), ("init",), ("audit", "verify")):
        one_line_error(run(home, *args, check=False),
                       "the workspace database jikimi.db is empty, so it was damaged or replaced: restore it "
                       "from a backup (delete it only to start again with an empty workspace)")
    assert database.stat().st_size == 0
