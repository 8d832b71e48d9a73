"""Limits on untrusted input, so one hostile file cannot exhaust the machine.

Defaults are generous for real evidence (phone photos, long screen recordings) and can be
changed per scan from the command line.
"""

from dataclasses import dataclass

MAX_IMAGE_PIXELS = 80_000_000  # ~ 10000 x 8000: larger than any phone camera
MAX_FILE_BYTES = 4 * 1024**3  # 4 GiB: Telegram's own upload limit for premium users
MAX_VIDEO_SECONDS = 3 * 60 * 60  # 3 hours
MAX_ZIP_RATIO = 200  # deflate rarely beats 100:1 on media; bombs reach 1000:1 and more
MAX_ZIP_ENTRIES = 200_000


@dataclass(frozen=True)
class Limits:
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_file_bytes: int = MAX_FILE_BYTES
    max_video_seconds: float = MAX_VIDEO_SECONDS
    max_zip_ratio: float = MAX_ZIP_RATIO
    max_zip_entries: int = MAX_ZIP_ENTRIES
