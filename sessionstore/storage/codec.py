"""How an event becomes stored bytes and back: msgpack, zstandard, and the hash chain link.

A stored event is the eventsourcing library's ``StoredEvent``: the session id as
``originator_id``, the version as ``originator_version``, the event's type name as ``topic``
and, as ``state``, the compressed bytes of::

    hash (32 raw bytes) + msgpack([recorded_at_us, occurred_at_us, data])

``body`` is the msgpack part. The hash covers the previous event's hash, the type, the
session, the version and ``body``, so verifying never re-encodes an event: it hashes the bytes
it read. Empty optional fields are left out of ``data``, which keeps messages small.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

import msgpack
import zstandard
from eventsourcing.persistence import Compressor, StoredEvent
from pydantic import ValidationError

from ..domain import trusted
from ..domain.errors import IntegrityError, InvalidInput
from ..domain.events import ENVELOPE_FIELDS, EVENT_TYPES, STORED, Event, MessageAdded
from ..domain.state import Message

HASH_SIZE = 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The times a datetime can hold once in UTC: outside them, reading back would overflow.
_FIRST_MICROS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_LAST_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


class ZstdCompressor(Compressor):
    """zstandard, kept only when it saves bytes: a one-byte flag says which.

    A zstd context must not be used by two threads at once (python-zstandard releases the
    GIL while it works), and stores, checkpoints and readers share compressors between
    threads: each thread gets its own contexts.
    """

    _RAW, _ZSTD = b"\x00", b"\x01"

    def __init__(self, level: int = 3) -> None:
        self._level = level
        self._local = threading.local()

    def _contexts(self) -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
        contexts: tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor] | None = getattr(
            self._local, "contexts", None
        )
        if contexts is None:
            contexts = (zstandard.ZstdCompressor(level=self._level), zstandard.ZstdDecompressor())
            self._local.contexts = contexts
        return contexts

    def compress(self, data: bytes) -> bytes:
        packed = self._contexts()[0].compress(data)
        return self._ZSTD + packed if len(packed) < len(data) else self._RAW + data

    def decompress_many(self, blobs: Sequence[bytes]) -> Sequence[Any]:
        """``decompress`` of each of ``blobs``, in order (a replay's page of rows), as bytes
        or other buffers (``memoryview`` takes each)."""
        return [self.decompress(blob) for blob in blobs]

    def decompress(self, data: bytes) -> bytes:
        flag, rest = data[:1], data[1:]
        if flag == self._RAW:
            return rest
        if flag == self._ZSTD:
            return bytes(self._contexts()[1].decompress(rest))
        raise ValueError(f"unknown compression flag {flag!r}")


session_uuid = lru_cache(maxsize=4096)(UUID)
"""``UUID(session_id)``, remembered: a store appends to few sessions many times."""

_session_str = lru_cache(maxsize=4096)(str)
"""``str(uuid)``, remembered: a replay decodes many events of one session."""


def to_micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidInput(f"time {moment.isoformat()} has no time zone; pass an aware datetime")
    micros: int = (moment - _EPOCH) // _MICROSECOND  # exact: whole microseconds
    if not _FIRST_MICROS <= micros <= _LAST_MICROS:  # in UTC, it would not read back
        raise InvalidInput(f"time {moment.isoformat()} is outside years 1 to 9999 in UTC")
    return micros


def from_micros(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    # Exact, and half the cost of fromtimestamp; positional, as keywords cost a replay more.
    return _EPOCH + timedelta(0, 0, micros)


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    # None, [] and {} are every optional field's default: leave them out of the stored bytes.
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


_SCALARS = frozenset({str, int, float, bool})
_DATA_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def stored_data(event: Event) -> dict[str, Any]:
    """``_compact(event.data())``, the data part of the stored body, in the same key order.

    Most events hold only scalars, enums and empty containers, which pydantic's dump returns
    as they are; reading them from the model skips the dump (a third of encoding). Anything
    else (tool calls, metadata) takes the dump, so the bytes never differ.
    """
    values = event.__dict__
    data: dict[str, Any] = {}
    for name in _data_fields(type(event)):
        value = values[name]
        if value is None:
            continue
        if value.__class__ in _SCALARS or isinstance(value, Enum):
            data[name] = value
        elif value.__class__ not in (list, dict) or value:
            return _json_like(_compact(event.data()))
    return data


MAX_DEPTH = 100
"""Deepest nesting of lists and dicts in an event's data (metadata, tool-call arguments)."""


def _json_like(data: dict[str, Any]) -> dict[str, Any]:
    """``data``, or a ValueError for what msgpack would store but nothing could read back.

    - NaN and infinities: JSON cannot write them, so exports, read models and ``--json``
      would hold text that strict JSON parsers refuse;
    - a key that is not a string: msgpack refuses it when reading;
    - a datetime outside years 1 to 9999 once in UTC: it overflows when read;
    - nesting deeper than ``MAX_DEPTH``: JSON encoders and decoders recurse per level.

    A loop, not recursion, so a deeply nested value cannot exhaust the stack here."""
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list | tuple):
            if depth > MAX_DEPTH:  # the event's data is depth 0, its metadata dict 1
                raise ValueError(
                    f"a value is nested more than {MAX_DEPTH} levels deep in the event's data"
                )
            if isinstance(value, dict):
                _check_keys(value)
                value = value.values()
            pending.extend((item, depth + 1) for item in value)
        elif value.__class__ is float and not math.isfinite(value):
            raise ValueError(f"{value!r} is not a JSON number: store it as a string or None")
        elif isinstance(value, datetime):
            to_micros(value)  # aware, and within years 1 to 9999 in UTC
    return data


