"""Where an export may be written, and writing it so that a failure never costs a file.

An export names its output file freely, so it could name the store's own database (or one of
the files SQLite keeps beside it) and overwrite the sessions it is exporting: those paths are
refused. Every export goes to a temporary file beside its target, renamed over it only once
the whole export succeeded: a failed export leaves an earlier file as it was.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

from ..domain.errors import InvalidInput
from ..storage.backends import sqlite_path

T = TypeVar("T")
SIDECARS = ("", "-wal", "-shm", "-journal")  # SQLite's write-ahead log, its index, its journal
NOT_FILES = ("postgresql://", "postgres://", "memory://")


def store_files(url: str, views_path: str) -> list[Path]:
    """The files a store keeps on disk: its SQLite database and read models, with sidecars."""
    databases = [views_path]
    if not url.startswith(NOT_FILES):
        databases.append(sqlite_path(url))
    return [Path(db + suffix).expanduser()
            for db in databases if db != ":memory:" for suffix in SIDECARS]


def refuse_store_file(target: Path, own: list[Path]) -> None:
    """``InvalidInput`` if ``target`` is one of the store's own files: writing would destroy it."""
    for path in own:
        if _same_file(target, path):
            raise InvalidInput(
                f"cannot export to {target}: it is one of this store's own files ({path}), "
                "and writing there would destroy the store; choose another output file"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links, symbolic links, case-insensitive names
    except OSError:  # one does not exist (yet): SQLite may still create it under that name
        return a.resolve() == b.resolve()


def write_atomically(target: Path, write: Callable[[IO[str]], T]) -> T:
    """Run ``write`` on a temporary file beside ``target``, then rename it over ``target``.

    If ``write`` fails, the temporary file is removed and ``target`` is left as it was.
    """
    folder = target.parent
    if not folder.is_dir():
        raise InvalidInput(
            f"cannot write {target}: folder {folder} does not exist; create it first"
        )
    if target.exists() and not target.is_file():  # a pipe or a device (/dev/stdout):
        with target.open("w", encoding="utf-8") as f:  # nothing there to lose, nothing to rename
            return write(f)
    real = Path(os.path.realpath(target))  # through a symbolic link: replace what it points to
    fd, temporary = _temporary_beside(real)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename, so a crash cannot leave it empty
        if real.exists():
            shutil.copymode(real, temporary)  # an overwritten file keeps its permissions
        os.replace(temporary, real)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _remove_stale_temporaries(real)
    return result


STALE_SECONDS = 3600
"""Age after which a temporary file beside an export target is a killed export's leftover
(an export of a million events takes about a minute)."""


def _remove_stale_temporaries(target: Path) -> None:
    """Remove what exports killed mid-write (``kill -9``, a power cut) left beside ``target``:
    their names are random, so no later export would ever reuse or replace them."""
    cutoff = time.time() - STALE_SECONDS
    ours = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.tmp")  # _temporary_beside's
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if not ours.fullmatch(leftover.name):
            continue  # a name we never make: someone else's file
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            if leftover.is_file() and leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def _temporary_beside(target: Path) -> tuple[int, Path]:
    """A new file in ``target``'s folder (a rename across file systems would copy): created
    with the usual permissions (0o666 less the umask), not tempfile's 0o600."""
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue
