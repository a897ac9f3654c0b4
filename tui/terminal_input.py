"""Any byte on the terminal's input is survivable.

Textual 8.2.8 decodes the input with a strict UTF-8 decoder (``getincrementaldecoder("utf-8")()``
in its Linux, inline and web drivers): one invalid byte (``tmux send-keys -H ff``, a serial line
glitch, a Latin-1 paste) raises ``UnicodeDecodeError`` in the input thread and ends the app, or,
in a served browser session, silently ends that session's input. Until Textual decodes with
``errors="replace"`` itself, ``install()`` gives those drivers a decoder that does: an invalid
byte becomes U+FFFD and the app goes on.
"""

from __future__ import annotations

import codecs
import functools
import sys
from collections.abc import Callable
from typing import Any

DRIVER_MODULES = ("textual.drivers.linux_driver", "textual.drivers.linux_inline_driver",
                  "textual.drivers.web_driver")


def lenient_decoder(encoding: str) -> Callable[..., codecs.IncrementalDecoder]:
    """``codecs.getincrementaldecoder`` whose decoders replace what they cannot decode."""
    return functools.partial(codecs.getincrementaldecoder(encoding), errors="replace")


def install() -> list[str]:
    """Give the Textual input drivers loaded so far (the app's own is loaded when it is built)
    the lenient decoder; returns the modules changed."""
    changed = []
    for name in DRIVER_MODULES:
        module: Any = sys.modules.get(name)
        if getattr(module, "getincrementaldecoder", None) is codecs.getincrementaldecoder:
            module.getincrementaldecoder = lenient_decoder
            changed.append(name)
    return changed