def _check_keys(mapping: dict[Any, Any]) -> None:
    for key in mapping:
        if not isinstance(key, str):
            raise ValueError(f"key {key!r} is not a string: JSON objects have string keys")


def _data_fields(cls: type[Event]) -> tuple[str, ...]:
    """The fields of ``cls`` outside the envelope, in declaration order (the dump's order)."""
    names = _DATA_FIELDS.get(cls)
    if names is None:
        names = _DATA_FIELDS[cls] = tuple(n for n in cls.model_fields if n not in ENVELOPE_FIELDS)
    return names


def link_hash(prev_hash: bytes, topic: str, session_id: str, version: int, body: bytes) -> bytes:
    """One link of a session's hash chain: SHA-256 of the previous hash, the type, session
    and version (each ended by a NUL) and the body. One call: the hasher's three updates
    cost more than copying the few hundred bytes of an event."""
    header = f"{topic}\x00{session_id}\x00{version}\x00".encode()
    return hashlib.sha256(b"".join((prev_hash, header, body))).digest()


class EventCodec:
    """Turns events into ``StoredEvent`` rows and back, resolving types through the allowlist."""

    def __init__(self, compressor: ZstdCompressor | None = None) -> None:
        self.compressor = compressor or ZstdCompressor()
        self._local = threading.local()

    def _packer(self) -> msgpack.Packer:
        """This thread's packer: ``packb`` builds one per call, half the cost of packing an
        event. A packer holds a buffer, so threads do not share one."""
        packer: msgpack.Packer | None = getattr(self._local, "packer", None)
        if packer is None:
            packer = self._local.packer = msgpack.Packer(use_bin_type=True, datetime=True)
        return packer

    def encode_body(self, event: Event) -> bytes:
        recorded, occurred = to_micros(event.recorded_at), to_micros(event.occurred_at)
        try:
            data = stored_data(event)
        except (TypeError, ValueError, OverflowError) as e:
            raise _unstorable(event.type_name, e) from None
        return self._pack(event.type_name, [recorded, occurred, data])

    def _pack(self, type_name: str, fields: list[Any]) -> bytes:
        try:
            packed: bytes = self._packer().pack(fields)  # resets itself if packing fails
            return packed
        except (TypeError, ValueError, OverflowError) as e:
            raise _unstorable(type_name, e) from None

    def encode(self, event: Event, prev_hash: bytes) -> tuple[StoredEvent, bytes]:
        """The stored row for ``event`` chained after ``prev_hash``, and the event's hash."""
        body = self.encode_body(event)
        digest = link_hash(prev_hash, event.type_name, event.session_id, event.version, body)
        stored = StoredEvent(
            originator_id=session_uuid(event.session_id),
            originator_version=event.version,
            topic=event.type_name,
            state=self.compressor.compress(digest + body),
        )
        return stored, digest

    def encode_message(
        self, session_id: str, message: Message, prev_hash: bytes
    ) -> tuple[bytes, bytes]:
        """``encode`` of the ``MessageAdded`` whose state form is ``message`` (no tool calls,
        no metadata: the plain-message lane), without building the event: its stored
        ``state`` bytes and its hash, the same as ``encode`` gives."""
        values = message.__dict__
        data = {name: value for name in _MESSAGE_DATA if (value := values[name]) is not None}
        occurred = values["occurred_at"]
        fields = [to_micros(values["recorded_at"]), occurred and to_micros(occurred), data]
        body = self._pack(_MESSAGE_TOPIC, fields)
        digest = link_hash(prev_hash, _MESSAGE_TOPIC, session_id, values["version"], body)
        return self.compressor.compress(digest + body), digest

    def split(self, stored: StoredEvent) -> tuple[bytes, bytes]:
        """The stored hash and the body bytes, exactly as stored."""
        try:
            raw = self.compressor.decompress(stored.state)
        except Exception as e:
            raise IntegrityError(_where(stored, f"cannot be decompressed ({e})")) from None
        if len(raw) <= HASH_SIZE:
            raise IntegrityError(_where(stored, "is truncated"))
        return raw[:HASH_SIZE], raw[HASH_SIZE:]

    def decode(self, stored: StoredEvent, prev_hash: bytes = b"") -> Event:
        cls = EVENT_TYPES.get(stored.topic)
        if cls is None:
            raise IntegrityError(_where(stored, f"has unknown type {stored.topic!r}"))
        digest, body = self.split(stored)
        try:
            recorded, occurred, data = msgpack.unpackb(body, raw=False, timestamp=3)
            fields = dict(  # like **data in a call: a duplicate envelope key is a TypeError
                session_id=_session_str(stored.originator_id),
                version=stored.originator_version,
                recorded_at=from_micros(recorded),
                occurred_at=from_micros(occurred),
                prev_hash=prev_hash,
                hash=digest,
                **data,
            )
            return cls.model_validate(fields, context=STORED)
        except (ValueError, TypeError, ValidationError, msgpack.UnpackException) as e:
            raise IntegrityError(_where(stored, f"cannot be decoded ({e})")) from None

    def decode_page_for_state(
        self, session_id: UUID, rows: Sequence[tuple[int, str, bytes]]
    ) -> list[Event | Message]:
        """What building a state needs of each row of a page: a ``MessageAdded`` as the
        state's ``Message``, anything else as its event.

        Messages are nearly every event of a session, and a state keeps only their
        ``Message`` form, so building the event model first doubled the cost of a replay.
        A page's messages are decompressed in one call (``decompress_many``): a call per row,
        with its lookups and slices, cost about as much as zstd itself. The bytes were
        encoded from a validated event; a row that does not decode to a message (altered by
        hand) goes through the full decode, which reports it as ``decode`` would.
        """
        states = [state for _, topic, state in rows if topic == _MESSAGE_TOPIC]
        try:
            raws = iter(self.compressor.decompress_many(states))
        except Exception:  # one altered frame: each on its own, the bad one left to decode
            raws = iter([self._decompressed(state) for state in states])
        unpackb, message, epoch, micro = msgpack.unpackb, trusted.message, _EPOCH, _MICROSECOND
        out: list[Event | Message] = []
        for version, topic, state in rows:
            if topic == _MESSAGE_TOPIC:
                try:
                    recorded, occurred, data = unpackb(
                        memoryview(next(raws))[HASH_SIZE:], raw=False, timestamp=3
                    )
                    data["version"] = version
                    data["recorded_at"] = epoch + recorded * micro
                    data["occurred_at"] = None if occurred is None else epoch + occurred * micro
                    out.append(message(data))
                    continue
                except Exception:  # altered bytes of any kind: the full decode says what
                    pass
            out.append(self.decode(StoredEvent(session_id, version, topic, state)))
        return out

    def decode_for_state(
        self, session_id: UUID, version: int, topic: str, state: bytes
    ) -> Event | Message:
        """``decode_page_for_state`` of one row."""
        return self.decode_page_for_state(session_id, [(version, topic, state)])[0]

    def _decompressed(self, state: bytes) -> bytes:
        try:
            return self.compressor.decompress(state)
        except Exception:
            return b""  # too short to be a message: the full decode reports the row


_MESSAGE_TOPIC = MessageAdded.type_name


def _unstorable(type_name: str, error: Exception) -> InvalidInput:
    return InvalidInput(
        f"{type_name} cannot be stored: {error}. Metadata and tool-call arguments "
        "must hold only JSON-like values (str, int of at most 64 bits, finite float, "
        "bool, None, bytes, lists, dicts, aware datetimes)"
    )


# A plain message's stored data: MessageAdded's scalar data fields, in declaration order
# (its tool calls and metadata are empty, and left out as ``stored_data`` leaves them).
_MESSAGE_DATA = tuple(
    name for name in _data_fields(MessageAdded) if name not in ("tool_calls", "metadata")
)


def _where(stored: StoredEvent, problem: str) -> str:
    return (
        f"event {stored.originator_version} of session {stored.originator_id} {problem}; "
        "run `sessionstore verify` to find every altered event"
    )
