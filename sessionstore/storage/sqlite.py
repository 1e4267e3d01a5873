"""The SQLite backend: the eventsourcing library's SQLite recorder plus session heads."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTransaction,
)

from .codec import session_uuid
from .recorder import Head, HeadUpdate, Row, SessionRecorder, merge_heads

Durability = Literal["full", "normal"]
DURABILITY_PRAGMAS: dict[str, str] = {"full": "FULL", "normal": "NORMAL"}
STATEMENT_CACHE = 64

_HEADS_TABLE = (
    "CREATE TABLE IF NOT EXISTS session_heads ("
    "originator_id TEXT PRIMARY KEY, first_version INTEGER NOT NULL, "
    "version INTEGER NOT NULL, hash BLOB NOT NULL) WITHOUT ROWID"
)
_DICTIONARIES_TABLE = (
    "CREATE TABLE IF NOT EXISTS codec_dictionaries (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"
)
_SELECT_ROWS = (
    "SELECT originator_version, topic, state FROM stored_events WHERE originator_id = ? "
    "AND originator_version > ? ORDER BY originator_version LIMIT ?"
)
_SELECT_ROWS_UPTO = _SELECT_ROWS.replace("> ?", "> ? AND originator_version <= ?")
_UPSERT_HEAD = (
    "INSERT INTO session_heads VALUES (?, ?, ?, ?) ON CONFLICT (originator_id) DO UPDATE SET "
    "version = excluded.version, hash = excluded.hash"
)


class _DurablePool(SQLiteConnectionPool):
    """The library's pool, with each new connection set to the chosen durability."""

    def __init__(self, *, synchronous: str, **kwargs: Any) -> None:
        self.synchronous = synchronous
        super().__init__(**kwargs)

    def _create_connection(self) -> SQLiteConnection:
        # The library's connection (which also switches the file to WAL) caches one prepared
        # statement (cached_statements=True), so every append re-prepared BEGIN, the insert
        # and the head upsert. Open a twin with a real statement cache; close the first only
        # after, so a shared in-memory database never loses its last connection.
        first = super()._create_connection()
        raw = sqlite3.connect(
            self.db_name,
            uri=True,
            check_same_thread=False,
            isolation_level=None,
            cached_statements=STATEMENT_CACHE,
            timeout=self.lock_timeout or 5,
        )
        raw.row_factory = sqlite3.Row
        connection = SQLiteConnection(sqlite_conn=raw, max_age=self.max_age)
        first.close()
        cursor = connection.cursor()
        # FULL: fsync the WAL at every commit. NORMAL: fsync only at checkpoints (a power
        # loss may lose the last commits; a killed process loses nothing).
        cursor.execute(f"PRAGMA synchronous={self.synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        return connection


class SQLiteSessionDatastore(SQLiteDatastore):
    def __init__(self, db_name: str, *, durability: Durability) -> None:
        super().__init__(db_name, originator_id_type="uuid", lock_timeout=30)
        self.pool = _DurablePool(
            synchronous=DURABILITY_PRAGMAS[durability], db_name=db_name, lock_timeout=30
        )


def sqlite_db_name(path: str) -> str:
    """``:memory:`` becomes a named shared in-memory database, so every pooled connection
    sees the same data; anything else is a file path."""
    if path == ":memory:":
        return f"file:sessionstore-{uuid.uuid4().hex}?mode=memory&cache=shared"
    return path


class SQLiteSessionRecorder(SQLiteApplicationRecorder, SessionRecorder):
    def __init__(self, path: str, *, durability: Durability = "full") -> None:
        super().__init__(SQLiteSessionDatastore(sqlite_db_name(path), durability=durability))
        self.path = path
        self.create_table()

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), _HEADS_TABLE, _DICTIONARIES_TABLE]

    def convert_originator_id(self, originator_id: str) -> UUID:
        # The library parses the id of every row it reads; a replay reads one session's rows.
        return session_uuid(originator_id)

    def record(self, stored: Sequence[StoredEvent], heads: Sequence[HeadUpdate]) -> Sequence[int]:
        # The library's pool (one writer at a time) and its transaction (BEGIN, then commit,
        # or rollback and its error classes), without the three generator context managers
        # and cursor wrapper around them: those were a quarter of a one-event commit's CPU.
        pool = self.datastore.pool
        connection = pool.get_connection(is_writer=True)
        try:
            with SQLiteTransaction(connection, commit=True) as c, c as cursor:
                ids = self._insert_rows(cursor, stored)
                cursor.executemany(_UPSERT_HEAD, _head_rows(heads))
                return ids
        finally:
            pool.put_connection(connection)

    def _insert_rows(self, cursor: sqlite3.Cursor, stored: Sequence[StoredEvent]) -> list[int]:
        """The library's ``_insert_events``: one INSERT per row, for each row's id."""
        execute, statement = cursor.execute, self.insert_events_statement
        ids: list[int] = []
        for s in stored:
            key = s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id
            execute(statement, (key, s.originator_version, s.topic, s.state))
            ident = cursor.lastrowid
            assert ident is not None  # set by every successful INSERT
            ids.append(ident)
        return ids

    def select_session_rows(
        self, session_id: UUID, *, gt: int, lte: int | None, limit: int
    ) -> Sequence[Row]:
        # The library's select_events builds sqlite3.Row objects, parses each row's id and
        # makes a StoredEvent of it: a third of a replay. The same rows, as plain tuples.
        sql = _SELECT_ROWS if lte is None else _SELECT_ROWS_UPTO
        args = (session_id.hex, gt, limit) if lte is None else (session_id.hex, gt, lte, limit)
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor  # a new cursor per transaction: its own row factory
            cursor.row_factory = None
            rows: list[Row] = cursor.execute(sql, args).fetchall()
        return rows

    def select_head(self, session_id: str) -> Head | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT * FROM session_heads WHERE originator_id = ?", (UUID(session_id).hex,)
            )
            row = c.fetchone()
        return None if row is None else _head(row)

    def iter_heads(self, *, page: int = 1000) -> Iterator[Head]:
        after = ""
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    "SELECT * FROM session_heads WHERE originator_id > ? "
                    "ORDER BY originator_id LIMIT ?",
                    (after, page),
                )
                rows = c.fetchall()
            yield from map(_head, rows)
            if len(rows) < page:
                return
            after = rows[-1]["originator_id"]

    def select_dictionaries(self) -> dict[int, bytes]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT id, data FROM codec_dictionaries")
            return {row["id"]: bytes(row["data"]) for row in c.fetchall()}

    def insert_dictionary(self, data: bytes) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO codec_dictionaries (data) VALUES (?)", (data,))
            ident: int | None = c.lastrowid
        assert ident is not None
        return ident

    def raw_connection(self) -> sqlite3.Connection:
        """A plain sqlite3 connection to the same database, for tests and tools."""
        return sqlite3.connect(self.datastore.pool.db_name, uri=True)

    def close(self) -> None:
        self.datastore.close()


def _head_rows(heads: Sequence[HeadUpdate]) -> list[tuple[str, int, int, bytes]]:
    return [
        (session_uuid(h.session_id).hex, h.first_version, h.version, h.hash)
        for h in merge_heads(heads)
    ]


def _head(row: Any) -> Head:
    return Head(
        str(UUID(row["originator_id"])), row["first_version"], row["version"], bytes(row["hash"])
    )


__all__ = ["SQLiteCursor", "SQLiteSessionRecorder", "sqlite_db_name"]
