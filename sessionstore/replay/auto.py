"""Automatic checkpoints on the write path, mixed into ``SessionStore`` under ``ReplayMixin``.

After every commit the live state of each written session is checked; once
``checkpoint_every`` events have passed since the newest checkpoint in its history (a fork
counts from its parent's), that state is encoded into an automatic checkpoint. They are a
storage optimisation and add no event. Inside ``batch()`` they are held back, stored only
once the batch is recorded, and dropped if it is not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..domain import events as ev
from ..domain.errors import CheckpointsChanged, SessionStoreError
from ..domain.state import SessionState
from ..storage.checkpoints import CheckpointRecord
from ..storage.log import check_session_id
from .checkpointer import Checkpointer

if TYPE_CHECKING:
    from ..core import StoreCore, _Cached

    _Base = StoreCore
else:
    _Base = object

log = logging.getLogger(__name__)


class AutoCheckpointMixin(_Base):
    checkpoint_every: int
    _checkpointer: Checkpointer
    _pending_checkpoints: list[CheckpointRecord]
    _anchors: dict[str, int]  # session -> version of the newest checkpoint in its history
    _no_auto: set[str]  # sessions being committed that must not be checkpointed

    def _commit(self, sessions: dict[str, _Cached], new_events: list[ev.Event]) -> None:
        super()._commit(sessions, new_events)
        for session_id, cached in sessions.items():
            if session_id not in self._no_auto:
                self._maybe_checkpoint(cached.session.state)

    def add_messages(
        self,
        session_id: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        expected_version: int | None = None,
    ) -> int:
        """``StoreCore.add_messages``, cut where automatic checkpoints fall.

        Checkpoints are taken after each write; one call of many messages would get one at
        its end, and time travel into it would apply up to all of them. So a call that
        crosses a checkpoint boundary writes in pieces that end on the boundaries, in one
        batch: still all or none, and each boundary gets its checkpoint."""
        items = _listed(messages)
        first = self._room_before_checkpoint(session_id) if isinstance(items, list) else None
        if first is None or len(items) <= first:
            return super().add_messages(session_id, items, expected_version=expected_version)
        every = self.checkpoint_every
        with self.batch():
            version = super().add_messages(
                session_id, items[:first], expected_version=expected_version
            )
            for start in range(first, len(items), every):
                version = super().add_messages(session_id, items[start : start + every])
        return version

    def _room_before_checkpoint(self, session_id: str) -> int | None:
        """How many events the session takes before its next automatic checkpoint (None:
        it gets none, or does not exist: the write reports that)."""
        if self._staged is None and session_id in self._no_auto:
            return None
        try:
            with self._lock:
                state = self._cached(check_session_id(session_id), None).session.state
        except SessionStoreError:
            return None
        room = self.checkpoint_every - (state.version - self._anchor(state))
        return room if room > 0 else self.checkpoint_every

    def _maybe_checkpoint(self, state: SessionState) -> None:
        if state.version - self._anchor(state) < self.checkpoint_every:
            return
        record = self._checkpointer.prepare(state, label=None, automatic=True)
        self._anchors[state.session_id] = state.version
        if self._staged is not None:
            self._pending_checkpoints.append(record)
        else:
            self._store_automatic([record], state)

    def _after_append(self, recorded: list[Any]) -> None:
        super()._after_append(recorded)
        if self._pending_checkpoints and self._staged is None:
            records, self._pending_checkpoints = self._pending_checkpoints, []
            self._store_automatic(records)

    def _store_automatic(
        self, records: list[CheckpointRecord], state: SessionState | None = None
    ) -> None:
        # The events are already recorded: a failure here must not fail the write. Replay
        # works without the checkpoint; the next one starts a fresh chain.
        try:
            self._checkpointer.store.put(records)
        except Exception as e:  # any storage failure: logged, never raised
            if isinstance(e, CheckpointsChanged) and state is not None:
                # Another store deleted the checkpoint ours was a delta of: encode it once
                # more against what is stored now (forgetting the tip reads them afresh).
                self._checkpointer.forget([state.session_id])
                again = self._checkpointer.prepare(state, label=None, automatic=True)
                self._store_automatic([again])
                return
            log.warning("automatic checkpoint not stored: %s", e)
            for record in records:
                self._forget(record.session_id)

    @contextmanager
    def batch(self) -> Iterator[StoreCore]:
        outer = self._staged is None
        try:
            with super().batch() as store:
                yield store
        except BaseException:
            if outer:
                with self._lock:
                    dropped, self._pending_checkpoints = self._pending_checkpoints, []
                    for record in dropped:
                        self._forget(record.session_id)
            raise

    def _forget(self, session_id: str) -> None:
        self._checkpointer.forget([session_id])
        self._anchors.pop(session_id, None)

    def _anchor(self, state: SessionState) -> int:
        """The version of the newest checkpoint in ``state``'s history (0: none)."""
        session_id = state.session_id
        if session_id not in self._anchors:
            own = self._checkpointer.store.list(session_id)
            if own:
                self._anchors[session_id] = own[-1].version
            elif state.lineage and state.lineage[-1].session_id == session_id:
                entry = state.lineage[-1]
                self._anchors[session_id] = self._anchor_at(entry.parent_id, entry.parent_version)
            else:
                self._anchors[session_id] = 0
        return self._anchors[session_id]

    def _anchor_at(self, session_id: str, version: int) -> int:
        own = [r.version for r in self._checkpointer.store.list(session_id) if r.version <= version]
        if own:
            return max(own)
        head = self._log.head(session_id)
        if head is None or head.first_version == 1:
            return 0
        forked = self._forked_event(session_id, head.first_version)
        return self._anchor_at(forked.parent_id, min(version, forked.parent_version))


def _listed(messages: Any) -> Any:
    """``messages`` as a list when it is an iterable of messages; anything else as it is,
    for ``add_messages`` to refuse with its own error."""
    if isinstance(messages, list | str | bytes | Mapping) or not isinstance(messages, Iterable):
        return messages
    return list(messages)
