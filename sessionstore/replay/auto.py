"""Automatic checkpoints on the write path, mixed into ``SessionStore`` under ``ReplayMixin``.

After every commit the live state of each written session is checked; once
``checkpoint_every`` events have passed since the newest checkpoint in its history (a fork
counts from its parent's), that state is encoded into an automatic checkpoint. They are a
storage optimisation and add no event. Inside ``batch()`` they are held back, stored only
once the batch is recorded (those an explicit checkpoint of the batch is a delta of, by
the batch's own transaction), and dropped if it is not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..domain import events as ev
from ..domain.errors import CheckpointsChanged
from ..domain.session import Session
from ..domain.state import SessionState
from ..storage.checkpoints import CheckpointRecord
from ..storage.recorder import JoinedWrite
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
    _explicit: list[CheckpointRecord]  # explicit ones, for the next append's transaction
    _anchors: dict[str, int]  # session -> version of the newest checkpoint in its history
    _no_auto: set[str]  # sessions being committed that must not be checkpointed
    _mid_checkpoints: list[CheckpointRecord]  # taken inside the write being committed

    def _commit(self, sessions: dict[str, _Cached], new_events: list[ev.Event]) -> None:
        try:
            super()._commit(sessions, new_events)
        except BaseException:
            for session_id in sessions:
                self._drop_mid_checkpoints(session_id)
            raise
        self._keep_mid_checkpoints()
        for session_id, cached in sessions.items():
            if session_id not in self._no_auto:
                self._maybe_checkpoint(cached.session.state)

    def _add_messages_to(self, session: Session, items: list[Mapping[str, Any]]) -> ev.Event:
        """Messages whose count crosses checkpoint boundaries are added in pieces that end on
        them, each boundary's state encoded on the way: one call of 3,000 messages would
        otherwise get one checkpoint, at its end, and time travel into it would apply up to
        all of them. The checkpoints are stored once the events are (``_commit``)."""
        self._mid_checkpoints = []  # a retry after a conflict starts over
        stops = self._checkpoint_stops(session.state, len(items))
        if not stops:
            return super()._add_messages_to(session, items)
        try:
            return session.add_messages(items, stops=stops, at_stop=self._checkpoint_mid_way)[-1]
        except BaseException:
            self._drop_mid_checkpoints(session.state.session_id)
            raise

    def _plain_allowed(self) -> bool:
        return not self._explicit

    def _plain_stops(self, state: SessionState, count: int) -> list[int]:
        # The lane applies its messages after the commit, a boundary's at a time: each
        # boundary's checkpoint is taken as the general path takes it mid-way.
        return self._checkpoint_stops(state, count)

    def _after_plain(self, state: SessionState) -> None:
        super()._after_plain(state)
        if state.session_id not in self._no_auto:
            self._maybe_checkpoint(state)

    def _checkpoint_stops(self, state: SessionState, count: int) -> list[int]:
        """After how many of ``count`` new events the session reaches a checkpoint boundary
        (the last one excepted: ``_maybe_checkpoint`` takes that after the commit)."""
        if state.session_id in self._no_auto:
            return []
        room = self.checkpoint_every - (state.version - self._anchor(state))
        first = room if room > 0 else self.checkpoint_every
        return list(range(first, count, self.checkpoint_every))

    def _checkpoint_mid_way(self, state: SessionState) -> None:
        self._mid_checkpoints.append(
            self._checkpointer.prepare(state, label=None, automatic=True)
        )
        self._anchors[state.session_id] = state.version

    def _drop_mid_checkpoints(self, session_id: str) -> None:
        if self._mid_checkpoints:
            self._mid_checkpoints = []
            self._forget(session_id)  # the tip and anchor name checkpoints never stored

    def _maybe_checkpoint(self, state: SessionState) -> None:
        if state.version - self._anchor(state) < self.checkpoint_every:
            return
        record = self._checkpointer.prepare(state, label=None, automatic=True)
        self._anchors[state.session_id] = state.version
        if self._staged is not None:
            self._pending_checkpoints.append(record)
        else:
            self._store_automatic([record], state)

    def _keep_mid_checkpoints(self) -> None:
        """Store the checkpoints taken inside a write, now that its events are recorded (in
        a batch, with its other checkpoints once it commits)."""
        records, self._mid_checkpoints = self._mid_checkpoints, []
        if records and self._staged is not None:
            self._pending_checkpoints.extend(records)
        elif records:
            self._store_automatic(records)

    def _joined_writes(self) -> JoinedWrite | None:
        """The explicit checkpoints, stored by the transaction that records their events."""
        if not self._explicit:
            return None
        return self._checkpointer.store.joined(self._joined_records())

    def _joined_records(self) -> list[CheckpointRecord]:
        """The explicit checkpoints, after the batch's automatic ones that they are deltas
        of (directly or through others). The batch's other automatic checkpoints are stored
        after its commit, as usual: a failure of theirs must not fail the batch."""
        pending = {record.checkpoint_id: record for record in self._pending_checkpoints}
        needed: set[str] = set()
        for record in self._explicit:
            parent = record.parent_id
            while parent in pending and parent not in needed:
                needed.add(parent)
                parent = pending[parent].parent_id
        bases = [r for r in self._pending_checkpoints if r.checkpoint_id in needed]
        return [*bases, *self._explicit]

    def _after_append(self, recorded: list[Any]) -> None:
        super()._after_append(recorded)
        if self._explicit:  # the append stored them, with the automatic ones they build on
            stored = {record.checkpoint_id for record in self._joined_records()}
            self._explicit = []
            self._pending_checkpoints = [
                r for r in self._pending_checkpoints if r.checkpoint_id not in stored
            ]
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
        # Under the lock: another thread's batch may be open until we hold it, and this one
        # would then take itself for a nested batch and leave its checkpoints behind.
        with self._lock:
            outer = self._staged is None
            try:
                with super().batch() as store:
                    yield store
            except BaseException:
                if outer:
                    dropped, self._pending_checkpoints = self._pending_checkpoints, []
                    dropped += self._explicit
                    self._explicit = []
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

