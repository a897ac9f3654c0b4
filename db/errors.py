"""Errors of the database layer that front ends catch before anything is connected.

Kept free of SQLAlchemy, so the CLI can name them without loading it before the first frame.
"""

from __future__ import annotations


class DatabaseConfigError(RuntimeError):
    """A database URL or location that cannot be used; the message is one clear sentence."""
