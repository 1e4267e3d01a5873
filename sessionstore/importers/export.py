"""sessionstore's own JSONL export, and its re-import (format ``jsonl``).

An export is a header line, then one line per event: its place, type, times, data and hashes.
A fork's export starts with its ancestors' events up to the fork point (its lineage), so the
file alone rebuilds it. Re-importing goes through ``store.accept``, which re-decides every
event with its recorded times: the same inputs give the same hashes, and each line's hash is
checked against its content before anything is written.

Event data may hold values JSON has no type for (bytes, aware datetimes): they are written as
base64 or ISO 8601 text, and the line's ``types`` names each by its JSON Pointer into
``data`` (``{"/metadata/when": "datetime"}``), so the import restores the exact value, which
the hash covers.

Exports may come in any order: one of a session the store holds the first events of adds
the rest; one whose parent (a sub-agent's) is in a later file waits for it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from ..domain import events as ev
from ..domain.errors import (
    BackendError,
    ConcurrencyConflict,
    IntegrityError,
    InvalidInput,
    SessionStoreError,
)
from ..storage.codec import EventCodec, link_hash
from .core import TOO_DEEP, ImportContext, RecordError, discover, jsonl_records, scan_jsonl

if TYPE_CHECKING:
    from ..core import EventRecord, StoreCore

HEADER = "sessionstore-export"
NOT_AN_EXPORT = "not a sessionstore export: no header or event lines"
FORMAT_VERSION = 2  # 2: lines may carry ``types``; the header has ``last_version``
RESTORE: dict[str, Callable[[str], Any]] = {
    "bytes": lambda text: base64.b64decode(text, validate=True),
    "datetime": lambda text: _aware(datetime.fromisoformat(text)),
}


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
        out.write(json.dumps(event_line(record), ensure_ascii=False, default=_plain) + "\n")
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


def typed_values(data: dict[str, Any]) -> dict[str, str]:
    """The JSON Pointer of each value in ``data`` that JSON would turn into text, and its type.

    A loop, not recursion: data may nest as deep as the store allows."""
    found: dict[str, str] = {}
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            items = [(f"{path}/{_escape(str(k))}", v) for k, v in value.items()]
            pending.extend(reversed(items))  # in document order: the same data, the same line
        elif isinstance(value, list | tuple):
            pending.extend(reversed([(f"{path}/{n}", v) for n, v in enumerate(value)]))
        elif isinstance(value, bytes | datetime):
            found[path] = "bytes" if isinstance(value, bytes) else "datetime"
    return found


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")  # RFC 6901


def _plain(value: Any) -> Any:
    # Enums, and the values ``typed_values`` names; floats stay as json writes them.
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def restore_types(data: dict[str, Any], types: Any) -> None:
    """Put back in ``data`` the bytes and datetimes that ``types`` names; ``RecordError`` if
    it names what is not there."""
    if types is None:
        return
    if not isinstance(types, dict):
        raise RecordError("types must map JSON Pointers into data to bytes or datetime")
    for pointer, kind in types.items():
        restore = RESTORE.get(kind)
        if restore is None:
            raise RecordError(f"types names {kind!r} at {pointer!r}; known: bytes, datetime")
        parent, key = _locate(data, pointer)
        try:
            parent[key] = restore(parent[key])
        except (TypeError, ValueError, binascii.Error) as e:
            raise RecordError(f"the {kind} at {pointer!r} cannot be read: {e}") from None


def _locate(data: dict[str, Any], pointer: str) -> tuple[Any, Any]:
    """The container holding the value at ``pointer`` and its key (or index) there."""
    if not pointer.startswith("/"):
        raise RecordError(f"{pointer!r} is not a JSON Pointer into data")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
    parent: Any = data
    try:
        for token in tokens[:-1]:
            parent = parent[_key(parent, token)]
        key = _key(parent, tokens[-1])
        parent[key]  # it must be there: a KeyError or IndexError if not
    except (KeyError, IndexError, TypeError, ValueError):
        raise RecordError(f"types names {pointer!r}, which is not in data") from None
    return parent, key


def _key(container: Any, token: str) -> Any:
    if not isinstance(container, list):
        return token
    if not token.isdecimal():
        raise ValueError(f"{token!r} is not a list index")
    return int(token)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("it has no time zone")
    return moment


def parse_line(line: Any) -> ev.Event:
    """The event a line describes, with its exported hashes; ``RecordError`` if it cannot be."""
    if not isinstance(line, dict) or not isinstance(line.get("data"), dict):
        raise RecordError("an event line needs session_id, version, type, times, data, hashes")
    cls = ev.EVENT_TYPES.get(str(line.get("type")))
    if cls is None:
        raise RecordError(f"unknown event type {line.get('type')!r}")
    restore_types(line["data"], line.get("types"))
    try:
        return cls.model_validate(
            {
                **line["data"],
                "session_id": line.get("session_id"),
                "version": line.get("version"),
                "recorded_at": line.get("recorded_at"),
                "occurred_at": line.get("occurred_at"),
                "prev_hash": bytes.fromhex(str(line.get("prev_hash", ""))),
                "hash": bytes.fromhex(str(line.get("hash", ""))),
            }
        )
    except (ValidationError, ValueError) as e:
        raise RecordError(f"not a valid {cls.__name__}: {e}".splitlines()[0]) from None


def import_export(ctx: ImportContext, paths: list[str]) -> None:
    waiting: list[_Waiting] = []  # sessions read before their parent: written at the end
    for path in discover(paths, (".jsonl",)):
        ctx.report.files += 1
        if any(map(_is_export_line, scan_jsonl(path))):
            _ExportReader(ctx, path, waiting).read()
        else:
            ctx.not_of_format(path, NOT_AN_EXPORT)
    _write_waiting(ctx, waiting)


@dataclass
class _Waiting:
    """A whole session whose parent was not in the store when its file was read."""

    path: Path
    events: list[tuple[str, ev.Event]]


def _write_waiting(ctx: ImportContext, waiting: list[_Waiting]) -> None:
    """Files come in name order, not parents first (a folder of exports named by session
    id): write each waiting session once its parent is in, passing over them until a pass
    writes nothing more; those left are refused with what to do."""
    while waiting:
        left: list[_Waiting] = []
        for session in waiting:
            _write(ctx, session.path, session.events, left)
        if len(left) == len(waiting):
            break
        waiting = left
    for session in waiting:
        _write(ctx, session.path, session.events)


def _is_export_line(line: Any) -> bool:
    return isinstance(line, dict) and (
        line.get("export") == HEADER or str(line.get("type")) in ev.EVENT_TYPES)


@dataclass
class _Group:
    """One session's consecutive lines, written only if they are the whole of its export."""

    session_id: str
    events: list[tuple[str, ev.Event]] = field(default_factory=list)
    damage: str | None = None  # the first line of it that could not be read


