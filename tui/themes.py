"""The kiosk's two themes: a calm default and a high-contrast theme (F3 switches)."""

from __future__ import annotations

from textual.theme import Theme

DEFAULT_THEME = "kiosk"
HIGH_CONTRAST_THEME = "kiosk-high-contrast"

# Every text/background pair meets WCAG: 4.5:1 here, 7:1 in high contrast (tests/test_themes.py).
# Titles use $text-primary (light), buttons and the table cursor $primary (white text on it).
KIOSK = Theme(
    name=DEFAULT_THEME,
    primary="#2a67a8",
    secondary="#5aa9e6",
    accent="#f0a030",
    warning="#f0a030",
    error="#b52d33",
    success="#3fb950",
    foreground="#e8eef5",
    background="#14202e",
    surface="#1c2b3c",
    panel="#24364a",
    dark=True,
    variables={"text-error": "#f5999c"},  # error messages on the dark surfaces
)

HIGH_CONTRAST = Theme(
    name=HIGH_CONTRAST_THEME,
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ffff00",
    warning="#ffff00",
    error="#ff8080",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#000000",
    boost="#ffffff",
    dark=True,
    luminosity_spread=0.0,
    text_alpha=1.0,
    variables={
        "border": "#ffffff",
        "border-blurred": "#c0c0c0",
        "footer-key-foreground": "#ffff00",
        "footer-description-foreground": "#ffffff",
        "footer-background": "#000000",
        "input-cursor-background": "#ffff00",
        "input-cursor-foreground": "#000000",
        "block-cursor-background": "#ffff00",
        "block-cursor-foreground": "#000000",
        "button-foreground": "#ffffff",  # on $surface (black); focused: reversed
        "input-selection-background": "#ffff00",
        "input-selection-foreground": "#000000",
        "text-muted": "#ffffff",
    },
)

THEMES = (KIOSK, HIGH_CONTRAST)
