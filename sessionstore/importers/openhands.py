"""OpenHands event lists: a JSON list of events, or JSONL records that hold one (``history``;
the resolver's output). Each event is an action or an observation.

A user ``message`` is a user message; an agent's ``message``/``think`` an assistant message;
any other action (``run``, ``edit``, ``read``, ``finish``, ...) an assistant message whose tool
call is the action with its arguments. Observations are tool messages answering the action
that caused them. ``agent_state_changed`` observations become status changes, and ``finish``
completes the session. Token usage comes from each action's model response, counted once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import ImportContext, RecordError, SessionWriter, parse_time
from .reading import (
    discover,
    file_fingerprint,
    first_char,
    json_items,
    jsonl_records,
    obj,
    record_fingerprint,
    scan_json_items,
    scan_jsonl,
    short,
    text_of,
    tokens,
)

FORMAT = "openhands"
AGENT = "openhands"
STATES = {"running": "active", "awaiting_user_input": "idle", "paused": "idle",
          "error": "error", "stopped": "stopped", "rate_limited": "idle"}
SPEECH = ("message", "think", "system")
NOT_EVENTS = "not an OpenHands event list: no action or observation events"
NOT_RECORDS = "not OpenHands output: no record with a history list of events"
ENVELOPE = {"id", "timestamp", "source", "message", "action", "observation", "cause", "args",
            "extras", "content", "tool_call_metadata", "timeout", "success"}


def import_openhands(ctx: ImportContext, paths: list[str]) -> None:
    for path in discover(paths, (".json", ".jsonl")):
        ctx.report.files += 1
        if path.suffix == ".jsonl":
            if not any(map(_is_record, scan_jsonl(path))):
                ctx.not_of_format(path, NOT_RECORDS)
                continue
            for where, record in jsonl_records(path, ctx):
                _import_record(ctx, path, where, record)
        elif first_char(path) == "[" and any(map(_is_event, scan_json_items(path))):
            _import_events(ctx, path.name, str(path), json_items(path, ctx), {},
                           fingerprint=file_fingerprint(path))
        else:
            ctx.not_of_format(path, NOT_EVENTS)


def _is_record(record: Any) -> bool:
    """A resolver record: with its history, even empty (it still names the issue and run)."""
    return isinstance(record, dict) and isinstance(record.get("history"), list)


def _is_event(event: Any) -> bool:
    return isinstance(event, dict) and bool(event.get("action") or event.get("observation"))


def _import_record(ctx: ImportContext, path: Path, where: str, record: Any) -> None:
    if not _is_record(record):
        ctx.malformed(where, "a record needs a history list of events")
        return
    issue = record.get("issue") if isinstance(record.get("issue"), dict) else {}
    source_id = (f"{issue.get('owner')}/{issue.get('repo')}#{issue.get('number')}" if issue
                 else f"{path.name}:{where.rsplit(':', 1)[1]}")
    meta = {k: record[k] for k in ("issue", "metrics", "success", "instance_id") if k in record}
    events = ((f"{where}.history[{n}]", e) for n, e in enumerate(record["history"]))
    _import_events(ctx, source_id, where, events, meta, task=record.get("instruction"),
                   fingerprint=record_fingerprint(record))


def _import_events(
    ctx: ImportContext, source_id: str, where: str, events: Any, meta: dict[str, Any],
    task: Any = None, fingerprint: str | None = None,
) -> None:
    create: dict[str, Any] = dict(name=f"openhands {source_id}", agent_id=AGENT,
                  task=short(task if isinstance(task, str) else None, 500),
                  metadata={"source": FORMAT, **meta})
    with ctx.session(FORMAT, source_id, where, fingerprint=fingerprint, **create) as writer:
        if writer is None:
            return
        events_ = _Events(writer)
        for at, event in events:
            with ctx.record(at):
                events_.add(at, event)
        if not events_.finished:
            writer.status("idle", where, reason="end of event list")


class _Events:
    def __init__(self, writer: SessionWriter) -> None:
        self.w = writer
        self.first = True
        self.finished = False

    def add(self, where: str, event: Any) -> None:
        if self.finished:
            self.w.ctx.ignore("openhands events after finish")
            return
        if not _is_event(event):
            raise RecordError("an event needs an action or an observation")
        first, self.first = self.first, False
        if event.get("action"):
            self._action(where, event, first)
        else:
            self._observation(where, event)

    def _action(self, where: str, event: dict[str, Any], first: bool) -> None:
        action = str(event["action"])
        args = obj(event.get("args")) or {
            k: v for k, v in event.items() if k not in ENVELOPE}
        source = event.get("source") or ("user" if first and action == "message" else "agent")
        text = event.get("message") or args.get("content") or args.get("thought") or ""
        when = parse_time(event.get("timestamp"))
        meta = {"openhands_id": event.get("id"), "action": action}
        if source == "user":
            self.w.message(where, "user", text_of(text), occurred_at=when, metadata=meta)
            return
        tokens_in, tokens_out, model, call_id, name = self._model(event)
        calls = [] if action in SPEECH else [
            {"id": call_id or f"openhands-{event.get('id')}", "name": name or action,
             "arguments": args}]
        self.w.message(where, "system" if action == "system" else "assistant", text_of(text),
                       tool_calls=calls, model=model, tokens_in=tokens_in or None,
                       tokens_out=tokens_out or None, occurred_at=when, metadata=meta)
        if action == "finish":
            self.w.complete(short(text_of(text)) or "finished")
            self.finished = True

    def _observation(self, where: str, event: dict[str, Any]) -> None:
        kind = str(event["observation"])
        extras = obj(event.get("extras"))
        if kind == "agent_state_changed":
            state = extras.get("agent_state")
            if state in STATES:
                self.w.status(STATES[state], where, reason=f"openhands agent state {state}")
            else:
                self.w.ctx.ignore(f"openhands agent state {state!r} (no session status)")
            return
        if kind == "null":
            self.w.ctx.ignore("openhands null observations")
            return
        metadata = obj(event.get("tool_call_metadata"))
        call_id = metadata.get("tool_call_id") or (
            f"openhands-{event['cause']}" if event.get("cause") is not None else None)
        self.w.message(
            where, "tool", text_of(event.get("content", event.get("message"))),
            tool_name=metadata.get("function_name") or kind, tool_call_id=call_id,
            occurred_at=parse_time(event.get("timestamp")),
            metadata={"openhands_id": event.get("id"), "observation": kind},
        )

    def _model(self, event: dict[str, Any]) -> tuple[int, int, str | None, Any, Any]:
        metadata = event.get("tool_call_metadata")
        if not isinstance(metadata, dict):
            return 0, 0, None, None, None
        response = obj(metadata.get("model_response"))
        usage = obj(response.get("usage"))
        tokens_in, tokens_out = self.w.usage(
            response.get("id"), tokens(usage.get("prompt_tokens")),
            tokens(usage.get("completion_tokens")))
        return (tokens_in, tokens_out, response.get("model"), metadata.get("tool_call_id"),
                metadata.get("function_name"))
