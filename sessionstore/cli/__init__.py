"""The ``sessionstore`` command: one sub-command per store operation.

Every command takes ``--db`` (or ``SESSIONSTORE_DB``) and ``--json``; errors are one line on
stderr with an exit code from ``sessionstore.cli.common``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..domain.errors import SessionStoreError
from .common import CliContext, exit_code_for, fail


class _Group(click.Group):
    """Turns our errors into one clear line and a documented exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SessionStoreError as e:
            fail(str(e), exit_code_for(e))


@click.group(cls=_Group)
@click.option("--db", envvar="SESSIONSTORE_DB", default="sessions.db", show_default=True,
              help="Store URL: a SQLite file path, sqlite:///path, :memory: or postgresql://...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
@click.option("--durability", type=click.Choice(["full", "normal"]), default="full",
              show_default=True, help="full: fsync every commit; normal: WAL without fsync.")
@click.version_option(package_name="sessionstore")
@click.pass_context
def main(ctx: click.Context, db: str, as_json: bool, durability: str) -> None:
    """Record AI-agent sessions as append-only events; audit, replay and fork them.

    \b
    Example:
      sessionstore demo                 # run a multi-agent session end to end
      sessionstore --db s.db verify     # recompute every hash chain
    """
    ctx.obj = CliContext(db=db, as_json=as_json, durability=durability)


def _register() -> None:
    # Each module adds its commands to ``main``; the list keeps the CLI's parts in one place.
    from . import demo, integrity, replay, transfer, views, writes  # noqa: F401


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
