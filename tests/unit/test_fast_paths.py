"""The fast paths that build states without validating again equal the validated paths."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import msgpack
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore
from sessionstore.domain import events as ev
from sessionstore.domain import trusted
from sessionstore.domain.errors import IntegrityError, InvalidInput
from sessionstore.domain.reducer import fold, replay
from sessionstore.domain.state import Message, SessionState
from sessionstore.domain.status import Role
from sessionstore.storage.codec import EventCodec
from tests.strategies import commands, event_of, moments, run_command, text

codec = EventCodec()


def row(stored: StoredEvent) -> tuple[UUID, int, str, bytes]:
    return stored.originator_id, stored.originator_version, stored.topic, stored.state


def validated_message(event: ev.MessageAdded) -> Message:
    values = event.data() | {
        "version": event.version,
        "recorded_at": event.recorded_at,
        "occurred_at": event.occurred_at,
    }
    return Message.model_validate(values)


@settings(max_examples=150, deadline=None)
@given(event=event_of(ev.MessageAdded))
def test_a_stored_message_decodes_to_the_validated_state_message(event: ev.Event) -> None:
    assert isinstance(event, ev.MessageAdded)
    stored, _ = codec.encode(event, b"")
    fast = codec.decode_for_state(*row(stored))
    expected = validated_message(event)
    assert fast == expected
    assert fast.model_dump() == expected.model_dump()
    assert fast.model_dump_json() == expected.model_dump_json()


@settings(max_examples=100, deadline=None)
@given(event=event_of(ev.MessageAdded))
def test_the_reducer_builds_the_same_message_as_validation(event: ev.Event) -> None:
    assert isinstance(event, ev.MessageAdded)
    state = SessionState(session_id=event.session_id)
    replay([event], state)
    built = state.messages[-1]
    assert built == validated_message(event)
    # The trusted model is a normal model: copies and assignments behave as usual.
    copy = built.model_copy(deep=True)
    copy.content = "changed"
    assert built.content == event.content
    assert copy.model_fields_set == built.model_fields_set


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=commands)
def test_fold_of_state_rows_equals_replay_of_events(script: list[tuple[object, ...]]) -> None:
    with SessionStore("memory://") as store:
        sid = store.create_session("fold", agent_id="main", max_agents=2)
        for cmd in script:
            run_command(store, sid, cmd)
        log = store._log
        assert fold(log.read_for_state(sid)) == replay(log.read(sid))
        version = store.current_version(sid)
        for after in {0, 1, version // 2}:
            base = replay(log.read(sid, upto=after)) if after else None
            folded = fold(log.read_for_state(sid, after=after), base)
            assert folded == replay(log.read(sid))


def test_an_altered_message_row_is_reported_not_trusted() -> None:
    event = ev.MessageAdded(
        session_id="7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90",
        version=2,
        recorded_at=msgpack.Timestamp(0).to_datetime(),
        seq=1,
        role="user",
        content="hi",
    )
    stored, _ = codec.encode(event, b"")
    digest, body = codec.split(stored)
    recorded, occurred, data = msgpack.unpackb(body)
    data["role"] = "intruder"
    altered = msgpack.packb([recorded, occurred, data])
    bad = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=codec.compressor.compress(digest + altered),
    )
    with pytest.raises(IntegrityError, match="cannot be decoded"):
        codec.decode_for_state(*row(bad))


def test_unknown_fields_are_refused_by_the_trusted_message() -> None:
    with pytest.raises(KeyError, match="unknown fields"):
        trusted.message({"seq": 1, "version": 2, "role": "user", "content": "x",
                         "recorded_at": None, "surprise": 1})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=commands)
def test_checkpointed_states_equal_the_fold_of_the_events_alone(
    script: list[tuple[object, ...]],
) -> None:
    with SessionStore("memory://", checkpoint_every=3) as store:
        sid = store.create_session("cp", agent_id="main", max_agents=2)
        for cmd in script:
            run_command(store, sid, cmd)
        version = store.current_version(sid)
        assert store.state(sid, use_checkpoints=False) == replay(store._log.read(sid))
        for at in {1, version // 2 or 1, version}:
            from_events = store.state(sid, at_version=at, use_checkpoints=False)
            assert store.state(sid, at_version=at) == from_events
            assert from_events.version == at


def test_use_checkpoints_false_refuses_a_checkpoint_argument() -> None:
    with SessionStore("memory://") as store:
        sid = store.create_session("cp")
        with pytest.raises(InvalidInput, match="use_checkpoints=True"):
            store.state(sid, checkpoint="x", use_checkpoints=False)


# -- a message event built without validation ------------------------------------------------
_ODD = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.binary(max_size=4),
                 st.text(max_size=3), st.just([]), st.just({}), st.just([{"name": "t"}]),
                 st.just({"k": 1}), moments, st.just("x" * (ev.MAX_TEXT_BYTES + 1)),
                 st.just("half a pair \ud800"))
_PLAIN_VALUES = st.fixed_dictionaries(
    {
        "session_id": st.just("s-1"),
        "version": st.integers(1, 10**6),
        "recorded_at": moments,
        "seq": st.integers(1, 10**6),
        "role": st.sampled_from(["user", "assistant", "tool", "system"]),
        "content": st.one_of(text, st.just("é" * 10)),
    },
    optional={
        **{name: st.one_of(st.none(), text)
           for name in ("tool_name", "tool_call_id", "agent_id", "model")},
        "tokens_in": st.one_of(st.none(), st.integers(0, 10**9)),
        "tokens_out": st.one_of(st.none(), st.integers(0, 10**9)),
        "tool_calls": st.just([]), "metadata": st.just({}),
        "occurred_at": st.one_of(st.none(), moments),
    },
)
_FIELDS = ["session_id", "version", "recorded_at", "seq", "role", "content", "tool_name",
           "tool_call_id", "agent_id", "model", "tokens_in", "tokens_out", "tool_calls",
           "metadata", "occurred_at", "prev_hash", "hash", "unknown"]


@st.composite
def message_values(draw: st.DrawFn) -> dict[str, object]:
    """The values of a usual message, with up to two of them odd (another type, too long,
    a tool call, an enum member, a missing or unknown field)."""
    values: dict[str, object] = draw(_PLAIN_VALUES)
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=2, unique=True)):
        if draw(st.booleans()) and name in values:
            del values[name]
        else:
            values[name] = draw(st.one_of(_ODD, st.sampled_from(list(Role))))
    return values


_USUAL = {"session_id": "s-1", "version": 2, "recorded_at": datetime(2026, 11, 22, tzinfo=UTC),
          "seq": 1, "role": "user", "content": "hello"}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=message_values())
@example(values=_USUAL)
@example(values={**_USUAL, "version": True})  # True == 1, but validation makes it an int
@example(values={**_USUAL, "tokens_out": True})
@example(values={**_USUAL, "content": "half a pair \ud800"})  # not UTF-8
@example(values={**_USUAL, "content": b"caf\xc3\xa9"})  # UTF-8 bytes become text
@example(values={**_USUAL, "tool_name": "x" * (ev.MAX_TEXT_BYTES + 1)})
@example(values={**_USUAL, "role": Role.TOOL, "seq": 0})
def test_a_plain_message_event_equals_the_validated_one(values: dict[str, object]) -> None:
    """Where the fast build answers, validation accepts the same values and gives the same
    event, field for field, with the same fields set; where validation refuses, it does not
    answer (it never accepts what validation refuses)."""
    fast = trusted.plain_message_added(dict(values))
    try:
        validated = ev.MessageAdded.model_validate(dict(values))
    except ValueError:  # pydantic's ValidationError, or a text check's
        event("refused")
        assert fast is None
        return
    event("fast build" if fast is not None else "validated only")
    if fast is not None:
        assert fast == validated
        assert fast.model_dump() == validated.model_dump()
        assert list(fast.__dict__) == list(validated.__dict__)
        assert [type(v) for v in fast.__dict__.values()] == [
            type(v) for v in validated.__dict__.values()]  # True == 1, but not as a version
        assert fast.model_fields_set == validated.model_fields_set
        assert type(fast.role) is Role
        assert fast.tool_calls is not validated.tool_calls  # no shared default list


def test_the_usual_message_takes_the_fast_build() -> None:
    values = {**_USUAL, "tool_name": None, "tool_calls": [], "metadata": {}, "tokens_in": 3}
    fast = trusted.plain_message_added(values)
    assert fast is not None and fast == ev.MessageAdded.model_validate(values)
    # anything unusual goes to validation: a tool call, metadata, non-ASCII short text
    for change in ({"tool_calls": [{"name": "t"}]}, {"metadata": {"k": 1}},
                   {"model": "gpt-ö"}, {"role": Role.USER}, {"tokens_in": True}):
        assert trusted.plain_message_added({**values, **change}) is None, change
