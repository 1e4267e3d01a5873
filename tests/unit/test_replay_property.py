"""Property tests of replay: time travel == live, fork == prefix + own events, diff(x, x) empty."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import SessionState, SessionStore, SessionStoreError
from sessionstore.domain.reducer import replay
from tests.strategies import command, run_command

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
def ticking() -> Callable[[], datetime]:
    """A store clock that moves one second per reading, so every event has its own time."""
    seconds = itertools.count()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return lambda: start + timedelta(seconds=next(seconds))


steps = st.lists(command | st.just(("checkpoint",)), min_size=1, max_size=40)


def play(store: SessionStore, sid: str, cmds: list[tuple[Any, ...]]) -> dict[int, SessionState]:
    """Run commands; return the live state right after each recorded version."""
    lives = {store.current_version(sid): store.state(sid)}
    for cmd in cmds:
        if cmd[0] == "checkpoint":
            with contextlib.suppress(SessionStoreError):
                store.checkpoint(sid, label="p")
        else:
            run_command(store, sid, cmd)
        lives[store.current_version(sid)] = store.state(sid)
    return lives


@SETTINGS
@given(cmds=steps, every=st.integers(1, 6))
def test_state_at_every_version_equals_the_live_state_then(
    cmds: list[tuple[Any, ...]], every: int
) -> None:
    with SessionStore(":memory:", checkpoint_every=every, clock=ticking()) as store:
        sid = store.create_session("p", agent_id="main")
        lives = play(store, sid, cmds)
        assert sorted(lives) == list(range(1, store.current_version(sid) + 1))
        for version, live in lives.items():
            store.reducer_steps = 0
            assert store.state(sid, at_version=version) == live
            assert store.reducer_steps <= every  # the nearest checkpoint is never further
            assert live.updated_at is not None
            assert store.state(sid, at_time=live.updated_at) == live
        for checkpoint in store.checkpoints(sid):
            assert store.state(sid, checkpoint=checkpoint.checkpoint_id) == lives[
                checkpoint.version
            ]


@SETTINGS
@given(
    before=steps,
    after=steps,
    more=steps,
    point=st.floats(0, 1),
    point2=st.floats(0, 1),
    every=st.integers(1, 6),
    keep=st.integers(0, 2),
)
def test_a_fork_is_the_parent_at_the_fork_point_plus_its_own_events(
    before: list[tuple[Any, ...]],
    after: list[tuple[Any, ...]],
    more: list[tuple[Any, ...]],
    point: float,
    point2: float,
    every: int,
    keep: int,
) -> None:
    with SessionStore(":memory:", checkpoint_every=every) as store:
        parent = store.create_session("p", agent_id="main")
        play(store, parent, before)
        at = max(1, round(point * store.current_version(parent)))
        fork = store.fork(parent, at_version=at, name="f")
        play(store, fork, after)
        # A fork of the fork, anywhere in its history (possibly inside the parent's part).
        at2 = max(1, round(point2 * store.current_version(fork)))
        fork2 = store.fork(fork, at_version=at2)
        play(store, fork2, more)
        for child, base_id, base_at in ((fork, parent, at), (fork2, fork, at2)):
            own = [r.event for r in store.events(child, after=base_at)]
            expected = replay(own, store.state(base_id, at_version=base_at))
            assert store.state(child) == expected
            events = [r.event for r in store.events(child)]
            prefix = [r.event for r in store.events(base_id, upto=base_at)]
            assert events[:base_at] == prefix
            assert [e.version for e in events] == list(range(1, len(events) + 1))
        assert_checkpoints_load(store, fork, fork2)
        # Forks' checkpoints build on their parents': removing those re-bases them.
        store.prune_checkpoints(parent, keep=keep, explicit=True)
        store.prune_checkpoints(fork, keep=keep, explicit=True)
        assert_checkpoints_load(store, fork, fork2)
        assert store.verify().ok


def assert_checkpoints_load(store: SessionStore, *sessions: str) -> None:
    """Each checkpoint of each session loads to the state its events replay to."""
    for sid in sessions:
        for checkpoint in store.checkpoints(sid):
            replayed = store.state(sid, at_version=checkpoint.version, use_checkpoints=False)
            assert store.state(sid, checkpoint=checkpoint.checkpoint_id) == replayed


@SETTINGS
@given(cmds=steps, fork_cmds=steps, point=st.floats(0, 1))
def test_diff_of_a_session_with_itself_is_empty(
    cmds: list[tuple[Any, ...]], fork_cmds: list[tuple[Any, ...]], point: float
) -> None:
    with SessionStore(":memory:", checkpoint_every=3) as store:
        sid = store.create_session("p", agent_id="main")
        play(store, sid, cmds)
        fork = store.fork(sid, at_version=max(1, round(point * store.current_version(sid))))
        play(store, fork, fork_cmds)
        for session in (sid, fork):
            same = store.diff(session, session)
            assert same.is_empty
            assert same.common_ancestor == session
            assert same.divergence_version == store.current_version(session)
        across = store.diff(sid, fork)
        assert across.common_ancestor == sid
        assert {m.version for m in across.only_in_b} == {
            m.version for m in store.state(fork).messages if m.version > across.divergence_version
        }
