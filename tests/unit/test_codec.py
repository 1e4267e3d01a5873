"""The codec: every event type round-trips through msgpack + zstd with its hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionstore.domain.errors import IntegrityError, InvalidInput
from sessionstore.domain.events import EVENT_TYPES, Event, MessageAdded
from sessionstore.storage.codec import EventCodec, ZstdCompressor, link_hash
from tests.strategies import any_event, event_of

codec = EventCodec()


@settings(max_examples=150, deadline=None)
@given(event=any_event, prev=st.binary(min_size=32, max_size=32) | st.just(b""))
def test_every_event_round_trips(event: Event, prev: bytes) -> None:
    stored, digest = codec.encode(event, prev)
    decoded = codec.decode(stored, prev)
    assert decoded == event.model_copy(update={"prev_hash": prev, "hash": digest})
    assert type(decoded) is type(event)


@pytest.mark.parametrize("cls", sorted(EVENT_TYPES.values(), key=lambda c: c.__name__))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_each_event_type_round_trips(cls: type[Event], data: st.DataObject) -> None:
    event = data.draw(event_of(cls))
    stored, _ = codec.encode(event, b"")
    assert stored.topic == cls.__name__
    assert codec.decode(stored).data() == event.data()


@settings(max_examples=100, deadline=None)
@given(event=any_event)
def test_hash_is_sha256_of_previous_hash_and_stored_body(event: Event) -> None:
    prev = hashlib.sha256(b"previous").digest()
    stored, digest = codec.encode(event, prev)
    stored_hash, body = codec.split(stored)
    assert stored_hash == digest
    assert len(digest) == 32  # a raw digest, not hex
    assert digest == link_hash(prev, event.type_name, event.session_id, event.version, body)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=2000))
def test_compressor_round_trips_and_never_grows_more_than_one_byte(data: bytes) -> None:
    compressor = ZstdCompressor()
    packed = compressor.compress(data)
    assert compressor.decompress(packed) == data
    assert len(packed) <= len(data) + 1


def test_unknown_stored_type_is_refused_not_imported() -> None:
    event = next(iter([e for e in [_sample()]]))
    stored, _ = codec.encode(event, b"")
    forged = type(stored)(
        stored.originator_id, stored.originator_version, "os.system", stored.state
    )
    with pytest.raises(IntegrityError, match=r"unknown type 'os\.system'"):
        codec.decode(forged)


def _sample() -> Event:
    from datetime import UTC, datetime

    from sessionstore.domain.events import LabelChanged

    return LabelChanged(
        session_id="6f2b6f0e-7b8e-4c0a-9a55-1d3b2c4e5f60",
        version=1,
        recorded_at=datetime.now(UTC),
        label="x",
    )


def test_an_event_that_cannot_be_packed_leaves_the_codec_as_it_was() -> None:
    """The codec keeps one packer per thread: a refused event must not leave bytes in it."""
    when = datetime(2026, 11, 21, tzinfo=UTC)
    sid = "7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90"
    fields = {"session_id": sid, "version": 2, "recorded_at": when, "seq": 1, "role": "user"}
    good = MessageAdded(**fields, content="fine")
    bad = MessageAdded(**fields, content="x", metadata={"big": ["a", 2**70]})
    shared = EventCodec()
    with pytest.raises(InvalidInput, match="cannot be stored"):
        shared.encode(bad, b"")
    assert shared.encode_body(good) == EventCodec().encode_body(good)
