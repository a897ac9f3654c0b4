"""A QR code as text, drawn with half blocks from ``segno``'s matrix (products' "Zur
Nutzung", the second factor's enrolment)."""

from __future__ import annotations

import segno

QR_BORDER = 2


def qr_text(data: str, border: int = QR_BORDER) -> str:
    """A QR code as text: two module rows per line in half blocks (dark = ``█``)."""
    matrix = [list(row) for row in segno.make(data, error="m").matrix]
    size = len(matrix)
    blank = [0] * (size + 2 * border)
    rows = [blank[:] for _ in range(border)]
    rows += [[0] * border + row + [0] * border for row in matrix]
    rows += [blank[:] for _ in range(border)]
    if len(rows) % 2:
        rows.append(blank[:])
    chars = {(0, 0): " ", (1, 0): "▀", (0, 1): "▄", (1, 1): "█"}
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        lines.append("".join(chars[(1 if a else 0, 1 if b else 0)]
                             for a, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)