class _ExportReader:
    """Reads one export file, session by session.

    A session is written only if its lines are whole: every line read, from its first event
    to the last one the header promises. A file cut short or damaged (a copy that stopped
    half way, a line lost) must not leave a partial session behind: its complete export
    would then be refused as different.
    """

    def __init__(self, ctx: ImportContext, path: Path, waiting: list[_Waiting]) -> None:
        self.ctx, self.path, self.waiting = ctx, path, waiting
        self.codec = EventCodec()
        self.ends: dict[str, int] = {}  # from the header: each session's last exported version
        self.promised: str | None = None  # the session the header says the export is of
        self.seen: set[str] = set()
        self.group: _Group | None = None
        self.pending: str | None = None  # a damaged line between sessions: the next one's
        self.newer = False

    def read(self) -> None:
        # No depth limit: an export holds what the store took; only what json cannot parse
        # (nested about a thousand levels) is refused.
        lines = jsonl_records(self.path, self.ctx, on_bad_line=self._damaged, max_depth=None)
        for where, line in lines:
            if isinstance(line, dict) and line.get("export") == HEADER:
                self._header(where, line)
            elif self.newer:
                self.ctx.ignore("export lines of a format newer than this sessionstore reads")
            else:
                self._line(where, line)
        self._end_of_export()

    def _header(self, where: str, header: dict[str, Any]) -> None:
        self._end_of_export()  # exports appended to one file: the previous one ends here
        version = header.get("format_version")
        self.newer = isinstance(version, int) and version > FORMAT_VERSION
        if self.newer:
            self.ctx.malformed(where, f"this export has format {version}, newer than this "
                               f"sessionstore reads ({FORMAT_VERSION}): upgrade sessionstore")
            return
        self.ends = _ends(header)
        promised = header.get("session_id")
        self.promised = promised if isinstance(promised, str) else None

    def _line(self, where: str, line: Any) -> None:
        session = line.get("session_id") if isinstance(line, dict) else None
        if isinstance(session, str) and (self.group is None or self.group.session_id != session):
            self._flush()
            self.group, self.pending = _Group(session, damage=self.pending), None
        if self.group is not None and self.group.damage:
            self.ctx.ignore("export lines after a damaged line of their session")
            return
        try:
            event = _read_event(self.codec, line, self.group.events if self.group else [])
        except RecordError as e:
            self._damaged(where, str(e))
            return
        assert self.group is not None  # a valid event names its session: its group started
        self.group.events.append((where, event))

    def _damaged(self, where: str, message: str) -> None:
        """A line that cannot be read: the session it falls in is not whole. Between a
        session that the header shows complete and the next, it is the next one's."""
        self.ctx.malformed(where, message)
        line = where.rsplit(":", 1)[1]
        if self.group is not None and not self._complete(self.group):
            self.group.damage = self.group.damage or line
        else:
            self.pending = self.pending or line

    def _complete(self, group: _Group) -> bool:
        end = self.ends.get(group.session_id)
        return bool(group.events) and end is not None and group.events[-1][1].version == end

    def _flush(self) -> None:
        group, self.group = self.group, None
        if group is None:
            return
        self.seen.add(group.session_id)
        gap = self._gap(group)
        if gap is not None:
            self._not_imported(group.session_id, gap)
        else:
            _write(self.ctx, self.path, group.events, self.waiting)

    def _gap(self, group: _Group) -> str | None:
        """Why ``group`` is not the whole of its session's export, or ``None``."""
        if group.damage is not None:
            return f"its line {group.damage} could not be used"
        if not group.events:
            return "none of its events could be read"
        first, last = group.events[0][1], group.events[-1][1]
        if not isinstance(first, ev.SessionCreated | ev.SessionForked):
            return f"its events start at event {first.version}, not at its beginning"
        end = self.ends.get(group.session_id)
        if end is not None and last.version != end:
            return f"it stops at event {last.version} of {end}"
        return None

    def _end_of_export(self) -> None:
        self._flush()
        if self.promised is not None and self.promised not in self.seen:
            self._not_imported(self.promised, "the file ends before its events")
        self.ends, self.promised, self.seen, self.pending = {}, None, set(), None

    def _not_imported(self, session_id: str, why: str) -> None:
        self.ctx.malformed(
            str(self.path), f"session {session_id} is not imported: {why}; the file looks "
            "truncated or damaged: export the session again"
        )


