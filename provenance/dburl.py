"""Ledger locations: plain paths and database URLs, understood without SQLAlchemy.

``--db`` takes a SQLite path or any SQLAlchemy URL. Commands that only need to know *where*
a SQLite ledger's files are (its log key beside it, the perceptual cache) read it here, so
they do not import SQLAlchemy.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

_SQLITE = re.compile(r"sqlite(\+\w+)?://(?P<rest>.*)", re.DOTALL)


def normalise_url(db: str) -> str:
    """Turn a plain path into a SQLite URL; leave URLs alone."""
    if "://" in db:
        return db
    return "sqlite:///" + str(Path(db).expanduser().absolute())


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for other engines and in-memory ones."""
    match = _SQLITE.fullmatch(url)
    if match is None:
        return None
    rest = match.group("rest").split("?", 1)[0]
    if not rest.startswith("/"):
        return None  # sqlite://host/... is not a file URL
    path = unquote(rest[1:])
    if not path or path == ":memory:":
        return None
    return Path(path)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))
