"""Every English message id in the code has a German translation in the catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from services.i18n import LOCALE_DIR, translate

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"N_": None, "_": None, "tr": (2,), "set_message": None}


def _msgids(folder: str) -> list[tuple[str, str]]:
    found = []
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS,
    ):
        if isinstance(message, tuple):
            message = message[0]
        if message:
            found.append((f"{folder}/{filename}", message))
    return found


def _german_ids() -> set[str]:
    from babel.messages.pofile import read_po

    ids: set[str] = set()
    for po in (LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as handle:
            ids.update(m.id for m in read_po(handle, locale="de") if m.id and m.string)
    return ids


@pytest.mark.parametrize("folder", ["screens", "tui", "services"])
def test_every_message_has_a_german_translation(folder: str) -> None:
    german = _german_ids()
    missing = [f"{where}: {msgid!r}" for where, msgid in _msgids(folder) if msgid not in german]
    assert missing == []


def test_english_is_the_identity() -> None:
    assert translate("en", "Log in") == "Log in"
    assert translate("de", "Log in") == "Anmelden"


def test_empty_message_is_empty_not_the_catalog_header() -> None:
    assert translate("de", "") == ""


def test_no_message_id_has_two_translations_across_catalogs() -> None:
    """Issue 19.6: the catalogs are chained into one translation, so a msgid translated
    differently in two catalogs shows whichever comes first ("Vertrag lösen" on the button
    that unlinks a customer number). One msgid (and context) has one translation."""
    from babel.messages.pofile import read_po

    seen: dict[tuple[str | None, str], dict[str, list[str]]] = {}
    for po in sorted((LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as handle:
            for message in read_po(handle, locale="de"):
                if not message.id or not message.string:
                    continue
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                string = message.string if isinstance(message.string, str) else \
                    "|".join(message.string)
                seen.setdefault((message.context, msgid), {}).setdefault(string, []).append(
                    po.name)
    clashes = {key: found for key, found in seen.items() if len(found) > 1}
    assert clashes == {}
    assert translate("de", "Unlink") == "Lösen"
    assert translate("de", "Unlink contract") == "Vertrag lösen"
