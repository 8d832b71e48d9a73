"""Shared fixtures: a fresh workspace per test and harmless public-domain pictures.

`JIKIMI_TEST_DB=postgres` runs every test against a real PostgreSQL server that the suite
starts itself (tests/postgres_cluster.py): each module and each test gets its own database,
handed to the code under test through `JIKIMI_DATABASE_URL`, as a server deployment would.
"""

from __future__ import annotations

import io
import os
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from jikimi.workspace import Workspace


ON_POSTGRES = os.environ.get("JIKIMI_TEST_DB", "sqlite") == "postgres"
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="checks the SQLite workspace file itself")


@pytest.fixture(scope="session")
def postgres_cluster():
    if not ON_POSTGRES:
        yield None
        return
    from postgres_cluster import PostgresCluster

    def interrupted(*_):  # a CI timeout's SIGTERM: finish as after Ctrl-C, so the server is stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    cluster = PostgresCluster()
    cluster.start()
    try:
        with tempfile.TemporaryDirectory() as home:
            cluster.make_template(lambda url: Workspace(Path(home), url).init())
        yield cluster
    finally:
        cluster.stop()


def _own_database(cluster):
    """A fresh database for the scope, named in JIKIMI_DATABASE_URL while it lasts."""
    if cluster is None:
        yield None
        return
    name = cluster.new_database()
    before = os.environ.get("JIKIMI_DATABASE_URL")
    os.environ["JIKIMI_DATABASE_URL"] = cluster.url(name)
    try:
        yield cluster.url(name)
    finally:
        if before is None:
            os.environ.pop("JIKIMI_DATABASE_URL", None)
        else:
            os.environ["JIKIMI_DATABASE_URL"] = before
        cluster.drop_database(name)


@pytest.fixture(scope="module", autouse=True)
def module_database(postgres_cluster):
    yield from _own_database(postgres_cluster)


@pytest.fixture(autouse=True)
def test_database(postgres_cluster, module_database):
    yield from _own_database(postgres_cluster)


@pytest.fixture
def second_database(postgres_cluster):
    """Another empty database for a second workspace in one test (None on SQLite, where each
    workspace home has its own database file)."""
    if postgres_cluster is None:
        yield None
        return
    name = postgres_cluster.new_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    home = tmp_path / "home"
    monkeypatch.setenv("JIKIMI_HOME", str(home))
    workspace = Workspace(home)
    workspace.init()
    return workspace


def picture(name: str) -> Image.Image:
    """A public-domain picture shipped with scikit-image (astronaut, coffee, chelsea, rocket...)."""
    array = getattr(data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array.astype(np.uint8)).convert("RGB")


def save_jpeg(image: Image.Image, path: Path, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=quality)
    return path


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright (tests never download a browser)."""
    from test_web_browser import ARGS, CHROMIUM

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
