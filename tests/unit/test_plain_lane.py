"""The plain-message lane (``domain.plain``) stores exactly what the general write path does.

Two stores with the same constant clock take the same calls, one with the lane and one with
it switched off: every call has the same outcome (the new version, or the same error) and
the two logs end byte for byte the same (their hash chains are equal), with the same state
and the same automatic checkpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore, SessionStoreError
from sessionstore.domain.events import MAX_TEXT_BYTES, MessageAdded, ToolCall
from sessionstore.domain.plain import plain_message
from sessionstore.domain.session import Session
from sessionstore.domain.state import SessionState
from sessionstore.storage.codec import EventCodec
from tests.strategies import moments, text

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SID = "7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90"

# Arguments near the lane's edges: plain ones, and each way of not being plain.
roles = st.sampled_from(["user", "assistant", "tool", "system", "robot", 7])
contents = text | st.sampled_from(["", "é" * 3, "\udcff", b"bytes", "x" * (MAX_TEXT_BYTES + 1)])
short_texts = st.none() | text | st.sampled_from(["n" * (MAX_TEXT_BYTES + 1), 5, "ü"])
counts = st.none() | st.integers(-2, 2**70) | st.sampled_from([True, 1.0, "3"])
options = st.fixed_dictionaries(
    {},
    optional={
        "tool_name": short_texts,
        "tool_call_id": short_texts,
        "model": short_texts,
        "agent_id": st.none() | st.sampled_from(["main", "helper", "stranger"]),
        "tokens_in": counts,
        "tokens_out": counts,
        "occurred_at": st.none() | moments | st.just(datetime(2026, 1, 1)) | st.just("today"),
        "tool_calls": st.none() | st.just([]) | st.just([ToolCall(name="bash")]),
        "metadata": st.none() | st.just({}) | st.just({"k": 1}),
        "colour": st.none() | st.just("red"),  # not an argument of add_message
    },
)
arguments = st.builds(lambda role, content, more: {"role": role, "content": content, **more},
                      roles, contents, options)
calls = st.lists(
    st.one_of(
        st.tuples(st.just("one"), arguments),
        st.tuples(st.just("many"), st.lists(arguments, min_size=1, max_size=4)),
        st.tuples(st.just("expected"), arguments, st.integers(0, 12)),
        st.tuples(st.just("agent"), st.just("helper")),
        st.tuples(st.just("complete"), st.none()),
    ),
    min_size=1,
    max_size=12,
)


@contextmanager
def two_stores(tmp_path: Any, every: int) -> Iterator[tuple[SessionStore, SessionStore]]:
    """A store with the lane and one without it, each with one session, at one clock."""
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    lane = SessionStore(str(folder / "lane.db"), checkpoint_every=every, clock=lambda: NOW)
    general = SessionStore(str(folder / "general.db"), checkpoint_every=every, clock=lambda: NOW)
    general._add_plain = lambda *args: None  # type: ignore[method-assign]
    try:
        for store in (lane, general):
            store.create_session("lane", agent_id="main", session_id=SID)
            store.change_status(SID, "active")
        yield lane, general
    finally:
        lane.close()
        general.close()


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (SessionStoreError, TypeError) as e:  # TypeError: add_message has no such argument
        return type(e).__name__, str(e)


def run(store: SessionStore, call: tuple[Any, ...]) -> Any:
    kind, *args = call
    actions: dict[str, Callable[[], Any]] = {
        "one": lambda: store.add_message(SID, **args[0]),
        "many": lambda: store.add_messages(SID, args[0]),
        "expected": lambda: store.add_message(SID, **args[0], expected_version=args[1]),
        "agent": lambda: store.add_agent(SID, args[0]),
        "complete": lambda: store.complete(SID),
    }
    return outcome(actions[kind])


def log_of(store: SessionStore) -> list[tuple[Any, ...]]:
    return [(e.version, e.type, e.data, e.recorded_at, e.occurred_at, e.hash)
            for e in store.events(SID)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(calls=calls)
def test_the_lane_stores_what_the_general_path_stores(tmp_path: Any, calls: list[Any]) -> None:
    with two_stores(tmp_path, every=4) as (lane, general):
        for call in calls:
            assert run(lane, call) == run(general, call), call
        assert log_of(lane) == log_of(general)
        assert lane.state(SID).model_dump() == general.state(SID).model_dump()
        versions = [[c.version for c in s.checkpoints(SID)] for s in (lane, general)]
        assert versions[0] == versions[1]
        assert lane.verify(SID).ok


@settings(max_examples=300, deadline=None)
@given(given_arguments=arguments)
def test_a_plain_message_is_the_one_add_message_adds(given_arguments: dict[str, Any]) -> None:
    """Where the lane builds a message, the aggregate adds the same one and encodes it to the
    same bytes; where the aggregate refuses, the lane builds none."""
    session = Session.create(SID, clock=lambda: NOW, name="s", agent_id="main")
    session.add_agent("helper")
    state: SessionState = session.state
    version, seq = state.version + 1, state.counters.messages + 1
    lane = plain_message(state, given_arguments, NOW, version=version, seq=seq)
    # The store's calls take None for "no tool calls" and "no metadata", as the lane does.
    passed = {k: v for k, v in given_arguments.items()
              if v is not None or k not in ("tool_calls", "metadata")}
    try:
        added = session.add_message(**passed)
    except (SessionStoreError, TypeError):
        event("refused")
        assert lane is None
        return
    event("plain" if lane is not None else "general")
    if lane is None:
        return
    assert lane == state.messages[-1]
    assert isinstance(added, MessageAdded)
    codec = EventCodec()
    try:
        stored, digest = codec.encode(added, b"\x01" * 32)
    except SessionStoreError as e:  # a token count beyond 64 bits, a naive time
        with pytest.raises(type(e), match=r"cannot be stored|time zone"):
            codec.encode_message(SID, lane, b"\x01" * 32)
        return
    assert codec.encode_message(SID, lane, b"\x01" * 32) == (stored.state, digest)


def test_a_batch_across_checkpoint_boundaries_checkpoints_where_the_general_path_does(
    tmp_path: Any,
) -> None:
    batch = [{"role": "user", "content": f"m{i}"} for i in range(11)]
    with two_stores(tmp_path, every=3) as (lane, general):
        for store in (lane, general):
            store.add_messages(SID, batch)
            store.add_message(SID, "assistant", "last")
        assert log_of(lane) == log_of(general)
        versions = [c.version for c in lane.checkpoints(SID)]
        assert versions == [c.version for c in general.checkpoints(SID)]
        assert versions == [3, 6, 9, 12]  # 14 events: created, active, 11, "last"
        # Each checkpoint holds the state at its version.
        for version in versions:
            assert lane.state(SID, at_version=version) == general.state(
                SID, at_version=version, use_checkpoints=False
            )


def test_a_rival_write_sends_the_lane_back_to_the_general_path(tmp_path: Any) -> None:
    """Another store appended first: the lane writes nothing, and the general path re-reads
    the session and appends after the rival's message."""
    path = str(tmp_path / "rivals.db")
    with SessionStore(path) as ours, SessionStore(path) as rival:
        sid = ours.create_session("rivals", agent_id="main")
        ours.add_message(sid, "user", "first")  # cached in ours at version 2
        rival.add_message(sid, "assistant", "rival")
        assert ours.add_message(sid, "user", "mine") == 4
        assert [m.content for m in ours.state(sid).messages] == ["first", "rival", "mine"]
        assert ours.verify(sid).ok
