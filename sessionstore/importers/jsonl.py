"""Importing sessionstore's own JSONL export (format ``jsonl``): reading and checking its lines.

Re-importing goes through ``store.accept``, which re-decides every event with its recorded
times: the same inputs give the same hashes, and each line's hash is checked against its
content before anything is written. A session goes on to be written (``jsonl_accept``) only
when its lines are whole.

Exports may come in any order: one of a session the store holds the first events of adds
the rest; one whose parent (a sub-agent's) is in a later file waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..domain import events as ev
from ..domain.errors import InvalidInput
from ..storage.codec import EventCodec, link_hash
from .core import ImportContext, RecordError
from .export import FORMAT_VERSION, HEADER
from .jsonl_accept import Waiting, write_session, write_waiting
from .reading import TOO_DEEP, discover, jsonl_records, scan_jsonl
from .typed import restore_types

NOT_AN_EXPORT = "not a sessionstore export: no header or event lines"


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
    waiting: list[Waiting] = []  # sessions read before their parent: written at the end
    for path in discover(paths, (".jsonl",)):
        ctx.report.files += 1
        if any(map(_is_export_line, scan_jsonl(path))):
            _ExportReader(ctx, path, waiting).read()
        else:
            ctx.not_of_format(path, NOT_AN_EXPORT)
    write_waiting(ctx, waiting)


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

    def __init__(self, ctx: ImportContext, path: Path, waiting: list[Waiting]) -> None:
        self.ctx, self.path, self.waiting = ctx, path, waiting
        self.codec = EventCodec()
        self.ends: dict[str, int] = {}  # from the header: each session's last exported version
        self.fork_points: dict[str, int] = {}  # the ancestors' fork points (lineage)
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
        self.fork_points = _fork_points(header)
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
            write_session(self.ctx, self.path, self._needed(group.events), self.waiting)

    def _needed(self, events: list[tuple[str, ev.Event]]) -> list[tuple[str, ev.Event]]:
        """An ancestor's events, without the ``CheckpointCreated`` after its fork point when
        the store holds another event there: the fork needs the history up to the fork point
        only (it comes without that checkpoint then)."""
        session_id, last = events[0][1].session_id, events[-1][1]
        point = self.fork_points.get(session_id)
        if point is None or last.version <= point or not self.ctx.exists(session_id):
            return events
        held = [r.hash for r in self.ctx.store.events(session_id, after=point, upto=point + 1)]
        if not held or held == [e.hash for _, e in events if e.version == point + 1]:
            return events
        self.ctx.ignore("a parent's CheckpointCreated after a fork point, where this store's "
                        "parent holds another event (the fork comes without that checkpoint)")
        return [(where, e) for where, e in events if e.version <= point]

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
        self.fork_points = {}

    def _not_imported(self, session_id: str, why: str) -> None:
        self.ctx.damaged.add(session_id)
        self.ctx.malformed(
            str(self.path), f"session {session_id} is not imported: {why}; the file looks "
            "truncated or damaged: export the session again"
        )


def _ends(header: dict[str, Any]) -> dict[str, int]:
    """Each session's last version in an export, from its header: the ancestors' are the fork
    points in ``lineage``; the session's own is ``last_version`` (not in format 1 exports)."""
    ends: dict[str, int] = {}
    for entry in _lineage(header):
        upto = entry.get("parent_upto")  # format 3: the checkpoint's event comes too
        ends[str(entry.get("parent_id"))] = (
            upto if isinstance(upto, int) else entry["parent_version"])
    if isinstance(header.get("last_version"), int):
        ends[str(header.get("session_id"))] = header["last_version"]
    return ends


def _fork_points(header: dict[str, Any]) -> dict[str, int]:
    """The ancestors' fork points, from the header's ``lineage``."""
    return {str(entry.get("parent_id")): entry["parent_version"] for entry in _lineage(header)}


def _lineage(header: dict[str, Any]) -> list[dict[str, Any]]:
    """The header's lineage entries that name a fork point (a damaged header has fewer)."""
    lineage = header.get("lineage")
    return [
        entry for entry in (lineage if isinstance(lineage, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("parent_version"), int)
    ]


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
