"""The PostgreSQL backend: the eventsourcing library's PostgreSQL recorder plus session heads.

``postgresql://user:password@host:port/dbname?schema=s&pool_size=2&max_overflow=8`` opens a
pooled psycopg 3 recorder. Options in the query string (all optional):

- ``schema``: where the tables live (created if missing; default ``public``). Several stores
  can share one database in different schemas.
- ``pool_size`` / ``max_overflow``: connections kept open / opened on demand (2 / 8).
- ``connect_timeout``: seconds to wait for a connection (5).

Durability maps to ``synchronous_commit``: ``full`` waits until the commit is flushed to the
WAL on disk (``on``); ``normal`` returns before that flush (``off``): a server crash may lose
the last few hundred milliseconds of commits, but never corrupts or reorders what is kept,
and a killed client loses nothing it was told was committed.

Writers serialise on the library's table lock, which also keeps notification ids in commit
order so a projection worker tailing the log never skips an event committed late.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.errors import DuplicateObject
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier
from psycopg.sql import Literal as SqlLiteral

from ..domain.errors import BackendError, InvalidInput
from .checkpoints import (
    CheckpointRecord,
    CheckpointStore,
    children_appeared,
    outside_parents,
    parents_gone,
    record_from_row,
)
from .codec import to_micros
from .recorder import Durability, Head, HeadUpdate, JoinedWrite, SessionRecorder, merge_heads

SYNCHRONOUS_COMMIT: dict[str, str] = {"full": "on", "normal": "off"}
_INT_OPTIONS = ("pool_size", "max_overflow")


@dataclass(frozen=True)
class PostgresUrl:
    """The parts of a ``postgresql://`` URL that the datastore needs."""

    user: str
    password: str = field(repr=False)
    host: str
    port: int
    dbname: str
    schema: str = "public"
    pool_size: int = 2
    max_overflow: int = 8
    connect_timeout: float = 5.0


def parse_url(url: str) -> PostgresUrl:
    """Split a PostgreSQL URL; bad parts raise ``InvalidInput`` naming the redacted URL."""
    from .backends import redact  # backends imports this module lazily: no cycle at import

    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"schema", "connect_timeout", *_INT_OPTIONS}
    try:
        port = parts.port or 5432
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))}")
        return PostgresUrl(
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            host=parts.hostname or "localhost",
            port=port,
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
            schema=options.get("schema", "public"),
            pool_size=int(options.get("pool_size", 2)),
            max_overflow=int(options.get("max_overflow", 8)),
            connect_timeout=float(options.get("connect_timeout", 5)),
        )
    except ValueError as e:
        raise InvalidInput(
            f"bad PostgreSQL URL {redact(url)!r}: {e}; use postgresql://user:password@host:port"
            "/dbname, optionally with ?schema=...&pool_size=...&max_overflow=..."
            "&connect_timeout=..."
        ) from None


class SessionDatastore(PostgresDatastore):
    """The library's pooled datastore with each connection set to the chosen durability."""

    def __init__(self, url: PostgresUrl, *, durability: Durability) -> None:
        # Set before the base class builds the pool, which asks for after_connect_func().
        self.synchronous_commit = SYNCHRONOUS_COMMIT[durability]
        super().__init__(
            dbname=url.dbname,
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            connect_timeout=url.connect_timeout,
            pool_size=url.pool_size,
            max_overflow=url.max_overflow,
            schema=url.schema,
            originator_id_type="uuid",
        )

    def after_connect_func(self) -> Any:
        base = super().after_connect_func()
        setting = SQL("SET synchronous_commit = {}").format(SqlLiteral(self.synchronous_commit))

        def after_connect(conn: Connection[DictRow]) -> None:
            base(conn)
            conn.execute(setting)

        return after_connect


