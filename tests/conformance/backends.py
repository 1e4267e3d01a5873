"""The backends the conformance suite runs on, and PostgreSQL test plumbing.

A backend is a URL plus two ways to damage stored rows behind the store's back (to show
that ``verify`` notices). PostgreSQL tests use a fresh schema each, dropped afterwards, so
parallel runs never collide. With no server they skip with a reason, except under ``CI``,
where they fail: CI must run them for real.
"""

from __future__ import annotations

import functools
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sessionstore import SessionStore

PG_URL = os.environ.get(
    "SESSIONSTORE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


@functools.cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'sessionstore[postgres]')"
    from sessionstore.storage.postgres import parse_url

    cfg = parse_url(PG_URL)
    try:
        psycopg.connect(
            host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password,
            dbname=cfg.dbname, connect_timeout=3,
        ).close()
    except psycopg.Error as e:
        return f"no PostgreSQL server at {cfg.host}:{cfg.port} ({type(e).__name__})"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL tests, but {problem}; .ci/run starts it")
    pytest.skip(f"{problem}; set SESSIONSTORE_TEST_POSTGRES to a server URL to run these")


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """A URL whose tables live in a new schema; the schema is dropped afterwards."""
    require_postgres()
    import psycopg

    schema = f"ss_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}"
    finally:
        from sessionstore.storage.postgres import parse_url

        cfg = parse_url(PG_URL)
        with psycopg.connect(
            host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password,
            dbname=cfg.dbname, autocommit=True,
        ) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class Backend(ABC):
    """One backend as the suite sees it."""

    name: str
    url: str

    def open(self) -> SessionStore:
        return SessionStore(self.url, durability="normal")

    def reopen_url(self, store: SessionStore) -> str:
        """A URL that opens the very database ``store`` uses (a second writer)."""
        return self.url

    def second(self, store: SessionStore) -> SessionStore:
        """Another store (another writer, with its own caches) on ``store``'s database."""
        return SessionStore(self.reopen_url(store), durability="normal", views=":memory:")

    @abstractmethod
    def set_state(self, store: SessionStore, sid: str, version: int, state: bytes) -> None:
        """Overwrite one stored event's bytes directly in the database."""

    @abstractmethod
    def delete_event(self, store: SessionStore, sid: str, version: int) -> None:
        """Delete one stored event directly in the database."""


class MemoryBackend(Backend):
    """``memory://name``: the POPO recorder; the name lets a second store share it."""

    name = "memory"

    def __init__(self) -> None:
        self.url = f"memory://conformance-{uuid.uuid4().hex}"

    def set_state(self, store: SessionStore, sid: str, version: int, state: bytes) -> None:
        store._log.recorder.replace_state(sid, version, state)  # type: ignore[attr-defined]

    def delete_event(self, store: SessionStore, sid: str, version: int) -> None:
        store._log.recorder.forget(sid, version)  # type: ignore[attr-defined]


class SQLiteBackend(Backend):
    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url

    def reopen_url(self, store: SessionStore) -> str:
        # ``:memory:`` is a named shared-cache database: its URI opens it a second time.
        return str(store._log.recorder.datastore.pool.db_name)  # type: ignore[attr-defined]

    def _run(self, store: SessionStore, sql: str, sid: str, version: int, *extra: object) -> None:
        conn = store._log.recorder.raw_connection()  # type: ignore[attr-defined]
        with conn:
            conn.execute(sql, (*extra, uuid.UUID(sid).hex, version))
        conn.close()

    def set_state(self, store: SessionStore, sid: str, version: int, state: bytes) -> None:
        self._run(store, "UPDATE stored_events SET state = ? "
                  "WHERE originator_id = ? AND originator_version = ?", sid, version, state)

    def delete_event(self, store: SessionStore, sid: str, version: int) -> None:
        self._run(store, "DELETE FROM stored_events "
                  "WHERE originator_id = ? AND originator_version = ?", sid, version)


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, store: SessionStore, sql: str, sid: str, version: int, *extra: object) -> None:
        recorder = store._log.recorder
        table = f'"{recorder.datastore.schema}".stored_events'  # type: ignore[attr-defined]
        with recorder.datastore.transaction(commit=True) as c:  # type: ignore[attr-defined]
            c.execute(sql.format(table=table), (*extra, uuid.UUID(sid), version))

    def set_state(self, store: SessionStore, sid: str, version: int, state: bytes) -> None:
        self._run(store, "UPDATE {table} SET state = %s "
                  "WHERE originator_id = %s AND originator_version = %s", sid, version, state)

    def delete_event(self, store: SessionStore, sid: str, version: int) -> None:
        self._run(store, "DELETE FROM {table} "
                  "WHERE originator_id = %s AND originator_version = %s", sid, version)
