"""The replay half of ``SessionStore``: checkpoints, time travel, forks, diff and what-if.

Automatic checkpoints, taken on the write path every ``checkpoint_every`` events, live in
``auto.py``; they add no event. ``checkpoint()`` is the explicit kind: it also appends
``CheckpointCreated``. Checkpoint blobs are in ``blobs.py``, their parent chains and
pruning in ``checkpointer.py``, branch diff in ``diff.py``.

Reading a state at a version loads the nearest intact checkpoint at or before it and
applies at most ``checkpoint_every`` events (``reducer_steps`` counts them).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..domain import events as ev
from ..domain.arguments import moment, whole_number
from ..domain.errors import (
    CheckpointNotFound,
    CorruptCheckpoint,
    InvalidInput,
    SessionStoreError,
)
from ..domain.reducer import fold
from ..domain.session import Session
from ..domain.state import Message, SessionState
from ..gcpause import gc_paused
from ..storage.checkpoints import CheckpointRecord, open_checkpoint_store
from ..storage.log import check_session_id
from ..storage.verify import VerifyReport
from .auto import AutoCheckpointMixin
from .checkpointer import Checkpointer, retried
from .diff import BranchDiff, diff_states
from .whatif import Reopen, as_events, replayed, retimed

if TYPE_CHECKING:
    from ..core import _Cached

log = logging.getLogger(__name__)
Transform = Callable[[ev.Event], "Sequence[ev.Event] | ev.Event | None"]


@dataclass(frozen=True)
class PruneReport:
    removed: list[CheckpointRecord]
    rebased: list[str]  # kept checkpoints re-encoded because their parent was removed
    kept: int


class ReplayMixin(AutoCheckpointMixin):
    """Checkpoints and time travel. Mixed into ``SessionStore``."""

    def _init_replay(self, checkpoint_every: int) -> None:
        self.checkpoint_every = whole_number(checkpoint_every, "checkpoint_every", at_least=1)
        self.reducer_steps = 0  # events applied on top of checkpoints, for benchmarks
        self._checkpointer = Checkpointer(open_checkpoint_store(self._log.recorder), self._clock)
        self._pending_checkpoints = []
        self._explicit: list[CheckpointRecord] = []  # stored by the next append's transaction
        self._anchors = {}
        self._no_auto = set()
        self._mid_checkpoints = []

    # -- checkpoints --------------------------------------------------------------------------
    def checkpoint(self, session_id: str, *, label: str | None = None) -> str:
        """Checkpoint the session's current state; appends ``CheckpointCreated``. Returns its id."""
        session_id = check_session_id(session_id)
        self._require_exists(session_id)
        return self.retry(lambda: self._checkpoint_once(session_id, label))

    def _checkpoint_once(self, session_id: str, label: str | None) -> str:
        with self._lock:
            state = self._cached(session_id, None).session.state
            version = state.version
            record = self._checkpointer.prepare(state, label=label, automatic=False)

            def decide(s: Session) -> ev.Event:
                return s.record_checkpoint(record.checkpoint_id, label=label, at_version=version)

            self._write_with_checkpoint(record, lambda: self._write(session_id, version, decide))
            return record.checkpoint_id

    def accept(
        self, session_id: str, event: ev.Event, *, expected_version: int | None = None
    ) -> int:
        """``StoreCore.accept``; a ``CheckpointCreated`` also brings its checkpoint back.

        An export carries events, not checkpoint blobs: importing one re-checkpoints, under
        the event's id, label and time, the state the event names (the one it follows), so
        ``state(checkpoint=...)`` and ``fork(checkpoint=...)`` work in the new store too.
        A checkpoint id that the store already holds keeps its checkpoint.
        """
        if not isinstance(event, ev.CheckpointCreated):
            return super().accept(session_id, event, expected_version=expected_version)
        session_id = check_session_id(session_id)
        return retried(lambda: self._accept_checkpoint(session_id, event, expected_version))

    def _accept_checkpoint(
        self, session_id: str, event: ev.CheckpointCreated, expected_version: int | None
    ) -> int:
        accept = super().accept
        with self._lock:
            state = self._cached(session_id, expected_version).session.state
            version = state.version

            def write() -> int:
                return accept(session_id, event, expected_version=version)

            if event.at_version != version or self._checkpointer.store.get(
                event.checkpoint_id
            ) is not None:
                return write()  # the domain refuses the first; the second has its blob
            record = self._checkpointer.prepare(
                state, label=event.label, automatic=False,
                checkpoint_id=event.checkpoint_id, created_at=event.recorded_at,
            )
            return self._write_with_checkpoint(record, write)

    def _write_with_checkpoint(self, record: CheckpointRecord, write: Callable[[], int]) -> int:
        """Run ``write``, which records ``record``'s ``CheckpointCreated``, and store
        ``record`` with it: both or neither, in one transaction where the backend can (in
        a batch, the batch's), else the checkpoint first and deleted if the write fails.
        """
        session_id = record.session_id
        # Set before the write, so that its commit does not take an automatic one too.
        self._anchors[session_id] = record.version
        try:
            if self._checkpointer.store.joined([record]) is not None:
                return self._write_joined(record, write)
            if self._staged is not None:
                written = write()
                self._pending_checkpoints.append(record)
                return written
            self._checkpointer.store.put([record])
            try:
                return write()
            except BaseException:
                self._discard_checkpoint(record)
                raise
        except BaseException:
            self._forget(session_id)
            raise

    def _write_joined(self, record: CheckpointRecord, write: Callable[[], int]) -> int:
        """``write`` with ``record`` handed to the append that records its event (through
        ``_joined_writes``), so that no crash can store one without the other."""
        self._explicit.append(record)
        try:
            return write()
        except BaseException:
            if record in self._explicit:  # not stored: refused, or its append failed
                self._explicit.remove(record)
            raise

    def _discard_checkpoint(self, record: CheckpointRecord) -> None:
        """Delete a checkpoint whose ``CheckpointCreated`` was not written.

        Called while the write's error propagates: that error is the one to report, so a
        refused delete (another store built on the checkpoint meanwhile) is only logged. The
        checkpoint left behind is a valid state of the session, used by time travel.
        """
        try:
            self._checkpointer.store.delete([record.checkpoint_id])
        except Exception as e:
            log.warning(
                "checkpoint %s stays stored, though its CheckpointCreated event was not "
                "written: %s", record.checkpoint_id, e,
            )

    def checkpoints(self, session_id: str) -> list[CheckpointRecord]:
        """The session's checkpoints (metadata, no blobs), oldest first."""
        session_id = check_session_id(session_id)
        self._require_exists(session_id)
        return self._checkpointer.store.list(session_id)

    def latest_checkpoint(self, session_id: str) -> CheckpointRecord | None:
        found = self.checkpoints(session_id)
        return found[-1] if found else None

    def checkpoint_info(self, checkpoint_id: str) -> CheckpointRecord:
        record = self._checkpointer.store.get(checkpoint_id)
        if record is None:
            raise CheckpointNotFound(checkpoint_id)
        return record.without_blob()

    def delete_checkpoint(self, checkpoint_id: str) -> PruneReport:
        """Delete one checkpoint; checkpoints that were deltas of it are re-based first."""
        record = self.checkpoint_info(checkpoint_id)
        return self._remove(record.session_id, {checkpoint_id})

    def prune_checkpoints(
        self, session_id: str, *, keep: int = 10, explicit: bool = False
    ) -> PruneReport:
        """Keep the newest ``keep`` automatic checkpoints; remove the older ones.

        Explicit checkpoints (the log names them) are kept unless ``explicit`` is true, in
        which case they count towards ``keep`` too. Kept checkpoints never break: any that
        was a delta of a removed one is re-based. Corrupt ones that cannot be re-based are
        removed and reported.
        """
        keep = whole_number(keep, "keep", at_least=0)
        candidates = [r for r in self.checkpoints(session_id) if explicit or r.automatic]
        doomed = candidates[: max(len(candidates) - keep, 0)]
        return self._remove(check_session_id(session_id), {r.checkpoint_id for r in doomed})

    def _remove(self, session_id: str, doomed: set[str]) -> PruneReport:
        with self._lock:
            removed, rebased = self._checkpointer.remove(session_id, doomed)
            self._forget(session_id)
            kept = len(self._checkpointer.store.list(session_id))
        return PruneReport(removed=removed, rebased=rebased, kept=kept)

    # -- time travel --------------------------------------------------------------------------
    def state(
        self,
        session_id: str,
        *,
        at_version: int | None = None,
        at_time: datetime | None = None,
        checkpoint: str | None = None,
        use_checkpoints: bool = True,
    ) -> SessionState:
        """The state now, or at a version, at a time (the last event recorded at or before
        it), or at a checkpoint. Always a copy: changing it changes nothing stored.

        ``use_checkpoints=False`` folds every event from the first, ignoring checkpoints and
        cached sessions: the reference that a checkpointed state must equal.
        """
        if sum(x is not None for x in (at_version, at_time, checkpoint)) > 1:
            raise InvalidInput(
                "give at most one of at_version, at_time and checkpoint (on the command "
                "line: --version, --time, --checkpoint)"
            )
        session_id = check_session_id(session_id)
        if at_version is not None:
            at_version = whole_number(at_version, "at_version", at_least=1)
        if at_time is not None:
            at_time = moment(at_time, "at_time")
        if not use_checkpoints:
            if checkpoint is not None:
                raise InvalidInput("checkpoint= needs use_checkpoints=True")
            return self._replay_from_events(session_id, at_version, at_time)
        if checkpoint is not None:
            return self._state_at_checkpoint(session_id, checkpoint)
        if at_time is not None:
            at_version = self._version_at_time(session_id, at_time)
        if at_version is None:
            return super().state(session_id)
        self._check_version(session_id, at_version)
        return self._build_state(session_id, at_version)

    def _replay_from_events(
        self, session_id: str, at_version: int | None, at_time: datetime | None
    ) -> SessionState:
        if at_time is not None:
            at_version = self._version_at_time(session_id, at_time)
        if at_version is not None:
            self._check_version(session_id, at_version)
        return self._replay_events(session_id, at_version)

    def _state_at_checkpoint(self, session_id: str, checkpoint_id: str) -> SessionState:
        record = self._checkpoint_of(session_id, checkpoint_id)
        full = self._checkpointer.store.get(checkpoint_id)
        if full is not None:
            try:
                return self._checkpointer.load(full)
            except CorruptCheckpoint as e:
                log.warning("%s", e)
        return self._build_state(session_id, record.version)

    def _checkpoint_of(self, session_id: str, checkpoint_id: str) -> CheckpointRecord:
        """The checkpoint, if it is in ``session_id``'s history: its own, or an ancestor's
        up to the fork point (a fork's state lists those in ``checkpoint_ids`` too)."""
        record = self.checkpoint_info(checkpoint_id)
        owner, upto = session_id, None
        while owner != record.session_id:
            head = self._require_exists(owner)
            if head.first_version == 1:
                raise InvalidInput(
                    f"checkpoint {checkpoint_id} belongs to session {record.session_id}, "
                    f"which is not in {session_id}'s history; list a session's checkpoints "
                    "with `sessionstore checkpoints`"
                )
            forked = self._forked_event(owner, head.first_version)
            owner = forked.parent_id
            upto = forked.parent_version if upto is None else min(upto, forked.parent_version)
        if upto is not None and record.version > upto:
            raise InvalidInput(
                f"checkpoint {checkpoint_id} of session {record.session_id} is at version "
                f"{record.version}, after {session_id} forked from it (at {upto})"
            )
        return record

    def _check_version(self, session_id: str, version: int) -> None:
        head = self._require_exists(session_id)
        if not 1 <= version <= head.version:
            raise InvalidInput(
                f"session {session_id} has versions 1 to {head.version}, not {version}"
            )

    def _version_at_time(self, session_id: str, moment: datetime, asked: str = "") -> int:
        """The last version recorded at or before ``moment`` (store clocks do not go back);
        ``asked`` is the session the caller named (a fork's time may be in its parent's)."""
        head = self._require_exists(session_id)
        lo, hi = head.first_version, head.version
        if self._recorded_at(session_id, lo) > moment:
            if lo == 1:
                ancestors = ", nor did the sessions it was forked from" if asked else ""
                raise InvalidInput(f"session {asked or session_id} did not exist yet at "
                                   f"{moment.isoformat()}{ancestors}")
            forked = self._forked_event(session_id, lo)
            parent_version = self._version_at_time(
                forked.parent_id, moment, asked or session_id)
            return min(parent_version, forked.parent_version)
        while lo < hi:  # invariant: recorded_at(lo) <= moment
            mid = (lo + hi + 1) // 2
            if self._recorded_at(session_id, mid) <= moment:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _recorded_at(self, session_id: str, version: int) -> datetime:
        row = next(self._log.stored(session_id, after=version - 1, upto=version))
        return self._log.codec.decode(row).recorded_at

    @gc_paused
    def _build_state(self, session_id: str, upto: int | None = None) -> SessionState:
        """The nearest intact checkpoint at or before ``upto``, then the events after it."""
        head = self._require_exists(session_id)
        target = head.version if upto is None else min(upto, head.version)
        forked = (
            self._forked_event(session_id, head.first_version) if head.first_version > 1 else None
        )
        if forked is not None and target <= forked.parent_version:
            return self._build_state(forked.parent_id, target)
        base = self._checkpointer.load_nearest(session_id, target)
        after = 0 if base is None else base.version
        if base is None and forked is not None:
            base = self._build_state(forked.parent_id, forked.parent_version)
        tail = self._log.read_for_state(session_id, after=after, upto=target)
        return self._apply_tail(tail, base)

    def _apply_tail(
        self, items: Iterator[ev.Event | Message], state: SessionState | None
    ) -> SessionState:
        def counted() -> Iterator[ev.Event | Message]:
            for item in items:
                self.reducer_steps += 1
                yield item

        return fold(counted(), state)

    # -- forks --------------------------------------------------------------------------------
    def fork(
        self,
        session_id: str,
        *,
        checkpoint: str | None = None,
        at_version: int | None = None,
        name: str | None = None,
        label: str | None = None,
        reason: str | None = None,
    ) -> str:
        """Start a new session from ``session_id`` at a checkpoint, a version or now.

        It costs one event whatever the parent's length: no parent event is copied and no
        state is built (inside a batch the state is built, since the batch may go on
        writing to the fork). Returns the new session's id.
        """
        owner, version, checkpoint_id = self._fork_point(session_id, checkpoint, at_version)
        new_id = str(uuid.uuid4())
        fields: dict[str, Any] = dict(
            checkpoint_id=checkpoint_id, name=name, label=label, reason=reason
        )
        with self._lock:
            if self._staged is None:
                # Session.fork reads only the parent's id and version; the fork's real
                # state is built on first use, so none is cached.
                stub = SessionState(session_id=owner, version=version)
                session = Session.fork(stub, new_id, clock=self._clock, **fields)
                self._no_auto.add(new_id)
                try:
                    self._commit({new_id: self._cached_entry(session)}, session.pending)
                finally:
                    self._no_auto.discard(new_id)
                    self._cache.pop(new_id, None)
            else:
                session = Session.fork(self._point_state(owner, version), new_id,
                                       clock=self._clock, **fields)
                self._commit({new_id: self._cached_entry(session)}, session.pending)
        return new_id

    def _cached_entry(self, session: Session) -> _Cached:
        from ..core import _Cached

        return _Cached(session, b"")

    def _point_state(self, owner: str, version: int) -> SessionState:
        cached = self._cache.get(owner)
        if cached is not None and cached.session.state.version == version:
            return cached.session.state.model_copy(deep=True)
        return self._build_state(owner, version)

    def _fork_point(
        self, session_id: str, checkpoint: str | None, at_version: int | None
    ) -> tuple[str, int, str | None]:
        """(the session whose log holds the point, the version, the checkpoint id)."""
        session_id = check_session_id(session_id)
        if checkpoint is not None and at_version is not None:
            raise InvalidInput("give a checkpoint or a version to fork at, not both")
        head = self._require_exists(session_id)
        if checkpoint is not None:
            version = self._checkpoint_of(session_id, checkpoint).version
        elif at_version is not None:
            version = whole_number(at_version, "at_version", at_least=1)
            self._check_version(session_id, version)
        else:
            version = head.version
        owner = session_id
        while version < head.first_version:  # the point is in a parent's part
            owner = self._forked_event(owner, head.first_version).parent_id
            head = self._require_exists(owner)
        return owner, version, checkpoint

    # -- what if ------------------------------------------------------------------------------
    def whatif(
        self,
        session_id: str,
        *,
        transform: Transform,
        at_version: int | None = None,
        checkpoint: str | None = None,
        name: str | None = None,
        label: str | None = None,
    ) -> str:
        """Fork at the point, then re-apply the parent's later events through ``transform``.

        ``transform(event)`` returns the events to record instead: a list (empty drops it,
        several insert), one event, or None (drops it). Each is re-checked by the domain;
        if one is refused, nothing is recorded (no half-made fork) and ``InvalidInput``
        names the parent event it came from. The events are recorded now, and keep when
        they happened in ``occurred_at``. The parent's ``CheckpointCreated`` and
        ``SessionForked`` events are not replayed; where such a fork reopened a finished
        session, a finished branch is reopened too (``SessionReopened``, see ``whatif.py``).
        """
        _, version, _ = self._fork_point(session_id, checkpoint, at_version)
        later = self.events(session_id, after=version, upto=self.current_version(session_id))
        with self.batch():
            new_id = self.fork(session_id, checkpoint=checkpoint,
                               at_version=None if checkpoint else version,
                               name=name, label=label, reason="what-if")
            for item in replayed(later):
                if isinstance(item, Reopen):
                    self._reopen(new_id, item)
                    continue
                for event in as_events(transform(item.event)):
                    self._accept_transformed(new_id, item.version, event)
        return new_id

    def _reopen(self, branch: str, where: Reopen) -> None:
        """Reopen a what-if branch that is finished where a fork went on in the history it
        replays (a fork of a finished session goes on from active), as of that fork."""
        if self._cached(branch, None).session.state.is_terminal:
            self._write(branch, None,
                        lambda s: s.reopen(fork_id=where.fork_id, occurred_at=where.at))

    def _accept_transformed(self, fork_id: str, source_version: int, event: Any) -> None:
        if not isinstance(event, ev.Event):
            raise InvalidInput(
                f"what-if transform of event {source_version} returned {type(event).__name__}, "
                "not an event; nothing was written"
            )
        try:
            self.accept(fork_id, retimed(event, self._clock()))
        except SessionStoreError as e:
            raise InvalidInput(
                f"what-if stopped at parent event {source_version}: its transform gave a "
                f"{event.type_name} that the fork refuses ({e}); nothing was written"
            ) from e

    # -- diff ---------------------------------------------------------------------------------
    def diff(self, a: str, b: str) -> BranchDiff:
        """Compare two sessions: common ancestor, divergence point and what differs after."""
        return diff_states(self.state(a), self.state(b))

    # -- verify -------------------------------------------------------------------------------
    def verify(self, session_id: str | None = None) -> VerifyReport:
        """Hash chains (see ``StoreCore.verify``) and every checkpoint's checksum and chain."""
        report = super().verify(session_id)
        if session_id is not None:
            sessions = [check_session_id(session_id)]
        else:
            sessions = [h.session_id for h in self._log.heads()]
        for sid in sessions:
            report.problems.extend(self._checkpointer.problems(sid))
        return report
