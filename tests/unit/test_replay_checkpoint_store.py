"""The ``CheckpointStore`` contract. Every backend subclasses ``CheckpointStoreContract``
and provides a fresh ``checkpoint_store`` fixture (the PostgreSQL one can do the same)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sessionstore import CheckpointsChanged
from sessionstore.storage.checkpoints import (
    CheckpointRecord,
    CheckpointStore,
    InMemoryCheckpointStore,
    SQLiteCheckpointStore,
    open_checkpoint_store,
)
from sessionstore.storage.sqlite import SQLiteSessionRecorder

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SID = "7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90"
OTHER = "0d6a7c4e-9a3e-4f0b-8f0c-5b1f3a2d9e11"


def record(checkpoint_id: str, version: int, *, session_id: str = SID, **kw: object) -> (
    CheckpointRecord
):
    fields: dict[str, object] = dict(
        checkpoint_id=checkpoint_id, session_id=session_id, version=version, label=None,
        created_at=T0 + timedelta(seconds=version), automatic=True, parent_id=None,
        base_messages=0, message_count=version, token_count=2 * version, raw_size=100,
        compressed_size=40, checksum=b"\x01" * 32, blob=f"blob-{checkpoint_id}".encode(),
    )
    fields.update(kw)
    return CheckpointRecord(**fields)  # type: ignore[arg-type]


class CheckpointStoreContract:
    def test_put_then_get_returns_the_same_record(self, checkpoint_store: CheckpointStore) -> None:
        checkpoint_store.put([record("p", 5)])
        r = record("a", 10, label="before deploy", automatic=False, parent_id="p")
        checkpoint_store.put([r])
        assert checkpoint_store.get("a") == r

    def test_get_of_unknown_id_is_none(self, checkpoint_store: CheckpointStore) -> None:
        assert checkpoint_store.get("nope") is None

    def test_put_refuses_an_existing_id(self, checkpoint_store: CheckpointStore) -> None:
        checkpoint_store.put([record("a", 10)])
        with pytest.raises(Exception):  # noqa: B017 - each backend has its own integrity error
            checkpoint_store.put([record("a", 20)])
        assert checkpoint_store.get("a") == record("a", 10)

    def test_list_is_per_session_oldest_first_without_blobs(
        self, checkpoint_store: CheckpointStore
    ) -> None:
        checkpoint_store.put([record("c", 30), record("a", 10), record("x", 5, session_id=OTHER)])
        listed = checkpoint_store.list(SID)
        assert [r.checkpoint_id for r in listed] == ["a", "c"]
        assert all(r.blob == b"" for r in listed)
        assert listed[0] == record("a", 10).without_blob()

    def test_nearest_is_the_newest_at_or_before(self, checkpoint_store: CheckpointStore) -> None:
        checkpoint_store.put([record("a", 10), record("b", 20), record("c", 30)])
        checkpoint_store.put([record("o", 25, session_id=OTHER)])
        assert checkpoint_store.nearest(SID, 9) is None
        found = checkpoint_store.nearest(SID, 10)
        assert found is not None and found.checkpoint_id == "a" and found.blob == b"blob-a"
        assert checkpoint_store.nearest(SID, 29).checkpoint_id == "b"  # type: ignore[union-attr]
        assert checkpoint_store.nearest(SID, 10**9).checkpoint_id == "c"  # type: ignore[union-attr]

    def test_replace_rewrites_the_blob_and_parent(self, checkpoint_store: CheckpointStore) -> None:
        checkpoint_store.put([record("p", 5), record("a", 10, parent_id="p", base_messages=4)])
        rebased = replace(record("a", 10), blob=b"full", raw_size=9, compressed_size=4,
                          checksum=b"\x02" * 32)
        checkpoint_store.replace(rebased)
        assert checkpoint_store.get("a") == rebased

    def test_delete_removes_only_the_named(self, checkpoint_store: CheckpointStore) -> None:
        checkpoint_store.put([record("a", 10), record("b", 20), record("c", 30)])
        checkpoint_store.delete(["a", "c", "unknown"])
        assert [r.checkpoint_id for r in checkpoint_store.list(SID)] == ["b"]
        assert checkpoint_store.get("a") is None


    # -- chains stay whole when another store changes the checkpoints meanwhile ----------
    def test_put_refuses_a_delta_of_a_missing_checkpoint_and_stores_none(
        self, checkpoint_store: CheckpointStore
    ) -> None:
        checkpoint_store.put([record("root", 10)])
        batch = [record("full", 15), record("d1", 20, parent_id="gone")]
        with pytest.raises(CheckpointsChanged, match="gone was deleted meanwhile"):
            checkpoint_store.put(batch)
        assert [r.checkpoint_id for r in checkpoint_store.list(SID)] == ["root"]

    def test_put_takes_a_chain_whose_parents_come_with_it(
        self, checkpoint_store: CheckpointStore
    ) -> None:
        checkpoint_store.put([record("root", 10)])
        checkpoint_store.put([record("d1", 20, parent_id="root"),
                              record("d2", 30, parent_id="d1")])
        assert [r.parent_id for r in checkpoint_store.list(SID)] == [None, "root", "d1"]

    def test_replace_refuses_a_missing_parent_and_changes_nothing(
        self, checkpoint_store: CheckpointStore
    ) -> None:
        checkpoint_store.put([record("root", 10), record("d1", 20, parent_id="root")])
        with pytest.raises(CheckpointsChanged, match="gone"):
            checkpoint_store.replace(replace(record("d1", 20), parent_id="gone", blob=b"x"))
        assert checkpoint_store.get("d1") == record("d1", 20, parent_id="root")

    def test_delete_refuses_to_leave_a_kept_delta_without_its_parent(
        self, checkpoint_store: CheckpointStore
    ) -> None:
        checkpoint_store.put([
            record("root", 10), record("d1", 20, parent_id="root"), record("other", 15),
            record("fork", 25, session_id=OTHER, parent_id="d1"),
        ])
        with pytest.raises(CheckpointsChanged, match="fork was stored meanwhile"):
            checkpoint_store.delete(["other", "d1"])
        assert [r.checkpoint_id for r in checkpoint_store.list(SID)] == ["root", "other", "d1"]

    def test_delete_takes_a_parent_with_all_its_deltas(
        self, checkpoint_store: CheckpointStore
    ) -> None:
        checkpoint_store.put([record("root", 10), record("d1", 20, parent_id="root"),
                              record("d2", 30, parent_id="d1")])
        checkpoint_store.delete(["d1", "d2"])
        assert [r.checkpoint_id for r in checkpoint_store.list(SID)] == ["root"]

    def test_children_are_the_deltas_of_the_named_in_any_session(
        self, checkpoint_store: CheckpointStore
    ) -> None:
        checkpoint_store.put([
            record("root", 10), record("d1", 20, parent_id="root"),
            record("d2", 30, parent_id="d1"), record("other", 15),
            record("fork", 25, session_id=OTHER, parent_id="root"),
        ])
        assert [r.checkpoint_id for r in checkpoint_store.children(["root"])] == ["d1", "fork"]
        assert [r.checkpoint_id for r in checkpoint_store.children(["d1", "other", "x"])] == [
            "d2"
        ]
        assert checkpoint_store.children([]) == []
        assert all(r.blob == b"" for r in checkpoint_store.children(["root"]))


class TestInMemoryCheckpointStore(CheckpointStoreContract):
    @pytest.fixture
    def checkpoint_store(self) -> CheckpointStore:
        return InMemoryCheckpointStore()


class TestSQLiteCheckpointStore(CheckpointStoreContract):
    @pytest.fixture
    def checkpoint_store(self) -> Iterator[CheckpointStore]:
        recorder = SQLiteSessionRecorder(":memory:")
        store = open_checkpoint_store(recorder)
        assert isinstance(store, SQLiteCheckpointStore)
        yield store
        recorder.close()