def _ends(header: dict[str, Any]) -> dict[str, int]:
    """Each session's last version in an export, from its header: the ancestors' are the fork
    points in ``lineage``; the session's own is ``last_version`` (not in format 1 exports)."""
    ends: dict[str, int] = {}
    lineage = header.get("lineage")
    for entry in lineage if isinstance(lineage, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("parent_version"), int):
            ends[str(entry.get("parent_id"))] = entry["parent_version"]
    if isinstance(header.get("last_version"), int):
        ends[str(header.get("session_id"))] = header["last_version"]
    return ends


def _read_event(codec: EventCodec, line: Any, group: list[tuple[str, ev.Event]]) -> ev.Event:
    """The event on ``line``, checked against its hash and the line before it."""
    try:
        event = parse_line(line)
        _check_hash(codec, event, group)
    except InvalidInput as e:  # a value the store now refuses: it cannot be imported
        raise RecordError(str(e)) from None
    except RecursionError:
        raise RecordError(TOO_DEEP) from None
    return event


def _check_hash(codec: EventCodec, event: ev.Event, group: list[tuple[str, ev.Event]]) -> None:
    previous = group[-1][1] if group else None
    same_session = previous is not None and previous.session_id == event.session_id
    if same_session and previous and (
        event.prev_hash != previous.hash or event.version != previous.version + 1
    ):
        raise RecordError(f"event {event.version} does not follow event {previous.version}")
    body = codec.encode_body(event)
    digest = link_hash(event.prev_hash, event.type_name, event.session_id, event.version, body)
    if digest != event.hash:
        raise RecordError(
            f"the hash of {event.type_name} {event.version} does not match its content: "
            "the export was altered"
        )


