"""Claude Code transcripts: ``<session>.jsonl`` plus sidechains in ``<session>/subagents/``.

Each transcript becomes a session (its lines become writes in ``claude_lines``), each
sidechain a sub-agent session whose ``parent_id`` is the main session. Transcripts grow
while their agent works: an import ends with ``SourceImported`` (the bytes read and their
SHA-256), and a later import of the grown file appends only the lines written since.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain.errors import ConcurrencyConflict
from ..domain.events import Event, StatusChanged
from ..domain.state import ImportedSource, SessionState
from ..domain.status import SessionStatus
from .claude_lines import IGNORED, Lines
from .core import (
    SOURCE_HASH,
    ImportAborted,
    ImportContext,
    SessionWriter,
    parse_time,
    session_uuid,
)
from .reading import (
    SourceSpan,
    discover,
    file_fingerprint,
    growing_jsonl_records,
    prefix_span,
    scan_jsonl,
    short,
)

FORMAT = "claude-code"
MAIN_AGENT = "claude-code"
PEEK_LINES = 200
MESSAGES = ("user", "assistant")
KNOWN = {*MESSAGES, "system", *IGNORED}
NOT_A_TRANSCRIPT = "not a Claude Code transcript: no message records"
NO_MESSAGES = "a Claude Code file without messages (only summary, snapshot or progress lines)"
END_OF_TRANSCRIPT = "end of transcript"
JUST_STARTED = "no whole line yet (a transcript just started): a later import reads it"
MAX_AGENTS = 1_000
"""A transcript's session takes up to this many sub-agents: the source has no limit of its
own, and its sidechains keep coming as it grows (the domain's default of 8 is for live
orchestrators)."""
EXTEND_ATTEMPTS = 3
UNCHANGED_BY_HAND = frozenset({"CheckpointCreated", "LabelChanged"})
"""Events written by hand since an import that leave the conversation as the file has it."""


def import_claude_code(ctx: ImportContext, paths: list[str]) -> None:
    """Main transcripts with their sidechains. A sidechain named alone (or in a folder
    without its main transcript) brings its main transcript when that file is there and
    not in the store yet: written after it, a sub-agent would stay unlinked for good."""
    files = discover(paths, (".jsonl",))
    named = {path.resolve() for path in files}  # and, as they come along, the files read
    for path in files:
        if path.resolve().parent.name == "subagents":
            _import_sidechain(ctx, path, named)
        else:
            _import_main(ctx, path, named)


def _import_sidechain(ctx: ImportContext, path: Path, named: set[Path]) -> None:
    """A sidechain named alone: with its main transcript when that one can come too."""
    main = _main_transcript(path)
    if main in named:
        return  # imported with its main session
    if _may_pull_in(ctx, main):
        named.add(main)
        ctx.more_input(main.stat().st_size)
        try:
            _import_main(ctx, main, named)
            return
        except ImportAborted as stop:
            if _existing(ctx, main.stem) is not None:
                raise  # --strict stopped in a sidechain of it: a stop like any other
            # --strict stopped the main, which is not the file asked for: without it
            ctx.report.skipped_files.append(f"{main}: {stop}")
    ctx.report.files += 1
    parent_source = main.stem
    _import_file(ctx, path, f"{parent_source}/{path.stem}", _existing(ctx, parent_source))


def _may_pull_in(ctx: ImportContext, main: Path) -> bool:
    """Whether a sidechain's main transcript is a conversation not in the store yet."""
    return main.is_file() and _existing(ctx, main.stem) is None and _peek(main).messages


def _import_main(ctx: ImportContext, path: Path, named: set[Path]) -> None:
    """A main transcript, then its sidechains (``<session>/subagents/*.jsonl``)."""
    ctx.report.files += 1
    subagents = _subagents(path)
    unnamed = [sub for sub in subagents if sub.resolve() not in named]
    ctx.more_input(sum(sub.stat().st_size for sub in unnamed))  # the bar counts named ones
    named.update(sub.resolve() for sub in unnamed)
    taken = _import_file(ctx, path, path.stem, None, subagents)
    parent_id = _existing(ctx, path.stem)
    for sub in subagents:
        ctx.report.files += 1
        source_id = f"{path.stem}/{sub.stem}"
        if taken or _existing(ctx, source_id) is not None:
            _import_file(ctx, sub, source_id, parent_id)
        else:
            ctx.refuse(str(sub), (
                f"a new sidechain of session {parent_id}, which this import refused (see "
                f"{path.name}); not imported, so that it is not linked to a session that "
                "does not list it"))


def _just_started(path: Path) -> bool:
    """Whether the file holds no whole line yet: empty, or its first line half written."""
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            if b"\n" in chunk:
                return False
    return True


def _subagents(main: Path) -> list[Path]:
    return sorted((main.parent / main.stem / "subagents").glob("*.jsonl"))


def _agent_of(sidechain: Path) -> str:
    return sidechain.stem.removeprefix("agent-")


def _main_transcript(sidechain: Path) -> Path:
    """``<project>/<session>.jsonl`` for ``<project>/<session>/subagents/<agent>.jsonl``."""
    session_folder = sidechain.resolve().parent.parent
    return session_folder.parent / f"{session_folder.name}.jsonl"


