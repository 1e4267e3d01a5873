"""The projector: keeps the read models current by polling the notification log in batches.

SQLite has no push subscription, so catching up asks the source for the events after the
stored position, ``batch_size`` at a time. Each batch is one ``BEGIN IMMEDIATE``
transaction that re-reads the position, applies the events and moves the position: a
process killed mid-batch leaves the previous batch's position and rows, so nothing is
applied twice or skipped, and two processes projecting into the same file take turns.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import sqlite_utils

from ..domain.errors import BackendError, InvalidInput
from ..storage.log import Recorded
from .batch import Batch, StateCache
from .schema import POSITION_NAME, create_tables, drop_tables

BATCH_SIZE = 500
Progress = Callable[[int, int], None]
"""Called after each batch with (events applied so far, events to apply in all)."""


class NotificationSource(Protocol):
    """Where events come from: the store's ``EventLog`` or any backend with the same calls."""

    def notifications(self, start: int, limit: int) -> list[Recorded]: ...

    def max_notification_id(self) -> int: ...


def open_views(path: str) -> sqlite_utils.Database:
    """The read-model database: a SQLite file (WAL) or, for ``:memory:``, one connection."""
    if path != ":memory:" and not Path(path).expanduser().parent.is_dir():
        raise InvalidInput(f"cannot open read models {path!r}: its folder does not exist")
    if Path(path).expanduser().is_dir():
        raise InvalidInput(f"cannot open read models {path!r}: it is a folder; name a file")
    try:
        return _open_views(path)
    except sqlite3.DatabaseError as e:
        raise BackendError(
            f"cannot open the read models {path!r}: {e}. They hold nothing the event log "
            "does not: if this is the store's read-model file, delete it (with its -wal and "
            "-shm files) and run `sessionstore project --rebuild`; otherwise give --views "
            "another file"
        ) from None


def _open_views(path: str) -> sqlite_utils.Database:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    if db.table("stored_events").exists():  # tables must never be added to an event log
        conn.close()
        raise InvalidInput(
            f"{path!r} is a store's event log, not a read-model file: give --views another "
            "file (by default the read models live beside the store, in NAME.views.db)"
        )
    if path != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
        # Views can always be rebuilt, and the position commits with the rows: no fsync needed.
        db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=30000")
    # IMMEDIATE: two processes opening a new views file must not both create its tables.
    conn.execute("BEGIN IMMEDIATE")
    try:
        create_tables(db)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return db


class Projector:
    """Applies a source's events to the read models in ``db``."""

    def __init__(self, db: sqlite_utils.Database, source: NotificationSource, *,
                 batch_size: int = BATCH_SIZE) -> None:
        self.db = db
        self.source = source
        self.batch_size = batch_size
        # Held while a batch is applied and while a query reads: the connection is shared.
        self.lock = threading.RLock()
        self.states = StateCache()
        self._source_checked = False

    def position(self) -> int:
        """The notification id of the last event applied (0: none)."""
        row = self.db.execute("SELECT notification_id FROM positions WHERE name = ?",
                              [POSITION_NAME]).fetchone()
        return int(row[0]) if row else 0

    def behind(self) -> int:
        """How many notification ids the read models lag behind the source."""
        if not self._source_checked:
            self._check_source()
        return max(0, self.source.max_notification_id() - self.position())

    def _check_source(self) -> None:
        """Start afresh if the views were built from another log (e.g. the store file was
        deleted and created anew beside an old views file): they are derived, never owned."""
        with self.lock:
            row = self.db.execute("SELECT notification_id, source FROM positions WHERE name = ?",
                                  [POSITION_NAME]).fetchone()
            if row is not None and row[0] > 0:
                first = self.source.notifications(1, 1)
                same = bool(first) and first[0].event.hash.hex() == row[1]
                if not same or row[0] > self.source.max_notification_id():
                    self._reset()
            self._source_checked = True

    def _reset(self) -> None:
        with self.lock, self.db.atomic():
            drop_tables(self.db)
            create_tables(self.db)
            self.states.clear()

    def catch_up(self, *, progress: Progress | None = None) -> int:
        """Apply every event recorded so far; returns how many were applied."""
        with self.lock:
            total, done = self.behind(), 0
            while self.behind() > 0 and (applied := self._apply_batch()) > 0:
                done += applied
                if progress is not None:
                    progress(done, max(total, done))
            return done

    def rebuild(self, *, progress: Progress | None = None) -> int:
        """Drop every read model and replay the whole log into fresh tables."""
        self._reset()
        self._source_checked = True
        return self.catch_up(progress=progress)

    def follow(self, *, poll: float = 0.5, until_idle: float | None = None,
               duration: float | None = None, on_batch: Progress | None = None,
               wait: Callable[[float], object] = time.sleep) -> int:
        """Keep catching up; between empty catch-ups, ``wait`` (polling: sleep ``poll``).

        Stops after ``until_idle`` seconds with nothing new, or after ``duration`` seconds
        (either may be None: run until interrupted). Returns the events applied. A pushed
        source passes a ``wait`` that returns early when new events arrive.
        """
        started = last_new = time.monotonic()
        applied = 0
        while True:
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                return applied
            if until_idle is not None and now - last_new >= until_idle:
                return applied
            new = self.catch_up(progress=on_batch)
            if new:
                applied, last_new = applied + new, time.monotonic()
            else:
                wait(_until_next_check(poll, now, started, last_new, until_idle, duration))

    def _apply_batch(self) -> int:
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")  # re-read the position under the write lock
        try:
            position = self.position()
            self.states.check(position)
            items = self.source.notifications(position + 1, self.batch_size)
            batch = Batch(self.db, self.states)
            for item in items:
                batch.apply(item)
            if items:
                moved: dict[str, object] = {"name": POSITION_NAME,
                                            "notification_id": items[-1].notification_id}
                if position == 0:
                    moved["source"] = items[0].event.hash.hex()
                position = items[-1].notification_id
                batch.flush()
                self.db.table("positions").upsert(moved, pk="name")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self.states.clear()
            raise
        self.states.keep(batch, position)
        return len(items)


def _until_next_check(poll: float, now: float, started: float, last_new: float,
                      until_idle: float | None, duration: float | None) -> float:
    """Wait no longer than ``poll``, nor past the moment a stop condition comes due."""
    waits = [poll]
    if duration is not None:
        waits.append(started + duration - now)
    if until_idle is not None:
        waits.append(last_new + until_idle - now)
    return max(0.0, min(waits))
