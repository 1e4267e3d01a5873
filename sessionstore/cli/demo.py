"""``sessionstore demo``: record a real multi-agent session and show what was stored."""

from __future__ import annotations

from rich.table import Table

from ..demo import run_demo
from ..storage.backends import redact
from . import main
from .common import CliContext, console, emit, pass_cli


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
        table = Table(
            "session",
            "kind",
            "status",
            "events",
            "messages",
            "agents",
            "tasks",
            "tokens in/out",
            title=f"sessionstore demo ({redact(cli.db)})",
        )
        for s in states:
            c = s.counters
            table.add_row(
                f"{s.name}\n[dim]{s.session_id}[/]",
                s.kind,
                s.status,
                str(s.version),
                str(c.messages),
                str(len(s.agents)),
                f"{c.tasks_completed}/{c.tasks_started}",
                f"{c.tokens_in}/{c.tokens_out}",
            )
        console.print(table)
        verdict = "[green]intact[/]" if report.ok else f"[red]{len(report.problems)} problems[/]"
        console.print(
            f"verify: {report.sessions} sessions, {report.events} events, hash chains {verdict}"
        )

    emit(cli, {"sessions": states, "verify": {"ok": report.ok, "events": report.events}}, render)
