"""Checkpoint blobs: a ``SessionState`` as msgpack, zstd-compressed, with a checksum.

Messages only ever grow at the end of a state, and they are nearly all of its size. So a
checkpoint stores the messages added since its parent checkpoint (``base_messages`` on)
and the whole rest of the state, which is small; a full checkpoint has no parent. Loading
walks the parent chain to its full root and concatenates the messages. Checkpoints every
K events of an N-message session thus store each message about once, not N/K times.

The checksum covers the compressed blob and the metadata that loading relies on (session,
version, parent, message counts), so a flipped byte, a truncated blob or an edited row is
detected before anything is decoded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgpack
from pydantic import TypeAdapter, ValidationError

from ..domain import trusted
from ..domain.errors import CorruptCheckpoint
from ..domain.state import Message, MessageList, SessionState
from ..gcpause import gc_paused
from ..storage.checkpoints import CheckpointRecord
from ..storage.codec import ZstdCompressor

FORMAT = 2
"""Format 2 keeps the messages as a stream of msgpack arrays inside the blob, so loading a
state decodes them only when they are read (``MessageList``); format 1 (a list) still loads.
A change of ``Message``'s fields makes older format-2 blobs unusable: replay skips them."""
_compressor = ZstdCompressor()
_messages = TypeAdapter(list[Message])
_packer = msgpack.Packer(use_bin_type=True, datetime=True)
FIELDS = trusted.MESSAGE_FIELDS  # each message is stored as an array of these, in order


def _pack_rows(dumped: Sequence[dict[str, Any]]) -> bytes:
    """Messages as a stream of msgpack arrays (no field names: smaller, faster to read)."""
    pack = _packer.pack
    return b"".join([pack([m[name] for name in FIELDS]) for m in dumped])


def checksum(
    session_id: str, version: int, parent_id: str | None, base: int, count: int, blob: bytes
) -> bytes:
    digest = hashlib.sha256(f"{session_id}\x00{version}\x00{parent_id or ''}\x00".encode())
    digest.update(f"{base}\x00{count}\x00".encode())
    digest.update(blob)
    return digest.digest()


def encode(
    state: SessionState,
    *,
    checkpoint_id: str,
    parent: CheckpointRecord | None,
    label: str | None,
    automatic: bool,
    created_at: datetime,
    reuse: Sequence[CheckpointRecord] = (),
) -> CheckpointRecord:
    """The checkpoint of ``state``: a delta of ``parent`` (same session), or full if None.

    ``reuse``, an earlier chain of the same session (root first, with blobs), lets a full
    checkpoint take its older messages from those blobs as they are, instead of dumping
    every message model again: the append that writes a new full root stays cheap.
    """
    base = parent.message_count if parent is not None else 0
    rest = state.model_dump(mode="python", exclude={"messages"})
    old_count, old = _packed_messages(reuse) if parent is None else (0, b"")
    dumped = _messages.dump_python(state.messages[base + old_count :], mode="python")
    stream = old + _pack_rows(dumped)
    raw: bytes = msgpack.packb(
        [FORMAT, base, rest, old_count + len(dumped), FIELDS, stream],
        use_bin_type=True,
        datetime=True,
    )
    blob = _compressor.compress(raw)
    parent_id = parent.checkpoint_id if parent is not None else None
    count = len(state.messages)
    return CheckpointRecord(
        checkpoint_id=checkpoint_id,
        session_id=state.session_id,
        version=state.version,
        label=label,
        created_at=created_at,
        automatic=automatic,
        parent_id=parent_id,
        base_messages=base,
        message_count=count,
        token_count=state.counters.tokens_in + state.counters.tokens_out,
        raw_size=len(raw),
        compressed_size=len(blob),
        checksum=checksum(state.session_id, state.version, parent_id, base, count, blob),
        blob=blob,
    )


def _packed_messages(chain: Sequence[CheckpointRecord]) -> tuple[int, bytes]:
    """How many messages a chain holds and their stream, as stored; (0, b"") if unusable."""
    count, streams = 0, []
    try:
        for record in chain:
            base, _, new_count, stream = _unpack(record)
            if base != count:
                return 0, b""
            count += new_count
            streams.append(stream)
    except CorruptCheckpoint:
        return 0, b""
    return count, b"".join(streams)


