"""What a what-if fork replays of its parent's later events, and how (``ReplayMixin.whatif``).

The parent's ``CheckpointCreated`` events are storage, and its ``SessionForked`` starts
another branch: neither is replayed. A ``SessionForked`` that reopened a finished session
(a fork of one goes on from ``active``) cannot be replayed either. So the status changes
it undid (the finish, and those from which ``active`` cannot be reached again, such as
``terminating``) are not replayed, and the branch goes back to ``active`` there (``Reopen``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..domain import events as ev
from ..domain.status import TERMINAL_STATUSES, SessionStatus, recovery_path

if TYPE_CHECKING:
    from ..core import EventRecord


@dataclass(frozen=True)
class Reopen:
    """Where fork ``fork_id`` reopened the finished session it was made of."""

    fork_id: str


Key = tuple[str, int]  # an event's session and version


def replayed(records: Sequence[EventRecord]) -> Iterator[EventRecord | Reopen]:
    """``records`` as a what-if replays them (see the module)."""
    undone, reopening = _reopened(records)
    for record in records:
        key = (record.session_id, record.version)
        if key in reopening:
            yield Reopen(record.session_id)
        elif not isinstance(record.event, ev.CheckpointCreated | ev.SessionForked) and (
            key not in undone
        ):
            yield record


def _reopened(records: Iterable[EventRecord]) -> tuple[set[Key], set[Key]]:
    """The status changes that a later ``SessionForked`` in ``records`` undid by reopening
    a finished session, and those forks."""
    undone: set[Key] = set()
    reopening: set[Key] = set()
    since_open: list[Key] = []  # changes since the last status active is reachable from
    finished = False
    for record in records:
        key, event = (record.session_id, record.version), record.event
        status = _status_after(event)
        if status is not None:
            reachable = recovery_path(status, SessionStatus.ACTIVE) is not None
            since_open = [] if reachable else [*since_open, key]
            finished = status in TERMINAL_STATUSES
        elif isinstance(event, ev.SessionForked):
            if finished:
                undone.update(since_open)
                reopening.add(key)
            since_open, finished = [], False
    return undone, reopening


def _status_after(event: ev.Event) -> SessionStatus | None:
    if isinstance(event, ev.StatusChanged):
        return event.to_status
    if isinstance(event, ev.SessionCompleted):
        return SessionStatus.COMPLETED
    return None


def as_events(result: Any) -> list[Any]:
    """A transform's result as a list: None drops the event; a sequence or generator gives
    its items; anything else stands alone (and is refused if it is not an event)."""
    if result is None:
        return []
    if isinstance(result, Iterable) and not isinstance(result, str | bytes | Mapping | ev.Event):
        return list(result)
    return [result]


def retimed(event: ev.Event, now: datetime) -> ev.Event:
    """``event`` recorded ``now``, when the what-if runs, and happened when it first did:
    the branch's log runs forward in time, and ``at_time`` reaches its versions."""
    happened = event.occurred_at or event.recorded_at
    return event.model_copy(update={"recorded_at": now, "occurred_at": happened})
