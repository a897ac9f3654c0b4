"""Opening what an operator hands to ``kiosk import``: a file, ``-`` for standard input,
gzip-compressed or not (recognised by its first bytes, not its name), with or without a
UTF-8 byte order mark, LF or CRLF line ends."""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from services.errors import DomainError


class SourceError(DomainError):
    """The input cannot be read to its end (missing file, broken gzip stream)."""


@dataclass
class Source:
    name: str
    lines: Iterator[bytes]
    position: Callable[[], int | None]  # bytes of the input read so far (None: unknown)
    size: int | None  # bytes of the input (None: standard input)


@contextmanager
def open_source(path: str | Path) -> Iterator[Source]:
    if str(path) == "-":
        raw: BinaryIO = sys.stdin.buffer
        name, size = "standard input", None
        position: Callable[[], int | None] = lambda: None  # noqa: E731
        close = False
    else:
        path = Path(path)
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise SourceError("The file {file} cannot be read ({reason}).",
                              params={"file": str(path), "reason": exc.strerror}) from None
        name, size, close = path.name, os.fstat(raw.fileno()).st_size, True
        position = raw.tell
    try:
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
        stream: BinaryIO = buffered
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        yield Source(name, _lines(stream, name), position, size)
    finally:
        if close:
            raw.close()


def _lines(stream: BinaryIO, name: str) -> Iterator[bytes]:
    first = True
    try:
        for raw in stream:
            if first:
                first = False
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            yield raw
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise SourceError("{file} cannot be read to its end ({reason}); nothing was imported.",
                          params={"file": name, "reason": str(exc)}) from None
