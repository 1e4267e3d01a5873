"""Replay on every backend (SQLite file and PostgreSQL): checkpoints persist, time travel
equals folding the events, forks, prune and verify."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sessionstore import SessionStore
from sessionstore.domain import events as ev
from sessionstore.domain.reducer import replay
from tests.conformance.backends import fresh_postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "r.db")
    else:
        with fresh_postgres_url() as pg:
            yield pg


def folded(store: SessionStore, sid: str, version: int) -> object:
    return replay(r.event for r in store.events(sid, upto=version))


def test_replay_works_the_same_on_every_backend(url: str) -> None:
    with SessionStore(url, durability="normal", checkpoint_every=5) as store:
        sid = store.create_session("backend", agent_id="main")
        for i in range(23):
            store.add_message(sid, "user", f"m{i}", tokens_in=i)
        explicit = store.checkpoint(sid, label="here")
        fork = store.fork(sid, checkpoint=explicit)
        store.add_message(fork, "assistant", "a new turn")
    with SessionStore(url, checkpoint_every=5) as store:  # checkpoints outlive the process
        assert [c.version for c in store.checkpoints(sid)] == [5, 10, 15, 20, 24]
        for version in range(1, store.current_version(sid) + 1):
            store.reducer_steps = 0
            assert store.state(sid, at_version=version) == folded(store, sid, version)
            assert store.reducer_steps <= 5
        assert store.state(fork) == folded(store, fork, store.current_version(fork))
        d = store.diff(sid, fork)
        assert (d.common_ancestor, d.divergence_version) == (sid, 24)
        assert [m.content for m in d.only_in_b] == ["a new turn"]
        report = store.prune_checkpoints(sid, keep=1)
        assert [r.version for r in report.removed] == [5, 10, 15]
        assert store.state(sid, checkpoint=explicit) == folded(store, sid, 24)
        assert store.verify().ok


def test_a_forks_checkpoints_build_on_its_parents_and_survive_their_removal(url: str) -> None:
    with SessionStore(url, durability="normal", checkpoint_every=10) as store:
        sid = store.create_session("backend", agent_id="main")
        for i in range(23):
            store.add_message(sid, "user", f"m{i}")
        fork = store.fork(sid, at_version=22)
        for i in range(9):
            store.add_message(fork, "assistant", f"f{i}")
    with SessionStore(url, checkpoint_every=10) as store:  # tips and chains read back
        store.add_message(fork, "assistant", "after reopening")
        first, *_ = store.checkpoints(fork)
        assert first.parent_id == store.checkpoints(sid)[-1].checkpoint_id
        store.prune_checkpoints(sid, keep=0)
        assert store.checkpoints(sid) == []
        for checkpoint in store.checkpoints(fork):
            state = store.state(fork, checkpoint=checkpoint.checkpoint_id)
            assert state == folded(store, fork, checkpoint.version)
        assert store.verify().ok


# -- two stores on one database: neither leaves the other's checkpoint chains broken -------
def grow(store: SessionStore, sid: str, messages: int, prefix: str) -> None:
    for i in range(messages):
        store.add_message(sid, "user", f"{prefix}{i}")


@contextmanager
def two_stores(url: str) -> Iterator[tuple[SessionStore, SessionStore, str]]:
    """A writer and another store on one database, and the writer's session of 25 messages
    with checkpoints at versions 10 and 20 (the writer's tip: the next one extends it)."""
    with SessionStore(url, durability="normal", checkpoint_every=10) as writer, \
            SessionStore(url, checkpoint_every=10) as other:
        sid = writer.create_session("two stores", agent_id="main")
        grow(writer, sid, 25, "m")
        yield writer, other, sid


def assert_chains_whole(store: SessionStore, sid: str) -> None:
    assert store.verify().ok
    for checkpoint in store.checkpoints(sid):
        assert checkpoint.parent_id is None or store.checkpoint_info(checkpoint.parent_id)
        state = store.state(sid, checkpoint=checkpoint.checkpoint_id)
        assert state == folded(store, sid, checkpoint.version)


def test_a_writer_builds_on_what_is_left_when_another_store_deleted_its_latest_checkpoint(
    url: str,
) -> None:
    with two_stores(url) as (writer, other, sid):
        first, latest = writer.checkpoints(sid)
        other.delete_checkpoint(latest.checkpoint_id)
        grow(writer, sid, 10, "n")  # an automatic checkpoint at version 30
        _, automatic = writer.checkpoints(sid)
        assert (automatic.version, automatic.parent_id) == (30, first.checkpoint_id)
        other.delete_checkpoint(automatic.checkpoint_id)
        explicit = writer.checkpoint(sid, label="after the second delete")
        grow(writer, sid, 10, "o")
        listed = writer.checkpoints(sid)
        assert [(c.version, c.parent_id) for c in listed] == [
            (10, None), (36, first.checkpoint_id), (46, explicit)
        ]
        assert listed[1].checkpoint_id == explicit
        assert_chains_whole(writer, sid)


def test_a_prune_rebases_a_delta_that_another_store_adds_while_it_runs(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with two_stores(url) as (writer, pruner, sid):
        doomed = {c.checkpoint_id for c in writer.checkpoints(sid)}
        checkpoints = pruner._checkpointer.store
        delete = checkpoints.delete
        deletes: list[set[str]] = []

        def delete_once_the_writer_extended_a_doomed_one(ids: set[str]) -> None:
            if not deletes:  # the writer's tip is still stored: its next one is a delta
                grow(writer, sid, 10, "n")
            deletes.append(set(ids))
            delete(ids)

        monkeypatch.setattr(checkpoints, "delete", delete_once_the_writer_extended_a_doomed_one)
        report = pruner.prune_checkpoints(sid, keep=0)
        (added,) = writer.checkpoints(sid)
        assert deletes == [doomed, doomed]  # refused once, then done with the delta re-based
        assert {r.checkpoint_id for r in report.removed} == doomed
        assert report.rebased == [added.checkpoint_id]
        assert (added.version, added.parent_id, report.kept) == (30, None, 1)
        assert_chains_whole(pruner, sid)


def test_an_imported_checkpoint_builds_on_what_is_left_after_another_store_deleted_one(
    url: str,
) -> None:
    with two_stores(url) as (importer, other, sid):
        first, latest = importer.checkpoints(sid)
        other.delete_checkpoint(latest.checkpoint_id)
        event = ev.CheckpointCreated(
            session_id=sid, version=27, recorded_at=datetime.now(UTC),
            checkpoint_id=str(uuid.uuid4()), label="imported", at_version=26,
        )
        assert importer.accept(sid, event) == 27
        assert importer.checkpoint_info(event.checkpoint_id).parent_id == first.checkpoint_id
        assert_chains_whole(importer, sid)
