"""What a what-if fork replays of its parent's later events, and how (``ReplayMixin.whatif``).

The parent's ``CheckpointCreated`` events are storage, and its ``SessionForked`` starts
another branch: neither is replayed. A ``SessionForked`` that reopened a finished session
(a fork of a completed session goes on from an open status) cannot be replayed either, so
the completion it undid is not replayed: the what-if branch stays open as that fork did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..domain import events as ev
from ..domain.status import TERMINAL_STATUSES

if TYPE_CHECKING:
    from ..core import EventRecord


def replayed(records: Sequence[EventRecord]) -> Iterator[EventRecord]:
    """``records`` without the events a what-if does not replay (see the module)."""
    undone = _reopened(records)
    for record in records:
        skipped = isinstance(record.event, ev.CheckpointCreated | ev.SessionForked)
        if not skipped and (record.session_id, record.version) not in undone:
            yield record


def _reopened(records: Iterable[EventRecord]) -> set[tuple[str, int]]:
    """The finishing events that a later ``SessionForked`` in ``records`` reopened."""
    undone: set[tuple[str, int]] = set()
    finished: tuple[str, int] | None = None
    for record in records:
        event = record.event
        if isinstance(event, ev.SessionCompleted) or (
            isinstance(event, ev.StatusChanged) and event.to_status in TERMINAL_STATUSES
        ):
            finished = (record.session_id, record.version)
        elif isinstance(event, ev.SessionForked) and finished is not None:
            undone.add(finished)
            finished = None
    return undone


def as_events(result: Any) -> list[Any]:
    """A transform's result as a list: None drops the event, a lone event stands alone."""
    if result is None:
        return []
    if isinstance(result, ev.Event):
        return [result]
    return list(result)


def retimed(event: ev.Event, now: datetime) -> ev.Event:
    """``event`` recorded ``now``, when the what-if runs, and happened when it first did:
    the branch's log runs forward in time, and ``at_time`` reaches its versions."""
    happened = event.occurred_at or event.recorded_at
    return event.model_copy(update={"recorded_at": now, "occurred_at": happened})
