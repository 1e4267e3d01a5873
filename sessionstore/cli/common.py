"""What every command shares: the store it opens, JSON or rich output, errors and exit codes.

Exit codes scripts can rely on:

    0  success                        4  refused by the rules (status machine, invariants)
    1  a check failed (verify)        5  concurrency conflict: retry
    2  bad usage or bad input         6  integrity: stored bytes or a checkpoint are corrupt
    3  no such session or checkpoint  7  the database refused or is unreachable
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.table import Table

from ..domain import errors as err
from ..storage.backends import sqlite_path
from ..store import SessionStore

EXIT_FAILED_CHECK = 1
EXIT_CODES: list[tuple[type[err.SessionStoreError], int]] = [
    (err.InvalidInput, 2),
    (err.SessionNotFound, 3),
    (err.CheckpointNotFound, 3),
    (err.ConcurrencyConflict, 5),
    (err.IntegrityError, 6),
    (err.CorruptCheckpoint, 6),
    (err.BackendError, 7),
    (err.SessionStoreError, 4),  # every rule the domain enforces
]

console = Console()
error_console = Console(stderr=True)


@dataclass
class CliContext:
    db: str
    as_json: bool
    durability: str

    @contextmanager
    def store(self, *, views: str | None = None) -> Iterator[SessionStore]:
        require_store(self.db)
        with SessionStore(self.db, durability=self.durability, views=views) as store:
            yield store


# Only these may start a new SQLite store; any other command on a missing file would
# quietly create an empty store there, and report on it as if it were the one meant.
CREATING_COMMANDS = frozenset({"create", "demo", "import"})


def require_store(db: str) -> None:
    """Refuse a SQLite store that does not exist, unless the command creates one."""
    command = click.get_current_context(silent=True)
    creating = command is not None and (
        command.info_name in CREATING_COMMANDS
        # A worker may start before the first writer: it waits on a new, empty store.
        or (command.info_name == "project" and bool(command.params.get("follow")))
    )
    if db.startswith("memory://"):
        path = ":memory:"
    else:
        try:
            path = sqlite_path(db)
        except err.InvalidInput:
            return  # a server, or a bad URL: opening the store says which
    if path == ":memory:":
        error_console.print("note: an in-memory store keeps nothing once this command ends; "
                            "give --db a file to keep what it writes", highlight=False,
                            soft_wrap=True)
    elif not creating and not Path(path).exists():  # sqlite_path expanded ~ already
        raise err.InvalidInput(
            f"no store at {db!r}: check --db (default: sessions.db), or start one with "
            "`sessionstore create` or `sessionstore import`"
        )


pass_cli = click.make_pass_decorator(CliContext)


def exit_code_for(error: err.SessionStoreError) -> int:
    return next(code for cls, code in EXIT_CODES if isinstance(error, cls))


def fail(message: str, code: int) -> None:
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for ``--json`` output."""
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "__dataclass_fields__"):
        return to_jsonable({k: getattr(value, k) for k in value.__dataclass_fields__})
    return value


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the number ``n`` needs: "1 session", "3 sessions"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def compact_table(title: str) -> Table:
    """A table without side borders or padding at its edges: the most columns an
    80-column terminal can show (ids, which commands take, never wrap)."""
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 collapse_padding=True)


def emit(ctx: CliContext, data: Any, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON under ``--json``, else call ``render`` for rich output."""
    if ctx.as_json:
        click.echo(json.dumps(to_jsonable(data), ensure_ascii=False, indent=2))
    else:
        render()
