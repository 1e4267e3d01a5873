"""The fast paths that build states without validating again equal the validated paths."""

from __future__ import annotations

from uuid import UUID

import msgpack
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings

from sessionstore import SessionStore
from sessionstore.domain import events as ev
from sessionstore.domain import trusted
from sessionstore.domain.errors import IntegrityError, InvalidInput
from sessionstore.domain.reducer import fold, replay
from sessionstore.domain.state import Message, SessionState
from sessionstore.storage.codec import EventCodec
from tests.strategies import commands, event_of, run_command

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
