"""The few settings the first screen needs, read without pydantic (fast start-up).

``services.config.Settings`` takes its defaults from here, and a test checks that both read
the environment alike; everything else is read by ``Settings`` once the backend opens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "KIOSK_"


def default_terminal_id() -> str:
    return os.uname().nodename


@dataclass(frozen=True)
class ShellSettings:
    language: str = "de"
    # Seconds without input until the wipe, the warning included.
    idle_timeout_kiosk: int = 120
    idle_timeout_desk: int = 900
    idle_warning: int = 20
    terminal_id: str = ""


DEFAULTS = ShellSettings()


def shell_settings(environ: Mapping[str, str] | None = None) -> ShellSettings:
    """Read ``KIOSK_LANGUAGE``, ``KIOSK_IDLE_TIMEOUT_KIOSK``, ``…_DESK``, ``KIOSK_IDLE_WARNING``
    and ``KIOSK_TERMINAL_ID``; a value that is not a whole number keeps the default."""
    env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}

    def number(name: str, default: int) -> int:
        try:
            return int(env[PREFIX + name.upper()])
        except (KeyError, ValueError):
            return default

    return ShellSettings(
        language=env.get(PREFIX + "LANGUAGE", DEFAULTS.language),
        idle_timeout_kiosk=number("idle_timeout_kiosk", DEFAULTS.idle_timeout_kiosk),
        idle_timeout_desk=number("idle_timeout_desk", DEFAULTS.idle_timeout_desk),
        idle_warning=number("idle_warning", DEFAULTS.idle_warning),
        terminal_id=env.get(PREFIX + "TERMINAL_ID") or default_terminal_id(),
    )