class PostgresSessionRecorder(PostgresApplicationRecorder, SessionRecorder):
    """Events and session heads in one transaction, on PostgreSQL."""

    def __init__(self, url: str, *, durability: Durability = "full") -> None:
        self.url = url
        self.config = parse_url(url)
        datastore = SessionDatastore(self.config, durability=durability)
        try:
            super().__init__(datastore)  # connects already, to register its row type
        except BaseException:
            datastore.close()  # now, not from a pool thread at garbage collection
            raise
        self.heads_table = self._table("session_heads")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (originator_id uuid PRIMARY KEY, "
                "first_version bigint NOT NULL, version bigint NOT NULL, hash bytea NOT NULL)"
            ).format(self.heads_table)
        )
        self.dictionaries_table = self._table("codec_dictionaries")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (id serial PRIMARY KEY, data bytea NOT NULL)"
            ).format(self.dictionaries_table)
        )
        self._notify = SQL("NOTIFY {}").format(Identifier(self.channel_name))
        self.checkpoints_table = self._table("session_checkpoints")
        self.sql_create_statements.extend(_checkpoint_ddl(self.checkpoints_table))
        self._upsert_head = SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT (originator_id) DO UPDATE "
            "SET version = excluded.version, hash = excluded.hash"
        ).format(self.heads_table)

    def _table(self, name: str) -> Composed:
        return SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(name))

    def open(self) -> None:
        """Create the schema, tables, types and functions if missing.

        Under an advisory lock on one connection: PostgreSQL's ``IF NOT EXISTS`` is not safe
        against concurrent DDL, so writers starting together would otherwise fail with
        "tuple concurrently updated" or a duplicate type.
        """
        schema = Identifier(self.datastore.schema)
        lock_key = f"sessionstore:{self.datastore.schema}"
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock_key,))
            try:
                conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
                for statement in self.sql_create_statements:
                    if "CREATE TYPE" in statement.as_string():  # has no IF NOT EXISTS
                        with suppress(DuplicateObject), conn.transaction():
                            conn.execute(statement, prepare=False)
                with conn.transaction():
                    self._create_table(conn.cursor())
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock_key,))
        self.datastore.register_type_adapters()

    @property
    def safe_url(self) -> str:
        from .backends import redact

        return repr(redact(self.url))

    def scrub(self, error: BaseException) -> str:
        """The error's text without the URL's password, whatever the driver put in it."""
        return _scrub(error, self.config)

    # -- writing ----------------------------------------------------------------------------
    def record(
        self,
        stored: Sequence[StoredEvent],
        heads: Sequence[HeadUpdate],
        also: JoinedWrite | None = None,
    ) -> Sequence[int]:
        try:
            ids = self._record(stored, merge_heads(heads), also)
        except PersistenceError as e:
            # Same class, scrubbed text: the event log turns it into our own error.
            raise type(e)(self.scrub(e)) from None
        return list(ids or [])

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _record(
        self, stored: Sequence[StoredEvent], heads: Sequence[HeadUpdate], also: JoinedWrite | None
    ) -> list[int]:
        """The library's insert (table lock, NOTIFY, insert) plus heads, in one pipeline.

        One round trip for the lot, where the library's ``insert_events`` syncs twice
        (``also``'s reads, if any, add theirs).
        """
        rows = [self.construct_pg_stored_event(s.originator_id, s.originator_version, s.topic,
                                               s.state) for s in stored]
        with self.datastore.get_connection() as conn, conn.pipeline(), conn.transaction(), \
                conn.cursor() as c:
            for statement in self.lock_table_statements:
                c.execute(statement, prepare=True)
            c.execute(self._notify, prepare=True)
            self._insert_events(c, stored, heads=heads)
            c.execute(self.insert_events_statement, (rows,), prepare=True)
            ids = [row["notification_id"] for row in c.fetchall()]
            if also is not None:
                also(c)
            return ids

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """Move the heads inside the insert's transaction (the library's hook for extra
        rows, so its own ``insert_events`` keeps heads current too).

        Head rows are locked in session-id order, so two batches touching the same
        sessions cannot deadlock. A version already taken fails the insert that follows,
        which rolls the heads back too.
        """
        heads: list[HeadUpdate] = sorted(kwargs.get("heads", ()), key=lambda h: h.session_id)
        if heads:
            curs.executemany(
                self._upsert_head,
                [(UUID(h.session_id), h.first_version, h.version, h.hash) for h in heads],
            )

    # -- reading ----------------------------------------------------------------------------
    def select_head(self, session_id: str) -> Head | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                SQL("SELECT * FROM {} WHERE originator_id = %s").format(self.heads_table),
                (UUID(session_id),),
            )
            row = c.fetchone()
        return None if row is None else _head(row)

    def iter_heads(self, *, page: int = 1000) -> Iterator[Head]:
        after: UUID | None = None  # None: from the start (the nil UUID is a valid id too)
        while True:
            query = SQL("SELECT * FROM {} {} ORDER BY originator_id LIMIT %s").format(
                self.heads_table, SQL("" if after is None else "WHERE originator_id > %s")
            )
            params = (page,) if after is None else (after, page)
            with self.datastore.transaction(commit=False) as c:
                c.execute(query, params)
                rows = c.fetchall()
            yield from map(_head, rows)
            if len(rows) < page:
                return
            after = rows[-1]["originator_id"]

    def select_dictionaries(self) -> dict[int, bytes]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQL("SELECT id, data FROM {}").format(self.dictionaries_table))
            return {row["id"]: bytes(row["data"]) for row in c.fetchall()}

    def insert_dictionary(self, data: bytes) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                SQL("INSERT INTO {} (data) VALUES (%s) RETURNING id").format(
                    self.dictionaries_table
                ),
                (data,),
            )
            row = c.fetchone()
        assert row is not None
        return int(row["id"])

    def open_checkpoints(self) -> CheckpointStore:
        """Checkpoints in a table beside the events (``open_checkpoint_store`` asks)."""
        return PostgresCheckpointStore(self)

    def close(self) -> None:
        self.datastore.close()


