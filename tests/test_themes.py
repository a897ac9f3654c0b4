"""WCAG contrast of every text/background pair the kiosk's themes produce (issue 19.3).

The pairs are read from the theme variables Textual generates (the same ones the widgets'
CSS uses), not from a screenshot: high contrast needs at least 7:1 (WCAG AAA), the default
theme at least 4.5:1 (AA). ``auto N%`` (Textual's contrasting text) is resolved as Textual
does: black or white, whichever contrasts more, at N% over the background.
"""

from __future__ import annotations

import pytest
from textual.color import Color

from tui.themes import DEFAULT_THEME, HIGH_CONTRAST_THEME, THEMES

MINIMUM = {HIGH_CONTRAST_THEME: 7.0, DEFAULT_THEME: 4.5}

# (text variable, background variable) as the widgets combine them. Backgrounds with an
# alpha lie over $background; a focused button is the reverse of the unfocused one.
PAIRS = [
    ("foreground", "background"), ("foreground", "surface"), ("foreground", "panel"),
    ("text", "background"), ("text", "surface"), ("text", "panel"),
    ("text-muted", "background"), ("text-muted", "surface"), ("text-muted", "panel"),
    ("text-primary", "background"), ("text-primary", "surface"),
    ("text-success", "background"), ("text-success", "surface"),
    ("text-error", "background"), ("text-error", "surface"),
    ("text-warning", "background"), ("text-warning", "surface"),
    ("text-accent", "background"),
    # titles (forms, help, welcome) and the idle warning
    ("warning", "surface"),
    # buttons: the default variant (unfocused, hover) and the coloured variants
    ("button-foreground", "surface"), ("button-foreground", "surface-darken-1"),
    ("button-color-foreground", "primary"), ("button-color-foreground", "success"),
    ("button-color-foreground", "warning"), ("button-color-foreground", "error"),
    # footer, cursors, selections, the desk header
    ("footer-key-foreground", "footer-background"),
    ("footer-description-foreground", "footer-background"),
    ("footer-key-foreground", "panel"), ("footer-description-foreground", "panel"),
    ("block-cursor-foreground", "block-cursor-background"),
    ("block-cursor-blurred-foreground", "block-cursor-blurred-background"),
    ("input-cursor-foreground", "input-cursor-background"),
    ("input-selection-foreground", "input-selection-background"),
    ("text", "primary-background"),
]


def _variables(backend, theme) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The variables the app's CSS is built from with ``theme`` (Textual's own merge)."""
    from tui.app import KioskApp

    app = KioskApp(backend=backend)
    app.theme = theme.name
    return app.get_css_variables()


def _color(variables: dict[str, str], name: str, under: Color) -> Color:
    value = variables[name].strip()
    if value.startswith("auto"):
        alpha = float(value.split()[1].rstrip("%")) / 100 if " " in value else 1.0
        return under + under.get_contrast_text(alpha)
    if value == "transparent":
        return under
    color = Color.parse(value)
    return under + color if color.a < 1 else color


def _luminance(color: Color) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = color.rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: Color, b: Color) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula() -> None:
    assert contrast(Color(0, 0, 0), Color(255, 255, 255)) == pytest.approx(21.0)
    assert contrast(Color(0, 0, 0), Color(0, 0, 0)) == pytest.approx(1.0)


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_every_text_background_pair_is_readable(sqlite_backend, theme) -> None:  # type: ignore[no-untyped-def]
    """High contrast hid every unfocused button's label (black on black); the default theme's
    pairs must reach AA."""
    variables = _variables(sqlite_backend, theme)
    base = Color.parse(variables["background"])
    low = []
    for text_name, background_name in PAIRS:
        background = _color(variables, background_name, base)
        text = _color(variables, text_name, background)
        ratio = contrast(text, background)
        if ratio < MINIMUM[theme.name]:
            low.append(f"{text_name} {text.hex} on {background_name} {background.hex}: "
                       f"{ratio:.2f}")
    assert low == [], "\n".join(low)
