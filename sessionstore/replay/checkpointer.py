"""The checkpoint keeper: which parent a new checkpoint deltas from, loading the nearest
intact one, re-basing before a delete, and checking blobs for ``verify``.

Parent policy (why storage stays linear): a new checkpoint is a delta of the session's
latest one (a fork with none yet: of its parent's newest at or before the fork point, so a
chain may cross sessions), except that it is written full when the messages added since its
chain's full root are at least ``ROOT_GROWTH`` (4) times as many as the root holds (and the
chain has a few links). Full roots thus grow at least fivefold, so all roots together hold
under 1.25N messages and the deltas about N: storage grows linearly with the session, and a
corrupt link only spoils the checkpoints up to the next root. A full root lists its chain's
compressed chunks as they are, so writing one costs no recompression; loading reads the
same bytes whether a chain is long or short.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from ..domain.errors import CheckpointsChanged, CorruptCheckpoint, retry_on
from ..domain.state import SessionState
from ..storage.checkpoints import CheckpointRecord, CheckpointStore, checkpoint_order
from ..storage.verify import Problem
from . import blobs

CHANGE_ATTEMPTS = 5  # tries of a checkpoint change that other stores' changes get in the way of
MIN_CHAIN = 4  # links before a grown chain is folded into a new full root
ROOT_GROWTH = 4  # a new full root once the deltas hold this many times the root's messages


T = TypeVar("T")


def retried(operation: Callable[[], T]) -> T:
    """Run ``operation`` again after ``CheckpointsChanged`` (it reads the checkpoints afresh)."""
    return retry_on(CheckpointsChanged, operation, CHANGE_ATTEMPTS)


@dataclass(frozen=True)
class _Tip:
    """A session's latest checkpoint (no blob), its chain's root size and chain length."""

    record: CheckpointRecord
    root_messages: int
    links: int


class Checkpointer:
    def __init__(self, store: CheckpointStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self._clock = clock
        self._tips: dict[str, _Tip | None] = {}
        self._lock = threading.Lock()

    # -- writing ------------------------------------------------------------------------------
    def prepare(
        self,
        state: SessionState,
        *,
        label: str | None,
        automatic: bool,
        checkpoint_id: str | None = None,
        created_at: datetime | None = None,
    ) -> CheckpointRecord:
        """Encode ``state`` as a new checkpoint (not yet stored) and make it the tip.

        The id is new and the time the clock's unless given (an imported checkpoint keeps
        the ones its ``CheckpointCreated`` names)."""
        with self._lock:
            tip = self._tip(state.session_id) or self._inherited_tip(state)
            parent = tip.record if tip is not None and self._extends(tip, state) else None
            record = blobs.encode(
                state,
                checkpoint_id=checkpoint_id or str(uuid.uuid4()),
                parent=parent,
                label=label,
                automatic=automatic,
                created_at=created_at or self._clock(),
                reuse=self._reusable(tip, state) if parent is None else (),
            )
            root = tip.root_messages if parent is not None and tip is not None else len(
                state.messages
            )
            links = tip.links + 1 if parent is not None and tip is not None else 1
            self._tips[state.session_id] = _Tip(record.without_blob(), root, links)
        return record

    @staticmethod
    def _extends(tip: _Tip, state: SessionState) -> bool:
        if tip.record.version > state.version or tip.record.message_count > len(state.messages):
            return False
        since_root = len(state.messages) - tip.root_messages
        return not (since_root >= ROOT_GROWTH * tip.root_messages and tip.links >= MIN_CHAIN)

    def _reusable(self, tip: _Tip | None, state: SessionState) -> list[CheckpointRecord]:
        """The tip's chain, whose stored messages a new full root can copy as they are."""
        if tip is None or tip.record.message_count > len(state.messages):
            return []
        stored = self.store.get(tip.record.checkpoint_id)
        try:
            return [] if stored is None else self.chain(stored)
        except CorruptCheckpoint:
            return []

    def _inherited_tip(self, state: SessionState) -> _Tip | None:
        """For a fork with no checkpoint of its own: its parent's newest checkpoint at or
        before the fork point (or a grandparent's, at or before the parent's), or None.

        Its messages are the first of the fork's, so the fork's first checkpoint is a delta
        of it, holding only the messages after it: a fork's checkpoints cost the same
        whatever its parent's length, where a full copy of a 50,000-message parent took
        9 MB and 700 ms.
        """
        bound: int | None = None
        for entry in reversed(state.lineage):
            point = entry.parent_version if bound is None else min(bound, entry.parent_version)
            listed = self.store.list(entry.parent_id)  # no blobs: only the chain's shape
            before = [r for r in listed if r.version <= point]
            if before:
                rows = self._with_ancestors({r.checkpoint_id: r for r in listed})
                return _walk_tip(max(before, key=checkpoint_order), rows)
            bound = point
        return None

    def _with_ancestors(self, rows: dict[str, CheckpointRecord]) -> dict[str, CheckpointRecord]:
        """``rows`` (id -> record without blob) plus the checkpoints of other sessions they
        build on (a fork's on its parent's), each ancestor session listed once."""
        missing = [r.parent_id for r in rows.values() if r.parent_id and r.parent_id not in rows]
        while missing:
            parent_id = missing.pop()
            if parent_id in rows:
                continue
            parent = self.store.get(parent_id)
            if parent is None:
                continue  # lost: the chain is broken, as the caller will find
            rows[parent_id] = parent.without_blob()
            for r in self.store.list(parent.session_id):
                rows.setdefault(r.checkpoint_id, r)
            missing.extend(
                r.parent_id for r in rows.values() if r.parent_id and r.parent_id not in rows
            )
        return rows

    def forget(self, session_ids: Iterable[str]) -> None:
        """Drop cached tips (after a failed write, a delete or a prune)."""
        with self._lock:
            for session_id in session_ids:
                self._tips.pop(session_id, None)

    def _tip(self, session_id: str) -> _Tip | None:
        if session_id not in self._tips:
            rows = {r.checkpoint_id: r for r in self.store.list(session_id)}
            latest = max(rows.values(), key=lambda r: (r.version, r.created_at), default=None)
            self._tips[session_id] = (
                None if latest is None else _walk_tip(latest, self._with_ancestors(rows))
            )
        return self._tips[session_id]

    # -- reading ------------------------------------------------------------------------------
    def chain(self, record: CheckpointRecord) -> list[CheckpointRecord]:
        """``record`` and its parents, root first; a missing parent is corruption."""
        links = [record]
        while links[-1].parent_id is not None:
            parent = self.store.get(links[-1].parent_id)
            if parent is None or len(links) > 100_000:
                raise blobs.corrupt(links[-1], f"lost its parent {links[-1].parent_id}")
            links.append(parent)
        return links[::-1]

    def load(self, record: CheckpointRecord) -> SessionState:
        return blobs.decode(self.chain(record))

    def load_nearest(self, session_id: str, version: int) -> SessionState | None:
        """The state of the newest intact checkpoint at or before ``version``, or None.

        A corrupt checkpoint (or one whose chain has a corrupt link) is skipped: the search
        goes on below the corrupt link, since every checkpoint above it depends on it.
        """
        upto = version
        while upto >= 1:
            record = self.store.nearest(session_id, upto)
            if record is None:
                return None
            try:
                chain = self.chain(record)
                bad = next((r for r in chain if not blobs.intact(r)), None)
                if bad is None:
                    return blobs.decode(chain)
                upto = bad.version - 1
            except CorruptCheckpoint:
                upto = record.version - 1
        return None

    # -- removing -----------------------------------------------------------------------------
    def remove(self, session_id: str, doomed: set[str]) -> tuple[list[CheckpointRecord], list[str]]:
        """Delete ``doomed`` checkpoints, first re-basing the kept ones that depend on them.

        A kept checkpoint whose chain runs through a doomed one is re-encoded against its
        nearest kept ancestor (or as a full state), so replay never loses a checkpoint it
        keeps. One that cannot be loaded (corrupt) is removed too. Returns (removed, rebased).
        If another store adds a delta of a doomed one, or deletes a kept ancestor, meanwhile,
        the store refuses the change and this starts again from what is stored then.
        """
        rebased: list[str] = []  # over every attempt: a re-base stays done
        touched = {session_id}
        try:
            removed = retried(
                lambda: self._remove_once(session_id, set(doomed), rebased, touched)
            )
        finally:
            self.forget(touched)
        return removed, rebased

    def _remove_once(
        self, session_id: str, doomed: set[str], rebased: list[str], touched: set[str]
    ) -> list[CheckpointRecord]:
        own = {r.checkpoint_id: r for r in self.store.list(session_id)}
        doomed = doomed & set(own)
        # Forks' checkpoints may build on these: they are re-based too, and every chain
        # involved is known up to its root, whichever session holds each link.
        rows = self._with_ancestors({**own, **self._descendants(doomed)})
        for record in sorted(rows.values(), key=lambda r: r.version):  # parents first
            if record.checkpoint_id in doomed or not _depends_on(record, doomed, rows):
                continue
            stored = self.store.get(record.checkpoint_id)
            try:
                if stored is None:
                    raise blobs.corrupt(record, "vanished while pruning")
                state = self.load(stored)
            except CorruptCheckpoint:
                doomed.add(record.checkpoint_id)
                continue
            new_parent = _kept_ancestor(record, doomed, rows)
            fresh = blobs.encode(
                state,
                checkpoint_id=record.checkpoint_id,
                parent=new_parent,
                label=record.label,
                automatic=record.automatic,
                created_at=record.created_at,
            )
            touched.add(record.session_id)
            self.store.replace(fresh)
            rows[record.checkpoint_id] = fresh.without_blob()
            if record.checkpoint_id not in rebased:
                rebased.append(record.checkpoint_id)
        self.store.delete(doomed)
        return sorted((rows[i] for i in doomed), key=lambda r: r.version)

    def _descendants(self, checkpoint_ids: set[str]) -> dict[str, CheckpointRecord]:
        """Every checkpoint, of any session, whose chain runs through one of these."""
        found: dict[str, CheckpointRecord] = {}
        frontier = set(checkpoint_ids)
        while frontier:
            children = [c for c in self.store.children(frontier) if c.checkpoint_id not in found]
            found.update((c.checkpoint_id, c) for c in children)
            frontier = {c.checkpoint_id for c in children}
        return found

    # -- verify -------------------------------------------------------------------------------
    def problems(self, session_id: str) -> list[Problem]:
        """One problem per checkpoint of the session that replay would have to skip."""
        found: list[Problem] = []
        listed = self.store.list(session_id)
        known = {r.checkpoint_id for r in listed}
        for meta in listed:
            record = self.store.get(meta.checkpoint_id)
            if record is None:
                continue  # deleted meanwhile
            detail = blobs.problem(record)
            parent = record.parent_id
            # A fork's first checkpoint builds on its parent's: that one is in another session.
            if detail is None and parent is not None and parent not in known and (
                self.store.get(parent) is None
            ):
                detail = f"its parent checkpoint {parent} is missing"
            if detail is not None:
                found.append(
                    Problem(
                        session_id,
                        record.version,
                        "checkpoint",
                        f"checkpoint {record.checkpoint_id}: {detail}; replay skips it "
                        "(`sessionstore prune` removes it)",
                    )
                )
        return found


