"""Claude Code transcripts: ``<session>.jsonl`` plus sidechains in ``<session>/subagents/``.

Each transcript becomes a session (its lines become writes in ``claude_lines``), each
sidechain a sub-agent session whose ``parent_id`` is the main session. Transcripts grow
while their agent works: an import ends with ``SourceImported`` (the bytes read and their
SHA-256), and a later import of the grown file appends only the lines written since
(``claude_growth``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .claude_growth import continue_transcript
from .claude_lines import FORMAT, IGNORED, Lines, read_transcript
from .core import ImportAborted, ImportContext, parse_time, session_uuid
from .reading import (
    SourceSpan,
    discover,
    file_fingerprint,
    scan_jsonl,
    short,
)

MAIN_AGENT = "claude-code"
PEEK_LINES = 200
MESSAGES = ("user", "assistant")
KNOWN = {*MESSAGES, "system", *IGNORED}
NOT_A_TRANSCRIPT = "not a Claude Code transcript: no message records"
NO_MESSAGES = "a Claude Code file without messages (only summary, snapshot or progress lines)"
JUST_STARTED = "no whole line yet (a transcript just started): a later import reads it"
MAX_AGENTS = 1_000
"""A transcript's session takes up to this many sub-agents: the source has no limit of its
own, and its sidechains keep coming as it grows (the domain's default of 8 is for live
orchestrators)."""


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
        return continue_transcript(ctx, path, session_id, subagents or [])
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
        taken[0] = continue_transcript(ctx, path, session_id, subagents or [])

    with ctx.session(FORMAT, source_id, str(path), fingerprint=file_fingerprint(path),
                     raced=go_on, **create) as writer:
        if writer is not None:
            read_transcript(writer, path, Lines(writer, SourceSpan()), subagents or [])
    return taken[0]


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
