"""Checkpoint blobs: messages decode when first read, and bad messages are reported then."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from sessionstore import SessionState, SessionStore
from sessionstore.domain.errors import CorruptCheckpoint
from sessionstore.domain.events import ToolCall
from sessionstore.domain.state import Message
from sessionstore.domain.status import Role
from sessionstore.replay import blobs
from tests import strategies

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def state_with_messages(count: int) -> SessionState:
    with SessionStore("memory://") as store:
        sid = store.create_session("blobs", agent_id="main")
        for i in range(count):
            store.add_message(sid, "user" if i % 2 else "assistant", f"message {i}")
        return store.state(sid)


def test_a_loaded_checkpoint_equals_its_state_and_decodes_messages_on_first_read() -> None:
    state = state_with_messages(12)
    record = blobs.encode(state, checkpoint_id="c1", parent=None, label=None,
                          automatic=False, created_at=NOW)
    loaded = blobs.decode([record])
    assert not loaded.messages.loaded and len(loaded.messages) == 12
    assert loaded == state
    assert loaded.messages.loaded


def test_messages_that_do_not_decode_raise_corrupt_checkpoint_when_read() -> None:
    state = state_with_messages(3)
    record = blobs.encode(state, checkpoint_id="c1", parent=None, label=None,
                          automatic=False, created_at=NOW)
    fmt, base, rest, fields, _ = msgpack.unpackb(blobs._compressor.decompress(record.blob))
    chunk = [3, 3, blobs._compressor.compress(b"\x93\x01\x02")]  # 3 messages? 1 broken array
    garbage = msgpack.packb([fmt, base, rest, fields, [chunk]], use_bin_type=True)
    blob = blobs._compressor.compress(garbage)
    bad = dataclasses.replace(record, blob=blob, checksum=blobs.checksum(
        record.session_id, record.version, None, base, record.message_count, blob))
    loaded = blobs.decode([bad])  # the checksum holds: the rest of the state loads
    with pytest.raises(CorruptCheckpoint, match="holds invalid messages"):
        list(loaded.messages)
    problem = blobs.problem(bad)
    assert problem is not None and "holds invalid messages" in problem
    assert blobs.problem(record) is None


def test_a_format_1_checkpoint_still_loads() -> None:
    state = state_with_messages(4)
    rest = state.model_dump(mode="python", exclude={"messages"})
    listed = [m.model_dump(mode="python") for m in state.messages]
    raw = msgpack.packb([1, 0, rest, listed], use_bin_type=True, datetime=True)
    blob = blobs._compressor.compress(raw)
    record = blobs.encode(state, checkpoint_id="old", parent=None, label=None,
                          automatic=True, created_at=NOW)
    old = dataclasses.replace(record, blob=blob, checksum=blobs.checksum(
        state.session_id, state.version, None, 0, 4, blob))
    assert blobs.decode([old]) == state
    assert blobs.problem(old) is None


dumped_messages = TypeAdapter(list[Message])
message = st.builds(
    Message,
    seq=st.integers(0, 10**6),
    version=st.integers(1, 10**6),
    role=st.sampled_from(list(Role)),
    content=strategies.text,
    tool_calls=strategies.tool_calls,
    tool_name=st.none() | strategies.text,
    metadata=strategies.metadata,
    tokens_in=st.none() | st.integers(0, 10**9),
    recorded_at=strategies.moments,
    occurred_at=st.none() | strategies.moments,
)


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(message, max_size=6))
def test_message_chunks_packed_from_the_models_equal_the_dumped_ones(
    messages: list[Message],
) -> None:
    count, size, data = blobs._message_chunk(messages)
    want_count, want_size, want = blobs._chunk(dumped_messages.dump_python(messages))
    assert (count, size) == (want_count, want_size) == (len(messages), size)
    assert blobs._compressor.decompress(data) == blobs._compressor.decompress(want)


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


def test_models_and_dataclasses_in_metadata_pack_as_the_dump_made_them() -> None:
    call = ToolCall(name="grep", id="c1", arguments={"pattern": "TODO"})
    odd = Message(seq=0, version=2, role=Role.ASSISTANT, content="x", tool_calls=[call],
                  metadata={"call": call, "point": Point(1, [2])}, recorded_at=NOW)
    fast, dumped = blobs._message_chunk([odd]), blobs._chunk(dumped_messages.dump_python([odd]))
    assert blobs._compressor.decompress(fast[2]) == blobs._compressor.decompress(dumped[2])


def test_a_value_the_dump_cannot_make_plain_is_refused() -> None:
    odd = Message(seq=0, version=2, role=Role.USER, content="x", metadata={"s": {1, 2}},
                  recorded_at=NOW)
    with pytest.raises(TypeError, match="set cannot be stored"):
        blobs._message_chunk([odd])
