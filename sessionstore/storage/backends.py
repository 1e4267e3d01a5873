"""Which recorder a store URL names. Only this module (and ``store.py``) names a backend."""

from __future__ import annotations

import re
from pathlib import Path

from ..domain.errors import InvalidInput
from .recorder import Durability, SessionRecorder
from .sqlite import SQLiteSessionRecorder

DURABILITIES: tuple[Durability, ...] = ("full", "normal")


def redact(url: str) -> str:
    """The URL with any password replaced, safe for errors and logs."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def open_recorder(url: str, *, durability: str = "full") -> SessionRecorder:
    """``sessions.db``, ``sqlite:///path``, ``:memory:``, ``memory://[name]`` or
    ``postgresql://user@host/db``."""
    if durability not in DURABILITIES:
        raise InvalidInput(
            f"unknown durability {durability!r}: use one of {', '.join(DURABILITIES)}"
        )
    if url.startswith(("postgresql://", "postgres://")):
        # Imported only when used: psycopg is an optional dependency.
        from .postgres import open_postgres  # type: ignore[import-not-found,unused-ignore]

        recorder: SessionRecorder = open_postgres(url, durability=durability)
        return recorder
    if url.startswith("memory://"):  # the library's POPO recorder; durability does not apply
        from .memory import open_memory

        return open_memory(url)
    path = sqlite_path(url)
    return SQLiteSessionRecorder(path, durability=durability)


def sqlite_path(url: str) -> str:
    if url.startswith("sqlite://"):
        # As in SQLAlchemy: sqlite:///relative.db, sqlite:////absolute.db, sqlite:// = memory.
        url = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
    if "://" in url:
        raise InvalidInput(
            f"unsupported store URL {redact(url)!r}: use a file path, sqlite:///path, "
            ":memory:, memory:// or postgresql://user@host:port/db"
        )
    if url != ":memory:":
        parent = Path(url).expanduser().parent
        if not parent.is_dir():
            raise InvalidInput(f"cannot open {url!r}: folder {str(parent)!r} does not exist")
    return url
