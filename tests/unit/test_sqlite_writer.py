"""The SQLite recorder's kept writer connection: all or nothing, the library's error classes,
and usable again after a refused write."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from eventsourcing import persistence
from eventsourcing.persistence import StoredEvent

from sessionstore import SessionStore
from sessionstore.domain.errors import ConcurrencyConflict
from sessionstore.storage.recorder import HeadUpdate
from sessionstore.storage.sqlite import SQLiteSessionRecorder, _library_error

SID = str(uuid.uuid4())


def row(version: int) -> StoredEvent:
    return StoredEvent(uuid.UUID(SID), version, "MessageAdded", f"body {version}".encode())


def head(version: int) -> HeadUpdate:
    return HeadUpdate(SID, 1, version, bytes([version]) * 32)


def stored_versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [v for (v,) in db.execute(
            "SELECT originator_version FROM stored_events ORDER BY originator_version"
        )]


def test_a_taken_version_rolls_back_the_whole_write_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    recorder = SQLiteSessionRecorder(str(path))
    assert list(recorder.record([row(1), row(2)], [head(2)])) == [1, 2]
    with pytest.raises(persistence.IntegrityError):
        recorder.record([row(3), row(2)], [head(3)])  # version 2 is taken: row 3 goes too
    assert stored_versions(path) == [1, 2]
    selected = recorder.select_head(SID)
    assert selected is not None and selected.version == 2
    assert list(recorder.record([row(3)], [head(3)])) == [3]
    assert stored_versions(path) == [1, 2, 3]
    recorder.close()


@pytest.mark.parametrize(
    ("driver", "library"),
    [
        (sqlite3.IntegrityError, persistence.IntegrityError),
        (sqlite3.OperationalError, persistence.OperationalError),
        (sqlite3.DataError, persistence.DataError),
        (sqlite3.InternalError, persistence.InternalError),
        (sqlite3.ProgrammingError, persistence.ProgrammingError),
        (sqlite3.NotSupportedError, persistence.NotSupportedError),
        (sqlite3.InterfaceError, persistence.InterfaceError),
        (sqlite3.DatabaseError, persistence.DatabaseError),
        (sqlite3.Error, persistence.PersistenceError),
    ],
)
def test_driver_errors_become_the_librarys_classes(
    driver: type[sqlite3.Error], library: type[persistence.PersistenceError]
) -> None:
    error = _library_error(driver("disk I/O error"))
    assert type(error) is library
    assert "disk I/O error" in str(error)


def test_a_conflict_through_the_store_writes_nothing_and_the_next_write_lands(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    with SessionStore(str(path)) as first, SessionStore(str(path)) as second:
        sid = first.create_session("race", agent_id="main")
        assert second.add_message(sid, "user", "second was first") == 2
        first.add_message(sid, "user", "cached")  # first's cache is stale: it re-reads
        with pytest.raises(ConcurrencyConflict):
            first.add_message(sid, "user", "stale", expected_version=2)
        assert first.add_message(sid, "user", "after") == 4
        assert [m.content for m in second.state(sid).messages] == [
            "second was first", "cached", "after"
        ]
        assert first.verify(sid).ok


def test_close_closes_the_writer_and_a_new_store_reads_every_write(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SessionStore(str(path))
    sid = store.create_session("closing", agent_id="main")
    store.add_message(sid, "user", "kept")
    recorder = store._log.recorder
    assert isinstance(recorder, SQLiteSessionRecorder) and recorder._writer is not None
    writer = recorder._writer
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        writer.execute("SELECT 1")
    with SessionStore(str(path)) as reopened:
        assert [m.content for m in reopened.state(sid).messages] == ["kept"]


def rowids(path: Path) -> dict[int, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT originator_version, rowid FROM stored_events"))


@pytest.mark.parametrize("memory", [False, True])
def test_a_write_of_several_rows_returns_each_rows_notification_id(
    tmp_path: Path, memory: bool
) -> None:
    recorder = SQLiteSessionRecorder(":memory:" if memory else str(tmp_path / "s.db"))
    assert list(recorder.record([row(1)], [head(1)])) == [1]
    ids = recorder.record([row(2), row(3), row(4)], [head(4)])
    assert list(ids) == [2, 3, 4]
    assert [n.id for n in recorder.select_notifications(1, 10)] == [1, 2, 3, 4]
    recorder.close()


def test_rows_numbered_out_of_order_get_their_own_ids_back(tmp_path: Path) -> None:
    # Once the largest rowid is 2**63-1, SQLite numbers new rows at random: the ids
    # returned must still be the rows' own, not a guessed consecutive range.
    path = tmp_path / "s.db"
    recorder = SQLiteSessionRecorder(str(path))
    recorder.record([row(1)], [head(1)])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE stored_events SET rowid = 9223372036854775807")
    ids = recorder.record([row(2), row(3), row(4)], [head(4)])
    recorder.close()
    stored = rowids(path)
    assert list(ids) == [stored[2], stored[3], stored[4]]
    assert len(set(ids)) == 3 and 9223372036854775807 not in ids
