"""Telegram Desktop exports: result.json plus the media folders it points to.

Every photo or file posted in a message becomes an entry whose locator says where it was
posted (chat, message, sender, time, link): that provenance is what makes it evidence.
Media the export left out still becomes an entry, with an error, because it shows that
something was posted. The paths in result.json are untrusted and are resolved by the
folder or archive holding the export, which refuses any that lead outside it.
"""

from __future__ import annotations

import errno
import json
from itertools import count
from typing import BinaryIO, Callable, Iterator, Protocol

from jikimi.errors import JikimiError, SourceError
from jikimi.sources.base import Locator, SourceEntry

RESULT_JSON_MAX_BYTES = 1024**3
TEXT_SNIPPET_CHARS = 200
# Chat types whose messages have a https://t.me/c/<chat>/<message> link.
LINKED_CHAT_TYPES = frozenset(
    {"private_supergroup", "public_supergroup", "private_channel", "public_channel"}
)
NOT_AN_EXPORT = "result.json is not a Telegram Desktop export"
# Integers longer than this are not ids or times: kept as text, so Python's 4300-digit limit
# on parsing integers never fails the whole export.
MAX_INT_DIGITS = 40
# Ids and times outside a signed 64-bit integer are nonsense in an export (and no database
# column holds them); dates past the year 9999 cannot be written as dates.
INT64 = range(-(2**63), 2**63)
MAX_UNIXTIME = 253402300799  # 9999-12-31 23:59:59 UTC
# How a non-text media value is named in its entry's error.
VALUE_KINDS = ((bool, "true or false"), (int, "a number"), (float, "a number"), (list, "a list"),
               (dict, "an object"))


class ExportFiles(Protocol):
    def opener(self, name: str) -> Callable[[], BinaryIO]:
        """How to open a path named in result.json.

        Raises UnsafePath when it leads outside the export, FileNotFoundError when it is absent,
        another JikimiError when it cannot be read safely.
        """
        ...


class TelegramSource:
    kind = "telegram"

    def __init__(self, files: ExportFiles):
        self.files = files
        self.chats = chats_in(load_result_json(files))

    def entries(self) -> Iterator[SourceEntry]:
        ordinals = count()
        for chat in self.chats:
            for message in chat["messages"]:
                if message.get("type") != "message":
                    continue
                for media_type, name in media_in(message):
                    yield self._entry(next(ordinals), chat, message, media_type, name)

    def _entry(self, ordinal: int, chat: dict, message: dict, media_type: str, name: object) -> SourceEntry:
        included = isinstance(name, str) and not is_placeholder(name)
        # The message's mime_type describes its file, not a photo or a thumbnail.
        mime_type = text_or_none(message.get("mime_type")) if media_type not in ("photo", "thumbnail") else None
        locator = Locator(
            path=name if included else "",
            chat=text_or_none(chat.get("name")),
            chat_id=int_or_none(chat.get("id")),
            chat_type=text_or_none(chat.get("type")),
            message_id=int_or_none(message.get("id")),
            sender=text_or_none(message.get("from")),
            sender_id=text_or_none(message.get("from_id")),
            forwarded_from=text_or_none(message.get("forwarded_from")),
            date_unixtime=unixtime_or_none(message.get("date_unixtime")),
            link=message_link(chat, message),
            text=snippet(message.get("text")),
            media_type=media_type,
            mime_type=mime_type,
        )
        if not isinstance(name, str):
            return SourceEntry(ordinal, locator, None, not_a_name_reason(media_type, name))
        if not included:
            return SourceEntry(ordinal, locator, None, not_included_reason(name))
        try:
            return SourceEntry(ordinal, locator, self.files.opener(name))
        except FileNotFoundError:
            return SourceEntry(ordinal, locator, None, "file missing from the export")
        except JikimiError as problem:
            return SourceEntry(ordinal, locator, None, str(problem))
        except OSError as problem:
            if problem.errno == errno.ENAMETOOLONG:
                return SourceEntry(ordinal, locator, None, "the file cannot be opened: its name is too long")
            return SourceEntry(ordinal, locator, None,
                               f"the file cannot be opened ({problem.strerror or type(problem).__name__})")


def load_result_json(files: ExportFiles) -> object:
    try:
        with files.opener("result.json")() as stream:
            raw = stream.read(RESULT_JSON_MAX_BYTES + 1)
    except (OSError, JikimiError) as error:
        raise SourceError(f"result.json cannot be read: {error}") from error
    if len(raw) > RESULT_JSON_MAX_BYTES:
        raise SourceError(f"result.json is larger than {RESULT_JSON_MAX_BYTES} bytes, too large to be read")
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_int=_parse_int)
    except UnicodeDecodeError as error:
        raise SourceError(f"result.json is not UTF-8 text (byte {error.start} is invalid)") from error
    except json.JSONDecodeError as error:
        raise SourceError(
            f"result.json is not valid JSON: {error.msg.removesuffix(' at')} at line {error.lineno}, "
            f"column {error.colno}"
        ) from error
    except RecursionError as error:
        raise SourceError("result.json is nested too deeply to be a Telegram Desktop export") from error


