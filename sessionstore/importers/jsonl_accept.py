"""Writing the sessions read from an export into the store, through ``store.accept``.

A session is created, or, when the store holds its first events, extended with the rest; one
whose parent is not in the store yet waits for the files read after it to bring the parent. A
session's events are accepted in one batch, all or none, and must get the hashes they were
exported with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..domain import events as ev
from ..domain.errors import BackendError, ConcurrencyConflict, IntegrityError, SessionStoreError
from .core import ImportContext


@dataclass
class Waiting:
    """A whole session whose parent was not in the store when its file was read."""

    path: Path
    events: list[tuple[str, ev.Event]]


def write_waiting(ctx: ImportContext, waiting: list[Waiting]) -> None:
    """Files come in name order, not parents first (a folder of exports named by session
    id): write each waiting session once its parent is in, passing over them until a pass
    writes nothing more; those left are refused with what to do."""
    while waiting:
        left: list[Waiting] = []
        for session in waiting:
            write_session(ctx, session.path, session.events, left)
        if len(left) == len(waiting):
            break
        waiting = left
    for session in waiting:
        write_session(ctx, session.path, session.events)


def write_session(ctx: ImportContext, path: Path, group: list[tuple[str, ev.Event]],
                  waiting: list[Waiting] | None = None) -> None:
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
        waiting.append(Waiting(path, group))
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
    role = "it forks" if isinstance(first, ev.SessionForked) else "its parent is"
    if parent in ctx.damaged and not ctx.exists(parent):
        return (f"{role} session {parent}, whose events in this import are damaged (reported "
                "with the malformed records): export the sessions again")
    if not ctx.exists(parent):
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
