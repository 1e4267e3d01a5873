"""Checkpoint storage: where compressed ``SessionState`` snapshots are kept.

A checkpoint row holds one encoded state (or the part of it that is new since its parent
checkpoint, see ``replay/blobs.py``) and its metadata. The store is small on purpose
(put, replace, get, list, nearest, delete, children) so every backend implements the same contract;
``tests/unit/test_replay_checkpoint_store.py`` is the suite each backend passes.

Checkpoints live in the same database as the events: the SQLite store uses the recorder's
own datastore (its connection pool and transactions), and ``joined`` lets an append's
transaction store checkpoints with their ``CheckpointCreated`` events.
``open_checkpoint_store`` is the one place that picks an implementation from the recorder
type.
"""

from __future__ import annotations

import builtins
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..domain.errors import CheckpointsChanged
from .codec import from_micros, to_micros
from .recorder import JoinedWrite, SessionRecorder
from .sqlite import SQLiteSessionRecorder


@dataclass(frozen=True)
class CheckpointRecord:
    """One stored checkpoint. ``blob`` is empty in listings (``list`` leaves it out)."""

    checkpoint_id: str
    session_id: str
    version: int
    label: str | None
    created_at: datetime
    automatic: bool
    parent_id: str | None  # the checkpoint this one is a delta of; None: a full state
    base_messages: int  # messages the parent chain holds; the blob holds the rest
    message_count: int
    token_count: int
    raw_size: int
    compressed_size: int
    checksum: bytes
    blob: bytes = b""

    @property
    def is_full(self) -> bool:
        return self.parent_id is None

    def without_blob(self) -> CheckpointRecord:
        return replace(self, blob=b"")


class CheckpointStore(ABC):
    """The storage contract for checkpoints. Implementations must be thread-safe."""

    @abstractmethod
    def put(self, records: Sequence[CheckpointRecord]) -> None:
        """Insert new checkpoints in one transaction (ids must be new).

        Each delta's parent must be stored, or be one of ``records``: if another store
        deleted it meanwhile, this raises ``CheckpointsChanged`` and stores nothing."""

    def joined(self, records: Sequence[CheckpointRecord]) -> JoinedWrite | None:
        """``put(records)`` as a part of an append's transaction (given to the recorder's
        ``record``), so that the checkpoints and their events are stored together or not at
        all; None for a store that cannot join one (in memory: ``put`` them first)."""
        return None

    @abstractmethod
    def replace(self, record: CheckpointRecord) -> None:
        """Rewrite an existing checkpoint's parent, blob, sizes and checksum (a re-base).

        The new parent must be stored; if it is not, this raises ``CheckpointsChanged``
        and changes nothing."""

    @abstractmethod
    def get(self, checkpoint_id: str) -> CheckpointRecord | None:
        """One checkpoint with its blob, or None."""

    @abstractmethod
    def list(self, session_id: str) -> list[CheckpointRecord]:
        """A session's checkpoints without blobs, oldest version first."""

    @abstractmethod
    def nearest(self, session_id: str, version: int) -> CheckpointRecord | None:
        """The session's newest checkpoint at or before ``version`` (with its blob), or None."""

    @abstractmethod
    def delete(self, checkpoint_ids: Iterable[str]) -> None:
        """Remove checkpoints in one transaction; unknown ids are ignored.

        A kept checkpoint must not be left a delta of a removed one: if another store put
        one meanwhile, this raises ``CheckpointsChanged`` and removes nothing."""

    @abstractmethod
    def children(self, checkpoint_ids: Iterable[str]) -> builtins.list[CheckpointRecord]:
        """The checkpoints (without blobs), of any session, that are deltas of these ones:
        a fork's checkpoints can be deltas of its parent's."""


def outside_parents(records: Sequence[CheckpointRecord]) -> builtins.list[str]:
    """The checkpoints that ``records`` are deltas of and do not hold themselves: the ones
    that must already be stored for ``put`` to keep every chain whole."""
    ids = {r.checkpoint_id for r in records}
    return sorted({r.parent_id for r in records if r.parent_id and r.parent_id not in ids})


