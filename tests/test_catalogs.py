"""Both catalogs are complete, and the compiled ones say what the .po files say.

Read from the files, not from a list, so strings other features add are checked too.
"""

from __future__ import annotations

import io
import re

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from jikimi.messages import LANGUAGES, LOCALE_DIR, MESSAGES, READ_ERRORS

PLACEHOLDER = re.compile(r"%\((\w+)\)")


def po(lang: str):
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


def entries(lang: str):
    return [m for m in po(lang) if m.id]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_is_translated_and_none_is_fuzzy(lang):
    untranslated = [m.id for m in entries(lang)
                    if not m.string or (isinstance(m.string, tuple) and not all(m.string))]
    fuzzy = [m.id for m in entries(lang) if m.fuzzy]
    assert not untranslated, f"{lang}: {len(untranslated)} untranslated: {untranslated[:5]}"
    assert not fuzzy, f"{lang}: fuzzy: {fuzzy[:5]}"


def test_both_languages_have_the_same_strings():
    ko, en = ({m.id if isinstance(m.id, str) else m.id[0] for m in entries(lang)} for lang in ("ko", "en"))
    assert ko - en == set() and en - ko == set(), (sorted(ko - en)[:5], sorted(en - ko)[:5])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_stored_messages_and_read_errors_are_in_the_catalog(lang):
    ids = {m.id for m in entries(lang)}
    missing = [text for text in [*MESSAGES.values(), *READ_ERRORS.values()] if text not in ids]
    assert not missing, missing


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_use_only_the_original_s_placeholders(lang):
    for m in entries(lang):
        singular = m.id if isinstance(m.id, str) else m.id[0]
        allowed = set(PLACEHOLDER.findall(singular if isinstance(m.id, str) else " ".join(m.id))) | {"num"}
        for text in (m.string if isinstance(m.string, tuple) else (m.string,)):
            assert set(PLACEHOLDER.findall(text)) <= allowed, (lang, m.id, text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalog_matches_the_po_file(lang):
    """Compile the .po here and compare with the shipped .mo: a string added without
    `pybabel compile` would show in English on every page."""
    compiled = io.BytesIO()
    write_mo(compiled, po(lang))
    compiled.seek(0)
    fresh = Translations(compiled)
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
        shipped = read_mo(f)
    stale = [m.id for m in entries(lang) if isinstance(m.id, str) and (shipped.get(m.id) is None
             or shipped[m.id].string != fresh.gettext(m.id))]
    assert not stale, f"{lang}: run `pybabel compile -d jikimi/web/locale`; stale: {stale[:5]}"


def test_every_stored_message_has_korean_of_its_own():
    """A code whose Korean is missing or still the English would show English on a Korean page."""
    korean = {m.id: m.string for m in entries("ko")}
    worded = [text for text in MESSAGES.values() if re.search(r"[A-Za-z]", re.sub(r"%\(\w+\)\.?\d*\w", "", text))]
    same = [text for text in worded if korean.get(text) in (None, "", text)]
    assert not same, same[:5]


def test_every_problem_the_verifier_can_report_has_a_code():
    """The verifier names its problems by code (jikimi/evidence/verify.py); an unknown one would crash it."""
    from pathlib import Path

    import jikimi.evidence.verify as verify

    used = set(re.findall(r'_problem\("([\w.]+)"', Path(verify.__file__).read_text()))
    assert len(used) > 40 and used <= set(MESSAGES), sorted(used - set(MESSAGES))
