"""What a what-if fork replays of its parent's later events, and how (``ReplayMixin.whatif``).

The parent's ``CheckpointCreated`` events are storage: not replayed. Its ``SessionForked``
events start other branches: not replayed either, but a fork of a finished session goes on
from ``active``, so where one did, a branch that is finished at that point is reopened
(``SessionReopened``, as the fork's own reducer step): an identity what-if ends in the
same state as the session it replays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..domain import events as ev

if TYPE_CHECKING:
    from ..core import EventRecord


@dataclass(frozen=True)
class Reopen:
    """Where fork ``fork_id`` went on from the session it was made of (reopening it if it
    was finished there), at ``at``."""

    fork_id: str | None
    at: datetime


def replayed(records: Iterable[EventRecord]) -> Iterator[EventRecord | Reopen]:
    """``records`` as a what-if replays them (see the module). A ``SessionReopened`` (a
    what-if of a what-if branch) reopens like the fork it stands for: only if finished."""
    for record in records:
        event = record.event
        if isinstance(event, ev.SessionForked):
            yield Reopen(event.session_id, event.recorded_at)
        elif isinstance(event, ev.SessionReopened):
            yield Reopen(event.fork_id, event.occurred_at or event.recorded_at)
        elif not isinstance(event, ev.CheckpointCreated):
            yield record


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