def parents_gone(missing: Iterable[str]) -> CheckpointsChanged:
    return CheckpointsChanged(
        f"checkpoint {', '.join(sorted(missing))} was deleted meanwhile, by another store, "
        "and the checkpoint being written is a delta of it; nothing was stored: encode it "
        "again against the checkpoints that remain"
    )


def children_appeared(children: Iterable[str]) -> CheckpointsChanged:
    return CheckpointsChanged(
        f"checkpoint {', '.join(sorted(children))} was stored meanwhile, by another store, "
        "as a delta of one being deleted; nothing was deleted: re-base it and delete again"
    )


def checkpoint_order(record: CheckpointRecord) -> tuple[int, datetime, str]:
    """Oldest first: version, then creation, then id (``nearest`` takes the last)."""
    return (record.version, record.created_at, record.checkpoint_id)


class InMemoryCheckpointStore(CheckpointStore):
    """Checkpoints in a dict: for tests, and for backends with no checkpoint table yet."""

    def __init__(self) -> None:
        self._rows: dict[str, CheckpointRecord] = {}
        self._lock = threading.Lock()

    def put(self, records: Sequence[CheckpointRecord]) -> None:
        with self._lock:
            for r in records:
                if r.checkpoint_id in self._rows:
                    raise ValueError(f"checkpoint {r.checkpoint_id} already exists")
            missing = [p for p in outside_parents(records) if p not in self._rows]
            if missing:
                raise parents_gone(missing)
            self._rows.update({r.checkpoint_id: r for r in records})

    def replace(self, record: CheckpointRecord) -> None:
        with self._lock:
            if record.parent_id and record.parent_id not in self._rows:
                raise parents_gone([record.parent_id])
            if record.checkpoint_id in self._rows:
                self._rows[record.checkpoint_id] = record

    def get(self, checkpoint_id: str) -> CheckpointRecord | None:
        return self._rows.get(checkpoint_id)

    def list(self, session_id: str) -> list[CheckpointRecord]:
        with self._lock:
            rows = [r.without_blob() for r in self._rows.values() if r.session_id == session_id]
        return sorted(rows, key=checkpoint_order)

    def nearest(self, session_id: str, version: int) -> CheckpointRecord | None:
        with self._lock:
            rows = [r for r in self._rows.values() if r.session_id == session_id]
        rows = [r for r in rows if r.version <= version]
        return max(rows, key=checkpoint_order, default=None)

    def delete(self, checkpoint_ids: Iterable[str]) -> None:
        doomed = set(checkpoint_ids)
        with self._lock:
            orphans = [
                r.checkpoint_id
                for r in self._rows.values()
                if r.parent_id in doomed and r.checkpoint_id not in doomed
            ]
            if orphans:
                raise children_appeared(orphans)
            for checkpoint_id in doomed:
                self._rows.pop(checkpoint_id, None)

    def children(self, checkpoint_ids: Iterable[str]) -> builtins.list[CheckpointRecord]:
        parents = set(checkpoint_ids)
        with self._lock:
            rows = [r.without_blob() for r in self._rows.values() if r.parent_id in parents]
        return sorted(rows, key=checkpoint_order)


