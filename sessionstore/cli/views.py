"""Read-model commands: ``list``, ``show``, ``history``, ``log``, ``search``, ``metrics``,
``tree`` and ``project`` (catch up, follow or rebuild the read models)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..domain.errors import InvalidInput
from ..projections import worker
from ..projections.rows import Row
from ..storage.backends import redact
from ..store import SessionStore
from . import main
from .common import CliContext, compact_table, console, counted, emit, pass_cli

F = TypeVar("F", bound=Callable[..., Any])


def views_option(command: F) -> F:
    return click.option(
        "--views", envvar="SESSIONSTORE_VIEWS", default=None,
        help="Read-model SQLite file (default: beside the store, e.g. sessions.views.db).",
    )(command)


@contextmanager
def open_store(cli: CliContext, views: str | None) -> Iterator[SessionStore]:
    with cli.store(views=views) as store:
        yield store


def _short(text: str | None, width: int = 80) -> str:
    text = (text or "").replace("\n", " ")
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def _plain_text(value: object) -> str:
    """A value as a person reads it: maps as ``key: value`` pairs, as ``metrics`` prints."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _marked(snippet: str) -> Text:
    """A search snippet with its ``**``-marked matches in bold."""
    text = Text()
    for i, part in enumerate(snippet.replace("\n", " ").split("**")):
        text.append(part, style="bold yellow" if i % 2 else "")
    return text


def _time(value: str | None) -> str:
    return (value or "")[:19].replace("T", " ")


@main.command("list")
@click.option("--kind", help="main, subagent or cron.")
@click.option("--status", help="Only sessions in this status (e.g. active).")
@click.option("--active", "active_only", is_flag=True, help="Only sessions not yet finished.")
@click.option("--label", help="Only sessions with this label.")
@click.option("--parent", "parent_id", help="Only sub-agents and forks of this session.")
@click.option("--limit", type=int, default=100, show_default=True,
              help="At most this many sessions, newest first.")
@views_option
@pass_cli
def list_sessions(cli: CliContext, kind: str | None, status: str | None, active_only: bool,
                  label: str | None, parent_id: str | None, limit: int,
                  views: str | None) -> None:
    """List sessions, newest first.

    \b
    Example:
      sessionstore list --active
      sessionstore --json list --kind subagent --limit 10
    """
    with open_store(cli, views) as store:
        rows = store.sessions(kind=kind, status=status, active_only=active_only, label=label,
                              parent_id=parent_id, limit=limit)

    emit(cli, rows, lambda: console.print(_sessions_table(rows, width=console.width)))


# Columns of ``list`` by width: all of them fit in 110 columns; an 80-column terminal keeps
# what tells sessions apart (the full id, which commands need, is never cut).
_WIDE = ("id", "name", "kind", "status", "msgs", "tokens", "last activity")
_NARROW = ("id", "name", "status", "last activity")


def _sessions_table(rows: list[dict[str, Any]], *, width: int) -> Table:
    names = _WIDE if width >= 110 else _NARROW
    table = compact_table(counted(len(rows), "session"))
    for name in names:
        table.add_column(name, no_wrap=name != "name", ratio=1 if name == "name" else None,
                         justify="right" if name in ("msgs", "tokens") else "left")
    for r in rows:
        cells = {"id": r["id"], "name": _short(r["name"], 30), "kind": r["kind"],
                 "status": r["status"], "msgs": str(r["messages"]),
                 "tokens": f"{r['tokens_in'] + r['tokens_out']:,}",
                 "last activity": _time(r["last_activity"])[:16]}
        table.add_row(*(cells[name] for name in names))
    return table


@main.command()
@click.argument("session_id")
@views_option
@pass_cli
def show(cli: CliContext, session_id: str, views: str | None) -> None:
    """Show one session: its index row and its metrics.

    \b
    Example:
      sessionstore show 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90
    """
    with open_store(cli, views) as store:
        row = store.session(session_id)
        metrics = store.metrics(session_id)

    def render() -> None:
        table = Table("field", "value", title=f"session {row['id']}", show_header=False)
        for key, value in {**row, **metrics}.items():
            if key not in ("id", "session_id"):
                table.add_row(key, _short(_plain_text(value), 100))
        console.print(table)

    emit(cli, {"session": row, "metrics": metrics}, render)


