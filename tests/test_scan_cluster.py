"""`jikimi scan --cluster`: the demo export scanned on a real Dask cluster (a scheduler and two
worker processes) gives the local scan's report, also after the client is killed and resumed."""

import json
import os
import signal
import subprocess
import time

import pytest

from test_cli import JIKIMI, prepare, report_without_ids, run

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, scheduler_port=0) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def local_scan(tmp_path_factory, sample):
    """The reference: the demo export scanned by local worker processes, and how long it took."""
    home = tmp_path_factory.mktemp("local")
    prepare(home, sample)
    started = time.monotonic()
    summary = json.loads(run(home, "scan", sample.export_dir, "--jobs", "2", "--json").stdout)
    assert summary["status"] == "complete" and summary["counts"]["matched"] > 0
    return report_without_ids(home, summary["id"]), time.monotonic() - started


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from jikimi.demo.sample_export import build_sample_export
    return build_sample_export(tmp_path_factory.mktemp("sample"))


def test_a_scan_on_the_cluster_reports_as_the_local_scan(tmp_path, sample, cluster, local_scan):
    home = tmp_path / "home"
    prepare(home, sample)
    summary = json.loads(run(home, "scan", sample.export_dir, "--cluster", cluster, "--json").stdout)
    assert summary["status"] == "complete"
    assert report_without_ids(home, summary["id"]) == local_scan[0]


def test_killing_the_client_then_resuming_on_the_cluster_gives_the_same_report(tmp_path, sample, cluster, local_scan):
    expected, duration = local_scan
    home = tmp_path / "home"
    prepare(home, sample)
    env = {**os.environ, "JIKIMI_HOME": str(home)}
    client = subprocess.Popen([*JIKIMI, "scan", str(sample.export_dir), "--cluster", cluster], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(duration * 0.4)
    os.killpg(client.pid, signal.SIGKILL)
    client.wait()
    scans = json.loads(run(home, "scans", "--json").stdout)
    assert [s["status"] for s in scans] == ["interrupted"]
    run(home, "scan", "--resume", scans[0]["id"])  # on the cluster the scan was started with
    assert json.loads(run(home, "scans", "--json").stdout)[0]["status"] == "complete"
    assert report_without_ids(home, scans[0]["id"]) == expected


def test_an_unreachable_cluster_interrupts_the_scan_with_one_line(tmp_path, sample):
    home = tmp_path / "home"
    prepare(home, sample)
    result = run(home, "scan", sample.known_dir, "--cluster", "tcp://127.0.0.1:9", check=False)
    assert result.returncode == 130  # as any interrupted scan: resumable
    assert result.stderr.strip().splitlines()[-1].startswith(
        "scan 1 interrupted: cannot reach the cluster at tcp://127.0.0.1:9: Timed out")
    assert json.loads(run(home, "scans", "--json").stdout)[0]["status"] == "interrupted"


def test_a_scan_asked_for_on_the_web_runs_on_the_cluster_through_the_worker(tmp_path, sample, cluster, local_scan):
    from jikimi.core import Jikimi
    from jikimi.core.actor import Actor
    from jikimi.scan import ScanOptions
    from jikimi.store.web_models import WebUser
    from jikimi.workspace import Workspace

    home = tmp_path / "home"
    prepare(home, sample)
    jk = Jikimi(Workspace(home))
    jk.accounts.add_user(Actor.cli(), "kim", "admin", "a long enough passphrase 42")
    with jk.ws.session() as session:
        kim = Actor.of_user(session.query(WebUser).filter_by(name="kim").one(), "web")
    job = jk.jobs.scan(kim, sample.export_dir, ScanOptions(), "export")
    scan_id = job["scan_id"]
    computed_before = cluster_compute_seconds(cluster)
    run(home, "worker", "--once", "--cluster", cluster)
    assert cluster_compute_seconds(cluster) > computed_before  # hashed there, not in the worker's process
    [scan] = json.loads(run(home, "scans", "--json").stdout)
    assert scan["id"] == scan_id and scan["status"] == "complete"
    assert report_without_ids(home, scan_id) == local_scan[0]
    assert jk.jobs.get(kim, job["id"])["status"] == "complete"


def cluster_compute_seconds(address: str) -> float:
    """Seconds the cluster's workers have spent computing tasks so far."""
    with distributed.Client(address, set_as_default=False) as client:
        return client.run_on_scheduler(lambda dask_scheduler: sum(
            prefix.all_durations.get("compute", 0.0) for prefix in dask_scheduler.task_prefixes.values()))
