"""Writing sessionstore's own JSONL export of a session (read back by ``jsonl``, format ``jsonl``).

An export is a header line, then one line per event: its place, type, times, data and hashes.
A fork's export starts with its ancestors' events up to the fork point (its lineage), so the
file alone rebuilds it; a fork made at an explicit checkpoint also carries the parent's
``CheckpointCreated`` of it (the event after the fork point), so the checkpoint comes back
too. Data values JSON has no type for are written as ``typed`` describes.
"""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any

from ..domain import events as ev
from .typed import plain, typed_values

if TYPE_CHECKING:
    from ..core import EventRecord, StoreCore

HEADER = "sessionstore-export"
FORMAT_VERSION = 3
"""2: lines may carry ``types``; the header has ``last_version``. 3: events may be of the
types ``SourceImported`` and ``SessionReopened``, and a lineage entry may have
``parent_upto``, the parent's last exported version when it is past the fork point (the
``CheckpointCreated`` of the checkpoint the fork was made at). Older readers refuse
format 3 with "upgrade", rather than taking part of an export they cannot read."""


def export_jsonl(store: StoreCore, session_id: str, out: IO[str]) -> int:
    """Write ``session_id``'s events (a fork's with its lineage) to ``out``; returns the count.

    Events stream from the log page by page: memory stays flat whatever the session's length.
    """
    version = store.current_version(session_id)  # writes after this are not part of it
    lineage, checkpoint_events = _lineage(store, session_id)
    header = {
        "export": HEADER,
        "format_version": FORMAT_VERSION,
        "session_id": session_id,
        "last_version": version,  # the import checks that no event is missing at the end
        "lineage": lineage,
    }
    out.write(json.dumps(header) + "\n")
    count, part = 0, session_id
    for record in store.events(session_id, upto=version):
        if record.session_id != part:  # an ancestor's part ends: its checkpoint's event
            count += _write(out, checkpoint_events.pop(part, []))
            part = record.session_id
        count += _write(out, [record])
    return count


def _write(out: IO[str], records: list[EventRecord]) -> int:
    for record in records:
        out.write(json.dumps(event_line(record), ensure_ascii=False, default=plain) + "\n")
    return len(records)


def _lineage(
    store: StoreCore, session_id: str
) -> tuple[list[dict[str, Any]], dict[str, list[EventRecord]]]:
    """The forks from the root down to ``session_id`` (the ``SessionForked`` events met
    before the session's own part: its first own event ends the short read), and the
    ``CheckpointCreated`` of each checkpoint a fork was made at, by the parent it is of."""
    entries, checkpoint_events = [], {}
    for record in store.events(session_id):
        event = record.event
        if isinstance(event, ev.SessionForked):
            entry = {"session_id": event.session_id, "parent_id": event.parent_id,
                     "parent_version": event.parent_version,
                     "checkpoint_id": event.checkpoint_id}
            made_at = _checkpoint_event(store, event)
            if made_at is not None:
                checkpoint_events[event.parent_id] = [made_at]
                entry["parent_upto"] = made_at.version
            entries.append(entry)
        if record.session_id == session_id:
            break
    return entries, checkpoint_events


def _checkpoint_event(store: StoreCore, fork: ev.SessionForked) -> EventRecord | None:
    """The parent's ``CheckpointCreated`` of the checkpoint ``fork`` was made at, if any
    (it comes right after the version it saves; an automatic checkpoint has none)."""
    if fork.checkpoint_id is None:
        return None
    after = fork.parent_version
    for record in store.events(fork.parent_id, after=after, upto=after + 1):
        event = record.event
        if isinstance(event, ev.CheckpointCreated) and event.checkpoint_id == fork.checkpoint_id:
            return record
    return None


def event_line(record: EventRecord) -> dict[str, Any]:
    line = {
        "session_id": record.session_id,
        "version": record.version,
        "type": record.type,
        "recorded_at": record.recorded_at.isoformat(),
        "occurred_at": record.occurred_at.isoformat() if record.occurred_at else None,
        "data": record.data,
        "prev_hash": record.prev_hash.hex(),
        "hash": record.hash.hex(),
    }
    types = typed_values(record.data)
    if types:
        line["types"] = types
    return line
