"""``sessionstore verify``: recompute hash chains."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from . import main
from .common import EXIT_FAILED_CHECK, CliContext, console, counted, emit, pass_cli


@main.command()
@click.argument("session_id", required=False)
@pass_cli
def verify(cli: CliContext, session_id: str | None) -> None:
    """Recompute the hash chain of SESSION_ID (or of every session).

    Exits 1 and names the first altered, deleted or reordered event of each broken session.

    \b
    Example:
      sessionstore verify
      sessionstore --json verify 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90
    """
    with cli.store() as store:
        report = store.verify(session_id)

    def render() -> None:
        if report.ok:
            console.print(
                f"[green]verified[/]: {counted(report.sessions, 'session')}, "
                f"{counted(report.events, 'event')}, every hash chain intact"
            )
            return
        table = Table("session", "version", "problem", "detail", title="verify found problems")
        for p in report.problems:
            table.add_row(p.session_id, str(p.version), p.kind, p.detail)
        console.print(table)

    emit(
        cli,
        {
            "ok": report.ok,
            "sessions": report.sessions,
            "events": report.events,
            "problems": report.problems,
        },
        render,
    )
    if not report.ok:
        sys.exit(EXIT_FAILED_CHECK)
