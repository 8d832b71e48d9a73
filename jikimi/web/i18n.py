"""Korean and English: gettext catalogs compiled by Babel, chosen per request.

The language comes from `?lang=` (remembered in a cookie), then the cookie, then the
browser's Accept-Language; English when none of them names a language we have.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from babel.support import NullTranslations

from jikimi import clock, messages

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("ko", "en")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "jikimi_lang"

def catalog(lang: str) -> NullTranslations:
    return messages.catalog(lang)  # one set of catalogs for pages and stored messages


def from_accept_language(header: str | None) -> str | None:
    """The first language we have, by the browser's preference (q) and then its order."""
    ranked = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, position, tag.strip().lower().split("-")[0]))
    for negative_q, _, lang in sorted(ranked):
        if lang in LANGUAGES and negative_q < 0:
            return lang
    return None


def choose(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    for lang in (query_lang, cookie_lang):
        if lang in LANGUAGES:
            return lang
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE


def when(moment: datetime | str | int | float | None, lang: str) -> str:
    """A stored UTC time in the workspace's time zone, with the zone named (jikimi.clock)."""
    return clock.local(moment)
