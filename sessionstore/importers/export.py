"""Writing sessionstore's own JSONL export of a session (read back by ``jsonl``, format ``jsonl``).

An export is a header line, then one line per event: its place, type, times, data and hashes.
A fork's export starts with its ancestors' events up to the fork point (its lineage), so the
file alone rebuilds it. Data values JSON has no type for are written as ``typed`` describes.
"""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any

from ..domain import events as ev
from .typed import plain, typed_values

if TYPE_CHECKING:
    from ..core import EventRecord, StoreCore

HEADER = "sessionstore-export"
FORMAT_VERSION = 2  # 2: lines may carry ``types``; the header has ``last_version``


def export_jsonl(store: StoreCore, session_id: str, out: IO[str]) -> int:
    """Write ``session_id``'s events (a fork's with its lineage) to ``out``; returns the count.

    Events stream from the log page by page: memory stays flat whatever the session's length.
    """
    version = store.current_version(session_id)  # writes after this are not part of it
    header = {
        "export": HEADER,
        "format_version": FORMAT_VERSION,
        "session_id": session_id,
        "last_version": version,  # the import checks that no event is missing at the end
        "lineage": _lineage(store, session_id),
    }
    out.write(json.dumps(header) + "\n")
    count = 0
    for record in store.events(session_id, upto=version):
        out.write(json.dumps(event_line(record), ensure_ascii=False, default=plain) + "\n")
        count += 1
    return count


def _lineage(store: StoreCore, session_id: str) -> list[dict[str, Any]]:
    """The forks from the root down to ``session_id``: the ``SessionForked`` events met
    before the session's own part (its first own event ends the short read)."""
    entries = []
    for record in store.events(session_id):
        event = record.event
        if isinstance(event, ev.SessionForked):
            entries.append({"session_id": event.session_id, "parent_id": event.parent_id,
                            "parent_version": event.parent_version,
                            "checkpoint_id": event.checkpoint_id})
        if record.session_id == session_id:
            break
    return entries


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
