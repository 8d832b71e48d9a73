"""What a file really is, from its first bytes: extensions lie, magic bytes rarely do."""

from pathlib import Path

HEAD_BYTES = 64  # enough for every signature below, including an EBML DocType

# ISO base media (ftyp) brands that are still images; every other brand is a movie.
IMAGE_BRANDS = {
    b"heic": "image/heic", b"heix": "image/heic", b"heim": "image/heic", b"heis": "image/heic",
    b"mif1": "image/heif", b"msf1": "image/heif-sequence",
    b"avif": "image/avif", b"avis": "image/avif",
}
AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}  # iTunes audio shares the MP4 container
QUICKTIME_ATOMS = {b"moov", b"mdat", b"free", b"wide", b"skip"}  # old .mov files without ftyp

OTHER = ("other", "application/octet-stream")


def sniff_kind(path: Path) -> str:
    """"image", "video" or "other"."""
    return _sniff(_head(path))[0]


def mime_type(path: Path) -> str:
    """The MIME type the bytes show ("application/octet-stream" when unknown)."""
    return _sniff(_head(path))[1]


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


def _sniff(head: bytes) -> tuple[str, str]:
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video", "video/x-msvideo"
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return "image", "image/bmp"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "image", "image/tiff"
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head[8:12])
    if head[4:8] in QUICKTIME_ATOMS:
        return "video", "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "video/webm" if b"webm" in head else "video/x-matroska"
    return OTHER


def _sniff_ftyp(brand: bytes) -> tuple[str, str]:
    if brand in IMAGE_BRANDS:
        return "image", IMAGE_BRANDS[brand]
    if brand in AUDIO_BRANDS:
        return "other", "audio/mp4"
    if brand == b"qt  ":
        return "video", "video/quicktime"
    if brand.startswith(b"3g"):
        return "video", "video/3gpp"
    return "video", "video/mp4"