def _write(ctx: ImportContext, path: Path, group: list[tuple[str, ev.Event]],
           waiting: list[_Waiting] | None = None) -> None:
    """Write one session's whole export: create it, or complete what the store holds of it.

    A session whose parent is not in the store yet goes to ``waiting`` when given (a later
    file may bring the parent), else it is refused with what to do.
    """
    session_id = group[0][1].session_id
    if ctx.exists(session_id):
        _extend(ctx, path, group)
        return
    first = group[0][1]
    if waiting is not None and _parent_missing(ctx, first):
        waiting.append(_Waiting(path, group))
        return
    refusal = _cannot_start(ctx, first)
    if refusal is not None:
        ctx.refuse(str(path), f"session {session_id} is not imported: {refusal}")
    elif _append(ctx, group):
        ctx.report.created.append(session_id)


def _extend(ctx: ImportContext, path: Path, group: list[tuple[str, ev.Event]]) -> None:
    """A session the store holds already. If its events are the export's first ones (its
    hash at the last version both hold is the export's: the chain vouches for every event
    before), the export's later events are appended; if they differ, nothing changes."""
    session_id = group[0][1].session_id
    version = ctx.store.current_version(session_id)
    shared = min(version, group[-1][1].version)
    exported = next((e.hash for _, e in group if e.version == shared), None)
    if exported != _hash_at(ctx, session_id, shared):
        ctx.refuse(str(path), f"session {session_id} is not imported: this store holds "
                   f"different events for it (at event {shared}), so the two hold different "
                   "histories of it; it was not changed. To keep both, import the file into "
                   "another store")
        return
    later = [(where, e) for where, e in group if e.version > version]
    if not later:
        ctx.report.already_here(session_id)
    elif _append(ctx, later):
        ctx.report.extended.append(session_id)


def _parent_missing(ctx: ImportContext, first: ev.Event) -> bool:
    parent = _parent_of(first)
    return parent is not None and not ctx.exists(parent)


def _parent_of(first: ev.Event) -> str | None:
    """The session a sub-agent's or a fork's first event names as its parent."""
    return first.parent_id if isinstance(first, ev.SessionCreated | ev.SessionForked) else None


def _cannot_start(ctx: ImportContext, first: ev.Event) -> str | None:
    """Why the store cannot start the session ``first`` starts, and what to do, or ``None``.

    Its parent must be there; a fork's parent must also hold, at the fork point, the event
    the fork's hash links to, or the fork would be stored on another history than its own.
    """
    parent = _parent_of(first)
    if parent is None:
        return None
    if not ctx.exists(parent):
        role = "it forks" if isinstance(first, ev.SessionForked) else "its parent is"
        return (f"{role} session {parent}, which is not in this store; import {parent}'s "
                "export first, then this file again")
    if not isinstance(first, ev.SessionForked):
        return None
    at, held = first.parent_version, ctx.store.current_version(parent)
    if held < at:
        return (f"it forks session {parent} at event {at}, but this store holds {held} of its "
                f"events; import an export of {parent} that reaches event {at} first")
    if _hash_at(ctx, parent, at) != first.prev_hash:
        return (f"it forks session {parent} at event {at}, where this store holds different "
                f"events of {parent}; to keep both histories, import the file into another store")
    return None


def _append(ctx: ImportContext, group: list[tuple[str, ev.Event]]) -> bool:
    """Accept ``group``'s events in one batch, all or none; whether they were written."""
    session_id = group[0][1].session_id
    try:
        with ctx.store.batch():
            for where, event in group:  # noqa: B007 (where names the refused line)
                _accept_in_place(ctx, session_id, event)
    except (BackendError, ConcurrencyConflict):
        raise
    except SessionStoreError as e:  # the domain refused an event: nothing was written
        ctx.malformed(where, str(e))
        return False
    first, last = group[0][1].version, group[-1][1].version
    stored = [r.hash for r in ctx.store.events(session_id, after=first - 1, upto=last)]
    if stored != [e.hash for _, e in group]:  # cannot happen unless the domain rules changed
        raise IntegrityError(
            f"{group[0][0]}: re-imported session {session_id} got other hashes than exported"
        )
    ctx.report.events += len(group)
    return True


def _accept_in_place(ctx: ImportContext, session_id: str, event: ev.Event) -> None:
    """``accept`` numbers an event to follow what the session holds: one that lands at
    another version means another writer added events after the import looked."""
    if ctx.store.accept(session_id, event) != event.version:
        raise ConcurrencyConflict(
            f"session {session_id} was written to while it was imported; nothing of this "
            "import of it was written: import the file again"
        )


def _hash_at(ctx: ImportContext, session_id: str, version: int) -> bytes:
    found = list(ctx.store.events(session_id, after=version - 1, upto=version))
    return found[0].hash if found else b""
