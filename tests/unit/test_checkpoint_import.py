"""An accepted ``CheckpointCreated`` (what importing an export does) brings its checkpoint back.

Exports carry events, not checkpoint blobs; without this a session moved to another store
named checkpoints that ``state(checkpoint=...)`` and ``fork(checkpoint=...)`` could not find.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sessionstore import CheckpointNotFound, InvalidInput, SessionStore
from sessionstore.domain import events as ev

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def clocked_store() -> SessionStore:
    ticks = itertools.count()
    return SessionStore(":memory:", checkpoint_every=10,
                        clock=lambda: T0 + timedelta(seconds=next(ticks)))


@pytest.fixture
def store() -> Iterator[SessionStore]:
    with clocked_store() as s:
        yield s


def session_with_messages(store: SessionStore, count: int) -> str:
    sid = store.create_session("s", agent_id="main")
    for i in range(count):
        store.add_message(sid, "user" if i % 2 else "assistant", f"m{i}", tokens_in=i)
    return sid


def checkpoint_event(sid: str, *, at_version: int, checkpoint_id: str | None = None,
                     label: str | None = "imported") -> ev.CheckpointCreated:
    return ev.CheckpointCreated(
        session_id=sid, version=at_version + 1, recorded_at=T0 + timedelta(hours=1),
        checkpoint_id=checkpoint_id or str(uuid.uuid4()), label=label, at_version=at_version)


def test_accepting_checkpoint_created_stores_the_checkpoint_it_names(store: SessionStore) -> None:
    sid = session_with_messages(store, 4)
    event = checkpoint_event(sid, at_version=5)
    assert store.accept(sid, event) == 6
    info = store.checkpoint_info(event.checkpoint_id)
    assert (info.session_id, info.version, info.label, info.automatic) == (
        sid, 5, "imported", False)
    assert (info.message_count, info.created_at) == (4, event.recorded_at)
    assert store.state(sid, checkpoint=event.checkpoint_id) == store.state(sid, at_version=5)
    assert store.state(sid).checkpoint_ids == [event.checkpoint_id]


def test_a_checkpoint_event_that_does_not_follow_its_version_is_refused(
    store: SessionStore,
) -> None:
    sid = session_with_messages(store, 4)
    event = checkpoint_event(sid, at_version=3)
    with pytest.raises(InvalidInput, match=r"saves version 3, but session .* is at version 5"):
        store.accept(sid, event)
    assert store.current_version(sid) == 5
    assert store.checkpoints(sid) == []


def test_a_checkpoint_id_the_store_holds_keeps_its_checkpoint(store: SessionStore) -> None:
    first = session_with_messages(store, 2)
    cid = store.checkpoint(first, label="original")
    second = session_with_messages(store, 3)
    store.accept(second, checkpoint_event(second, at_version=4, checkpoint_id=cid))
    assert store.state(second).checkpoint_ids == [cid]  # the event is recorded
    info = store.checkpoint_info(cid)
    assert (info.session_id, info.version, info.label) == (first, 3, "original")
    assert [c.checkpoint_id for c in store.checkpoints(second)] == []


def test_a_failed_batch_stores_no_checkpoint_of_its_events(store: SessionStore) -> None:
    sid = session_with_messages(store, 2)
    event = checkpoint_event(sid, at_version=3)
    with pytest.raises(RuntimeError, match="import stopped"), store.batch():
        store.accept(sid, event)
        raise RuntimeError("import stopped")
    assert store.current_version(sid) == 3
    assert store.checkpoints(sid) == []
    with pytest.raises(CheckpointNotFound):
        store.checkpoint_info(event.checkpoint_id)


def test_export_then_import_keeps_explicit_checkpoints(tmp_path: Path) -> None:
    with clocked_store() as source:
        sid = session_with_messages(source, 12)  # an automatic checkpoint at 10
        before = source.checkpoint(sid, label="before")
        for i in range(5):
            source.add_message(sid, "user", f"later {i}")
        after = source.checkpoint(sid)
        path = tmp_path / "export.jsonl"
        with path.open("w", encoding="utf-8") as out:
            source.export(sid, out)
        expected = {c.checkpoint_id: c for c in source.checkpoints(sid) if not c.automatic}
        states = {cid: source.state(sid, checkpoint=cid) for cid in (before, after)}
    with clocked_store() as target:
        assert target.import_("jsonl", path).created == [sid]
        restored = {c.checkpoint_id: c for c in target.checkpoints(sid) if not c.automatic}
        assert set(restored) == set(expected) == {before, after}
        for cid, record in restored.items():
            original = expected[cid]
            assert (record.version, record.label, record.message_count) == (
                original.version, original.label, original.message_count)
            assert target.state(sid, checkpoint=cid) == states[cid]
        fork = target.fork(sid, checkpoint=before)
        assert target.state(fork).messages == states[before].messages
        assert target.verify().ok
