"""Replay on every backend (SQLite file and PostgreSQL): checkpoints persist, time travel
equals folding the events, forks, prune and verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionstore import SessionStore
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
