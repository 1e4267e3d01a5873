"""Replay == live: the state rebuilt from the file equals the state built while writing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from sessionstore import SessionStore
from tests.strategies import commands, run_command


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=commands)
def test_state_after_reopening_equals_live_state(script: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "s.db")
        with SessionStore(path, durability="normal") as store:
            sid = store.create_session("prop", agent_id="main", max_agents=2)
            for cmd in script:
                run_command(store, sid, cmd)
            live = store._cache[sid].session.state.model_copy(deep=True)
            assert store.state(sid) == live
        with SessionStore(path) as reopened:
            assert reopened.state(sid) == live
            assert reopened.verify().ok


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=commands)
def test_batched_writes_give_the_same_state_as_single_writes(
    script: list[tuple[object, ...]],
) -> None:
    with SessionStore(":memory:") as one, SessionStore(":memory:") as batched:
        sid = one.create_session("p", agent_id="main", max_agents=2, session_id=None)
        bid = batched.create_session("p", agent_id="main", max_agents=2, session_id=sid)
        for cmd in script:
            run_command(one, sid, cmd)
        with batched.batch():
            for cmd in script:
                run_command(batched, bid, cmd)
        a, b = one.state(sid), batched.state(bid)
        strip = {"created_at", "updated_at", "finished_at", "messages", "agents", "tasks"}
        assert a.model_dump(exclude=strip) == b.model_dump(exclude=strip)
        assert [m.content for m in a.messages] == [m.content for m in b.messages]