def check(record: CheckpointRecord) -> None:
    """Raise ``CorruptCheckpoint`` unless the blob and metadata match the checksum."""
    expected = checksum(
        record.session_id,
        record.version,
        record.parent_id,
        record.base_messages,
        record.message_count,
        record.blob,
    )
    if expected != record.checksum:
        raise CorruptCheckpoint(
            f"checkpoint {record.checkpoint_id} of session {record.session_id} (version "
            f"{record.version}) fails its checksum; replay skips it, and pruning or "
            "deleting it removes it"
        )


def _unpack(record: CheckpointRecord) -> tuple[int, dict[str, Any], int, bytes]:
    """The blob's base, the state without its messages, how many messages, and their stream."""
    check(record)
    try:
        fmt, base, rest, *messages = msgpack.unpackb(
            _compressor.decompress(record.blob), raw=False, timestamp=3
        )
        if fmt == 1:  # a list of messages: re-pack them as a stream
            (listed,) = messages
            count, stream = len(listed), _pack_rows(listed)
        else:
            count, fields, stream = messages
            if tuple(fields) != FIELDS:
                raise ValueError(f"its messages have the fields {fields}, not {list(FIELDS)}")
    except Exception as e:  # any decoding failure of checksummed bytes means corruption
        raise corrupt(record, f"cannot be decoded ({e})") from None
    if fmt not in (1, FORMAT) or base != record.base_messages:
        raise corrupt(record, f"has format {fmt!r} and base {base!r}")
    return base, rest, count, stream


def decode(chain: Sequence[CheckpointRecord]) -> SessionState:
    """The state of ``chain[-1]``; ``chain`` runs from a full checkpoint through its deltas.

    Only the small rest of the state is decoded now; the messages are decoded when they are
    first read (see ``MessageList``), and a corrupt message raises ``CorruptCheckpoint`` then.
    """
    streams: list[tuple[CheckpointRecord, int, bytes]] = []
    rest: dict[str, Any] = {}
    count = 0
    for record in chain:
        base, rest, new_count, stream = _unpack(record)
        if base != count:
            raise corrupt(record, f"starts at message {base}, its parent ends at {count}")
        count += new_count
        streams.append((record, new_count, stream))
    target = chain[-1]
    try:
        state = SessionState.model_validate(rest)
    except ValidationError as e:
        raise corrupt(target, f"holds an invalid state ({e.error_count()} errors)") from None
    if state.version != target.version or count != target.message_count:
        raise corrupt(target, "does not hold the version and messages its metadata says")
    state.messages = MessageList.lazy(count, lambda: _decode_messages(streams))
    return state


@gc_paused
def _decode_messages(streams: Sequence[tuple[CheckpointRecord, int, bytes]]) -> list[Message]:
    messages: list[Message] = []
    for record, count, stream in streams:
        unpacker = msgpack.Unpacker(raw=False, timestamp=3, max_buffer_size=len(stream) + 1)
        unpacker.feed(stream)
        try:
            decoded = list(map(trusted.message_row, unpacker))
        except Exception as e:  # checksummed bytes that do not decode: corruption
            raise corrupt(record, f"holds invalid messages ({e})") from None
        if len(decoded) != count:
            raise corrupt(record, f"holds invalid messages ({len(decoded)}, not {count})")
        messages.extend(decoded)
    return messages


def intact(record: CheckpointRecord) -> bool:
    """Whether the blob and metadata still match the checksum (cheap: no decoding)."""
    try:
        check(record)
    except CorruptCheckpoint:
        return False
    return True


def problem(record: CheckpointRecord) -> str | None:
    """What is wrong with one blob on its own (checksum, compression, msgpack, messages)."""
    if not intact(record):
        return "its blob or metadata fails the checksum"
    try:
        _, _, count, stream = _unpack(record)
        _decode_messages([(record, count, stream)])
    except CorruptCheckpoint as e:
        return str(e)
    return None


def corrupt(record: CheckpointRecord, problem: str) -> CorruptCheckpoint:
    return CorruptCheckpoint(
        f"checkpoint {record.checkpoint_id} of session {record.session_id} (version "
        f"{record.version}) {problem}; replay skips it"
    )