@main.command()
@click.argument("session_id")
@click.option("--limit", type=int, help="Only the latest N messages.")
@click.option("--no-tools", is_flag=True, help="Leave out tool results.")
@click.option("--role", "roles", multiple=True, help="Only these roles (repeatable).")
@views_option
@pass_cli
def history(cli: CliContext, session_id: str, limit: int | None, no_tools: bool,
            roles: tuple[str, ...], views: str | None) -> None:
    """Show a session's messages, oldest first (a fork's start with its parent's).

    \b
    Example:
      sessionstore history 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 --limit 20 --no-tools
    """
    with open_store(cli, views) as store:
        rows = store.history(session_id, limit=limit, include_tools=not no_tools,
                             roles=list(roles) or None)

    def render() -> None:
        table = Table("v", "time", "role", "agent", "content", title=f"history of {session_id}")
        for m in rows:
            calls = ", ".join(c["name"] for c in m["tool_calls"])
            content = _short(m["content"], 100) + (f" [dim]→ {escape(calls)}[/]" if calls else "")
            inherited = "" if m["session_id"] == session_id else "[dim]↑[/]"
            # When it was said (an import keeps the source's time), else when recorded.
            said = m["occurred_at"] or m["recorded_at"]
            table.add_row(f"{inherited}{m['version']}", _time(said), m["role"],
                          m["agent_id"] or "", content)
        console.print(table)

    emit(cli, rows, render)


@main.command()
@click.argument("session_id")
@views_option
@pass_cli
def log(cli: CliContext, session_id: str, views: str | None) -> None:
    """Show the audit trail: every event as a timeline, with hashes and lineage.

    \b
    Example:
      sessionstore log 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90
    """
    with open_store(cli, views) as store:
        rows = store.audit(session_id)

    def render() -> None:
        console.print(f"[bold]audit trail of {session_id}[/] ({counted(len(rows), 'event')})")
        for a in rows:
            data = ", ".join(f"{k}={v}" for k, v in a["data"].items() if v not in (None, [], {}))
            console.print(
                f"[dim]{_time(a['recorded_at'])}[/] v{a['version']:<5} "
                f"[cyan]{a['session_id'][:8]}[/] [bold]{a['type']}[/] {_short(data, 120)} "
                f"[dim]#{a['hash'][:12]}[/]", soft_wrap=True, highlight=False)

    emit(cli, rows, render)


@main.command()
@click.argument("query")
@click.option("--session", "session_id", help="Only this session (with a fork's parent part).")
@click.option("--limit", type=int, default=20, show_default=True,
              help="At most this many matches, best first.")
@views_option
@pass_cli
def search(cli: CliContext, query: str, session_id: str | None, limit: int,
           views: str | None) -> None:
    """Full-text search over message contents, best match first.

    \b
    Example:
      sessionstore search "rounding error"
      sessionstore --json search 'flaky AND test' --limit 5
    """
    with open_store(cli, views) as store:
        rows = store.search(query, session_id=session_id, limit=limit)

    def render() -> None:
        table = compact_table(counted(len(rows), "match", "matches"))
        table.add_column("session", no_wrap=True)
        table.add_column("v", justify="right", no_wrap=True)
        table.add_column("role", no_wrap=True)
        table.add_column("snippet", ratio=1)
        for m in rows:
            table.add_row(m["session_id"], str(m["version"]), m["role"], _marked(m["snippet"]))
        console.print(table)

    emit(cli, rows, render)


@main.command()
@click.argument("session_id", required=False)
@views_option
@pass_cli
def metrics(cli: CliContext, session_id: str | None, views: str | None) -> None:
    """Show one session's metrics, or the global ones.

    \b
    Example:
      sessionstore metrics
      sessionstore --json metrics 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90
    """
    with open_store(cli, views) as store:
        data = store.metrics(session_id)

    def render() -> None:
        table = Table("metric", "value", title=f"metrics of {session_id or 'all sessions'}")
        for key, value in data.items():
            if isinstance(value, dict):
                value = _plain_text(value) or "-"
            table.add_row(key, escape(str(value)))
        console.print(table)

    emit(cli, data, render)


def _subtree(store: SessionStore, row: Row, depth: int) -> dict[str, Any]:
    children = store.children(row["id"])
    shown = children if depth > 0 else []
    return {"id": row["id"], "name": row["name"], "label": row["label"], "kind": row["kind"],
            "status": row["status"], "forked_from": row["forked_from"],
            "fork_version": row["fork_version"],
            "children": [_subtree(store, c, depth - 1) for c in shown],
            "not_shown": 0 if shown else _descendants(store, row["id"])}


def _descendants(store: SessionStore, session_id: str) -> int:
    """Every session below ``session_id``: sub-agents, forks, and theirs."""
    pending, count = [session_id], 0
    while pending:
        children = store.children(pending.pop())
        count += len(children)
        pending.extend(child["id"] for child in children)
    return count


