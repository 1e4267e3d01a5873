"""Claude Code transcripts whose session is stored already: unchanged, grown since (the
lines written since are appended), another file of that name, or a session changed by hand
since its import (refused). Each import that wrote anything ends with ``SourceImported``:
the bytes it read and their SHA-256, where the next one starts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..domain.errors import ConcurrencyConflict
from ..domain.events import Event, StatusChanged
from ..domain.state import ImportedSource, SessionState
from ..domain.status import SessionStatus
from .claude_lines import END_OF_TRANSCRIPT, FORMAT, Lines, agent_of, read_transcript
from .core import SOURCE_HASH, ImportAborted, ImportContext
from .reading import file_fingerprint, prefix_span

EXTEND_ATTEMPTS = 3
UNCHANGED_BY_HAND = frozenset({"CheckpointCreated", "LabelChanged"})
"""Events written by hand since an import that leave the conversation as the file has it."""


def continue_transcript(
    ctx: ImportContext, path: Path, session_id: str, subagents: list[Path]
) -> bool:
    """A transcript whose session is stored (see ``_continue_from``). Another import that
    extends it at the same time makes this one's writes conflict (nothing of them is
    stored): it reads again."""
    for attempt in range(1, EXTEND_ATTEMPTS + 1):
        read_before = ctx.bytes_read
        try:
            return _continue_from(ctx, path, ctx.store.state(session_id), subagents)
        except ConcurrencyConflict:
            if attempt == EXTEND_ATTEMPTS:
                raise
            ctx.more_input(ctx.bytes_read - read_before)  # the bar counts the reading again
    raise AssertionError("unreachable")


def _continue_from(
    ctx: ImportContext, path: Path, state: SessionState, subagents: list[Path]
) -> bool:
    """Unchanged, grown since (the new lines and sidechains are added), or another file of
    that name, or a session changed by hand since (refused; nothing changed). False when
    refused."""
    where, mark = str(path), state.imported
    if mark is None:  # imported before imports noted where they stopped
        fingerprint = file_fingerprint(path)
        if state.metadata.get(SOURCE_HASH) in (fingerprint, None):
            ctx.report.already_here(state.session_id)  # unchanged (or not known)
            return True
        mark = _mark_of_first_import(ctx, path, state)
        if mark is None:  # another file of that name: refused
            ctx.already_here(state.session_id, where, fingerprint)
            return False
    span = prefix_span(path, mark.size, ctx)
    if span is None or span.sha256 != mark.sha256:
        ctx.refuse(where, (
            f"session {state.session_id} was imported from a file of this name whose first "
            f"{mark.size:,} bytes this file does not start with (it was rewritten, or another "
            "file has its name); nothing was changed. To keep this one too, import it into "
            "another store"))
        return False
    new_agents = [sub for sub in subagents if agent_of(sub) not in state.agents]
    if span.size == path.stat().st_size and not new_agents:
        ctx.report.already_here(state.session_id)
        return True
    changed = _changed_since(ctx, state.session_id, mark.version)
    try:
        with ctx.extension(state, where) as writer:
            lines = Lines(writer, span)
            lines.resume(state)
            wrote = read_transcript(writer, path, lines, subagents, mark=changed is None)
            if changed is not None:  # what it read is not stored, nor counted
                raise _ChangedByHand(wrote)
    except _ChangedByHand as nothing_new:
        if not nothing_new.wrote:
            ctx.report.already_here(state.session_id)
            return True
    except ImportAborted:  # --strict and a bad new line: the change by hand comes first
        if changed is None:
            raise
    else:
        return True
    ctx.refuse(where, (
        f"the transcript has more to import since its import (lines or sidechains), but "
        f"session {state.session_id} was changed since by hand ({changed}); nothing more "
        "was imported. To keep it all, import the file into another store"))
    return False


class _ChangedByHand(Exception):
    """The extension of a session changed by hand is rolled back; ``wrote`` says whether
    it would have added anything (it is refused then)."""

    def __init__(self, wrote: bool) -> None:
        super().__init__()
        self.wrote = wrote


def _mark_of_first_import(
    ctx: ImportContext, path: Path, state: SessionState
) -> ImportedSource | None:
    """Where the import of a session imported before imports noted it (no
    ``SourceImported``) stopped reading: the end of the file's longest prefix of whole lines
    whose hash its metadata holds (the file as it was then), at the import's closing status
    change. None when the file does not start so, or that status change is not there."""
    fingerprint = state.metadata.get(SOURCE_HASH)
    if not isinstance(fingerprint, str):
        return None
    closed = [r.version for r in ctx.store.events(state.session_id) if _closes_import(r.event)]
    size = _prefix_hashed(path, fingerprint) if closed else None
    if size is None:
        return None
    return ImportedSource(source=FORMAT, file=path.name, size=size, sha256=fingerprint,
                          version=closed[-1])


def _closes_import(event: Event) -> bool:
    """The status change with which every import of a transcript ends."""
    return (isinstance(event, StatusChanged) and event.reason == END_OF_TRANSCRIPT
            and event.to_status == SessionStatus.IDLE)


def _prefix_hashed(path: Path, sha256: str) -> int | None:
    """The size of the file's first whole lines whose SHA-256 is ``sha256``, if any."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        for line in f:
            digest.update(line)
            size += len(line)
            if digest.copy().hexdigest() == sha256:
                return size
    return None


def _changed_since(ctx: ImportContext, session_id: str, version: int) -> str | None:
    """The first event written since ``version`` that changes the conversation, if any.

    Another import that extended the session meanwhile is not a change by hand: this one
    starts again from where that one left the file (``ConcurrencyConflict``)."""
    changed: str | None = None
    for record in ctx.store.events(session_id, after=version):
        if record.type == "SourceImported":
            raise ConcurrencyConflict(f"session {session_id} was extended meanwhile")
        if changed is None and record.type not in UNCHANGED_BY_HAND:
            changed = f"{record.type} at version {record.version}"
    return changed
