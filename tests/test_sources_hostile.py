"""Hostile names, values and file types in sources: every entry becomes an item or an error.

Each case here was found by fuzzing (issue 10) and crashed or silently dropped entries before.
"""

import io
import json
import os
import zipfile
from pathlib import Path

from PIL import Image

from jikimi.sources import open_source


def png_bytes(color=(20, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def listing(source):
    return [(entry.ordinal, entry.locator.path, entry.error) for entry in source.entries()]


def zip_bytes(members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def write_export(root: Path, messages, chat_name="Room 7", files=()) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(png_bytes())
    chat = {"name": chat_name, "type": "private_supergroup", "id": 1987654321, "messages": messages}
    (root / "result.json").write_text(json.dumps(chat), encoding="utf-8")
    return root


def test_a_file_name_that_is_not_utf8_is_kept_losslessly(tmp_path):
    data = png_bytes()
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9 \xff.png"), "wb") as f:
        f.write(data)

    [entry] = open_source(tmp_path).entries()

    assert entry.locator.path == "caf\\xe9 \\xff.png"
    assert bytes.fromhex(entry.locator.path_bytes) == b"caf\xe9 \xff.png"
    assert entry.locator.to_dict()["path"].encode("utf-8")
    with entry.open() as stream:
        assert stream.read() == data


def test_pipes_and_links_to_them_are_entries_with_errors(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "to-pipe.jpg").symlink_to(tmp_path / "pipe")
    (tmp_path / "a.png").write_bytes(png_bytes())

    assert listing(open_source(tmp_path)) == [
        (0, "a.png", None),
        (1, "pipe", "not a regular file but a named pipe (FIFO)"),
        (2, "to-pipe.jpg", "not a regular file but a named pipe (FIFO)"),
    ]


def test_zips_inside_zips_are_opened_to_a_limited_depth(tmp_path):
    level3 = zip_bytes([("deepest.png", png_bytes((1, 2, 3)))])
    level2 = zip_bytes([("c.png", png_bytes((9, 9, 9))), ("level3.zip", level3)])
    level1 = zip_bytes([("b.png", png_bytes((5, 5, 5))), ("level2.zip", level2)])
    (tmp_path / "outer.zip").write_bytes(zip_bytes([("a.png", png_bytes()), ("inner.zip", level1)]))

    entries = list(open_source(tmp_path / "outer.zip").entries())

    assert [(e.ordinal, e.locator.path, e.error) for e in entries] == [
        (0, "a.png", None),
        (1, "inner.zip", None),
        (2, "inner.zip!/b.png", None),
        (3, "inner.zip!/level2.zip", None),
        (4, "inner.zip!/level2.zip!/c.png", None),
        (5, "inner.zip!/level2.zip!/level3.zip",
         "zip archive nested more than 2 deep: kept, but its entries were not opened"),
    ]
    with entries[4].open() as stream:
        assert stream.read() == png_bytes((9, 9, 9))
    with entries[5].open() as stream:  # kept as evidence, though not opened
        assert stream.read() == level3
    assert listing(open_source(tmp_path / "outer.zip")) == [(e.ordinal, e.locator.path, e.error) for e in entries]


def test_a_zip_in_a_folder_is_opened_and_a_broken_one_is_reported(tmp_path):
    (tmp_path / "photos.zip").write_bytes(zip_bytes([("x.png", png_bytes())]))
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")

    assert listing(open_source(tmp_path)) == [
        (0, "broken.zip", "zip archive inside the source cannot be opened: it is not a valid zip archive: File is not a zip file"),
        (1, "photos.zip", None),
        (2, "photos.zip!/x.png", None),
    ]


def test_hostile_values_in_result_json_become_entries_or_errors(tmp_path):
    long_name = "photos/" + "x" * 300 + ".jpg"
    messages = [
        {"id": 1, "type": "message", "photo": "photos/\ud800.jpg", "from": "Sell\ud800er", "text": "hi \udfff",
         "date_unixtime": "99999999999999999999"},
        {"id": 2, "type": "message", "photo": long_name, "date_unixtime": "1724188503"},
        {"id": 3, "type": "message", "photo": "photos/a\u0000.jpg"},
        {"id": 4, "type": "message", "photo": 5},
        {"id": 5, "type": "message", "file": ["photos/ok.png"], "media_type": "video_file"},
        {"id": 6, "type": "message", "photo": {"path": "x"}},
        {"id": 7, "type": "message", "file": True},
        {"id": 8, "type": "message", "photo": "()"},
        {"id": 9, "type": "message", "photo": "photos/ok.png"},
    ]
    root = write_export(tmp_path / "export", messages, chat_name="Room\ud800 =cmd", files=["photos/ok.png"])
    text = (root / "result.json").read_text().replace('"id": 9', '"id": ' + "9" * 5000)
    (root / "result.json").write_text(text)

    entries = list(open_source(root).entries())

    assert [(e.locator.message_id, e.locator.path, e.error) for e in entries] == [
        (1, "photos/\\ud800.jpg", "the path in the export is not valid text"),
        (2, long_name, "the file cannot be opened: its name is too long"),
        (3, "photos/a\\x00.jpg", "the path in the export contains a NUL character"),
        (4, "", "the export gives the photo as a number, not a file name"),
        (5, "", "the export gives the file as a list, not a file name"),
        (6, "", "the export gives the photo as an object, not a file name"),
        (7, "", "the export gives the file as true or false, not a file name"),
        (8, "", "media not included in the export: the export gives no reason"),
        (None, "photos/ok.png", None),
    ]
    first = entries[0].locator
    assert (first.chat, first.sender, first.text, first.date_unixtime) == ("Room\\ud800 =cmd", "Sell\\ud800er",
                                                                           "hi \\udfff", None)
    assert bytes.fromhex(first.path_bytes) == "photos/\ud800.jpg".encode("utf-8", "surrogatepass")
    assert entries[1].locator.date_unixtime == 1724188503
    for entry in entries:
        json.dumps(entry.locator.to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_zipped_export_with_a_large_repetitive_result_json_is_read(tmp_path):
    messages = [{"id": 1, "type": "message", "text": "ha" * 3 * 1024**2},  # a 6 MB message
                {"id": 2, "type": "message", "photo": "photos/ok.png"}]
    chat = {"name": "Room", "type": "private_supergroup", "id": 1, "messages": messages}
    raw = json.dumps(chat).encode()
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("result.json", raw)
        z.writestr("photos/ok.png", png_bytes())
    ratio = len(raw) / z.getinfo("result.json").compress_size
    assert len(raw) > 5 * 1024**2 and ratio > 200

    source = open_source(archive)

    assert source.kind == "telegram"
    assert listing(source) == [(0, "photos/ok.png", None)]


def test_a_source_whose_own_path_is_not_utf8_is_refused_with_one_sentence(tmp_path):
    import pytest

    from jikimi.errors import SourceError

    folder = os.path.join(os.fsencode(tmp_path), b"export-\xff")
    os.mkdir(folder)
    with pytest.raises(SourceError, match=r"^the source's path is not UTF-8 text \(.*export-\\xff\): rename it, "
                                          r"or scan the folder that holds it$"):
        open_source(Path(os.fsdecode(folder)))
