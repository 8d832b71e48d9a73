"""ZIP source: hostile entry names, links, encryption and bombs become errors, not crashes."""

import io
import stat
import zipfile

import pytest
from PIL import Image

from jikimi.errors import MediaTooLarge, SourceError, UnsafeArchive
from jikimi.limits import Limits
from jikimi.sources import open_source


def png_bytes(color=(20, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    """`members` maps a name or a ZipInfo to bytes."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def listing(source):
    return [(entry.ordinal, entry.locator.path, entry.error) for entry in source.entries()]


def symlink_member(name):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def mark_encrypted(path, name):
    """zipfile cannot write encrypted entries, so set the flag in the central directory."""
    data = bytearray(path.read_bytes())
    central_directory = data.index(b"PK\x01\x02")
    record = data.rindex(b"PK\x01\x02", 0, data.index(name.encode(), central_directory))
    data[record + 8] |= 0x1
    path.write_bytes(bytes(data))


def test_entries_are_sorted_and_directories_skipped(tmp_path):
    image = png_bytes()
    path = make_zip(tmp_path / "in.zip", [("z.png", image), ("dir/", b""), ("dir/a.png", image), ("b.bin", b"")])

    source = open_source(path)

    assert source.kind == "zip"
    assert listing(source) == [(0, "b.bin", None), (1, "dir/a.png", None), (2, "z.png", None)]
    assert listing(source) == listing(open_source(path))
    entries = list(source.entries())
    with entries[1].open() as stream:
        assert stream.read() == image
    with entries[0].open() as stream:
        assert stream.read() == b""


def test_zip_is_detected_by_magic_bytes_not_by_name(tmp_path):
    path = make_zip(tmp_path / "photos.dat", [("a.png", png_bytes())])

    assert open_source(path).kind == "zip"


def test_unsafe_entries_are_reported_and_the_rest_is_scanned(tmp_path):
    path = make_zip(
        tmp_path / "evil.zip",
        [
            ("../../escape.png", b"x"),
            ("ok/../../up.png", b"x"),
            ("/etc/absolute.png", b"x"),
            ("C:/windows.png", b"x"),
            ("..\\backslash.png", b"x"),
            (symlink_member("link.png"), b"/etc/passwd"),
            ("secret.png", b"x"),
            ("good.png", png_bytes()),
        ],
    )
    mark_encrypted(path, "secret.png")

    entries = list(open_source(path).entries())

    assert [(e.ordinal, e.locator.path, e.error) for e in entries] == [
        (0, "../../escape.png", "zip entry name points outside the archive"),
        (1, "..\\backslash.png", "zip entry name points outside the archive"),
        (2, "/etc/absolute.png", "zip entry name points outside the archive"),
        (3, "C:/windows.png", "zip entry name points outside the archive"),
        (4, "good.png", None),
        (5, "link.png", "zip entry is a symlink"),
        (6, "ok/../../up.png", "zip entry name points outside the archive"),
        (7, "secret.png", "zip entry is encrypted"),
    ]
    assert [e.open is None for e in entries] == [True, True, True, True, False, True, True, True]


def test_zip_bomb_is_stopped_while_reading(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", [("zeros.png", bytes(50 * 1024**2))])
    entry = next(open_source(path).entries())

    assert entry.error is None
    stream = entry.open()
    with pytest.raises(UnsafeArchive, match="^zip entry inflates to more than 200 times its compressed size"):
        while stream.read(1024**2):
            pass


def test_small_entries_may_inflate_beyond_the_ratio(tmp_path):
    path = make_zip(tmp_path / "small.zip", [("blank.bin", bytes(512 * 1024))])

    with next(open_source(path).entries()).open() as stream:
        assert stream.read() == bytes(512 * 1024)


def test_entry_over_the_file_size_limit_is_stopped_while_reading(tmp_path):
    path = make_zip(tmp_path / "big.zip", [("big.bin", b"y" * 5000)], zipfile.ZIP_STORED)
    entry = next(open_source(path, Limits(max_file_bytes=1000)).entries())

    with pytest.raises(MediaTooLarge, match="^zip entry is larger than the limit of 1000 bytes$"):
        entry.open().read()


def test_too_many_entries_is_a_source_error(tmp_path):
    path = make_zip(tmp_path / "many.zip", [(f"{n}.bin", b"") for n in range(5)])

    with pytest.raises(SourceError, match="^many.zip has 5 entries, over the limit of 3$"):
        open_source(path, Limits(max_zip_entries=3))


def test_invalid_zip_is_a_source_error(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    named = tmp_path / "named.zip"
    named.write_bytes(b"plain text")

    with pytest.raises(SourceError, match="^fake.zip is not a valid zip archive: "):
        open_source(fake)
    with pytest.raises(SourceError, match="^named.zip is not a valid zip archive: "):
        open_source(named)


def test_overlapping_entries_are_a_source_error(tmp_path):
    path = make_zip(tmp_path / "overlap.zip", [("a.bin", bytes(1000))], zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    # Duplicate the central directory record so two entries share the same compressed bytes.
    start = data.rindex(b"PK\x01\x02")
    end = data.rindex(b"PK\x05\x06")
    record = data[start:end]
    eocd = data[end:]
    eocd[8:10] = (2).to_bytes(2, "little")
    eocd[10:12] = (2).to_bytes(2, "little")
    eocd[12:16] = (2 * len(record)).to_bytes(4, "little")
    path.write_bytes(bytes(data[:start] + record + record + eocd))

    with pytest.raises(SourceError, match="^overlap.zip is not a valid zip archive: its entries overlap"):
        open_source(path)


def test_damaged_entry_raises_unsafe_archive_when_read(tmp_path):
    path = make_zip(tmp_path / "damaged.zip", [("a.bin", b"hello world" * 100)], zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    data[data.index(b"hello")] = ord("j")  # breaks the CRC-32
    path.write_bytes(bytes(data))
    entry = next(open_source(path).entries())

    with pytest.raises(UnsafeArchive, match="^zip entry is damaged and cannot be read: Bad CRC-32"):
        entry.open().read()
