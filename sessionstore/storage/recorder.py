"""What sessionstore adds to the eventsourcing library's recorders: session heads.

Every backend keeps, in the same transaction as the events, one head row per session: its
first and last version and its last hash. Heads make ``verify`` able to see a deleted tail
(a hash chain alone cannot), answer "what is the current version" in one lookup, and list
sessions without reading events.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

Durability = Literal["full", "normal"]
"""``full``: every commit is on disk when it returns. ``normal``: a power loss may lose the
last commits (each backend says how it maps this)."""

JoinedWrite = Callable[[Any], None]
"""More rows for a backend to write inside an append's transaction, given its cursor (an
explicit checkpoint with its ``CheckpointCreated``). Raising rolls the append back."""

Row = tuple[int, str, bytes]
"""A stored event as a replay reads it: version, topic (type name) and state bytes."""


@dataclass(frozen=True)
class Head:
    session_id: str
    first_version: int
    version: int
    hash: bytes


class HeadUpdate(NamedTuple):
    """The head a session will have once a batch of its events is recorded (a named tuple:
    one is made per append)."""

    session_id: str
    first_version: int
    version: int
    hash: bytes


class SessionRecorder(ApplicationRecorder, ABC):
    """An application recorder that also keeps session heads atomically with the events."""

    @abstractmethod
    def record(
        self,
        stored: Sequence[StoredEvent],
        heads: Sequence[HeadUpdate],
        also: JoinedWrite | None = None,
    ) -> Sequence[int]:
        """Insert events and move heads in one transaction; return notification ids.

        ``also`` runs inside that transaction, before it commits, with the backend's cursor;
        a backend that has no such cursor (``memory://``) refuses it. Raises the library's
        ``IntegrityError`` when a version is already taken.
        """

    def record_rows(self, session_id: str, rows: Sequence[Row], head: HeadUpdate) -> None:
        """``record`` of one session's rows, given as ``(version, topic, state)``, and its
        head: the plain-message lane's append. Through ``record`` unless a backend has a
        shorter way."""
        key = UUID(session_id)
        self.record([StoredEvent(key, v, topic, state) for v, topic, state in rows], [head])

    def select_session_rows(
        self, session_id: UUID, *, gt: int, lte: int | None, limit: int
    ) -> Sequence[Row]:
        """One page of a session's rows in version order, as ``(version, topic, state)``:
        what building a state reads. From the library's ``select_events``; a backend may
        answer the same faster."""
        stored = self.select_events(session_id, gt=gt, lte=lte, limit=limit)
        return [(s.originator_version, s.topic, s.state) for s in stored]

    @abstractmethod
    def select_head(self, session_id: str) -> Head | None: ...

    @abstractmethod
    def iter_heads(self, *, page: int = 1000) -> Iterator[Head]: ...

    @abstractmethod
    def select_dictionaries(self) -> dict[int, bytes]:
        """Every saved zstd dictionary of the event bytes, by id (see ``dictionaries``)."""

    @abstractmethod
    def insert_dictionary(self, data: bytes) -> int:
        """Save a new dictionary in its own transaction; return its id (1, 2, ...)."""

    def close(self) -> None:
        """Release connections."""


def merge_heads(updates: Sequence[HeadUpdate]) -> list[HeadUpdate]:
    """One update per session: its first update's first version, its last version and hash.

    The first version only matters when the head row is new (the session's first event)."""
    merged: dict[str, HeadUpdate] = {}
    for u in updates:
        old = merged.get(u.session_id)
        first = u.first_version if old is None else old.first_version
        merged[u.session_id] = HeadUpdate(u.session_id, first, u.version, u.hash)
    return list(merged.values())


def as_text_id(value: Any) -> str:
    return str(value)