def _parse_int(digits: str) -> int | str:
    return int(digits) if len(digits.lstrip("-")) <= MAX_INT_DIGITS else digits


def chats_in(data: object) -> list[dict]:
    """The chats of a one-chat export or of a full-account export, in file order.

    The whole shape is checked here so that a wrong file fails before any entry is yielded.
    """
    if isinstance(data, dict) and "messages" in data:
        chats = [data]
    elif isinstance(data, dict) and "chats" in data:
        chats = []
        for key, section in data.items():
            if key in ("chats", "left_chats"):
                if not (isinstance(section, dict) and isinstance(section.get("list"), list)):
                    raise SourceError(f'{NOT_AN_EXPORT}: "{key}" has no chat list')
                chats += section["list"]
    else:
        raise SourceError(f'{NOT_AN_EXPORT}: it has neither "messages" nor "chats" at the top level')
    for number, chat in enumerate(chats, start=1):
        if not (isinstance(chat, dict) and isinstance(chat.get("messages"), list)):
            raise SourceError(f"{NOT_AN_EXPORT}: chat {number} has no message list")
        if not all(isinstance(message, dict) for message in chat["messages"]):
            raise SourceError(f"{NOT_AN_EXPORT}: chat {number} has a message that is not an object")
    return chats


def media_in(message: dict) -> list[tuple[str, object]]:
    """(media type, path) pairs: the photo, then the file.

    A thumbnail is taken only when there is no photo and no included file, since it is then
    the only picture of what was posted (e.g. a video too large for the export). A photo or
    file given as anything but text (a number, a list...) is kept, for its entry's error.
    """
    found = []
    photo, file, thumbnail = (message.get(key) for key in ("photo", "file", "thumbnail"))
    if photo not in (None, ""):
        found.append(("photo", photo))
    if file not in (None, ""):
        found.append((text_or_none(message.get("media_type")) or "file", file))
    included = [name for _, name in found if isinstance(name, str) and not is_placeholder(name)]
    if isinstance(thumbnail, str) and thumbnail and not is_placeholder(thumbnail) and not included:
        found.append(("thumbnail", thumbnail))
    return found


def is_placeholder(name: str) -> bool:
    """Telegram writes e.g. "(File not included. Change data exporting settings to download.)"."""
    return name.startswith("(") and name.endswith(")")


def not_included_reason(placeholder: str) -> str:
    if "exceeds maximum size" in placeholder:
        reason = "file exceeds the export's size limit"
    elif "not included" in placeholder:
        reason = "the export was made without this kind of media"
    else:
        reason = " ".join(placeholder.strip("()").split()) or "the export gives no reason"
    return f"media not included in the export: {reason}"


def not_a_name_reason(media_type: str, value: object) -> str:
    what = "photo" if media_type == "photo" else "file"
    kind = next((name for type_, name in VALUE_KINDS if isinstance(value, type_)), "something else")
    return f"the export gives the {what} as {kind}, not a file name"


def message_link(chat: dict, message: dict) -> str | None:
    chat_id, message_id = int_or_none(chat.get("id")), int_or_none(message.get("id"))
    if chat.get("type") not in LINKED_CHAT_TYPES or chat_id is None or message_id is None:
        return None
    return f"https://t.me/c/{channel_number(chat_id)}/{message_id}"


def channel_number(chat_id: int) -> int:
    """The bare channel id that t.me/c links use: -1001234567890 -> 1234567890."""
    digits = str(abs(chat_id))
    if chat_id < 0 and digits.startswith("100") and len(digits) > 3:
        return int(digits[3:])
    return abs(chat_id)


def snippet(text: object) -> str | None:
    """Up to 200 characters of a message text, which is a string or a list of strings and entities."""
    if isinstance(text, list):
        text = "".join(
            part if isinstance(part, str) else str(part.get("text", "")) if isinstance(part, dict) else ""
            for part in text
        )
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    if len(text) > TEXT_SNIPPET_CHARS:
        text = text[: TEXT_SNIPPET_CHARS - 1] + "…"
    return text or None


def int_or_none(value: object) -> int | None:
    """An integer id from a number or its digits; None for anything else or out of 64-bit range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value.strip().lstrip("+-")) <= MAX_INT_DIGITS:
        try:
            value = int(value)
        except ValueError:
            return None
    return value if isinstance(value, int) and value in INT64 else None


def unixtime_or_none(value: object) -> int | None:
    """A message time that can be shown as a date, else None."""
    moment = int_or_none(value)
    return moment if moment is not None and 0 <= moment <= MAX_UNIXTIME else None


def text_or_none(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
