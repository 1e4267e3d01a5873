"""Read models beside a SQLite file store: where they live, reopening, other writers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from sessionstore import InvalidInput, SessionStore
from sessionstore.projections.api import default_views

from ..unit.test_projection_support import snapshot


def test_views_default_to_a_sibling_file_or_memory(tmp_path: Path) -> None:
    assert default_views(str(tmp_path / "sessions.db")) == str(tmp_path / "sessions.views.db")
    assert default_views(f"sqlite:///{tmp_path}/events") == f"{tmp_path}/events.views.db"
    assert default_views(":memory:") == ":memory:"
    assert default_views("postgresql://root@127.0.0.1:5432/test") == ":memory:"
    with SessionStore(str(tmp_path / "s.db")) as store:
        store.create_session("one")
        assert len(store.sessions()) == 1
    assert (tmp_path / "s.views.db").exists()


def test_reopening_continues_from_the_stored_position(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with SessionStore(db, durability="normal") as store:
        sid = store.create_session("one")
        store.add_message(sid, "user", "hello")
        assert store.catch_up() == 2
    with SessionStore(db, durability="normal") as store:
        assert store.projector.position() == 2
        store.add_message(sid, "user", "again")
        assert store.catch_up() == 1
        assert [m["content"] for m in store.history(sid)] == ["hello", "again"]


def test_a_second_store_sees_another_writers_events(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with SessionStore(db, durability="normal") as writer, \
            SessionStore(db, durability="normal", views=str(tmp_path / "reader.db")) as reader:
        sid = writer.create_session("shared")
        writer.add_message(sid, "user", "from the writer")
        assert [m["content"] for m in reader.history(sid)] == ["from the writer"]


def test_two_projectors_sharing_one_views_file_apply_each_event_once(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with SessionStore(db, durability="normal") as store:
        with store.batch():
            for n in range(30):
                sid = store.create_session(f"s{n}")
                for i in range(20):
                    store.add_message(sid, "user", f"m{i}")
        total = store._log.max_notification_id()
    stores = [SessionStore(db, durability="normal") for _ in range(2)]
    for s in stores:
        s.projector.batch_size = 13
    threads = [threading.Thread(target=s.catch_up) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    together = snapshot(stores[0].views_db)
    for s in stores:
        s.close()
    assert sorted(a["notification_id"] for a in together["audit"]) == list(range(1, total + 1))
    with SessionStore(db, views=str(tmp_path / "fresh.db")) as fresh:
        fresh.rebuild()
        assert snapshot(fresh.views_db) == together


def test_views_may_be_named_by_sqlite_url_but_not_by_another_backend(tmp_path: Path) -> None:
    with SessionStore(":memory:", views=f"sqlite:///{tmp_path}/v.db") as store:
        store.create_session("one")
        assert len(store.sessions()) == 1
    assert (tmp_path / "v.db").exists()
    with pytest.raises(InvalidInput, match="unsupported"):
        SessionStore(":memory:", views="postgresql://root@127.0.0.1/test")


def test_views_left_from_a_deleted_store_are_rebuilt_from_the_new_one(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with SessionStore(str(db), durability="normal") as store:
        for n in range(5):
            store.create_session(f"old {n}")
        assert len(store.sessions()) == 5
    for leftover in tmp_path.glob("s.db*"):
        leftover.unlink()
    with SessionStore(str(db), durability="normal") as store:
        store.create_session("new")
        assert [s["name"] for s in store.sessions()] == ["new"]
    with SessionStore(str(db), durability="normal") as store:  # same log: no rebuild
        assert store.projector.behind() == 0 and store.projector.position() == 1


def test_threads_sharing_a_store_each_read_their_own_writes(tmp_path: Path) -> None:
    failures: list[str] = []

    def worker(store: SessionStore, n: int) -> None:
        sid = store.create_session(f"t{n}")
        for i in range(15):
            store.add_message(sid, "user", f"thread {n} message {i}")
            seen = [m["content"] for m in store.history(sid, limit=1)]
            if seen != [f"thread {n} message {i}"]:
                failures.append(f"thread {n} saw {seen} after message {i}")

    with SessionStore(str(tmp_path / "s.db"), durability="normal") as store:
        threads = [threading.Thread(target=worker, args=(store, n)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert store.metrics()["sessions"] == 4
        assert sum(s["messages"] for s in store.sessions()) == 60


def test_a_views_file_that_indexed_by_trigger_indexes_each_new_message_once(
    tmp_path: Path,
) -> None:
    db, views = str(tmp_path / "s.db"), str(tmp_path / "s.views.db")
    with SessionStore(db, durability="normal") as store:
        sid = store.create_session("older views")
        store.add_message(sid, "user", "indexed by the trigger")
        store.catch_up()
    with sqlite3.connect(views) as older:  # as sessionstore 0.x left it: sqlite-utils' trigger
        older.execute(
            "CREATE TRIGGER [messages_ai] AFTER INSERT ON [messages] BEGIN INSERT INTO "
            "[messages_fts] (rowid, [content]) VALUES (new.rowid, new.[content]); END"
        )
    with SessionStore(db, durability="normal") as store:
        assert "messages_ai" not in {t.name for t in store.views_db.triggers}
        store.add_message(sid, "assistant", "indexed by the batch")
        hits = sorted(hit["version"] for hit in store.search("indexed"))
        assert hits == [2, 3]  # each message once
        fts = snapshot(store.views_db)["messages_fts"]  # checks the index against messages
        assert [row["content"] for row in fts] == ["indexed by the trigger",
                                                   "indexed by the batch"]