def _head(row: dict[str, Any]) -> Head:
    return Head(
        str(row["originator_id"]), row["first_version"], row["version"], bytes(row["hash"])
    )


def open_postgres(url: str, *, durability: str = "full") -> PostgresSessionRecorder:
    """A ready recorder for ``url`` (tables created); raises ``BackendError`` if unreachable."""
    from .backends import redact

    if durability not in SYNCHRONOUS_COMMIT:
        raise InvalidInput(f"unknown durability {durability!r}: use full or normal")
    recorder: PostgresSessionRecorder | None = None
    try:
        # The library connects as early as the constructor (to register its row type).
        recorder = PostgresSessionRecorder(url, durability=durability)  # type: ignore[arg-type]
        recorder.open()
    except PersistenceError as e:
        if recorder is not None:
            recorder.close()
        raise BackendError(
            f"cannot use PostgreSQL at {redact(url)!r}: {_scrub(e, parse_url(url))}; check "
            "that the server runs and the URL's user, database and schema are right"
        ) from None
    return recorder


def _scrub(error: BaseException, config: PostgresUrl) -> str:
    text = str(error)
    return text.replace(config.password, "***") if config.password else text


# -- checkpoints ----------------------------------------------------------------------------
_META = (
    "checkpoint_id, session_id, version, label, created_at, automatic, parent_id, "
    "base_messages, message_count, token_count, raw_size, compressed_size, checksum"
)


def _checkpoint_ddl(table: Composed) -> list[Composed]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {} (checkpoint_id text PRIMARY KEY, "
            "session_id text NOT NULL, version bigint NOT NULL, label text, "
            "created_at bigint NOT NULL, automatic boolean NOT NULL, parent_id text, "
            "base_messages bigint NOT NULL, message_count bigint NOT NULL, "
            "token_count bigint NOT NULL, raw_size bigint NOT NULL, "
            "compressed_size bigint NOT NULL, checksum bytea NOT NULL, blob bytea NOT NULL)"
        ).format(table),
        SQL("CREATE INDEX IF NOT EXISTS {} ON {} (session_id, version)").format(
            Identifier("session_checkpoints_by_version"), table
        ),
        SQL("CREATE INDEX IF NOT EXISTS {} ON {} (parent_id)").format(
            Identifier("session_checkpoints_by_parent"), table
        ),
    ]


