"""Folder and single-file sources: order, symlinks, lazy opening, and source selection."""

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from jikimi.errors import MediaTooLarge, SourceError
from jikimi.limits import Limits
from jikimi.sources import open_source


def write_png(path: Path, color=(200, 30, 30)) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def listing(source):
    return [(entry.ordinal, entry.locator.path, entry.error) for entry in source.entries()]


def test_folder_is_walked_recursively_in_sorted_order(tmp_path):
    write_png(tmp_path / "b.png")
    write_png(tmp_path / "a" / "z.png")
    write_png(tmp_path / "a" / "b" / "c.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "zero.bin").write_bytes(b"")

    source = open_source(tmp_path)

    assert source.kind == "folder"
    assert listing(source) == [
        (0, "a/b/c.png", None),
        (1, "a/z.png", None),
        (2, "b.png", None),
        (3, "zero.bin", None),
    ]
    assert listing(source) == listing(open_source(tmp_path))


def test_open_returns_the_original_bytes_and_zero_byte_files_are_fine(tmp_path):
    original = write_png(tmp_path / "photo.png")
    (tmp_path / "zero.bin").write_bytes(b"")

    entries = {entry.locator.path: entry for entry in open_source(tmp_path).entries()}

    with entries["photo.png"].open() as stream:
        assert stream.read() == original
    with entries["zero.bin"].open() as stream:
        assert stream.read() == b""


def test_symlink_outside_the_folder_is_an_entry_with_an_error(tmp_path):
    root = tmp_path / "root"
    secret = tmp_path / "outside.txt"
    secret.write_text("not yours")
    write_png(root / "ok.png")
    (root / "escape.txt").symlink_to(secret)
    (root / "escape_dir").symlink_to(tmp_path)
    (root / "inside.png").symlink_to(root / "ok.png")
    (root / "broken.png").symlink_to(root / "nowhere.png")

    entries = list(open_source(root).entries())

    assert [(e.ordinal, e.locator.path, e.error) for e in entries] == [
        (0, "broken.png", "symlink is broken: its target does not exist"),
        (1, "escape.txt", "symlink points outside the folder"),
        (2, "escape_dir", "symlink points outside the folder"),
        (3, "inside.png", None),
        (4, "ok.png", None),
    ]
    assert [e.open is None for e in entries] == [True, True, True, False, False]
    with entries[3].open() as stream:
        assert stream.read() == (root / "ok.png").read_bytes()


def test_open_is_lazy_so_a_file_that_cannot_be_read_fails_only_when_opened(tmp_path):
    write_png(tmp_path / "gone.png")
    entries = list(open_source(tmp_path).entries())
    (tmp_path / "gone.png").unlink()

    with pytest.raises(FileNotFoundError):
        entries[0].open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_raises_oserror_on_open(tmp_path):
    write_png(tmp_path / "locked.png")
    (tmp_path / "locked.png").chmod(0)

    entries = list(open_source(tmp_path).entries())

    assert entries[0].error is None
    with pytest.raises(PermissionError):
        entries[0].open()


def test_file_over_the_size_limit_is_refused_on_open(tmp_path):
    (tmp_path / "big.bin").write_bytes(b"x" * 2000)

    entry = next(open_source(tmp_path, Limits(max_file_bytes=1000)).entries())

    with pytest.raises(MediaTooLarge, match="^the file is 2000 bytes, over the limit of 1000 bytes$"):
        entry.open()


def test_single_file_source(tmp_path):
    original = write_png(tmp_path / "one.png")

    source = open_source(tmp_path / "one.png")
    entries = list(source.entries())

    assert source.kind == "file"
    assert [(e.ordinal, e.locator.path, e.error) for e in entries] == [(0, "one.png", None)]
    with entries[0].open() as stream:
        assert stream.read() == original


def test_missing_path_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="^source not found: .*nothing-here$"):
        open_source(tmp_path / "nothing-here")


def test_a_device_is_not_a_source():
    with pytest.raises(SourceError, match="^source is neither a file nor a folder: /dev/null$"):
        open_source(Path("/dev/null"))
