"""Claude Code transcripts: ``<session>.jsonl`` plus sidechains in ``<session>/subagents/``.

Each line is one record. ``user`` lines become user messages, their ``tool_result`` blocks
tool messages; ``assistant`` lines (one per content block, sharing the API message's id and
usage) become assistant messages with their text, ``tool_use`` blocks as tool calls and
``thinking`` in metadata. ``system`` compact boundaries become ``ContextCompacted`` events.
Sidechain files become sub-agent sessions whose ``parent_id`` is the main session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain.state import SessionState
from .core import (
    ImportAborted,
    ImportContext,
    RecordError,
    SessionWriter,
    parse_time,
    session_uuid,
)
from .reading import (
    SourceSpan,
    discover,
    file_fingerprint,
    growing_jsonl_records,
    obj,
    prefix_span,
    scan_jsonl,
    short,
    text_of,
    tokens,
)

FORMAT = "claude-code"
MAIN_AGENT = "claude-code"
IGNORED = {
    "progress": "claude-code progress lines (tool progress updates)",
    "file-history-snapshot": "claude-code file-history snapshots (editor state)",
    "queue-operation": "claude-code queue operations (queued prompts reappear as user lines)",
    "summary": "claude-code summary lines (session titles)",
}
PEEK_LINES = 200
MESSAGES = ("user", "assistant")
KNOWN = {*MESSAGES, "system", *IGNORED}
NOT_A_TRANSCRIPT = "not a Claude Code transcript: no message records"
NO_MESSAGES = "a Claude Code file without messages (only summary, snapshot or progress lines)"


def import_claude_code(ctx: ImportContext, paths: list[str]) -> None:
    """Main transcripts with their sidechains. A sidechain named alone (or in a folder
    without its main transcript) brings its main transcript when that file is there and
    not in the store yet: written after it, a sub-agent would stay unlinked for good."""
    files = discover(paths, (".jsonl",))
    mains = {path.resolve() for path in files}
    for path in files:
        if path.resolve().parent.name == "subagents":
            _import_sidechain(ctx, path, mains)
        else:
            _import_main(ctx, path)


def _import_sidechain(ctx: ImportContext, path: Path, mains: set[Path]) -> None:
    """A sidechain named alone: with its main transcript when that one can come too."""
    main = _main_transcript(path)
    if main in mains:
        return  # imported with its main session
    if _may_pull_in(ctx, main):
        mains.add(main)
        ctx.more_input(main.stat().st_size + sum(  # the bar counts the named files only
            sub.stat().st_size for sub in _subagents(main) if sub.resolve() not in mains))
        try:
            _import_main(ctx, main)
            return
        except ImportAborted as stop:  # --strict: the main is not the file asked for
            ctx.report.skipped_files.append(f"{main}: {stop}")
    ctx.report.files += 1
    parent_source = main.stem
    _import_file(ctx, path, f"{parent_source}/{path.stem}", _existing(ctx, parent_source))


def _may_pull_in(ctx: ImportContext, main: Path) -> bool:
    """Whether a sidechain's main transcript is a conversation not in the store yet."""
    return main.is_file() and _existing(ctx, main.stem) is None and _peek(main).messages


