"""Text from untrusted input made safe to store, print and report."""

from __future__ import annotations

import re

# Characters no database, JSON file or terminal can hold as they are: lone surrogates (a file
# name that is not UTF-8 decodes to them, and hostile JSON can spell them) and NUL.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """`text` with each unstorable character written as a backslash escape.

    A byte of a non-UTF-8 file name (decoded by Python as U+DC80-U+DCFF) shows as `\\xe9`,
    another lone surrogate as `\\ud800`, NUL as `\\x00`; everything else is unchanged.
    """
    return UNSTORABLE.sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # one byte of a file name that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """Storable text with every run of white space (line breaks included) folded to one space."""
    return " ".join(storable_text(text).split())


# Parts of a library's message that differ between machines or runs: object reprs such as
# <_io.BufferedReader name='/home/.../vault/ab/cd/...'> and quoted absolute paths.
OBJECT_REPR = re.compile(r"\s*<[^<>]*(?: object at 0x[0-9a-f]+|name=)[^<>]*>")
QUOTED_PATH = re.compile(r"""\s*:?\s*(['"])/[^'"]*\1""")


def plain_reason(error: BaseException) -> str:
    """A library's error message as one stable line: no object reprs, no paths of this machine."""
    text = QUOTED_PATH.sub("", OBJECT_REPR.sub("", str(error)))
    return one_line(text) or type(error).__name__
