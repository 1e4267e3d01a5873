"""Checkpoints outlive the process: after reopening a SQLite file, time travel from the stored
checkpoints equals the live states, within ``checkpoint_every`` reducer steps."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore
from sessionstore.domain.reducer import replay
from tests.unit.test_replay_property import play, steps, ticking


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=steps, fork_cmds=steps, every=st.integers(1, 5), use_batch=st.booleans())
def test_reopened_store_travels_through_stored_checkpoints(
    cmds: list[tuple[Any, ...]], fork_cmds: list[tuple[Any, ...]], every: int, use_batch: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "s.db")
        with SessionStore(path, durability="normal", checkpoint_every=every,
                          clock=ticking()) as store:
            sid = store.create_session("p", agent_id="main")
            if use_batch:
                with store.batch():
                    play(store, sid, cmds)
                # No live state inside a batch: fold the recorded events instead.
                lives = {v: replay(r.event for r in store.events(sid, upto=v))
                         for v in range(1, store.current_version(sid) + 1)}
            else:
                lives = play(store, sid, cmds)
            fork = store.fork(sid, at_version=max(1, len(lives) // 2))
            fork_lives = play(store, fork, fork_cmds)
            made = [c.checkpoint_id for c in store.checkpoints(sid)]
        with SessionStore(path, checkpoint_every=every) as store:
            assert [c.checkpoint_id for c in store.checkpoints(sid)] == made
            assert len(made) >= (len(lives) - 1) // every
            for version, live in [*lives.items(), *fork_lives.items()]:
                owner = sid if live.session_id == sid else fork
                store.reducer_steps = 0
                assert store.state(owner, at_version=version) == live
                assert store.reducer_steps <= every
            assert store.verify().ok