def _import_main(ctx: ImportContext, path: Path) -> None:
    """A main transcript, then its sidechains (``<session>/subagents/*.jsonl``)."""
    ctx.report.files += 1
    subagents = _subagents(path)
    _import_file(ctx, path, path.stem, None, subagents)
    parent_id = _existing(ctx, path.stem)
    for sub in subagents:
        ctx.report.files += 1
        _import_file(ctx, sub, f"{path.stem}/{sub.stem}", parent_id)


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
) -> None:
    peek = _peek(path)
    if not peek.messages:  # a session of no messages would be noise in every listing
        if peek.recognised:
            ctx.nothing_to_import(path, NO_MESSAGES)
        else:
            ctx.not_of_format(path, NOT_A_TRANSCRIPT)
        return
    session_id = session_uuid(FORMAT, source_id)
    if ctx.exists(session_id):
        _continue(ctx, path, ctx.store.state(session_id), subagents or [])
        return
    header = peek.facts
    agent_id = header.get("agentId") or MAIN_AGENT
    create: dict[str, Any] = dict(
        name=" ".join(["claude-code", source_id[:8], *source_id.split("/")[1:]]),
        kind="subagent" if parent_id or header.get("agentId") else "main",
        agent_id=agent_id,
        parent_id=parent_id,
        task=short(header.get("task"), 500),
        project_dir=header.get("cwd"),
        max_agents=max(8, len(subagents or []) + 1),
        metadata={
            k: header[k] for k in ("sessionId", "gitBranch", "version", "slug") if k in header
        } | {"source": FORMAT, "file": path.name},
        occurred_at=parse_time(header.get("timestamp")),
    )
    with ctx.session(FORMAT, source_id, str(path), fingerprint=file_fingerprint(path),
                     **create) as writer:
        if writer is None:
            return
        _read(writer, path, SourceSpan(), subagents or [])


def _read(writer: SessionWriter, path: Path, span: SourceSpan, subagents: list[Path],
          lines: _Lines | None = None) -> None:
    """The transcript's lines after ``span``, then where the import leaves the file."""
    for sub in subagents:
        writer.ensure_agent(sub.stem.removeprefix("agent-"), str(sub), role="subagent",
                            metadata={"file": sub.name})
    lines = lines or _Lines(writer)
    for where, record in growing_jsonl_records(path, writer.ctx, span):
        with writer.ctx.record(where):
            lines.apply(where, record)
    lines.flush_compaction()
    writer.status("idle", str(path), reason="end of transcript")
    writer.source_read(FORMAT, path.name, span)


def _continue(ctx: ImportContext, path: Path, state: SessionState, subagents: list[Path]) -> None:
    """A transcript whose session is stored: unchanged, grown since (the new lines are
    appended), or another file of that name (refused, nothing changed)."""
    where, mark = str(path), state.imported
    if mark is None:  # imported before sessions noted where their import ended
        ctx.already_here(state.session_id, where, file_fingerprint(path))
        return
    span = prefix_span(path, mark.size, ctx)
    if span is None or span.sha256 != mark.sha256:
        ctx.refuse(where, (
            f"session {state.session_id} was imported from a file of this name whose first "
            f"{mark.size:,} bytes this file does not start with (it was rewritten, or another "
            "file has its name); nothing was changed. To keep this one too, import it into "
            "another store"))
        return
    if span.size == path.stat().st_size:
        ctx.report.already_here(state.session_id)
        return
    if state.counters.messages != mark.messages or state.is_terminal:
        ctx.refuse(where, (
            f"the transcript grew since its import, but session {state.session_id} was "
            f"changed since too ({state.counters.messages - mark.messages} messages added, "
            f"status {state.status.value}); the new lines were not imported. To keep them, "
            "import the file into another store"))
        return
    with ctx.extension(state, where) as writer:
        lines = _Lines(writer)
        lines.resume(state)
        _read(writer, path, span, subagents, lines)


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