_TABLE = (
    "CREATE TABLE IF NOT EXISTS session_checkpoints ("
    "checkpoint_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, version INTEGER NOT NULL, "
    "label TEXT, created_at INTEGER NOT NULL, automatic INTEGER NOT NULL, parent_id TEXT, "
    "base_messages INTEGER NOT NULL, message_count INTEGER NOT NULL, "
    "token_count INTEGER NOT NULL, raw_size INTEGER NOT NULL, "
    "compressed_size INTEGER NOT NULL, checksum BLOB NOT NULL, blob BLOB NOT NULL)"
)
_INDEX = (
    "CREATE INDEX IF NOT EXISTS session_checkpoints_by_version "
    "ON session_checkpoints (session_id, version)"
)
_PARENT_INDEX = (
    "CREATE INDEX IF NOT EXISTS session_checkpoints_by_parent ON session_checkpoints (parent_id)"
)
_META = (
    "checkpoint_id, session_id, version, label, created_at, automatic, parent_id, "
    "base_messages, message_count, token_count, raw_size, compressed_size, checksum"
)
# What reads select: the bytes columns cast to BLOB, so a value edited into TEXT by hand
# (``blob || ''`` in the sqlite3 shell) reads as bytes and fails its checksum like any
# damage, instead of failing to decode as UTF-8 inside the driver.
_SELECT_META = _META.replace("checksum", "CAST(checksum AS BLOB) AS checksum")
_SELECT_ALL = f"{_SELECT_META}, CAST(blob AS BLOB) AS blob"
_IDS_PER_QUERY = 500  # under SQLite's limit on a statement's parameters
_NEWEST_FIRST = "ORDER BY version DESC, created_at DESC, checkpoint_id DESC"


class SQLiteCheckpointStore(CheckpointStore):
    """Checkpoints in a table of the events' own SQLite database, through its datastore."""

    def __init__(self, recorder: SQLiteSessionRecorder) -> None:
        self._datastore = recorder.datastore
        with self._datastore.transaction(commit=True) as c:
            c.execute(_TABLE)
            c.execute(_INDEX)
            c.execute(_PARENT_INDEX)

    def put(self, records: Sequence[CheckpointRecord]) -> None:
        if not records:
            return
        with self._datastore.transaction(commit=True) as c:
            _insert(c, records)

    def joined(self, records: Sequence[CheckpointRecord]) -> JoinedWrite | None:
        return lambda cursor: _insert(cursor, records)

    def replace(self, record: CheckpointRecord) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(
                "UPDATE session_checkpoints SET parent_id = ?, base_messages = ?, raw_size = ?, "
                "compressed_size = ?, checksum = ?, blob = ? WHERE checkpoint_id = ?",
                (
                    record.parent_id,
                    record.base_messages,
                    record.raw_size,
                    record.compressed_size,
                    record.checksum,
                    record.blob,
                    record.checkpoint_id,
                ),
            )
            parent = [record.parent_id] if record.parent_id else []
            if not _matching(c, "checkpoint_id", parent) >= set(parent):
                raise parents_gone(parent)

    def get(self, checkpoint_id: str) -> CheckpointRecord | None:
        return self._one(
            f"SELECT {_SELECT_ALL} FROM session_checkpoints WHERE checkpoint_id = ?",
            (checkpoint_id,),
        )

    def list(self, session_id: str) -> list[CheckpointRecord]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {_SELECT_META} FROM session_checkpoints WHERE session_id = ? "
                "ORDER BY version, created_at, checkpoint_id",
                (session_id,),
            )
            return [record_from_row(row) for row in c.fetchall()]

    def nearest(self, session_id: str, version: int) -> CheckpointRecord | None:
        return self._one(
            f"SELECT {_SELECT_ALL} FROM session_checkpoints WHERE session_id = ? "
            f"AND version <= ? {_NEWEST_FIRST} LIMIT 1",
            (session_id, version),
        )

    def delete(self, checkpoint_ids: Iterable[str]) -> None:
        ids = [(i,) for i in checkpoint_ids]
        if ids:
            with self._datastore.transaction(commit=True) as c:
                c.executemany("DELETE FROM session_checkpoints WHERE checkpoint_id = ?", ids)
                orphans = _matching(c, "parent_id", [i for (i,) in ids])
                if orphans:
                    raise children_appeared(orphans)

    def children(self, checkpoint_ids: Iterable[str]) -> builtins.list[CheckpointRecord]:
        with self._datastore.transaction(commit=False) as c:
            rows = _select_in(c, _SELECT_META, "parent_id", sorted(set(checkpoint_ids)))
            return sorted(map(record_from_row, rows), key=checkpoint_order)

    def _one(self, sql: str, params: tuple[Any, ...]) -> CheckpointRecord | None:
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            row = c.fetchone()
        return None if row is None else record_from_row(row)


