"""OpenAI chat-completion logs: a JSON list of messages (one session), or a list of records
that each hold one (``traj``, ``messages`` or ``history``; tau-bench's files are like this).
A ``.jsonl`` file holds one such record or message list per line.

Roles map onto the store's four: ``developer`` is a system message, ``function`` a tool one.
``tool_calls`` keep their function names and parsed arguments; ``usage`` becomes tokens.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any

from .core import ImportContext, RecordError, SessionWriter
from .reading import (
    discover,
    file_fingerprint,
    first_char,
    json_items,
    jsonl_records,
    obj,
    parse_json,
    record_fingerprint,
    scan_json_items,
    scan_jsonl,
    text_of,
    tokens,
)

FORMAT = "openai-chat"
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant",
         "tool": "tool", "function": "tool"}
MESSAGE_KEYS = ("traj", "messages", "history")
NOT_A_CHAT = "not an OpenAI chat log: no messages, nor records holding them"


def import_openai_chat(ctx: ImportContext, paths: list[str]) -> None:
    for path in discover(paths, (".json", ".jsonl")):
        ctx.report.files += 1
        if path.suffix == ".jsonl" and any(map(_is_conversation, scan_jsonl(path))):
            for where, record in jsonl_records(path, ctx):
                _import_record(ctx, path, where, where.rsplit(":", 1)[1], record)
        elif (path.suffix != ".jsonl" and first_char(path) == "["
              and any(map(_is_conversation, scan_json_items(path)))):
            _import_array(ctx, path)
        else:
            ctx.not_of_format(path, NOT_A_CHAT)


def _is_conversation(item: Any) -> bool:
    """A message, a record holding a message list (even empty: it names its task), or a
    list of messages."""
    if isinstance(item, dict):
        return "role" in item or any(_chat_list(item.get(k)) for k in MESSAGE_KEYS)
    return isinstance(item, list) and any(isinstance(m, dict) and "role" in m for m in item)


def _chat_list(value: Any) -> bool:
    """A list of chat messages: empty, or holding one with a role. Other tools keep lists
    under the same keys (OpenHands' ``history`` holds events): those are not chats."""
    return isinstance(value, list) and (
        not value or any(isinstance(m, dict) and "role" in m for m in value)
    )


def _import_array(ctx: ImportContext, path: Path) -> None:
    items = json_items(path, ctx)
    first = next(items, None)
    if first is None:
        return
    if isinstance(first[1], dict) and "role" in first[1]:  # one conversation, streamed
        with ctx.session(FORMAT, path.name, str(path), fingerprint=file_fingerprint(path),
                         **_create(path.name, {})) as writer:
            if writer is not None:
                for where, message in itertools.chain([first], items):
                    _message_or_report(writer, where, message)
                writer.status("idle", str(path), reason="end of transcript")
        return
    for where, record in itertools.chain([first], items):
        _import_record(ctx, path, where, where.rsplit("[", 1)[1].rstrip("]"), record)


def _import_record(ctx: ImportContext, path: Path, where: str, index: str, record: Any) -> None:
    if record == []:  # nothing in it, not even a task to name: no session
        ctx.ignore("openai-chat empty message lists")
        return
    messages = record if isinstance(record, list) else None
    if isinstance(record, dict):
        messages = next((record[k] for k in MESSAGE_KEYS if isinstance(record.get(k), list)), None)
    if messages is None:
        ctx.malformed(where, f"a record needs a message list ({', '.join(MESSAGE_KEYS)})")
        return
    if not _chat_list(messages):
        ctx.ignore("records whose list holds no chat message (another tool's events)")
        return
    meta = {k: v for k, v in record.items() if k not in MESSAGE_KEYS} if isinstance(
        record, dict) else {}
    source_id = f"{path.name}#{index}"
    with ctx.session(FORMAT, source_id, where, fingerprint=record_fingerprint(record),
                     **_create(source_id, meta)) as writer:
        if writer is None:
            return
        for n, message in enumerate(messages):
            _message_or_report(writer, f"{where}.message[{n}]", message)
        if "reward" in meta:
            writer.complete(f"reward {meta['reward']}")
        else:
            writer.status("idle", where, reason="end of transcript")


def _create(source_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    task = meta.get("task_id")
    return dict(
        name=f"openai-chat {source_id}" + (f" task {task}" if task is not None else ""),
        agent_id="assistant",
        metadata={"source": FORMAT, **meta},
    )


def _message_or_report(writer: SessionWriter, where: str, message: Any) -> None:
    with writer.ctx.record(where):
        add_openai_message(writer, where, message)


def add_openai_message(
    writer: SessionWriter, where: str, message: Any, **extra: Any
) -> None:
    """One chat-completion message (also SWE-agent's history entries) as a store message."""
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise RecordError(f"a message needs a role ({', '.join(ROLES)})")
    calls = [tool_call(c) for c in message.get("tool_calls") or []]
    if isinstance(message.get("function_call"), dict):
        calls.append(tool_call({"function": message["function_call"]}))
    usage = obj(message.get("usage"))
    tokens_in, tokens_out = writer.usage(
        message.get("id"), tokens(usage.get("prompt_tokens")),
        tokens(usage.get("completion_tokens")),
    )
    role = ROLES[message["role"]]
    writer.message(
        where,
        role,
        text_of(message.get("content")),
        tool_calls=calls,
        tool_name=message.get("name") if role == "tool" else None,
        tool_call_id=message.get("tool_call_id"),
        model=message.get("model"),
        tokens_in=tokens_in or None,
        tokens_out=tokens_out or None,
        **extra,
    )


def tool_call(call: Any) -> dict[str, Any]:
    """``{"id", "function": {"name", "arguments": "<json>"}}`` -> a store tool call."""
    if not isinstance(call, dict):
        raise RecordError("a tool call must be an object")
    function = obj(call.get("function")) or call
    name = function.get("name")
    if not isinstance(name, str):
        raise RecordError("a tool call needs a function name")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        with contextlib.suppress(RecordError):  # not JSON, or too deep: keep the model's text
            arguments = parse_json(arguments)
    return {"id": call.get("id"), "name": name, "arguments": arguments}


