"""Which recorder a store URL names. Only this module (and ``store.py``) names a backend."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

from eventsourcing.persistence import PersistenceError

from ..domain.errors import BackendError, InvalidInput
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
    if isinstance(url, str) and url.startswith(("postgresql://", "postgres://")):
        # Imported only when used: psycopg is an optional dependency.
        from .postgres import open_postgres  # type: ignore[import-not-found,unused-ignore]

        recorder: SessionRecorder = open_postgres(url, durability=durability)
        return recorder
    if isinstance(url, str) and url.startswith("memory://"):
        # The library's POPO recorder; durability does not apply.
        from .memory import open_memory

        return open_memory(url)
    path = sqlite_path(url)
    _refuse_other_databases(path, url)
    try:
        return SQLiteSessionRecorder(path, durability=durability)
    except (sqlite3.Error, PersistenceError) as e:
        raise BackendError(f"cannot open {url!r} as a store: {_sqlite_hint(e)}") from None


def _refuse_other_databases(path: str, url: str) -> None:
    """Refuse a SQLite file that holds tables but not an event log: opening it as a store
    would add the store's tables to someone else's database (a read-model file given as
    ``--db`` is the usual slip)."""
    if path == ":memory:" or not Path(path).is_file():  # sqlite_path expanded ~ already
        return
    try:
        # A URI, for mode=ro; as_uri() escapes what a URI would misread (# and ?).
        uri = f"{Path(path).resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            tables = {name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )}
    except sqlite3.Error:
        return  # not SQLite, or unreadable: opening the store says which
    if tables and "stored_events" not in tables:
        hint = " (it holds read models: give it as --views)" if "positions" in tables else ""
        raise InvalidInput(
            f"{url!r} is a SQLite database but not a sessionstore store{hint}; check --db, "
            "or name a new file to start a store"
        )


def _sqlite_hint(error: Exception) -> str:
    """SQLite's reason, and what to do about the usual ones."""
    reason = str(error.__cause__ or error)
    if "not a database" in reason:
        return f"{reason}; --db must name a sessionstore SQLite file (or a new one)"
    if "readonly" in reason or "unable to open" in reason:
        return (f"{reason}; SQLite needs to write the file and to create its -wal and -shm "
                "files beside it: check the folder's permissions")
    return reason


def sqlite_path(url: str) -> str:
    """The SQLite path a store URL names (``:memory:`` for an in-memory database)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(
            f"{url!r} is not a store URL: give a file path such as sessions.db, "
            "sqlite:///path, :memory: or postgresql://user@host:port/db"
        )
    if url.startswith("sqlite://"):
        # As in SQLAlchemy: sqlite:///relative.db, sqlite:////absolute.db, sqlite:// = memory.
        url = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
    if "://" in url:
        raise InvalidInput(
            f"unsupported store URL {redact(url)!r}: use a file path, sqlite:///path, "
            ":memory:, memory:// or postgresql://user@host:port/db"
        )
    if url != ":memory:":
        path = Path(url).expanduser()
        if not path.parent.is_dir():
            raise InvalidInput(f"cannot open {url!r}: folder {str(path.parent)!r} does not exist")
        if path.is_dir():
            raise InvalidInput(
                f"cannot open {url!r}: it is a folder; name a file in it, such as "
                f"{str(path / 'sessions.db')!r}"
            )
        return str(path)  # SQLite does not expand ~ itself
    return url
