"""SWE-agent trajectories (``.traj``): one JSON object with ``history``, ``trajectory``, ``info``.

``history`` entries are chat messages (with ``tool_calls`` in newer files) and become
messages, keeping each step's ``thought`` and ``action`` in metadata. ``trajectory`` steps
become tasks: the action starts one, its observation completes it. ``info`` gives the exit
status (``submitted`` completes the session) and the run's token totals (``model_stats``,
kept in the session's metadata: SWE-agent does not record tokens per message).
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
from pathlib import Path
from typing import Any

from .core import ImportContext, RecordError, SessionWriter
from .openai_chat import add_openai_message
from .reading import (
    MAX_DEPTH,
    discover,
    file_fingerprint,
    has_array,
    json_items,
    nested_deeper,
    short,
)

FORMAT = "swe-agent"
KEPT_INFO = ("exit_status", "submission", "model_stats")
LISTS = ("trajectory", "history")
NOT_A_TRAJECTORY = "not a SWE-agent trajectory: no history or trajectory list"


def import_swe_agent(ctx: ImportContext, paths: list[str]) -> None:
    for path in discover(paths, (".traj",)):
        ctx.report.files += 1
        _import_file(ctx, path)


def _import_file(ctx: ImportContext, path: Path) -> None:
    if not has_array(path, LISTS):  # even empty lists make a session: the run's exit status
        ctx.not_of_format(path, NOT_A_TRAJECTORY)
        return
    quiet = dataclasses.replace(ctx, progress=None)  # extra passes do not move the bar
    info = next((item for _, item in json_items(path, quiet, "info")), None)
    info = info if isinstance(info, dict) else {}
    history = json_items(path, ctx, "history.item")
    first = next(history, None)
    agent = first[1].get("agent") if first and isinstance(first[1], dict) else None
    create: dict[str, Any] = dict(
        name=f"swe-agent {path.stem}",
        agent_id=str(agent or "swe-agent"),
        metadata={"source": FORMAT, "file": path.name}
        | {k: _literal(info[k]) if k == "model_stats" else info[k] for k in KEPT_INFO
           if k in info},
    )
    with ctx.session(FORMAT, path.stem, str(path), fingerprint=file_fingerprint(path),
                     **create) as writer:
        if writer is None:
            return
        steps = _History(writer)
        for where, entry in itertools.chain([first] if first else [], history):
            with ctx.record(where):
                steps.add(where, entry)
        for where, step in json_items(path, quiet, "trajectory.item"):
            with ctx.record(where):
                _step(writer, where, step)
        _finish(writer, str(path), info.get("exit_status"))


class _History:
    def __init__(self, writer: SessionWriter) -> None:
        self.w = writer
        self.tool_names: dict[str, str] = {}

    def add(self, where: str, entry: Any) -> None:
        if not isinstance(entry, dict):
            raise RecordError("a history entry must be an object")
        meta = {k: entry[k] for k in ("thought", "action", "message_type", "is_demo")
                if entry.get(k) is not None}
        for call in entry.get("tool_calls") or []:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                self.tool_names[str(call.get("id"))] = str(call["function"].get("name"))
        message = dict(entry)
        ids = entry.get("tool_call_ids") or []
        if entry.get("role") == "tool" and ids:
            message.setdefault("tool_call_id", ids[0])
            message.setdefault("name", self.tool_names.get(str(ids[0])))
        agent = entry.get("agent")
        add_openai_message(self.w, where, message, metadata=meta,
                           agent_id=str(agent) if agent else None)


def _step(writer: SessionWriter, where: str, step: Any) -> None:
    if not isinstance(step, dict):
        writer.ctx.malformed(where, "a trajectory step must be an object")
        return
    task_id = f"step-{where.rsplit('[', 1)[1].rstrip(']')}"
    store, sid = writer.store, writer.session_id
    writer.attempt(where, lambda: store.start_task(
        sid, task_id, description=short(str(step.get("action") or ""))))
    writer.attempt(where, lambda: store.complete_task(
        sid, task_id, outcome=short(str(step.get("observation") or ""))))


def _finish(writer: SessionWriter, where: str, exit_status: Any) -> None:
    if exit_status == "submitted":
        writer.complete("submitted")
    elif exit_status:
        writer.status("stopped", where, reason=short(str(exit_status)))
    else:
        writer.status("idle", where, reason="end of trajectory")


def _literal(value: Any) -> Any:
    """``model_stats`` is stored as a Python dict's repr in older files: read it safely (text
    that is no literal, or nests too deeply to store, stays text)."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            return value
        return value if nested_deeper(parsed, MAX_DEPTH) else parsed
    return value