def _walk_tip(latest: CheckpointRecord, rows: dict[str, CheckpointRecord]) -> _Tip | None:
    record, links = latest, 1
    while record.parent_id is not None:
        parent = rows.get(record.parent_id)
        if parent is None:
            return None  # a broken chain: start the next one afresh
        record, links = parent, links + 1
    return _Tip(latest, record.message_count, links)


def _depends_on(record: CheckpointRecord, doomed: set[str], rows: dict[str, CheckpointRecord]) -> (
    bool
):
    parent = record.parent_id
    while parent is not None:
        if parent in doomed or parent not in rows:
            return True
        parent = rows[parent].parent_id
    return False


def _kept_ancestor(
    record: CheckpointRecord, doomed: set[str], rows: dict[str, CheckpointRecord]
) -> CheckpointRecord | None:
    parent = record.parent_id
    while parent is not None and parent in rows:
        if parent not in doomed:
            return _rebased_root_safe(rows[parent], doomed, rows)
        parent = rows[parent].parent_id
    return None


def _rebased_root_safe(
    ancestor: CheckpointRecord, doomed: set[str], rows: dict[str, CheckpointRecord]
) -> CheckpointRecord | None:
    # Records are re-based oldest first, so a kept ancestor no longer depends on a doomed one.
    return None if _depends_on(ancestor, doomed, rows) else ancestor


__all__ = ["Checkpointer"]
