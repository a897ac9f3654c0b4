"""Translations: gettext catalogs in assets/locale, compiled with Babel.

Message ids are English; German (the default language) comes from the catalogs. Every flow
keeps its own catalog file (``assets/locale/de/LC_MESSAGES/<flow>.po``); they are chained into
one translation. ``python -m services.i18n`` compiles every ``.po`` into its ``.mo``.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "assets" / "locale"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"


def _compile(po: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def compile_catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile each .po file whose .mo is missing or older. Returns the files written."""
    written = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            mo.write_bytes(_compile(po))
            written.append(mo)
    return written


@cache
def translation(language: str) -> gettext.NullTranslations:
    """All catalogs of ``language`` chained into one; English is the identity."""
    chain: gettext.NullTranslations = gettext.NullTranslations()
    if language == "en":
        return chain
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    first: gettext.NullTranslations | None = None
    for po in sorted(folder.glob("*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            data = mo.read_bytes()
        else:  # not compiled yet (a fresh checkout): compile in memory
            data = _compile(po)
        part = gettext.GNUTranslations(io.BytesIO(data))
        if first is None:
            first = part
        else:
            first.add_fallback(part)
    if first is None:
        return chain
    return first


def gettext_for(language: str):  # type: ignore[no-untyped-def]
    return translation(language).gettext


def translate(language: str, message: str, **params: object) -> str:
    if not message:  # gettext("") is the catalog header, never a text to show
        return ""
    text = translation(language).gettext(message)
    return text.format(**params) if params else text


def format_date(value: dt.date | None, language: str) -> str:
    """TT.MM.JJJJ in German, ISO-like DD/MM/YYYY in English; empty for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.strftime("%d.%m.%Y") if language == "de" else value.strftime("%d/%m/%Y")


def format_datetime(value: dt.datetime | None, language: str) -> str:
    if value is None:
        return ""
    local = value.astimezone()
    if language == "de":
        return local.strftime("%d.%m.%Y %H:%M")
    return local.strftime("%d/%m/%Y %H:%M")


if __name__ == "__main__":
    for path in compile_catalogs():
        print(f"compiled {path.relative_to(LOCALE_DIR.parent.parent)}")