class _Lines:
    """Turns one transcript's records into writes, remembering tool names by call id."""

    def __init__(self, writer: SessionWriter) -> None:
        self.w = writer
        self.tool_names: dict[str, str] = {}
        self.compaction: dict[str, Any] | None = None  # a boundary waits for its summary line

    def resume(self, state: SessionState) -> None:
        """Go on after the stored session's messages: a tool result in the new lines may
        answer a call made before them."""
        for message in state.messages:
            for call in message.tool_calls:
                self.tool_names[str(call.id)] = call.name

    def flush_compaction(self, summary: str | None = None) -> None:
        """Record the pending compaction, with the summary that the next line carries."""
        if self.compaction is not None:
            fields, self.compaction = self.compaction, None
            self.w.compaction(str(fields.pop("where")), summary=short(summary, 16_000), **fields)

    def apply(self, where: str, record: Any) -> None:
        if not isinstance(record, dict):
            raise RecordError("a line must be a JSON object")
        kind = record.get("type")
        if self.compaction is not None and kind in ("user", "assistant"):
            content = obj(record.get("message")).get("content")
            is_summary = record.get("isCompactSummary") and isinstance(content, str)
            self.flush_compaction(content if is_summary else None)
        if kind == "user":
            self._user(where, record)
        elif kind == "assistant":
            self._assistant(where, record)
        elif kind == "system" and record.get("subtype") == "compact_boundary":
            self.flush_compaction()
            meta = obj(record.get("compactMetadata"))
            self.compaction = dict(
                where=where,
                trigger=meta.get("trigger"),
                tokens_before=meta.get("preTokens"),
                occurred_at=parse_time(record.get("timestamp")),
            )
        elif kind == "system":
            self.w.ctx.ignore(f"claude-code system/{record.get('subtype')} lines (not messages)")
        elif kind in IGNORED:
            self.w.ctx.ignore(IGNORED[kind])
        else:
            self.w.ctx.ignore(f"claude-code lines of unknown type {kind!r}")

    def _message(self, record: dict[str, Any]) -> dict[str, Any]:
        message = record.get("message")
        if not isinstance(message, dict) or "content" not in message:
            raise RecordError(f"a {record.get('type')} line needs a message with content")
        return message

    def _user(self, where: str, record: dict[str, Any]) -> None:
        content = self._message(record)["content"]
        when = parse_time(record.get("timestamp"))
        meta = {"uuid": record.get("uuid")}
        for flag, name in (("isMeta", "is_meta"), ("isCompactSummary", "compact_summary")):
            if record.get(flag):
                meta[name] = True
        if isinstance(content, str):
            self.w.message(where, "user", content, occurred_at=when, metadata=meta)
            return
        if not isinstance(content, list):
            raise RecordError("user content must be text or a list of blocks")
        blocks = [b for b in content if isinstance(b, dict)]
        text = [b for b in blocks if b.get("type") != "tool_result"]
        if text:
            self.w.message(where, "user", text_of(text), occurred_at=when, metadata=meta)
        for block in blocks:
            if block.get("type") == "tool_result":
                call_id = block.get("tool_use_id")
                self.w.message(
                    where,
                    "tool",
                    text_of(block.get("content")),
                    tool_call_id=call_id,
                    tool_name=self.tool_names.get(str(call_id)),
                    occurred_at=when,
                    metadata=meta | ({"is_error": True} if block.get("is_error") else {}),
                )

    def _assistant(self, where: str, record: dict[str, Any]) -> None:
        message = self._message(record)
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise RecordError("assistant content must be text or a list of blocks")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        other: list[Any] = []
        meta: dict[str, Any] = {"uuid": record.get("uuid"), "message_id": message.get("id")}
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "thinking":
                meta["thinking"] = block.get("thinking")
            elif kind == "tool_use":
                self.tool_names[str(block.get("id"))] = str(block.get("name"))
                calls.append({"id": block.get("id"), "name": block.get("name"),
                              "arguments": block.get("input")})
            else:
                other.append(block)
        if other:
            meta["other_blocks"] = other
        tokens_in, tokens_out = self._tokens(message, meta)
        self.w.message(
            where,
            "assistant",
            "\n".join(texts),
            tool_calls=calls,
            model=message.get("model"),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            occurred_at=parse_time(record.get("timestamp")),
            metadata=meta,
        )

    def _tokens(self, message: dict[str, Any], meta: dict[str, Any]) -> tuple[int, int]:
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return 0, 0
        meta["usage"] = usage
        prompt = sum(
            tokens(usage.get(k))
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        return self.w.usage(message.get("id"), prompt, tokens(usage.get("output_tokens")))
