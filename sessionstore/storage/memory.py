"""The in-memory backend: the eventsourcing library's POPO recorder plus session heads.

``memory://`` opens a new, empty store; ``memory://name`` opens the store of that name in
this process, so several ``SessionStore`` objects (several writers, with their own caches)
can share one, as they would share a database. Nothing outlives the process. Checkpoints
live beside the events, in memory too.

Use it for tests and throw-away sessions; ``:memory:`` (an in-memory SQLite database) is
the other in-memory choice, with SQLite's exact behaviour.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from .checkpoints import CheckpointStore, InMemoryCheckpointStore
from .recorder import Head, HeadUpdate, JoinedWrite, SessionRecorder, merge_heads

_named: weakref.WeakValueDictionary[str, MemorySessionRecorder] = weakref.WeakValueDictionary()
_named_lock = threading.Lock()


class MemorySessionRecorder(POPOApplicationRecorder, SessionRecorder):
    """Events, notifications and heads in Python objects, under the library's one lock."""

    def __init__(self) -> None:
        super().__init__()
        self._heads: dict[str, Head] = {}
        self._dictionaries: dict[int, bytes] = {}
        self._checkpoints = InMemoryCheckpointStore()

    def record(
        self,
        stored: Sequence[StoredEvent],
        heads: Sequence[HeadUpdate],
        also: JoinedWrite | None = None,
    ) -> Sequence[int]:
        if also is not None:  # its checkpoint store joins no transaction (``joined``: None)
            raise TypeError("the memory backend has no transaction for other writes to join")
        return list(self.insert_events(stored, heads=merge_heads(heads)) or [])

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Runs under the database lock once every version was found free: events and
        # heads change together or not at all.
        ids = super()._update_table(stored_events, **kwargs)
        for h in kwargs.get("heads", ()):
            old = self._heads.get(h.session_id)
            first = h.first_version if old is None else old.first_version
            self._heads[h.session_id] = Head(h.session_id, first, h.version, h.hash)
        return ids

    def select_head(self, session_id: str) -> Head | None:
        with self._database_lock:
            return self._heads.get(str(UUID(session_id)))

    def iter_heads(self, *, page: int = 1000) -> Iterator[Head]:
        with self._database_lock:
            heads = sorted(self._heads.values(), key=lambda h: UUID(h.session_id))
        yield from heads

    def select_dictionaries(self) -> dict[int, bytes]:
        with self._database_lock:
            return dict(self._dictionaries)

    def insert_dictionary(self, data: bytes) -> int:
        with self._database_lock:
            ident = len(self._dictionaries) + 1
            self._dictionaries[ident] = data
            return ident

    def open_checkpoints(self) -> CheckpointStore:
        """The checkpoint store every store opened on this recorder shares."""
        return self._checkpoints

    # -- for tests that damage stored rows behind the store's back -------------------------
    def replace_state(self, session_id: str, version: int, state: bytes) -> None:
        with self._database_lock:
            at = self._stored_events_index[session_id][version]
            old = self._stored_events[at]
            self._stored_events[at] = StoredEvent(
                old.originator_id, old.originator_version, old.topic, state
            )

    def forget(self, session_id: str, version: int) -> None:
        with self._database_lock:
            del self._stored_events_index[session_id][version]


def open_memory(url: str) -> MemorySessionRecorder:
    """``memory://`` (a new store) or ``memory://name`` (this process's store of that name)."""
    name = url.removeprefix("memory://").strip("/")
    if not name:
        return MemorySessionRecorder()
    with _named_lock:
        recorder = _named.get(name)
        if recorder is None:
            recorder = _named[name] = MemorySessionRecorder()
        return recorder


__all__ = ["MemorySessionRecorder", "open_memory"]
