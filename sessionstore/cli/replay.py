"""Replay commands: ``checkpoint``, ``checkpoints``, ``replay``, ``fork``, ``diff``, ``prune``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.columns import Columns
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..domain.errors import InvalidInput
from ..domain.state import Message, SessionState
from ..replay.diff import BranchDiff
from ..storage.checkpoints import CheckpointRecord
from . import main
from .common import CliContext, compact_table, console, counted, emit, error_console, pass_cli


def _short(text: str | None, width: int = 70) -> str:
    text = (text or "").replace("\n", " ")
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def _checkpoint_row(r: CheckpointRecord) -> dict[str, Any]:
    return {
        "checkpoint_id": r.checkpoint_id, "session_id": r.session_id, "version": r.version,
        "label": r.label, "created_at": r.created_at, "automatic": r.automatic,
        "parent_checkpoint": r.parent_id, "messages": r.message_count, "tokens": r.token_count,
        "raw_size": r.raw_size, "compressed_size": r.compressed_size,
        "checksum": r.checksum.hex(),
    }


def parse_time(value: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a time: use ISO 8601, e.g. 2026-11-21T18:30:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@main.command()
@click.argument("session_id")
@click.option("--label", help="A name to find the checkpoint by.")
@pass_cli
def checkpoint(cli: CliContext, session_id: str, label: str | None) -> None:
    """Checkpoint a session's current state (and record CheckpointCreated).

    \b
    Example:
      sessionstore checkpoint 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 --label before-refactor
    """
    with cli.store() as store:
        record = store.checkpoint_info(store.checkpoint(session_id, label=label))
    emit(cli, _checkpoint_row(record), lambda: console.print(
        f"checkpoint [bold]{record.checkpoint_id}[/] of {session_id} at version "
        f"{record.version}: {counted(record.message_count, 'message')}, "
        f"{_size(record.compressed_size)} stored"))


@main.command()
@click.argument("session_id")
@pass_cli
def checkpoints(cli: CliContext, session_id: str) -> None:
    """List a session's checkpoints, oldest first (automatic ones are marked auto).

    \b
    Example:
      sessionstore checkpoints 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90
    """
    with cli.store() as store:
        records = store.checkpoints(session_id)

    def render() -> None:
        if not records:  # a table of no rows is narrow: its title would split the id
            console.print(f"no checkpoints of {session_id} yet")
            return
        # The sizes and the chain only where they fit: the ids must stay whole.
        wide = console.width >= 100
        table = compact_table(f"{counted(len(records), 'checkpoint')} of {session_id}")
        for name in ("version", "label", "kind", "messages",
                     *(("stored (raw)", "base") if wide else ()), "id"):
            table.add_column(name, no_wrap=name != "label", ratio=1 if name == "label" else None)
        for r in records:
            sizes = (f"{_size(r.compressed_size)} ({_size(r.raw_size)})",
                     "full" if r.parent_id is None else "delta")
            table.add_row(str(r.version), _short(r.label, 20),
                          "auto" if r.automatic else "explicit", str(r.message_count),
                          *(sizes if wide else ()), r.checkpoint_id)
        console.print(table)

    emit(cli, [_checkpoint_row(r) for r in records], render)


@main.command()
@click.argument("session_id")
@click.option("--version", "at_version", type=click.IntRange(min=1),
              help="The state after this version.")
@click.option("--time", "at_time", help="The state at this time (ISO 8601; UTC if no zone).")
@click.option("--checkpoint", help="The state saved in this checkpoint.")
@click.option("--messages", "last", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many of the latest messages to show.")
@pass_cli
def replay(cli: CliContext, session_id: str, at_version: int | None, at_time: str | None,
           checkpoint: str | None, last: int) -> None:
    """Show a session's state at a version, a time or a checkpoint (default: now).

    \b
    Example:
      sessionstore replay 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 --version 120
      sessionstore replay 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 --time 2026-11-21T18:30:00Z
    """
    moment = parse_time(at_time) if at_time is not None else None
    with cli.store() as store:
        state = store.state(session_id, at_version=at_version, at_time=moment,
                            checkpoint=checkpoint)
    emit(cli, state, lambda: _render_state(state, last))


def _render_state(s: SessionState, last: int) -> None:
    c = s.counters
    summary = Table(show_header=False, title=f"{escape(s.name)} at version {s.version}")
    for key, value in [
        ("session", s.session_id), ("status", s.status.value), ("label", s.label or ""),
        ("updated", s.updated_at.isoformat() if s.updated_at else ""),
        ("messages", str(c.messages)), ("tokens in/out", f"{c.tokens_in}/{c.tokens_out}"),
        ("tasks done/started", f"{c.tasks_completed}/{c.tasks_started}"),
        ("agents", ", ".join(f"{a.agent_id} ({a.status.value})" for a in s.agents.values())),
        ("forked from", ", ".join(f"{e.parent_id}@{e.parent_version}" for e in s.lineage)),
    ]:
        summary.add_row(key, escape(value))
    console.print(summary)
    if last > 0 and s.messages:
        table = Table("v", "role", "agent", "content", title=f"last {counted(last, 'message')}")
        for m in s.messages[-last:]:
            table.add_row(str(m.version), m.role.value, m.agent_id or "", _short(m.content, 90))
        console.print(table)


@main.command()
@click.argument("session_id")
@click.option("--version", "at_version", type=click.IntRange(min=1),
              help="Fork after this version.")
@click.option("--checkpoint", help="Fork at this checkpoint.")
@click.option("--name", help="The fork's name (default: the parent's).")
@click.option("--label", help="The fork's label.")
@pass_cli
def fork(cli: CliContext, session_id: str, at_version: int | None, checkpoint: str | None,
         name: str | None, label: str | None) -> None:
    """Start a new session from a session's state at a version or checkpoint (default: now).

    \b
    Example:
      sessionstore fork 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 --version 40 --label retry
    """
    with cli.store() as store:
        new_id = store.fork(session_id, at_version=at_version, checkpoint=checkpoint,
                            name=name, label=label)
        start = store.state(new_id).lineage[-1]
    # A fork at a version inside a fork's inherited part is stored as a fork of the
    # session that wrote that version: name the parent the store records.
    parent, version = start.parent_id, start.parent_version + 1
    def render() -> None:
        # The id alone on standard output, as `create` prints it (FORK=$(sessionstore
        # fork ...) works); what it is, for a person, on standard error.
        click.echo(new_id)
        error_console.print(f"forked from {parent} at version {version - 1} (its first own "
                            f"event is version {version})", soft_wrap=True, highlight=False)

    emit(cli, {"session_id": new_id, "parent_id": parent, "version": version}, render)


def _messages_panel(title: str, messages: list[Message]) -> Panel:
    lines = [f"[dim]v{m.version}[/] [bold]{m.role.value}[/] {_short(m.content, 60)}"
             for m in messages] or ["[dim](none)[/]"]
    return Panel("\n".join(lines), title=title, expand=True)


@main.command()
@click.argument("a")
@click.argument("b")
@pass_cli
def diff(cli: CliContext, a: str, b: str) -> None:
    """Compare two sessions side by side: common ancestor, divergence point, what differs.

    \b
    Example:
      sessionstore diff 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 0d6a7c4e-9a3e-4f0b-8f0c-5b1f3a2d9e11
    """
    with cli.store() as store:
        d = store.diff(a, b)
    emit(cli, _diff_json(d), lambda: _render_diff(d))


def _diff_json(d: BranchDiff) -> dict[str, Any]:
    return {
        "a": d.a, "b": d.b, "common_ancestor": d.common_ancestor,
        "divergence_version": d.divergence_version, "empty": d.is_empty,
        "only_in_a": d.only_in_a, "only_in_b": d.only_in_b, "status": d.status,
        "agents": d.agents, "tasks": d.tasks, "tokens": d.tokens, "fields": d.fields,
    }


def _render_diff(d: BranchDiff) -> None:
    ancestor = d.common_ancestor or "none (unrelated sessions)"
    console.print(f"common ancestor: [bold]{ancestor}[/], identical up to version "
                  f"{d.divergence_version}")
    if d.is_empty:
        console.print("[green]no differences[/]")
        return
    console.print(Columns([_messages_panel(f"only in a ({len(d.only_in_a)})", d.only_in_a),
                           _messages_panel(f"only in b ({len(d.only_in_b)})", d.only_in_b)],
                          equal=True, expand=True))
    table = Table("", "a", "b", title="differences")
    if d.status:
        table.add_row("status", *d.status)
    for key, (x, y) in {**d.tokens, **d.fields}.items():
        table.add_row(key, _value(x), _value(y))
    for kind, changes in (("agent", d.agents), ("task", d.tasks)):
        for key, (x, y) in changes.items():
            table.add_row(f"{kind} {escape(key)}", _summary_of(x), _summary_of(y))
    if table.rows:
        console.print(table)


def _value(value: Any) -> str:
    return "—" if value is None else escape(str(value))


# What tells two versions of an agent or a task apart, after its status: a task's outcome and
# tokens, an agent's role and when it was (re-)added.
_DETAILS = ("outcome", "tokens", "role", "added_at")


def _summary_of(item: Any) -> str:
    if item is None:
        return "—"
    parts = [str(getattr(item, "status", "present"))]
    for name in _DETAILS:
        detail = getattr(item, name, None)
        if isinstance(detail, datetime):
            parts.append(f"{name.replace('_', ' ')} {detail:%Y-%m-%d %H:%M:%S}")
        elif detail not in (None, ""):
            parts.append(f"{name} {detail}")
    return escape(", ".join(parts))


@main.command()
@click.argument("session_id")
@click.option("--keep", type=int, default=10, show_default=True,
              help="How many of the newest checkpoints to keep.")
@click.option("--explicit", is_flag=True, help="Prune explicit checkpoints too.")
@pass_cli
def prune(cli: CliContext, session_id: str, keep: int, explicit: bool) -> None:
    """Remove a session's older automatic checkpoints; replay keeps working.

    Kept checkpoints that were deltas of removed ones are re-encoded first.

    \b
    Example:
      sessionstore prune 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 --keep 5
    """
    with cli.store() as store:
        report = store.prune_checkpoints(session_id, keep=keep, explicit=explicit)
    data = {"removed": [_checkpoint_row(r) for r in report.removed],
            "rebased": report.rebased, "kept": report.kept}
    emit(cli, data, lambda: console.print(
        f"removed {counted(len(report.removed), 'checkpoint')} "
        f"({_size(sum(r.compressed_size for r in report.removed))}), re-based "
        f"{len(report.rebased)}, kept {report.kept}"))