def _insert(cursor: Any, records: Sequence[CheckpointRecord]) -> None:
    # Written first, checked after: the write takes SQLite's one write lock, so the check
    # sees every delete committed before it and no delete can slip in after.
    cursor.executemany(
        f"INSERT INTO session_checkpoints ({_META}, blob) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [_row(r) for r in records],
    )
    parents = outside_parents(records)
    missing = set(parents) - _matching(cursor, "checkpoint_id", parents)
    if missing:
        raise parents_gone(missing)


def _select_in(cursor: Any, columns: str, column: str, ids: Sequence[str]) -> builtins.list[Any]:
    """``columns`` of the checkpoints whose ``column`` is one of ``ids`` (in chunks)."""
    found: builtins.list[Any] = []
    for start in range(0, len(ids), _IDS_PER_QUERY):
        part = ids[start : start + _IDS_PER_QUERY]
        cursor.execute(
            f"SELECT {columns} FROM session_checkpoints WHERE {column} IN "
            f"({', '.join('?' * len(part))})",
            part,
        )
        found.extend(cursor.fetchall())
    return found


def _matching(cursor: Any, column: str, ids: Sequence[str]) -> set[str]:
    """The ids of the checkpoints whose ``column`` is one of ``ids``."""
    return {row[0] for row in _select_in(cursor, "checkpoint_id", column, ids)}


def _row(r: CheckpointRecord) -> tuple[Any, ...]:
    return (
        r.checkpoint_id,
        r.session_id,
        r.version,
        r.label,
        to_micros(r.created_at),
        int(r.automatic),
        r.parent_id,
        r.base_messages,
        r.message_count,
        r.token_count,
        r.raw_size,
        r.compressed_size,
        r.checksum,
        r.blob,
    )


def record_from_row(row: Any) -> CheckpointRecord:
    """A checkpoint from a database row (``sqlite3.Row`` or a psycopg dict row)."""
    keys = row.keys()
    created = from_micros(row["created_at"])
    assert created is not None
    return CheckpointRecord(
        checkpoint_id=row["checkpoint_id"],
        session_id=row["session_id"],
        version=row["version"],
        label=row["label"],
        created_at=created,
        automatic=bool(row["automatic"]),
        parent_id=row["parent_id"],
        base_messages=row["base_messages"],
        message_count=row["message_count"],
        token_count=row["token_count"],
        raw_size=row["raw_size"],
        compressed_size=row["compressed_size"],
        checksum=bytes(row["checksum"]),
        blob=bytes(row["blob"]) if "blob" in keys else b"",
    )


def open_checkpoint_store(recorder: SessionRecorder) -> CheckpointStore:
    """The checkpoint store that lives beside ``recorder``'s events.

    A recorder with an ``open_checkpoints()`` method makes its own (PostgreSQL, memory://).
    Other recorders get an in-memory store: checkpoints are a speed-up that replay can
    always do without, but they do not outlive the process.
    """
    if isinstance(recorder, SQLiteSessionRecorder):
        return SQLiteCheckpointStore(recorder)
    # Other backends that keep checkpoints beside their events say so (PostgreSQL: a table;
    # memory://: one in-memory store shared by every SessionStore on the recorder).
    opener = getattr(recorder, "open_checkpoints", None)
    if opener is not None:
        store: CheckpointStore = opener()
        return store
    return InMemoryCheckpointStore()


__all__ = [
    "CheckpointRecord",
    "CheckpointStore",
    "InMemoryCheckpointStore",
    "SQLiteCheckpointStore",
    "open_checkpoint_store",
]
