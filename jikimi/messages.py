"""Messages stored as a code with parameters, rendered in the reader's language.

A triage reason, a refusal or an enrolment problem is kept as `{"code": ..., "params": {...}}`
rather than as an English sentence, so the web shows each reader their language (Korean
first) from the same stored data. The English text of each code is its msgid in the Babel
catalogs (jikimi/web/locale): English reports, the CLI and the JSON API render it with
`english()`. A parameter may itself be a message (`{"code": ...}`), rendered in the same
language: a role name, the anonymous name of another case's subject, the problem of a photo.

Read errors keep their English one-line message (the JSON contract's `error`); their kind
(`error_codes.error_code`) picks the sentence other languages show.
"""

from __future__ import annotations

from pathlib import Path

from babel.support import NullTranslations, Translations

from jikimi.error_codes import error_code

LOCALE_DIR = Path(__file__).parent / "web" / "locale"
LANGUAGES = ("ko", "en")

MESSAGES = {
    # Triage reasons (jikimi/triage.py)
    "reason.face.confident": "face matches subject '%(subject)s' (confident match, distance %(distance).2f)",
    "reason.face.possible": "face matches subject '%(subject)s' (possible match, distance %(distance).2f)",
    "reason.face.confident.nudity":
        "face matches subject '%(subject)s' (confident match, distance %(distance).2f) and exposed nudity (%(exposed).2f)",
    "reason.face.possible.nudity":
        "face matches subject '%(subject)s' (possible match, distance %(distance).2f) and exposed nudity (%(exposed).2f)",
    "reason.bank": "matches bank '%(bank)s' (%(kind)s)",
    "reason.bank.distance": "matches bank '%(bank)s' (%(kind)s, distance %(distance)g)",
    "reason.nudity": "exposed nudity (%(exposed).2f), no known subject",
    "reason.derived": "edited copy of the photo '%(source)s' of subject '%(subject)s' (%(changed)s%% of it changed)",
    "subject.other_case": "(a person enrolled in another case)",
    # Role names, as parameters of refusals
    "role.admin": "admin",
    "role.caseworker": "case worker",
    "role.reviewer": "reviewer",
    "role.viewer": "viewer",
    # Refusals (jikimi/core/access.py, jikimi/web/auth.py)
    "refusal.role": "the %(role)s role may not do this",
    "refusal.case_role": "your role in this case may not do this",
    "refusal.admin_only": "only an admin may do this",
    "refusal.faces": "your role in this case may not see faces",
    "refusal.csrf": "the form has expired or did not come from this site: reload the page and try again",
    "refusal.reveal_first": "reveal this item first: every look at an original is logged",
    "notfound.case": "no case with id %(id)s",
    "notfound.scan": "no scan with id %(id)s",
    "notfound.subject": "no subject with id %(id)s",
    "notfound.item": "no item with id %(id)s",
    "notfound.face": "no matched face with id %(id)s",
    # Enrolment (jikimi/signals/faces.py, jikimi/cases.py, jikimi/web/views/cases.py)
    "enrol.no_face": "no face found",
    "enrol.several_faces": "%(count)s faces found: choose one with --face N (1 to %(count)s, left to right)",
    "enrol.several_faces_web": "%(count)s faces found: click the face of the person to enrol",
    "enrol.no_such_face": "no face number %(index)s: %(count)s found (1 to %(count)s, left to right)",
    "enrol.face_too_small": "face too small (%(size)s px, need %(need)s)",
    "enrol.face_blurred": "face too blurred (sharpness %(sharpness).1f, need %(need).1f)",
    "enrol.photo_problem": "%(file)s: %(problem)s",
    "enrol.photo_unreadable": "%(file)s: cannot read (%(why)s)",
    "enrol.no_photo": "give at least one reference photo",
    "enrol.no_consenter": "record who gave consent",
    "enrol.no_face_consent": "enrolling a face needs consent to face matching",
    "enrol.no_hash_consent": "hashing known images needs consent to it",
    "subject.not_enrolled": "no enrolled subject with id %(id)s",
    "subject.confirm_label": "type the subject's name exactly to confirm the removal",
    # Source photos of a subject (jikimi/subject_sources.py)
    "sources.no_photo": "give at least one source photo",
    "sources.no_features": "%(file)s: too plain to recognise (%(found)s distinctive points, need %(need)s)",
    "sources.not_found": "no source photo with id %(id)s of subject %(subject)s",
}

# What a read error says in other languages, by its code (jikimi/error_codes.py).
READ_ERRORS = {
    "empty_file": "empty file",
    "file_too_large": "the file is larger than the allowed size",
    "file_missing": "file missing from the export",
    "media_not_included": "media not included in the export",
    "not_a_file_name": "the export does not name a file for this post",
    "name_too_long": "the file cannot be opened: its name is too long",
    "cannot_read": "the file cannot be read",
    "path_has_nul": "the path in the export contains a NUL character",
    "path_not_text": "the path in the export is not valid text",
    "path_outside": "the path points outside the export",
    "symlink_broken": "symlink is broken",
    "not_regular_file": "not a regular file",
    "folder_unreadable": "folder cannot be read",
    "zip_symlink": "zip entry is a symlink",
    "zip_encrypted": "zip entry is encrypted",
    "zip_method": "zip entry uses an unsupported compression method",
    "zip_damaged": "zip entry is damaged",
    "zip_bomb": "zip entry inflates suspiciously (a zip bomb)",
    "zip_too_deep": "zip archives nested too deep",
    "zip_unreadable": "zip archive inside the source cannot be opened",
    "image_too_large": "image has too many pixels",
    "image_corrupt": "image is truncated or corrupt",
    "image_unreadable": "not a readable image",
    "video_too_large": "video frames are too large",
    "video_too_long": "video is too long",
    "video_corrupt": "video is truncated or corrupt",
    "posted_as_media": "not a readable image or video, although it was posted as one",
    "unknown_format": "not a known image or video format",
    "decoder_crashed": "the decoder crashed on this file",
    "decoder_error": "unexpected error while decoding",
    "other": "the file could not be read",
}

_catalogs: dict[str, NullTranslations] = {
    lang: Translations.load(str(LOCALE_DIR), [lang], domain="messages") for lang in LANGUAGES
}


def catalog(lang: str) -> NullTranslations:
    return _catalogs.get(lang) or _catalogs["en"]


def message(code: str, **params) -> dict:
    """A message to store or raise: its code and parameters."""
    if code not in MESSAGES:
        raise KeyError(f"unknown message code {code!r}")
    return {"code": code, "params": params}


def render(code: str, params: dict | None, lang: str) -> str:
    """The message in `lang` (English for a language we lack); nested messages too."""
    translations = catalog(lang)
    values = {name: render(value["code"], value.get("params"), lang) if _is_message(value) else value
              for name, value in (params or {}).items()}
    text = translations.gettext(MESSAGES[code])
    try:
        return text % values
    except (KeyError, TypeError, ValueError):  # a translation that lost a parameter: never a blank page
        return MESSAGES[code] % values


def render_message(stored: dict | None, lang: str) -> str:
    """A stored `{"code", "params"}` in `lang`; empty for none."""
    return render(stored["code"], stored.get("params"), lang) if stored else ""


def english(code: str, params: dict | None = None) -> str:
    return render(code, params, "en")


def read_error(message: str | None, lang: str) -> str:
    """An item's read error: the English line as written, or its kind in another language."""
    if not message:
        return ""
    if lang == "en":
        return message
    return catalog(lang).gettext(READ_ERRORS[error_code(message)])


def _is_message(value) -> bool:
    return isinstance(value, dict) and value.get("code") in MESSAGES
