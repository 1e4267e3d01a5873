"""``sessionstore demo``: record a real multi-agent session and show what was stored."""

from __future__ import annotations

import os
import shlex
import shutil
import sys

from rich.table import Table

from ..demo import run_demo
from ..domain.state import SessionState
from ..storage.backends import redact
from . import main
from .common import CliContext, compact_table, console, counted, emit, pass_cli


@main.command()
@pass_cli
def demo(cli: CliContext) -> None:
    """Run a main session with two sub-agent sessions end to end, then verify the log.

    \b
    Example:
      sessionstore --db demo.db demo
    """
    with cli.store() as store:
        result = run_demo(store)
        ids = [result.main_id, *result.child_ids]
        states = [store.state(sid) for sid in ids]
        report = store.verify()

    def render() -> None:
        console.print(_summary(states, title=f"sessionstore demo ({redact(cli.db)})"))
        problems = counted(len(report.problems), "problem")
        verdict = "[green]intact[/]" if report.ok else f"[red]{problems}[/]"
        console.print(
            f"verify: {counted(report.sessions, 'session')}, {counted(report.events, 'event')}, "
            f"hash chains {verdict}"
        )
        _next_steps(redact(cli.db), result.main_id)

    emit(cli, {"sessions": states, "verify": {"ok": report.ok, "events": report.events}}, render)


def _summary(states: list[SessionState], *, title: str) -> Table:
    """One row per session, narrow enough for an 80-column terminal (ids come after)."""
    table = compact_table(title)
    table.add_column("session", no_wrap=True)
    for name in ("kind", "status"):
        table.add_column(name, no_wrap=True)
    for name in ("events", "msgs", "agents", "tasks", "tokens"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for s in states:
        c = s.counters
        table.add_row(
            s.name or "",
            s.kind,
            s.status,
            str(s.version),
            str(c.messages),
            str(len(s.agents)),
            f"{c.tasks_completed}/{c.tasks_started}",
            f"{c.tokens_in + c.tokens_out:,}",
        )
    return table


def _next_steps(db: str, main_id: str) -> None:
    """The main session's id, and commands that look into what was stored."""
    prefix = f"{_program()} --db {shlex.quote(db)}"
    console.print(f"\nmain session: {main_id}\nlook around:")
    for command, why in (
        ("tree", "the main session and its sub-agents"),
        (f"log {main_id}", "the audit trail, with hashes"),
        (f"replay {main_id} --version 10", "the state after event 10"),
        (f"fork {main_id} --version 10 --label retry", "a new branch from there"),
    ):
        console.print(f"  {prefix} {command}  [dim]# {why}[/]", soft_wrap=True)


def _program() -> str:
    """How to run sessionstore again: its name when that is on PATH, else the path it ran
    from (``make demo`` runs ``.venv/bin/sessionstore``)."""
    ran = sys.argv[0]
    if os.path.basename(ran) != "sessionstore":
        return "sessionstore"  # python -m sessionstore, or a test runner
    on_path = shutil.which("sessionstore")
    same = on_path is not None and os.path.realpath(on_path) == os.path.realpath(ran)
    return "sessionstore" if same else ran
