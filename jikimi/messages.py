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
    # The custody log's chain (jikimi/audit.py) and head receipts (jikimi/audit_heads.py)
    "log.intact": "%(count)s entries intact",
    "log.missing": "entry %(seq)s is missing (the next entry is %(next)s)",
    "log.out_of_order": "entry %(seq)s is out of order (expected %(expected)s)",
    "log.out_of_order_after": "entry %(seq)s is out of order (after entry %(last)s)",
    "log.altered": "entry %(seq)s was altered: its contents do not match its hash",
    "log.not_following":
        "entry %(seq)s does not follow entry %(previous)s: an entry was removed, inserted or reordered",
    "log.forged": "entry %(seq)s is not signed by this workspace's key: it was forged or re-hashed",
    "receipt.other_key": "the receipt was signed by key %(signer)s, not by this workspace's key %(own)s: "
                         "the workspace keys were replaced, or the receipt is not ours",
    "receipt.forged": "the receipt's signature is not valid: the receipt was altered or forged",
    "receipt.log_cut": "the log ends at entry %(last)s, but the receipt of %(time)s vouches for entry %(seq)s: "
                       "entries were cut from the end, or the database was replaced by an older or empty copy",
    "receipt.rolled_back": "entry %(seq)s is not the one the receipt of %(time)s vouches for: the log was rolled "
                           "back to an older copy and written again since",
    # What `jikimi evidence verify` and the web's verify page find wrong (jikimi/evidence/verify.py)
    "verify.not_zip": "%(file)s is not a readable ZIP file (%(why)s)",
    "verify.unsafe_name":
        "unsafe entry name %(name)s (absolute, or escaping with '..'): the package is rejected unread",
    "verify.too_many_entries": "the ZIP has %(count)s entries, over the limit of %(limit)s: it was not read",
    "verify.encrypted": "%(file)s is encrypted, which a Jikimi package never is: the package was not read",
    "verify.compressed": "%(file)s is compressed (method %(method)s), but a Jikimi package stores every file "
                         "uncompressed: it was made or altered by another tool, and was not unpacked "
                         "(it may be a zip bomb)",
    "verify.two_sizes": "%(file)s has two different sizes in the ZIP directory: the ZIP was altered, and was not read",
    "verify.too_big": "%(file)s is %(size)s bytes, over the limit of %(limit)s for that file: it was not read",
    "verify.overlap":
        "the ZIP's entries overlap or claim more bytes than the file holds, as in a zip bomb: it was not read",
    "verify.duplicate": "%(file)s appears more than once in the ZIP",
    "verify.damaged": "%(file)s: damaged or altered, it cannot be read back intact (%(why)s)",
    "verify.missing": "%(file)s is missing from the package",
    "verify.signature": "manifest.sig: the signature does not match manifest.json: the manifest was altered, "
                        "or it was signed with another key",
    "verify.key_not_named": "public_key.pem is not the key named in manifest.json",
    "verify.key_not_pem": "public_key.pem is not a PEM public key: the signature cannot be checked",
    "verify.key_not_ed25519": "public_key.pem is not an Ed25519 key: the signature cannot be checked",
    "verify.manifest_not_json": "manifest.json is not valid JSON (%(why)s)",
    "verify.manifest_not_format": "manifest.json is not a %(format)s manifest",
    "verify.manifest_malformed": "manifest.json is malformed: %(problem)s",
    "verify.shape.public_key": "public_key is not a string",
    "verify.shape.files": "files is not a table of names and hashes",
    "verify.shape.items": "items is not a list",
    "verify.shape.item": "an item lacks its file, sha256, md5 or size",
    "verify.shape.custody_log": "custody_log has no list of entries",
    "verify.sums_line": "SHA256SUMS: line %(line)s is not a checksum line: SHA256SUMS was altered",
    "verify.sums_unknown": "SHA256SUMS: line %(line)s names %(file)s, which is not in the package",
    "verify.sums_wrong": "SHA256SUMS: line %(line)s has the wrong SHA-256 for %(file)s (the file itself matches the "
                         "signed manifest): SHA256SUMS was altered",
    "verify.altered_sums": "%(file)s: its SHA-256 does not match SHA256SUMS: the file was altered",
    "verify.unlisted": "%(file)s is not listed in SHA256SUMS: it was added or renamed after the package was made",
    "verify.altered_manifest": "%(file)s: its SHA-256 does not match the signed manifest: the file was altered",
    "verify.original_missing": "item %(item)s: its original %(file)s is missing from the package",
    "verify.original_altered": "%(file)s (item %(item)s): the original does not match the SHA-256, MD5 and size "
                               "recorded in the manifest: it was altered",
    "verify.not_in_manifest": "%(file)s is not part of the signed manifest",
    "verify.log_malformed": "custody log in manifest.json: an entry is incomplete or malformed",
    "verify.log": "custody log: %(problem)s",
    "verify.no_receipt": "custody log: the package carries no valid signed head receipt (%(why)s)",
    "verify.receipt": "custody log: head receipt: %(problem)s",
    "verify.after_head": "custody log: entry %(seq)s is after the recorded head %(head)s",
    "verify.report_no_key": "%(file)s does not state the fingerprint of the key that signed the package",
    "verify.report_other_key": "%(file)s shows key fingerprint %(shown)s, but the manifest was signed by key "
                               "%(fingerprint)s: the package was re-signed with another key",
    "verify.layout": "the ZIP structure was altered at byte %(offset)s (%(region)s), outside the checked file contents",
    "verify.region.directory": "in the ZIP directory",
    "verify.region.before_first": "before the first file",
    "verify.region.entry": "in the entry of %(file)s",
    # Errors the core raises that reach the web (jikimi/core/*.py)
    "error.choose_items": "choose at least one item",
    "error.bulk_max": "decide at most %(max)s items at once",
    "error.not_her_without_face": "no face matched in this item, so it cannot be “not her”",
    "error.nothing_to_undo": "there is no decision of yours on this item from the last few seconds to undo",
    "notfound.reference": "subject %(id)s has no kept reference face",
    "notfound.original": "item %(id)s has no stored original",
    "notfound.thumbnail": "item %(id)s has no thumbnail",
    "error.report_language": "evidence reports are written in %(languages)s, not %(lang)s",
    "error.resume_status": "scan %(id)s is %(status)s: only an interrupted or cancelled scan can be resumed",
    "error.nothing_to_cancel": "job %(id)s is %(status)s: there is nothing to cancel",
    "error.scan_not_from_web": "scan %(id)s was not started from the web: stop it where it runs",
    "notfound.scan_path": "that server path is not allowed for scanning: ask an admin",
    "error.no_package": "job %(id)s has no finished evidence package",
    "error.package_gone": "the package of job %(id)s is no longer on the server: build it again",
    "notfound.job": "no job with id %(id)s",
    "error.item_not_in_case": "item %(item)s does not belong to case %(case)s: scan it for the case "
                              "or record a decision with `jikimi review %(item)s confirm --case %(case)s`",
    "error.no_confirmed": "case %(case)s has no confirmed items: confirm them with `jikimi review ITEM confirm`, "
                          "or name items with --item",
    "error.no_original": "item %(id)s has no original to export (%(why)s)",
    "error.case_role": "unknown case role %(role)s: use one of %(roles)s",
    "notfound.member": "%(user)s is not a member of case %(case)s",
    "error.name_user": "name the user",
    "notfound.user": "no user named %(name)s",
    "error.choose_host": "choose the host to send the notice to",
    "error.setting_unknown": "unknown setting %(name)s",
    "error.setting_number": "%(name)s must be a whole number",
    "error.setting_range": "%(name)s must be between %(low)s and %(high)s",
    "error.not_a_date": "%(text)s is not a date: write it as YYYY-MM-DD",
    "error.role": "unknown role %(role)s: use one of %(roles)s",
    "error.own_role": "you cannot change your own role: ask another admin",
    "error.own_disable": "you cannot disable your own account",
    "error.own_reset": "change your own password on your account page, not by a reset",
    "error.path_absolute": "give an absolute path that exists on the server",
    "error.path_allowed": "%(path)s is already allowed",
    "notfound.allowed_path": "no allowed path with id %(id)s",
    "notfound.token": "you have no token with id %(id)s",
    "error.bank_name": "a bank needs a name",
    "error.choose_files": "choose at least one file",
    "error.bank_in_use": "bank %(bank)s has matches in scans: they would lose what they matched",
    "status.running": "running",
    "status.interrupted": "interrupted",
    "status.complete": "complete",
    "status.failed": "failed",
    "status.queued": "waiting for a worker",
    "status.cancelled": "cancelled",
    # The HTML scan report (jikimi/reports/templates/report.html) and its match lines (reports/render.py)
    "match.face.other_case": "face · matches a person enrolled in another case",
    "match.derived.other_case": "derived · an edited copy of a photo of a person enrolled in another case",
    "match.derived": "derived · edited copy of the photo '%(source)s' of subject %(subject)s "
                     "(%(changed)s%% of it changed, %(inliers)s matching points)",
    "match.face": "face · subject %(subject)s (distance %(distance).2f)",
    "match.face.confident": "face · subject %(subject)s (confident match, distance %(distance).2f)",
    "match.face.possible": "face · subject %(subject)s (possible match, distance %(distance).2f)",
    "match.in_frame": "in the frame at %(time).0f s",
    "match.distance": "(distance %(distance)g)",
    "match.frame_at": "frame at %(time).0f s",
    "match.known_video_at": "known video at %(time).0f s",
    "match.frames": "%(query)g%% / %(compared)g%% of frames",
    "kind.image": "image",
    "kind.video": "video",
    "kind.other": "other",
    "report.title": "Jikimi scan %(id)s report",
    "report.heading": "Jikimi scan report #%(id)s",
    "report.source": "Source",
    "report.unknown": "unknown",
    "report.status": "status %(status)s",
    "report.started": "started %(time)s",
    "report.finished": "finished %(time)s",
    "report.made": "report made %(time)s",
    "report.blurred": "Thumbnails are blurred on purpose so that nothing intimate is visible; a matched face is shown "
                      "cropped alone so identity can be judged without seeing the body. Items are ordered by priority. "
                      "The originals are kept unaltered in the workspace's evidence vault.",
    "report.count.items": "Items",
    "report.count.posts": "Posts",
    "report.count.matched": "Matched",
    "report.count.errors": "Errors",
    "report.count.allowed": "Allowed",
    "report.count.time": "Time",
    "report.stopped": "The scan stopped: %(error)s",
    "report.matched": "Matched items (%(count)s)",
    "report.blurred_preview": "blurred preview",
    "report.no_preview": "no preview",
    "report.face_of": "matched face of %(subject)s",
    "report.face_only": "face only · %(subject)s",
    "report.item": "Item %(id)s",
    "report.priority": "Priority %(priority)s: %(reason)s",
    "report.reupload": "Re-upload: already named in takedown notice %(notices)s",
    "report.nudity": "Nudity classes: %(classes)s",
    "report.provenance": "Provenance hints (not verdicts): %(hints)s",
    "report.message": "message %(id)s",
    "report.unknown_sender": "unknown sender",
    "report.none_matched": "No item matched a bank.",
    "report.unreadable": "Could not be read (%(count)s)",
    "report.where": "Where",
    "report.reason": "Reason",
    "report.all_read": "Every item was read.",
    "report.allowed": "Matched an allow list, not reported (%(count)s)",
    "report.allowed_item": "Item %(id)s: %(by)s",
    "report.custody_head": "Custody log head when this report was made: entry %(seq)s",
    "report.custody_signed": "signed %(time)s UTC.",
    "report.custody_keep": "Keep a copy of this report off this machine:",
    "report.custody_fails": "this file fails if the log no longer contains that head.",
    "report.unfinished": "unfinished",
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


def status(name: str) -> dict | str:
    """A scan's or job's status as a parameter: its name in the reader's language when we have one."""
    return message(f"status.{name}") if f"status.{name}" in MESSAGES else name


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