def _existing(ctx: ImportContext, source_id: str) -> str | None:
    session_id = session_uuid(FORMAT, source_id)
    return session_id if ctx.exists(session_id) else None


def _import_file(
    ctx: ImportContext,
    path: Path,
    source_id: str,
    parent_id: str | None,
    subagents: list[Path] | None = None,
) -> bool:
    """Import one transcript; False when its stored session was refused (its new
    sidechains are not linked to it then)."""
    peek = _peek(path)
    if not peek.messages:  # a session of no messages would be noise in every listing
        if _just_started(path):
            ctx.nothing_to_import(path, JUST_STARTED)
        elif peek.recognised:
            ctx.nothing_to_import(path, NO_MESSAGES)
        else:
            ctx.not_of_format(path, NOT_A_TRANSCRIPT)
        return True
    session_id = session_uuid(FORMAT, source_id)
    if ctx.exists(session_id):
        return _continue(ctx, path, session_id, subagents or [])
    header = peek.facts
    agent_id = header.get("agentId") or MAIN_AGENT
    create: dict[str, Any] = dict(
        name=" ".join(["claude-code", source_id[:8], *source_id.split("/")[1:]]),
        kind="subagent" if parent_id or header.get("agentId") else "main",
        agent_id=agent_id,
        parent_id=parent_id,
        task=short(header.get("task"), 500),
        project_dir=header.get("cwd"),
        max_agents=MAX_AGENTS,
        metadata={
            k: header[k] for k in ("sessionId", "gitBranch", "version", "slug") if k in header
        } | {"source": FORMAT, "file": path.name},
        occurred_at=parse_time(header.get("timestamp")),
    )
    taken = [True]

    def go_on() -> None:  # another import wrote the session first: go on from there
        taken[0] = _continue(ctx, path, session_id, subagents or [])

    with ctx.session(FORMAT, source_id, str(path), fingerprint=file_fingerprint(path),
                     raced=go_on, **create) as writer:
        if writer is not None:
            _read(writer, path, Lines(writer, SourceSpan()), subagents or [])
    return taken[0]


def _read(
    writer: SessionWriter, path: Path, lines: Lines, subagents: list[Path], *, mark: bool = True
) -> bool:
    """The transcript's lines after ``lines.span``, then (with ``mark``) where the import
    leaves the file, whenever it wrote anything: its own writes are not changes by hand.
    Whether the lines had anything to add (tried, even if refused), status and mark aside."""
    span, start, version, attempts = lines.span, lines.span.size, writer.version, writer.attempts
    for sub in subagents:
        writer.ensure_agent(_agent_of(sub), str(sub), role="subagent",
                            metadata={"file": sub.name})
    for where, record in growing_jsonl_records(path, writer.ctx, span):
        with writer.ctx.record(where):
            lines.apply(where, record)
    lines.end()
    wrote = writer.attempts != attempts
    writer.status("idle", str(path), reason=END_OF_TRANSCRIPT)
    if mark and (start == 0 or writer.version != version):  # not for skipped lines alone
        writer.source_read(FORMAT, path.name, span)
    return wrote


def _continue(ctx: ImportContext, path: Path, session_id: str, subagents: list[Path]) -> bool:
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
    new_agents = [sub for sub in subagents if _agent_of(sub) not in state.agents]
    if span.size == path.stat().st_size and not new_agents:
        ctx.report.already_here(state.session_id)
        return True
    changed = _changed_since(ctx, state.session_id, mark.version)
    try:
        with ctx.extension(state, where) as writer:
            lines = Lines(writer, span)
            lines.resume(state)
            wrote = _read(writer, path, lines, subagents, mark=changed is None)
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


@dataclass
class _Peek:
    """A first look at a transcript: whether it holds messages, and the session's facts."""

    facts: dict[str, Any] = field(default_factory=dict)
    recognised: bool = False  # a line of a known Claude Code type
    messages: bool = False  # a user or assistant line


def _peek(path: Path) -> _Peek:
    """Session facts from the first conversation lines (cwd, branch, first prompt, agent id),
    reading on past them only until a message shows the file is a conversation."""
    peek = _Peek()
    for n, record in enumerate(scan_jsonl(path)):
        if n >= PEEK_LINES and peek.messages:
            break
        kind = record.get("type") if isinstance(record, dict) else None
        if not isinstance(kind, str) or kind not in KNOWN:
            continue
        peek.recognised = True
        if kind in MESSAGES:
            peek.messages = True
            if n < PEEK_LINES:
                _facts(record, peek.facts)
    return peek


def _facts(record: dict[str, Any], found: dict[str, Any]) -> None:
    for key in ("cwd", "gitBranch", "version", "slug", "agentId", "sessionId", "timestamp"):
        if record.get(key) and key not in found:
            found[key] = record[key]
    message = record.get("message")
    if "task" not in found and record["type"] == "user" and isinstance(message, dict):
        text = message.get("content")
        if isinstance(text, str) and not record.get("isMeta"):
            found["task"] = text