class PostgresCheckpointStore(CheckpointStore):
    """Checkpoints in a table beside the events, through the recorder's pooled datastore."""

    def __init__(self, recorder: PostgresSessionRecorder) -> None:
        self._datastore = recorder.datastore
        self._table = recorder.checkpoints_table  # created by the recorder's open()

    def put(self, records: Sequence[CheckpointRecord]) -> None:
        if not records:
            return
        with self._datastore.transaction(commit=True) as c:
            self._insert(c, records)

    def joined(self, records: Sequence[CheckpointRecord]) -> JoinedWrite | None:
        return lambda cursor: self._insert(cursor, records)

    def _insert(self, cursor: Any, records: Sequence[CheckpointRecord]) -> None:
        marks = ", ".join(["%s"] * 14)
        cursor.executemany(
            SQL(f"INSERT INTO {{}} ({_META}, blob) VALUES ({marks})").format(self._table),
            [_row(r) for r in records],
        )
        self._require_parents(cursor, outside_parents(records))

    def replace(self, record: CheckpointRecord) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(
                SQL(
                    "UPDATE {} SET parent_id = %s, base_messages = %s, raw_size = %s, "
                    "compressed_size = %s, checksum = %s, blob = %s WHERE checkpoint_id = %s"
                ).format(self._table),
                (record.parent_id, record.base_messages, record.raw_size,
                 record.compressed_size, record.checksum, record.blob, record.checkpoint_id),
            )
            self._require_parents(c, [record.parent_id] if record.parent_id else [])

    def _require_parents(self, cursor: Any, parents: Sequence[str]) -> None:
        """Raise ``CheckpointsChanged`` unless every one of ``parents`` is stored.

        ``FOR KEY SHARE`` holds them until this transaction ends: a delete of one waits
        for it, and then finds the new delta (see ``delete``)."""
        if not parents:
            return
        cursor.execute(
            SQL("SELECT checkpoint_id FROM {} WHERE checkpoint_id = ANY(%s) FOR KEY SHARE")
            .format(self._table),
            (list(parents),),
        )
        missing = set(parents) - {row["checkpoint_id"] for row in cursor.fetchall()}
        if missing:
            raise parents_gone(missing)

    def get(self, checkpoint_id: str) -> CheckpointRecord | None:
        rows = self._select(f"{_META}, blob", "checkpoint_id = %s", "", (checkpoint_id,))
        return rows[0] if rows else None

    def list(self, session_id: str) -> list[CheckpointRecord]:
        return self._select(
            _META, "session_id = %s", "ORDER BY version, created_at, checkpoint_id",
            (session_id,),
        )

    def nearest(self, session_id: str, version: int) -> CheckpointRecord | None:
        rows = self._select(
            f"{_META}, blob", "session_id = %s AND version <= %s",
            "ORDER BY version DESC, created_at DESC, checkpoint_id DESC LIMIT 1",
            (session_id, version),
        )
        return rows[0] if rows else None

    def delete(self, checkpoint_ids: Iterable[str]) -> None:
        ids = list(checkpoint_ids)
        if ids:
            with self._datastore.transaction(commit=True) as c:
                c.execute(
                    SQL("DELETE FROM {} WHERE checkpoint_id = ANY(%s)").format(self._table),
                    (ids,),
                )
                # A statement of its own, so it sees what committed while the delete waited
                # for the rows' locks (READ COMMITTED takes a new snapshot per statement).
                c.execute(
                    SQL("SELECT checkpoint_id FROM {} WHERE parent_id = ANY(%s)")
                    .format(self._table),
                    (ids,),
                )
                orphans = [row["checkpoint_id"] for row in c.fetchall()]
                if orphans:
                    raise children_appeared(orphans)

    def children(self, checkpoint_ids: Iterable[str]) -> builtins.list[CheckpointRecord]:
        ids = sorted(set(checkpoint_ids))
        if not ids:
            return []
        return self._select(
            _META, "parent_id = ANY(%s)", "ORDER BY version, created_at, checkpoint_id", (ids,)
        )

    def _select(
        self, columns: str, where: str, tail: str, params: tuple[Any, ...]
    ) -> builtins.list[CheckpointRecord]:
        query = SQL(f"SELECT {columns} FROM {{}} WHERE {where} {tail}").format(self._table)
        with self._datastore.transaction(commit=False) as c:
            c.execute(query, params)
            return [record_from_row(row) for row in c.fetchall()]


def _row(r: CheckpointRecord) -> tuple[Any, ...]:
    return (
        r.checkpoint_id, r.session_id, r.version, r.label, to_micros(r.created_at),
        r.automatic, r.parent_id, r.base_messages, r.message_count, r.token_count,
        r.raw_size, r.compressed_size, r.checksum, r.blob,
    )


__all__ = ["PostgresCheckpointStore", "PostgresSessionRecorder", "open_postgres", "parse_url"]
