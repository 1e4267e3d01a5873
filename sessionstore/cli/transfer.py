"""``sessionstore import`` and ``sessionstore export``: real transcripts in, JSONL out."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..domain.errors import InvalidInput
from ..importers import FORMATS, ImportAborted, ImportReport
from ..importers.reading import discover
from . import main
from .common import CliContext, console, counted, emit, error_console, pass_cli

INPUT_SUFFIXES = (".json", ".jsonl", ".traj")  # what the importers read: sizes the progress bar


@main.command("import")
@click.argument("format", type=click.Choice(sorted(FORMATS)))
@click.argument("paths", nargs=-1, required=True)
@click.option("--strict", is_flag=True,
              help="Stop at the first malformed record, or session this store cannot take; "
                   "nothing of that session is written.")
@pass_cli
def import_command(cli: CliContext, format: str, paths: tuple[str, ...], strict: bool) -> None:
    """Import transcripts in FORMAT from files or folders (searched recursively).

    Formats: claude-code (JSONL, sidechains in <session>/subagents/ become sub-agent
    sessions; one named alone brings its main transcript), swe-agent (.traj), openai-chat
    (JSON list of messages or of records), openhands (event lists), jsonl (a `sessionstore
    export`). Importing the same files
    again writes nothing and reports the sessions as already there; a later export of a
    session adds the events the store does not have yet, and so does a claude-code
    transcript that grew since (its agent went on: the new lines are appended, and a last
    line still being written waits for the next import). Malformed records are skipped and
    counted (exit 0) unless --strict (exit 2); so are sessions this store cannot take (a
    sub-agent whose parent is not here, another history of a session), each with what to
    do. A file with no record of the format creates no session: it is skipped (or, under
    --strict, refused). Sessions written before a --strict stop stay; with --json, the
    stop prints their report, with the reason under "stopped".

    For jsonl, a path of - reads standard input (an export piped from another store).

    \b
    Example:
      sessionstore import claude-code ~/.claude/projects/my-project  # again later: what is new
      sessionstore --json import openai-chat gpt-4o-airline.json
      sessionstore --db a.db export ID | sessionstore --db b.db import jsonl -
    """
    if "-" in paths:
        with _stdin_file(format) as piped:
            _import(cli, format, tuple(piped if p == "-" else p for p in paths), strict)
        return
    _import(cli, format, paths, strict)


@contextmanager
def _stdin_file(format: str) -> Iterator[str]:
    """Standard input copied to a file, as the importers read files (a size for the
    progress bar, a second pass for checks)."""
    if format != "jsonl":
        raise InvalidInput(
            f"- (standard input) works for jsonl exports only: {format} names sessions after "
            "the files it reads; save the input to a file and import that"
        )
    with tempfile.TemporaryDirectory(prefix="sessionstore-stdin-") as folder:
        path = Path(folder) / "stdin.jsonl"
        with path.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out)
        if path.stat().st_size == 0:  # e.g. the export before the pipe failed
            raise InvalidInput("nothing came on standard input: no export to import")
        yield str(path)


def _import(cli: CliContext, format: str, paths: tuple[str, ...], strict: bool) -> None:
    files = _files(paths)
    total = sum(f.stat().st_size for f in files)
    columns = (TextColumn("importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with cli.store() as store, Progress(*columns, console=error_console,
                                        disable=cli.as_json, transient=True) as bar:
        task = bar.add_task("import", total=total)
        try:
            report = store.import_(
                format, *paths, strict=strict, progress=lambda n: bar.advance(task, n),
                more_input=lambda n: bar.update(task, total=(bar.tasks[0].total or 0) + n))
        except ImportAborted as stop:
            # Scripts get what the run wrote before the stop too (it stays), then the error.
            if cli.as_json and stop.report is not None:
                emit(cli, {**_as_json(stop.report), "stopped": str(stop)}, lambda: None)
            raise
    emit(cli, _as_json(report), lambda: _render(report))


def _files(paths: tuple[str, ...]) -> list[Path]:
    """The files the paths name, each once however it is spelled (as the importers find them)."""
    return discover([Path(raw).expanduser() for raw in paths], INPUT_SUFFIXES)


def _as_json(report: ImportReport) -> dict[str, object]:
    return {
        "created": report.created,
        "existing": report.existing,
        "extended": report.extended,
        "not_imported": report.not_imported,
        "events": report.events,
        "files": report.files,
        "malformed": report.malformed,
        "problems": report.problems,
        "skipped": dict(report.skipped),
        "skipped_files": report.skipped_files,
    }


def _render(report: ImportReport) -> None:
    console.print(
        f"imported {counted(len(report.created), 'session')}, "
        f"{counted(report.events, 'event')} from {counted(report.files, 'file')}"
    )
    if report.existing:
        console.print(f"{counted(len(report.existing), 'session')} already here: "
                      "not imported again")
    if report.extended:
        console.print(f"{counted(len(report.extended), 'session')} already here, extended with "
                      "what its source holds since (a grown transcript, a later export)")
    if report.skipped:
        table = Table("skipped records", "count", title="not part of the conversation")
        for reason, count in report.skipped.most_common():
            table.add_row(escape(reason), str(count))
        console.print(table)
    if report.skipped_files:
        console.print(f"{counted(len(report.skipped_files), 'file')} skipped, with nothing "
                      "to import:")
        for skipped in report.skipped_files:
            console.print(f"  {escape(skipped)}", soft_wrap=True)
    if report.not_imported:
        console.print(f"[yellow]{counted(len(report.not_imported), 'session')} not imported[/]:")
        for refused in report.not_imported:
            console.print(f"  {escape(refused)}", soft_wrap=True)
    if report.malformed:
        console.print(f"[yellow]{counted(report.malformed, 'malformed record')} skipped[/]:")
        for problem in report.problems:
            console.print(f"  {escape(problem)}", soft_wrap=True)


@main.command("export")
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl",
              show_default=True, help="Export format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write to this file instead of standard output.")
@pass_cli
def export_command(cli: CliContext, session_id: str, fmt: str, output: str | None) -> None:
    """Write SESSION_ID's events with their hashes as JSONL (a fork with its lineage).

    `sessionstore import jsonl FILE` reads it back into an identical session: same state,
    same hashes. Without --output the events go to standard output. An output file is
    replaced only once the whole export is written, and the store's own files are refused.

    \b
    Example:
      sessionstore export 7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90 -o session.jsonl
      sessionstore --db other.db import jsonl session.jsonl
    """
    with cli.store() as store:
        count = store.export(session_id, output, format=fmt)
    if output is not None:
        emit(cli, {"session_id": session_id, "events": count, "output": output},
             lambda: console.print(f"exported {counted(count, 'event')} to {escape(output)}"))
