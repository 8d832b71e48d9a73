import pytest

from jikimi.media.detect import mime_type, sniff_kind
from media_helpers import astronaut, write_video


@pytest.mark.parametrize(
    "fmt, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp"),
                  ("BMP", "image/bmp"), ("TIFF", "image/tiff")],
)
def test_images_are_recognised_by_their_bytes_not_their_extension(tmp_path, fmt, mime):
    path = tmp_path / "holiday.mp4"  # the extension lies
    astronaut((64, 48)).save(path, fmt)
    assert (sniff_kind(path), mime_type(path)) == ("image", mime)


def test_ftyp_brands_split_still_images_from_movies_and_audio(tmp_path):
    def ftyp(brand: bytes) -> str:
        path = tmp_path / "x.bin"
        path.write_bytes(b"\0\0\0\x18ftyp" + brand + b"\0\0\0\0" + brand)
        return sniff_kind(path), mime_type(path)

    assert ftyp(b"heic") == ("image", "image/heic")
    assert ftyp(b"mif1") == ("image", "image/heif")
    assert ftyp(b"avif") == ("image", "image/avif")
    assert ftyp(b"isom") == ("video", "video/mp4")
    assert ftyp(b"qt  ") == ("video", "video/quicktime")
    assert ftyp(b"M4A ") == ("other", "audio/mp4")


def test_videos_and_other_bytes(tmp_path):
    mp4 = write_video(tmp_path / "clip.mp4", seconds=1).rename(tmp_path / "clip.jpg")  # lying extension
    webm = write_video(tmp_path / "clip.webm", seconds=1, codec="libvpx-vp9")
    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    assert (sniff_kind(mp4), mime_type(mp4)) == ("video", "video/mp4")
    assert (sniff_kind(webm), mime_type(webm)) == ("video", "video/webm")
    assert sniff_kind(tmp_path / "notes.jpg") == "other"
    assert (sniff_kind(tmp_path / "empty.png"), mime_type(tmp_path / "empty.png")) == ("other", "application/octet-stream")
