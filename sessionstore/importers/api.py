"""The import/export half of ``SessionStore``: ``import_`` and ``export``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..domain.errors import InvalidInput, UnsupportedFormat
from ..storage.log import check_session_id
from .core import ImportContext, ImportReport, Progress
from .export import export_jsonl
from .output import refuse_store_file, store_files, write_atomically

if TYPE_CHECKING:
    from ..core import StoreCore

EXPORT_FORMATS = ("jsonl",)


class ImportExportMixin:
    """Reads real transcripts into sessions and writes sessions out. Mixed into ``SessionStore``."""

    url: str
    views_path: str

    def import_(
        self,
        format: str,
        *paths: str | Path,
        strict: bool = False,
        progress: Progress | None = None,
        more_input: Progress | None = None,
    ) -> ImportReport:
        """Import the files or folders ``paths`` written in ``format``; see ``FORMATS``.

        Each source session is written in one batch, under an id derived from its source, so
        importing the same file again reports it in ``existing`` and writes nothing. A
        malformed record is counted in the report (with its file and line) and skipped; with
        ``strict=True`` it raises ``ImportAborted`` and nothing of that session is written.
        A file with no record of the format creates no session: it is listed, with the
        reason, in ``skipped_files`` (``strict`` refuses it).
        A ``jsonl`` export of a session the store holds the beginning of appends the later
        events (``extended``); sessions the store cannot take (another history of a
        session, a sub-agent whose parent is in no file read) are listed in
        ``not_imported`` with what to do, and nothing of them is written (``strict``
        refuses them).
        ``progress`` is called with the number of bytes read as the input streams in, and
        ``more_input`` with the size of each file read beyond ``paths`` (a sidechain's main
        transcript), so that a progress bar's total can grow.
        A ``claude-code`` transcript that grew since its import (its agent went on writing)
        is extended with the new lines (``extended``), provided its session was not changed
        meanwhile; a last line still being written is left for the next import.

        >>> from sessionstore import SessionStore
        >>> with SessionStore(":memory:") as store:                   # doctest: +SKIP
        ...     report = store.import_("claude-code", "~/.claude/projects/my-project")
        """
        from . import FORMATS

        importer = FORMATS.get(format)
        if importer is None:
            raise UnsupportedFormat(
                f"unknown import format {format!r}; use one of: {', '.join(FORMATS)}"
            )
        ctx = ImportContext(self._core(), strict=strict, progress=progress)
        if more_input is not None:
            ctx.more_input = more_input
        importer(ctx, [str(Path(p).expanduser()) for p in paths])
        return ctx.report

    def export(
        self, session_id: str, out: IO[str] | str | Path | None = None, *, format: str = "jsonl"
    ) -> int:
        """Write a session's events with their hashes (a fork's with its lineage) as JSONL.

        ``out`` is a text stream or a file path (default: standard output). Returns the
        number of events written. ``import_("jsonl", path)`` reads it back identically.
        A file is replaced only once the whole export is written (a failure leaves it as it
        was), and the store's own files are refused.
        """
        if format not in EXPORT_FORMATS:
            raise UnsupportedFormat(
                f"unknown export format {format!r}; use one of: {', '.join(EXPORT_FORMATS)}"
            )
        session_id = check_session_id(session_id)  # also a uuid.UUID, as everywhere
        self._core().current_version(session_id)  # a missing session fails before any output
        if out is None:
            return export_jsonl(self._core(), session_id, sys.stdout)
        if isinstance(out, str | Path):
            return self._export_to_file(session_id, Path(out).expanduser())
        return export_jsonl(self._core(), session_id, out)

    def _export_to_file(self, session_id: str, target: Path) -> int:
        refuse_store_file(target, store_files(self.url, self.views_path))
        try:
            return write_atomically(target, lambda f: export_jsonl(self._core(), session_id, f))
        except OSError as e:  # permissions, a full disk: the OS's reason, and nothing changed
            raise InvalidInput(
                f"cannot write {target}: {e.strerror or e}; check the path and the folder's "
                "permissions (nothing was written)"
            ) from None

    def _core(self) -> StoreCore:
        from ..core import StoreCore

        assert isinstance(self, StoreCore)
        return self
