"""Stable codes for the one-line errors an item can carry, so the web can translate them.

The message stays the JSON report's `error` (one line, the same in every workspace, no path
of this machine); `error_code` names its kind. Each code matches the fixed opening words of
the messages our sources, decoders and scan write; tests/test_fuzz.py checks that every
error a fuzzed scan produces has one.
"""

from __future__ import annotations

import re

CODES = [  # (code, how its messages begin)
    ("empty_file", r"empty file$"),
    ("file_too_large", r"(the )?file is \d+ bytes|file is larger than|zip entry is larger than"),
    ("file_missing", r"file missing from the export"),
    ("media_not_included", r"media not included in the export"),
    ("not_a_file_name", r"the export gives the (photo|file) as"),
    ("name_too_long", r"the file cannot be opened: its name is too long"),
    ("cannot_read", r"the file cannot be opened \(|cannot read the file"),
    ("path_has_nul", r"the path in the export contains a NUL character"),
    ("path_not_text", r"the path in the export is not valid text"),
    ("path_outside", r"path points outside the export|zip entry name points outside|symlink points outside"),
    ("symlink_broken", r"symlink is broken"),
    ("not_regular_file", r"not a regular file"),
    ("folder_unreadable", r"folder cannot be read"),
    ("zip_symlink", r"zip entry is a symlink"),
    ("zip_encrypted", r"zip entry is encrypted"),
    ("zip_method", r"zip entry uses compression method"),
    ("zip_damaged", r"zip entry is damaged"),
    ("zip_bomb", r"zip entry inflates"),
    ("zip_too_deep", r"zip archive nested more than"),
    ("zip_unreadable", r"zip archive inside the source cannot be opened"),
    ("image_too_large", r"image has more pixels|image is \d+x\d+ pixels"),
    ("image_corrupt", r"image is truncated or corrupt"),
    ("image_unreadable", r"not a readable image \("),
    ("video_too_large", r"video frames are"),
    ("video_too_long", r"video is longer than"),
    ("video_corrupt", r"video is truncated or corrupt|video has no frame (size|rate)|file has no video stream"),
    ("posted_as_media", r"not a readable image or video, although"),
    ("unknown_format", r"not a known image or video format"),
    ("decoder_crashed", r"the decoder crashed"),
    ("decoder_error", r"unexpected error while decoding"),
]
_PATTERNS = [(code, re.compile(pattern)) for code, pattern in CODES]


def error_code(message: str | None) -> str | None:
    """The code of an item's error message; "other" for a message no code describes."""
    if message is None:
        return None
    return next((code for code, pattern in _PATTERNS if pattern.match(message)), "other")
