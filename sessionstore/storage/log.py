"""The event log: encodes events, chains their hashes and records them through a recorder."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import NamedTuple
from uuid import UUID

from eventsourcing.persistence import IntegrityError as LibraryIntegrityError
from eventsourcing.persistence import Notification, PersistenceError, StoredEvent

from ..domain.errors import (
    BackendError,
    ConcurrencyConflict,
    IntegrityError,
    InvalidInput,
    StoreClosed,
)
from ..domain.events import Event, MessageAdded, SessionForked
from ..domain.state import Message
from .codec import EventCodec, session_uuid
from .dictionaries import TrainedZstd
from .recorder import Head, HeadUpdate, JoinedWrite, Row, SessionRecorder

PAGE = 1000
_MESSAGE_TOPIC = MessageAdded.type_name


class Recorded(NamedTuple):
    """An event as stored, with its place in the application-wide notification log.

    A named tuple: one is made per event appended, and a frozen dataclass cost three times
    as much to build."""

    notification_id: int
    event: Event


class EventLog:
    """Appends and reads session events. One per store; safe to share between threads."""

    def __init__(self, recorder: SessionRecorder) -> None:
        self.recorder = recorder
        # Training the dictionary takes ~100 ms: on a thread, so no append waits for it.
        self.compressor = TrainedZstd(recorder, background=True)
        self.codec = EventCodec(self.compressor)
        self._closed = False

    # -- writing --------------------------------------------------------------------------
    def append(
        self,
        events: Sequence[Event],
        chain_from: Mapping[str, bytes],
        also: JoinedWrite | None = None,
    ) -> list[Recorded]:
        """Record ``events`` in one transaction, with ``also``'s rows (see ``record``).

        ``chain_from[session_id]`` is the hash that the session's first event in ``events``
        links to. A version already taken raises ``ConcurrencyConflict``; nothing is written.
        The events are the caller's pending events, handed over: once recorded, each gets
        its ``prev_hash`` and ``hash`` in place, and is returned with its notification id.
        """
        self.check_open()  # the recorder would quietly reopen its writer connection
        prev = dict(chain_from)
        firsts: dict[str, int] = {}  # the head's first version, set when a session starts
        rows: list[StoredEvent] = []
        links: list[tuple[bytes, bytes]] = []
        encode = self.codec.encode
        for event in events:
            session_id, version = event.session_id, event.version
            link = prev.get(session_id, b"")
            stored, digest = encode(event, link)
            prev[session_id] = digest
            rows.append(stored)
            links.append((link, digest))
            if session_id not in firsts:
                starts = version == 1 or isinstance(event, SessionForked)
                firsts[session_id] = version if starts else 0
        ids = self._record(rows, _heads(events, firsts, prev), also)
        for event, (link, digest) in zip(events, links, strict=True):
            event._link(link, digest)
        self.compressor.train_if_ready()
        return [Recorded(n, e) for n, e in zip(ids, events, strict=True)]

    def append_messages(
        self, session_id: str, messages: Sequence[Message], prev_hash: bytes
    ) -> bytes:
        """Record the ``MessageAdded`` events whose state forms are ``messages`` (the plain
        lane: see ``domain.plain``) after ``prev_hash``, in one transaction, as ``append``
        records them; return the last one's hash. ``ConcurrencyConflict`` as ``append``."""
        self.check_open()
        encode, digest = self.codec.encode_message, prev_hash
        rows: list[Row] = []
        for message in messages:
            state, digest = encode(session_id, message, digest)
            rows.append((message.version, _MESSAGE_TOPIC, state))
        self._record_rows(session_id, rows, HeadUpdate(session_id, 0, messages[-1].version, digest))
        self.compressor.train_if_ready()
        return digest

    def _record_rows(self, session_id: str, rows: list[Row], head: HeadUpdate) -> None:
        try:
            self.recorder.record_rows(session_id, rows, head)
        except PersistenceError as e:
            raise _refused(e) from e

    def _record(
        self, rows: list[StoredEvent], heads: list[HeadUpdate], also: JoinedWrite | None
    ) -> Sequence[int]:
        try:
            return self.recorder.record(rows, heads, also)
        except PersistenceError as e:
            raise _refused(e) from e

    # -- reading --------------------------------------------------------------------------
    def head(self, session_id: str) -> Head | None:
        with self._reading():
            return self.recorder.select_head(_check_id(session_id))

    def heads(self) -> Iterator[Head]:
        with self._reading():
            yield from self.recorder.iter_heads()

    def stored(
        self, session_id: str, *, after: int = 0, upto: int | None = None, page: int = PAGE
    ) -> Iterator[StoredEvent]:
        """Stored rows of one session with ``after < version <= upto``, in version order."""
        self.check_open()
        gt = after
        while True:
            rows = self.recorder.select_events(UUID(session_id), gt=gt, lte=upto, limit=page)
            yield from rows
            if len(rows) < page:
                return
            gt = rows[-1].originator_version

    def read(self, session_id: str, *, after: int = 0, upto: int | None = None) -> Iterator[Event]:
        """Decoded events of one session, each with ``prev_hash`` and ``hash``."""
        prev = self.hash_at(session_id, after) if after > 0 else b""
        with self._reading():
            rows = self.stored(session_id, after=after, upto=upto)
            yield from self._decoded(rows, prev)

    def read_for_state(
        self, session_id: str, *, after: int = 0, upto: int | None = None
    ) -> Iterator[Event | Message]:
        """What ``fold`` needs to build a state: events, with messages in their state form."""
        decode = self.codec.decode_page_for_state
        select = self.recorder.select_session_rows
        key, gt = UUID(session_id), after
        with self._reading():
            while True:
                rows = select(key, gt=gt, lte=upto, limit=PAGE)
                yield from decode(key, rows)
                if len(rows) < PAGE:
                    return
                gt = rows[-1][0]

    def _decoded(self, rows: Iterator[StoredEvent], prev: bytes) -> Iterator[Event]:
        for row in rows:
            event = self.codec.decode(row, prev)
            if isinstance(event, SessionForked) and not prev:
                prev = self.hash_at(event.parent_id, event.parent_version)
                event = event.model_copy(update={"prev_hash": prev})
            prev = event.hash
            yield event

    def hash_at(self, session_id: str, version: int) -> bytes:
        """The stored hash of one event, or b"" when there is none (before a fork's start)."""
        with self._reading():
            rows = self.recorder.select_events(UUID(session_id), gt=version - 1, lte=version)
        return self.codec.split(rows[0])[0] if rows else b""

    def notifications(self, start: int, limit: int) -> list[Recorded]:
        """Up to ``limit`` events of every session with notification id >= ``start``."""
        with self._reading():
            batch: Sequence[Notification] = self.recorder.select_notifications(start, limit)
        return [Recorded(n.id, self.codec.decode(n)) for n in batch]

    def max_notification_id(self) -> int:
        with self._reading():
            return self.recorder.max_notification_id() or 0

    def close(self) -> None:
        # First the training: its dictionary is saved now or never, not into a closed database.
        self._closed = True
        self.compressor.close()
        self.recorder.close()

    def check_open(self) -> None:
        """Raise ``StoreClosed`` once ``close()`` was called."""
        if self._closed:
            raise StoreClosed()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Driver errors on reads become ``BackendError`` (a one-line CLI error, exit 7)."""
        self.check_open()
        try:
            yield
        except PersistenceError as e:
            raise BackendError(f"the database could not be read: {e}") from e


def _refused(error: PersistenceError) -> ConcurrencyConflict | BackendError:
    """A write's error from the library as ours: a version already taken is a conflict."""
    if isinstance(error, LibraryIntegrityError):
        return ConcurrencyConflict(
            "another writer appended to this session first; nothing was written: re-read "
            "the session and try again (SessionStore.retry does this for you)"
        )
    return BackendError(f"the database refused the write: {error}")


def _heads(
    events: Sequence[Event], firsts: dict[str, int], last_hashes: dict[str, bytes]
) -> list[HeadUpdate]:
    """Each written session's head after ``events``: one update per session."""
    versions = {event.session_id: event.version for event in events}
    return [
        HeadUpdate(session_id, first, versions[session_id], last_hashes[session_id])
        for session_id, first in firsts.items()
    ]


@lru_cache(maxsize=4096)
def _canonical_id(session_id: str) -> str:
    """The id in its canonical form, remembered: every write checks its session's id."""
    return str(session_uuid(session_id))




def _check_id(session_id: str) -> str:
    if isinstance(session_id, UUID):  # the id itself, as ``uuid.uuid4()`` gives it
        session_id = str(session_id)
    try:
        return _canonical_id(session_id)
    except (ValueError, TypeError, AttributeError):  # an unhashable id fails the cache: TypeError
        raise InvalidInput(
            f"{session_id!r} is not a session id: ids are UUIDs such as "
            "'7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90'; find them with `sessionstore list`"
        ) from None


check_session_id = _check_id

__all__ = ["EventLog", "IntegrityError", "Recorded", "check_session_id"]
