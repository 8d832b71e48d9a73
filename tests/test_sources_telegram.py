"""Telegram Desktop exports: provenance, both export shapes, hostile paths and broken files."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from jikimi.errors import SourceError
from jikimi.sources import open_source
from jikimi.sources.base import Locator

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
TOO_LARGE = "(File exceeds maximum size. Change data exporting settings to download.)"


def jpeg_bytes(color=(10, 160, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def message(id, **fields):
    return {
        "id": id,
        "type": "message",
        "date": "2024-08-20T21:15:03",
        "date_unixtime": str(1724188503 + id),
        "from": "Seller",
        "from_id": "user42",
        "text": "",
        **fields,
    }


def write_export(root: Path, result, files=()) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"" if name.endswith(".empty") else jpeg_bytes())
    (root / "result.json").write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return root


def supergroup(messages, id=1987654321):
    return {"name": "Room 7", "type": "private_supergroup", "id": id, "messages": messages}


def summary(source):
    return [
        (e.ordinal, e.locator.path, e.locator.message_id, e.locator.media_type, e.error)
        for e in source.entries()
    ]


def test_single_chat_export_gives_full_provenance(tmp_path):
    chat = supergroup(
        [
            message(
                11,
                photo="photos/photo_1@20-08-2024_21-15-03.jpg",
                forwarded_from="Other Room",
                text=["look ", {"type": "bold", "text": "here"}, " ", {"type": "link", "text": "t.me/x"}],
            )
        ]
    )
    root = write_export(tmp_path / "export", chat, ["photos/photo_1@20-08-2024_21-15-03.jpg"])

    source = open_source(root)
    [entry] = list(source.entries())

    assert source.kind == "telegram"
    assert entry.error is None
    assert entry.locator == Locator(
        path="photos/photo_1@20-08-2024_21-15-03.jpg",
        chat="Room 7",
        chat_id=1987654321,
        chat_type="private_supergroup",
        message_id=11,
        sender="Seller",
        sender_id="user42",
        forwarded_from="Other Room",
        date_unixtime=1724188514,
        link="https://t.me/c/1987654321/11",
        text="look here t.me/x",
        media_type="photo",
        mime_type=None,
    )
    with entry.open() as stream:
        assert stream.read() == (root / "photos/photo_1@20-08-2024_21-15-03.jpg").read_bytes()


def test_photo_comes_before_file_and_thumbnail_only_when_nothing_else_was_included(tmp_path):
    chat = supergroup(
        [
            message(1, photo="photos/p1.jpg", file="files/doc.jpg", mime_type="image/jpeg"),
            message(
                2,
                file="video_files/v.mp4",
                thumbnail="video_files/v.mp4_thumb.jpg",
                media_type="video_file",
                mime_type="video/mp4",
            ),
            message(3, file=TOO_LARGE, thumbnail="video_files/big.mp4_thumb.jpg", media_type="video_file"),
            message(4, thumbnail="files/only_thumb.jpg"),
            {"id": 5, "type": "service", "action": "edit_group_photo", "photo": "photos/p5.jpg"},
            message(6, text="no media"),
        ]
    )
    files = ["photos/p1.jpg", "files/doc.jpg", "video_files/v.mp4", "video_files/v.mp4_thumb.jpg",
             "video_files/big.mp4_thumb.jpg", "files/only_thumb.jpg", "photos/p5.jpg"]
    root = write_export(tmp_path / "export", chat, files)

    entries = list(open_source(root).entries())

    assert [(e.ordinal, e.locator.path, e.locator.message_id, e.locator.media_type, e.error) for e in entries] == [
        (0, "photos/p1.jpg", 1, "photo", None),
        (1, "files/doc.jpg", 1, "file", None),
        (2, "video_files/v.mp4", 2, "video_file", None),
        (3, "", 3, "video_file", "media not included in the export: file exceeds the export's size limit"),
        (4, "video_files/big.mp4_thumb.jpg", 3, "thumbnail", None),
        (5, "files/only_thumb.jpg", 4, "thumbnail", None),
    ]
    assert [e.locator.mime_type for e in entries] == [None, "image/jpeg", "video/mp4", None, None, None]


def test_missing_media_placeholders_are_entries_with_errors(tmp_path):
    chat = supergroup([message(1, photo=NOT_INCLUDED), message(2, file=TOO_LARGE, media_type="video_file")])
    root = write_export(tmp_path / "export", chat)

    entries = list(open_source(root).entries())

    assert [(e.locator.message_id, e.open, e.error) for e in entries] == [
        (1, None, "media not included in the export: the export was made without this kind of media"),
        (2, None, "media not included in the export: file exceeds the export's size limit"),
    ]


def test_paths_leading_outside_the_export_are_refused(tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg_bytes())
    chat = supergroup(
        [
            message(1, photo="../../etc/passwd"),
            message(2, photo="/etc/passwd"),
            message(3, photo="photos/link.jpg"),
            message(4, photo="photos/../photos/fine.jpg"),
            message(5, photo="photos/absent.jpg"),
            message(6, file="files/zero.empty"),
        ]
    )
    root = write_export(tmp_path / "export", chat, ["photos/fine.jpg", "files/zero.empty"])
    (root / "photos/link.jpg").symlink_to(outside)

    entries = list(open_source(root).entries())

    assert [(e.locator.path, e.error) for e in entries] == [
        ("../../etc/passwd", "path points outside the export: ../../etc/passwd"),
        ("/etc/passwd", "path points outside the export: /etc/passwd"),
        ("photos/link.jpg", "path points outside the export: photos/link.jpg"),
        ("photos/../photos/fine.jpg", None),
        ("photos/absent.jpg", "file missing from the export"),
        ("files/zero.empty", None),
    ]
    assert [e.open is None for e in entries] == [True, True, True, False, True, False]
    with entries[5].open() as stream:
        assert stream.read() == b""


def test_full_account_export_reads_chats_then_left_chats_in_file_order(tmp_path):
    account = {
        "about": "full export",
        "chats": {
            "about": "",
            "list": [
                {"name": "Friend", "type": "personal_chat", "id": 555, "messages": [message(1, photo="photos/a.jpg")]},
                {"name": "Channel", "type": "public_channel", "id": -1001234567890,
                 "messages": [message(9, photo="photos/b.jpg"), message(10, photo="photos/c.jpg")]},
            ],
        },
        "left_chats": {
            "about": "",
            "list": [{"name": "Old group", "type": "private_group", "id": 77, "messages": [message(3, photo="photos/d.jpg")]}],
        },
    }
    root = write_export(tmp_path / "export", account, ["photos/a.jpg", "photos/b.jpg", "photos/c.jpg", "photos/d.jpg"])
    source = open_source(root)

    entries = list(source.entries())

    assert [(e.ordinal, e.locator.chat, e.locator.chat_id, e.locator.message_id, e.locator.link) for e in entries] == [
        (0, "Friend", 555, 1, None),
        (1, "Channel", -1001234567890, 9, "https://t.me/c/1234567890/9"),
        (2, "Channel", -1001234567890, 10, "https://t.me/c/1234567890/10"),
        (3, "Old group", 77, 3, None),
    ]
    assert summary(source) == summary(open_source(root))


@pytest.mark.parametrize(
    ("chat_type", "link"),
    [
        ("private_supergroup", "https://t.me/c/1987654321/5"),
        ("public_supergroup", "https://t.me/c/1987654321/5"),
        ("private_channel", "https://t.me/c/1987654321/5"),
        ("public_channel", "https://t.me/c/1987654321/5"),
        ("personal_chat", None),
        ("private_group", None),
        ("bot_chat", None),
        ("saved_messages", None),
    ],
)
def test_links_exist_only_for_supergroups_and_channels(tmp_path, chat_type, link):
    chat = {"name": "c", "type": chat_type, "id": 1987654321, "messages": [message(5, photo=NOT_INCLUDED)]}

    [entry] = list(open_source(write_export(tmp_path / "export", chat)).entries())

    assert entry.locator.link == link


def test_text_snippet_is_whitespace_folded_and_cut_at_200_characters(tmp_path):
    long_text = "word " * 100
    chat = supergroup([message(1, photo=NOT_INCLUDED, text=long_text), message(2, photo=NOT_INCLUDED, text="a\n\n b")])

    first, second = open_source(write_export(tmp_path / "export", chat)).entries()

    assert first.locator.text == ("word " * 40)[:199] + "…"
    assert len(first.locator.text) == 200
    assert second.locator.text == "a b"


def test_date_comes_from_date_unixtime_only(tmp_path):
    chat = supergroup([message(1, photo=NOT_INCLUDED, date_unixtime="1700000000"), message(2, photo=NOT_INCLUDED)])
    del chat["messages"][1]["date_unixtime"]

    first, second = open_source(write_export(tmp_path / "export", chat)).entries()

    assert (first.locator.date_unixtime, second.locator.date_unixtime) == (1700000000, None)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"name": "x", "messages": [', "^result.json is not valid JSON: Expecting value at line 1, column 28$"),
        ('{"name": "Caf\u00e9", "messages": []}'.encode("latin-1"), r"^result.json is not UTF-8 text \(byte 13 is invalid\)$"),
        (b"[1, 2, 3]", '^result.json is not a Telegram Desktop export: it has neither "messages" nor "chats" at the top level$'),
        (b'{"chats": {"list": [{"name": "x"}]}}', "^result.json is not a Telegram Desktop export: chat 1 has no message list$"),
        (b'{"messages": ["hello"]}', "^result.json is not a Telegram Desktop export: chat 1 has a message that is not an object$"),
        (b"[" * 100_000, "^result.json is nested too deeply to be a Telegram Desktop export$"),
    ],
)
def test_broken_result_json_is_a_source_error(tmp_path, content, reason):
    root = tmp_path / "export"
    root.mkdir()
    (root / "result.json").write_bytes(content)

    with pytest.raises(SourceError, match=reason):
        open_source(root)


def test_result_json_symlinked_outside_is_a_source_error(tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(supergroup([])))
    root = tmp_path / "export"
    root.mkdir()
    (root / "result.json").symlink_to(outside)

    with pytest.raises(SourceError, match="^result.json cannot be read: path points outside the export: result.json$"):
        open_source(root)


def zip_folder(root: Path, archive_path: Path, prefix: str, extra=()) -> Path:
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(root).as_posix())
        for name, data in extra:
            archive.writestr(name, data)
    return archive_path


@pytest.mark.parametrize("prefix", ["", "ChatExport_2024-08-21/"])
def test_export_inside_a_zip(tmp_path, prefix):
    chat = supergroup(
        [
            message(1, photo="photos/a.jpg"),
            message(2, photo="../outside.jpg"),
            message(3, photo="photos/absent.jpg"),
            message(4, file=NOT_INCLUDED),
        ]
    )
    root = write_export(tmp_path / "export", chat, ["photos/a.jpg"])
    path = zip_folder(root, tmp_path / "export.zip", prefix, extra=[("outside.jpg", jpeg_bytes())])

    source = open_source(path)
    entries = list(source.entries())

    assert source.kind == "telegram"
    assert [(e.ordinal, e.locator.path, e.locator.link, e.error) for e in entries] == [
        (0, "photos/a.jpg", "https://t.me/c/1987654321/1", None),
        (1, "../outside.jpg", "https://t.me/c/1987654321/2", "path points outside the export: ../outside.jpg"),
        (2, "photos/absent.jpg", "https://t.me/c/1987654321/3", "file missing from the export"),
        (3, "", "https://t.me/c/1987654321/4", "media not included in the export: the export was made without this kind of media"),
    ]
    with entries[0].open() as stream:
        assert stream.read() == (root / "photos/a.jpg").read_bytes()
    assert summary(source) == summary(open_source(path))


def test_zip_with_two_exports_is_read_as_a_plain_zip(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("one/result.json", json.dumps(supergroup([])))
        archive.writestr("two/result.json", json.dumps(supergroup([])))

    source = open_source(path)

    assert source.kind == "zip"
    assert [e.locator.path for e in source.entries()] == ["one/result.json", "two/result.json"]


def test_symlink_media_inside_a_zipped_export_is_refused(tmp_path):
    link = zipfile.ZipInfo("photos/link.jpg")
    link.create_system = 3
    link.external_attr = (0o120777) << 16
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("result.json", json.dumps(supergroup([message(1, photo="photos/link.jpg")])))
        archive.writestr(link, "/etc/passwd")

    [entry] = list(open_source(path).entries())

    assert (entry.open, entry.error) == (None, "zip entry is a symlink")


def test_invalid_result_json_inside_a_zip_is_a_source_error(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Export/result.json", b"not json")

    with pytest.raises(SourceError, match="^result.json is not valid JSON: Expecting value at line 1, column 1$"):
        open_source(path)
