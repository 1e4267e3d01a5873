"""Claude Code transcript lines to writes: one record at a time, onto a ``SessionWriter``.

``user`` lines become user messages, their ``tool_result`` blocks tool messages; ``assistant``
lines (one per content block, sharing the API message's id and usage) become assistant
messages with their text, ``tool_use`` blocks as tool calls and ``thinking`` in metadata.
``system`` compact boundaries become ``ContextCompacted`` events, with the summary that the
next line carries. ``read_transcript`` reads a file's lines after a span into a writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..domain.state import SessionState
from .core import RecordError, SessionWriter, parse_time
from .reading import SourceSpan, growing_jsonl_records, obj, short, text_of, tokens

FORMAT = "claude-code"
END_OF_TRANSCRIPT = "end of transcript"
IGNORED = {
    "progress": "claude-code progress lines (tool progress updates)",
    "file-history-snapshot": "claude-code file-history snapshots (editor state)",
    "queue-operation": "claude-code queue operations (queued prompts reappear as user lines)",
    "summary": "claude-code summary lines (session titles)",
}
WAITING_SUMMARY = (
    "a compaction boundary at the end of the file, waiting for its summary line (a later "
    "import reads it again and records the compaction)"
)


class Lines:
    """Turns one transcript's records into writes, remembering tool names by call id."""

    def __init__(self, writer: SessionWriter, span: SourceSpan) -> None:
        self.w = writer
        self.span = span  # how far the file is read: a boundary at its end is given back
        self.tool_names: dict[str, str] = {}
        self.compaction: dict[str, Any] | None = None  # a boundary waits for its summary line
        self.compaction_from = span  # the span before that boundary's line
        self.compaction_malformed = 0  # the report's malformed lines when it was read

    def resume(self, state: SessionState) -> None:
        """Go on after the stored session's messages: a tool result in the new lines may
        answer a call made before them."""
        for message in state.messages:
            for call in message.tool_calls:
                self.tool_names[str(call.id)] = call.name

    def end(self) -> None:
        """The end of what the file holds now. A compaction boundary that no message
        followed yet is not recorded: its summary line is still to come, so the file is
        taken as read up to the boundary, and the import of the grown file records the
        compaction. Unless a malformed line followed it: that one is not reported twice,
        and the compaction is recorded without a summary."""
        if self.compaction is not None and (
            self.w.ctx.report.malformed == self.compaction_malformed
        ):
            self.compaction = None
            self.span.rewind(self.compaction_from)
            self.w.ctx.ignore(WAITING_SUMMARY)
        self.flush_compaction()

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
            self.compaction_from = self.span.before_last_line()
            self.compaction_malformed = self.w.ctx.report.malformed
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


def agent_of(sidechain: Path) -> str:
    return sidechain.stem.removeprefix("agent-")


def read_transcript(
    writer: SessionWriter, path: Path, lines: Lines, subagents: list[Path], *, mark: bool = True
) -> bool:
    """The transcript's lines after ``lines.span``, then (with ``mark``) where the import
    leaves the file, whenever it wrote anything: its own writes are not changes by hand.
    Whether the lines had anything to add (tried, even if refused), status and mark aside."""
    span, start, version, attempts = lines.span, lines.span.size, writer.version, writer.attempts
    for sub in subagents:
        writer.ensure_agent(agent_of(sub), str(sub), role="subagent",
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
