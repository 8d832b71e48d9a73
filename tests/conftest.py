"""Shared fixtures: a fresh workspace per test and harmless public-domain pictures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from jikimi.workspace import Workspace


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
