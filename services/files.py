"""Files that leave the database (PDF letters, exports, overviews): written atomically and
readable by the owner only, and the text that goes into a PDF of fpdf2's core fonts.

Every module that writes into the export directory uses these two, so a file is either
whole or absent (a temporary ``.part`` renamed) and never readable by another user of the
machine, and no record's text can put a character into a PDF that its font cannot draw.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Atomically (a temporary file renamed), readable by the owner only (0600)."""
    temporary = path.with_suffix(path.suffix + ".part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)


def pdf_text(value: object) -> str:
    """The PDF core fonts cover Latin-1: dashes and German quotes become their ASCII
    look-alikes, control characters spaces, anything else outside Latin-1 '?'."""
    text = "" if value is None else str(value)
    text = text.replace("\u2013", "-").replace("\u201e", '"').replace("\u201c", '"')
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    return clean.encode("latin-1", "replace").decode("latin-1")