def _label(node: dict[str, Any]) -> str:
    what = f"fork @v{node['fork_version']}" if node["forked_from"] else node["kind"]
    label = " " + escape(f"[{node['label']}]") if node["label"] else ""
    return (f"[bold]{escape(node['name'])}[/]{label} {node['id']} "
            f"[dim]{what}, {node['status']}[/]")


@main.command()
@click.argument("session_id", required=False)
@click.option("--depth", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many levels below each root to show (0: the roots only).")
@views_option
@pass_cli
def tree(cli: CliContext, session_id: str | None, depth: int, views: str | None) -> None:
    """Show the tree of sessions: sub-agents and forks under their parents.

    With SESSION_ID, the tree it belongs to (from its root); else every root session.

    \b
    Example:
      sessionstore tree 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90
    """
    with open_store(cli, views) as store:
        if session_id is None:
            roots = [r for r in store.sessions(limit=None) if r["parent_id"] is None]
        else:
            root = store.session(session_id)
            while root["parent_id"] is not None:
                root = store.session(root["parent_id"])
            roots = [root]
        nodes = [_subtree(store, r, depth) for r in roots]

    def add(branch: Tree, node: dict[str, Any]) -> None:
        for child in node["children"]:
            add(branch.add(_label(child)), child)
        if node["not_shown"]:
            branch.add(f"[dim]… {counted(node['not_shown'], 'more session')} below "
                       "(raise --depth)[/]")

    def render() -> None:
        top = Tree(f"sessions in {escape(redact(cli.db))}")
        for node in nodes:
            add(top.add(_label(node)), node)
        console.print(top)

    emit(cli, nodes, render)


@main.command()
@click.option("--rebuild", is_flag=True, help="Drop the read models and replay the whole log.")
@click.option("--follow", is_flag=True,
              help="Keep following new events: pushed by PostgreSQL, polled otherwise.")
@click.option("--poll", type=click.FloatRange(min=0, min_open=True), default=0.5,
              show_default=True, help="Seconds between polls.")
@click.option("--until-idle", type=click.FloatRange(min=0),
              help="With --follow: stop after this many idle seconds.")
@click.option("--duration", type=click.FloatRange(min=0),
              help="With --follow: stop after this many seconds.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Events applied per transaction.")
@click.option("--source", help="Follow this store (e.g. postgresql://...) instead of the "
              "global --db; --db after `project` (or --views) then names the read-model file.")
@click.option("--db", "views_file", help="With --source: the read-model SQLite file.")
@views_option
@pass_cli
def project(cli: CliContext, rebuild: bool, follow: bool, poll: float, until_idle: float | None,
            duration: float | None, batch_size: int, source: str | None,
            views_file: str | None, views: str | None) -> None:
    """Bring the read models up to date with the event log.

    \b
    Example:
      sessionstore project                         # apply what is new, once
      sessionstore project --rebuild               # drop and replay, with a progress bar
      sessionstore project --follow --until-idle 30
      sessionstore project --follow --source postgresql://me@db/sessions --db views.db
    """
    if not follow and (until_idle is not None or duration is not None):
        raise InvalidInput("--until-idle and --duration bound --follow: add --follow, or "
                           "leave them out to apply what is new once")
    if views_file is not None and source is None:
        raise InvalidInput("`project --db FILE` names the read-model file for --source; "
                           "give the store as `sessionstore --db URL project` instead")
    if source is not None:  # a worker: events from elsewhere, read models in a local file
        if not (views or views_file):
            raise InvalidInput("--source needs a read-model file: add --db views.db")
        cli, views = dataclasses.replace(cli, db=source), views or views_file
    with open_store(cli, views) as store:
        projector = store.projector
        projector.batch_size = batch_size
        with Progress(console=console, disable=cli.as_json, transient=True) as bar:
            task = bar.add_task("rebuilding" if rebuild else "catching up", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            applied = (projector.rebuild(progress=progress) if rebuild
                       else projector.catch_up(progress=progress))
        if follow:
            applied += worker.follow(projector, store._log, poll=poll, until_idle=until_idle,
                                     duration=duration)
        data = {"applied": applied, "position": projector.position(),
                "views": store.views_path, "rebuilt": rebuild}

    emit(cli, data, lambda: console.print(
        f"[green]{'rebuilt' if rebuild else 'projected'}[/]: {counted(applied, 'event')} applied, "
        f"read models at notification {data['position']} ({escape(str(data['views']))})"))
