"""``add_messages``: several messages in one write, all or none, equal to single appends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import (
    ConcurrencyConflict,
    InvalidInput,
    SessionStore,
    SessionStoreError,
    UnknownAgent,
)
from sessionstore.domain.session import Session

message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "tool", "system", "robot"]),
        # Bytes are decoded when UTF-8 and refused when not, as every text field's are.
        "content": st.text(max_size=20) | st.binary(max_size=6),
    },
    optional={
        "agent_id": st.sampled_from(["main", "helper", "stranger"]),
        "tokens_in": st.integers(-1, 50) | st.just("12"),
        "tool_calls": st.none() | st.just([{"name": "bash", "id": "c1"}]),
        "tool_name": st.none() | st.text(max_size=4) | st.binary(max_size=3) | st.just(1),
        "model": st.just("m" * (64 * 1024 + 1)) | st.just("\ud800") | st.just("modèle"),
        "metadata": st.none() | st.just({"k": 1}),
    },
)


def fresh(store: SessionStore) -> str:
    sid = store.create_session("many", agent_id="main", session_id=SID)
    store.add_agent(sid, "helper")
    return sid


SID = "7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90"
T0 = datetime(2026, 11, 21, tzinfo=UTC)


def clock() -> datetime:
    return T0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(message, min_size=1, max_size=8))
def test_all_or_none_and_equal_to_single_appends(items: list[dict[str, Any]]) -> None:
    with SessionStore("memory://", clock=clock) as many, SessionStore(
        "memory://", clock=clock
    ) as single:
        sid, _ = fresh(many), fresh(single)
        before = many.state(sid)
        refused: SessionStoreError | None = None
        try:
            with single.batch():
                for item in items:
                    single.add_message(sid, **item)
        except SessionStoreError as e:
            refused = e
        if refused is None:
            version = many.add_messages(sid, items)
            assert version == single.current_version(sid)
            assert many.state(sid) == single.state(sid)
            assert list(many.events(sid)) == list(single.events(sid))  # same bytes and hashes
        else:
            with pytest.raises(type(refused)):
                many.add_messages(sid, items)
            assert many.current_version(sid) == before.version
            assert many.state(sid) == before  # nothing stored, the cached state rewound
            many.add_message(sid, "user", "still writable")
            assert many.state(sid).messages[-1].version == before.version + 1


def contents(store: SessionStore, sid: str) -> list[str]:
    return [m.content for m in store.state(sid).messages]


def test_messages_land_in_order_with_their_fields() -> None:
    with SessionStore("memory://") as store:
        sid = fresh(store)
        version = store.add_messages(sid, [
            {"role": "assistant", "content": "running", "agent_id": "helper", "tokens_out": 5,
             "tool_calls": [{"name": "bash", "id": "c1", "arguments": {"cmd": "ls"}}]},
            {"role": "tool", "content": "a.txt", "tool_call_id": "c1", "tool_name": "bash"},
        ])
        state = store.state(sid)
        assert version == state.version == 4
        assert contents(store, sid) == ["running", "a.txt"]
        assert state.counters.tool_calls == 1 and state.counters.tokens_out == 5
        assert [e.type for e in store.events(sid, after=2)] == ["MessageAdded"] * 2
        assert store.verify(sid).ok


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([], "at least one message"),
        ([{"role": "user"}], "needs role and content"),
        ([{"role": "user", "content": "x", "colour": "red"}], "may have"),
        (["just text"], "must be a mapping"),
    ],
)
def test_bad_shapes_are_refused_with_what_to_pass(items: list[Any], problem: str) -> None:
    with SessionStore("memory://") as store:
        sid = fresh(store)
        with pytest.raises(InvalidInput, match=problem):
            store.add_messages(sid, items)
        assert store.current_version(sid) == 2


def test_expected_version_is_checked_once_for_all() -> None:
    with SessionStore("memory://") as store:
        sid = fresh(store)
        with pytest.raises(ConcurrencyConflict):
            store.add_messages(sid, [{"role": "user", "content": "x"}], expected_version=1)
        assert store.add_messages(sid, [{"role": "user", "content": "x"}], expected_version=2) == 3


def test_a_refusal_inside_a_batch_takes_back_only_its_own_messages() -> None:
    with SessionStore("memory://") as store:
        sid = fresh(store)
        with store.batch():
            store.add_message(sid, "user", "kept")
            with pytest.raises(UnknownAgent):
                store.add_messages(sid, [{"role": "user", "content": "dropped"},
                                         {"role": "user", "content": "x", "agent_id": "nobody"}])
            store.add_messages(sid, [{"role": "assistant", "content": "also kept"}])
        assert contents(store, sid) == ["kept", "also kept"]
        assert store.current_version(sid) == 4 and store.verify(sid).ok


def test_a_refusal_rewinds_a_state_loaded_from_a_checkpoint(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    with SessionStore(path, checkpoint_every=5) as store:
        sid = fresh(store)
        store.add_messages(sid, [{"role": "user", "content": f"m{i}"} for i in range(12)])
    with SessionStore(path, checkpoint_every=5) as store:
        before = store.state(sid)
        with pytest.raises(UnknownAgent):
            store.add_messages(sid, [{"role": "user", "content": "new"},
                                     {"role": "user", "content": "x", "agent_id": "nobody"}])
        assert store.state(sid) == before
        store.add_messages(sid, [{"role": "user", "content": "m12"}])
        assert contents(store, sid) == [f"m{i}" for i in range(13)]


def one_by_one(session: Session, items: list[dict[str, Any]]) -> list[Any]:
    """What ``Session.add_messages`` did before its one-call validation: the reference."""
    with patch.object(Session, "_checked_messages", return_value=None):
        return session.add_messages(items)


def outcome(add: Any, items: list[dict[str, Any]]) -> tuple[Any, ...]:
    """The events and state after ``add``, or the error it raised and the state it left."""
    ticks = iter(range(1, 10_000))
    session = Session.create(SID, clock=lambda: T0.replace(microsecond=next(ticks)), name="s",
                             agent_id="main")
    session.add_agent("helper")
    try:
        events = add(session, items)
    except SessionStoreError as e:
        return type(e), str(e), session.state, session.pending
    return list(events), session.state, session.pending


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(message, min_size=1, max_size=8))
def test_validating_the_batch_at_once_equals_one_by_one(items: list[dict[str, Any]]) -> None:
    """Same events, state and pending list, or the same error word for word."""
    fast = outcome(Session.add_messages, items)
    slow = outcome(one_by_one, items)
    assert fast == slow


@settings(max_examples=15, deadline=None)
@given(every=st.integers(2, 12), before=st.integers(0, 30), count=st.integers(1, 60))
def test_time_travel_after_add_messages_applies_at_most_checkpoint_every_events(
    every: int, before: int, count: int
) -> None:
    with SessionStore(":memory:", checkpoint_every=every) as store:
        sid = store.create_session("bulk")
        for i in range(before):
            store.add_message(sid, "user", f"one {i}")
        last = store.add_messages(sid, [{"role": "user", "content": f"m{i}"} for i in range(count)])
        assert last == 1 + before + count
        for version in range(1, last + 1):
            store.reducer_steps = 0
            state = store.state(sid, at_version=version)
            assert state.version == version and store.reducer_steps < every
        assert [m.content for m in store.state(sid).messages][before:] == [
            f"m{i}" for i in range(count)]
