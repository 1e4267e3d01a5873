"""What every importer shares: the import run's context, writing one session per batch, and
the report of what was imported and what was skipped, and why. Reading the input as a stream
is in ``reading``.

A format module turns source records into calls on a ``SessionWriter``. The writer wraps the
store's public write API inside ``store.batch()``: if a session fails half way (``--strict``
and a malformed record, or an error the store raises), nothing of it is stored.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.errors import (
    BackendError,
    ConcurrencyConflict,
    InvalidInput,
    InvalidTransition,
    SessionNotFound,
    SessionStoreError,
)
from ..domain.events import MAX_CONTENT_BYTES
from ..domain.session import Session
from ..domain.state import SessionState
from ..domain.status import SessionStatus, parse_enum, recovery_path

if TYPE_CHECKING:
    from ..core import StoreCore
    from .reading import SourceSpan

NAMESPACE = uuid.UUID("5e55105e-0000-4000-8000-000000000001")
MAX_PROBLEMS_KEPT = 200
Progress = Callable[[int], None]
"""Called with the number of bytes just read, to drive a progress bar."""


class RecordError(Exception):
    """A source record that cannot be read (not JSON, or missing what the format needs)."""


class ImportAborted(InvalidInput):
    """``strict`` import stopped at a malformed record; nothing of that session was written.

    ``report`` is what the import did before it stopped (sessions written before stay)."""

    def __init__(self, message: str, report: ImportReport | None = None) -> None:
        super().__init__(message)
        self.report = report


def session_uuid(fmt: str, source_id: str) -> str:
    """The same source always gets the same session id, so a re-import finds it."""
    return str(uuid.uuid5(NAMESPACE, f"{fmt}:{source_id}"))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 or epoch-seconds time from a source; naive times are taken as UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class ImportReport:
    """What an import did: sessions written, found already present, events, and skips.

    ``extended`` names sessions the store held the beginning of, to which the import added
    the later events. ``not_imported`` says, for each session whose records were sound but
    that could not be written here (its parent is missing, or the store holds another
    history of it), why and what to do; those are not malformed records.
    ``skipped_files`` names the files that held nothing of the format to import, and why.
    """

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)
    events: int = 0
    files: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    problems: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    _existing_ids: set[str] = field(default_factory=set, repr=False, compare=False)

    def already_here(self, session_id: str) -> None:
        """Count a session found already stored once, however many files hold it (a fork's
        export holds its ancestors' events too)."""
        if session_id not in self._existing_ids:
            self._existing_ids.add(session_id)
            self.existing.append(session_id)

    def problem(self, where: str, message: str) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(f"{where}: {message}")


@dataclass
class ImportContext:
    """One import run: the store, the strictness, the report and the progress callback."""

    store: StoreCore
    strict: bool = False
    progress: Progress | None = None
    more_input: Progress = lambda nbytes: None
    """Called with the size of input read beyond the paths given (a sidechain's main
    transcript), for a progress bar's total."""
    report: ImportReport = field(default_factory=ImportReport)
    damaged: set[str] = field(default_factory=set)  # sessions whose export lines were unusable
    bytes_read: int = 0  # what ``advance`` counted

    def malformed(self, where: str, message: str) -> None:
        """A record we cannot import: stop under ``strict``, else count it and go on."""
        message = " ".join(message.split())  # one line, whatever the parser said
        if self.strict:
            raise self._stopped(where, message)
        self.report.problem(where, message)

    def refuse(self, where: str, message: str) -> None:
        """A sound session this store cannot take as it is: listed with what to do (it is
        not a malformed record), or, like any other problem, a stop under ``strict``."""
        if self.strict:
            raise self._stopped(where, message)
        self.report.not_imported.append(f"{where}: {message}")

    def _stopped(self, where: str, message: str) -> ImportAborted:
        """The --strict stop, saying what the run had written before it (that stays)."""
        done = self.report.created + self.report.extended
        sessions = "1 earlier session of this import stays" if len(done) == 1 else (
            f"{len(done)} earlier sessions of this import stay")
        listed = ", ".join(done[:3]) + (", ..." if len(done) > 3 else "")
        before = f"; {sessions} written ({listed})" if done else ""
        return ImportAborted(
            f"{where}: {message}; stopped (--strict): nothing of this session was written"
            f"{before}",
            self.report,
        )

    @contextmanager
    def record(self, where: str) -> Iterator[None]:
        """Read one source record: a record of an unexpected shape is reported, not fatal.

        Sources are untrusted: a field of the wrong type surfaces as a TypeError and the like
        deep in a format's code. Our own errors (``--strict`` stops, the database) go through.
        """
        try:
            yield
        except RecordError as e:
            self.malformed(where, str(e))
        except SessionStoreError:
            raise
        except (TypeError, AttributeError, KeyError, ValueError) as e:
            self.malformed(where, f"unexpected shape ({type(e).__name__}: {e})")

    def ignore(self, reason: str) -> None:
        """A record that is not part of the conversation (progress updates, snapshots...)."""
        self.report.skipped[reason] += 1

    def not_of_format(self, path: Path, reason: str) -> None:
        """A file with no record of the format (another kind of file, empty, garbage): no
        session. Skipped, or refused under ``strict`` like any other malformed input."""
        if self.strict:
            raise ImportAborted(
                f"{path}: {reason}; stopped (--strict): without it, such files are skipped",
                self.report,
            )
        self.nothing_to_import(path, reason)

    def nothing_to_import(self, path: Path, reason: str) -> None:
        """A file of the format that holds no conversation: no session, and not an error."""
        self.report.skipped_files.append(f"{path}: {reason}")
        self.advance(path.stat().st_size)  # its bytes count as read: the bar still ends full

    def advance(self, nbytes: int) -> None:
        self.bytes_read += nbytes
        if self.progress is not None:
            self.progress(nbytes)

    def exists(self, session_id: str) -> bool:
        try:
            self.store.current_version(session_id)
        except SessionNotFound:
            return False
        return True

    @contextmanager
    def session(
        self, fmt: str, source_id: str, where: str, *, fingerprint: str | None = None,
        raced: Callable[[], None] | None = None, **create: Any,
    ) -> Iterator[SessionWriter | None]:
        """Create the session for ``source_id`` and yield its writer, all in one batch.

        Yields ``None`` when the session already exists (a re-import), or when its source
        facts cannot start a session (reported as malformed): nothing is written.
        ``fingerprint`` (a hash of the source's content) is kept in the session's metadata,
        so that a later source of the same name with other content is reported, not
        mistaken for the one already here (a file that grew, another run's file).
        If another import writes the session first (before or while this one writes it),
        nothing of this one is stored: the session is checked as on a re-import, or
        ``raced()`` is called instead.
        """
        session_id = session_uuid(fmt, source_id)
        if self.exists(session_id):
            self._found(session_id, where, fingerprint, raced)
            yield None
            return
        if fingerprint is not None:
            create["metadata"] = {**(create.get("metadata") or {}), SOURCE_HASH: fingerprint}
        try:
            Session.create(session_id, **create)  # check the facts before opening a batch
        except InvalidInput as e:
            self.malformed(where, f"cannot start a session from it: {e}")
            yield None
            return
        try:
            with self._unwritten_counts_forgotten(), self.store.batch():
                self.store.create_session(session_id=session_id, **create)
                writer = SessionWriter(self, session_id, where, create.get("agent_id"))
                self.store.change_status(session_id, "active")
                writer.version = 2
                yield writer
        except ConcurrencyConflict:
            if not self.exists(session_id):
                raise
            self._found(session_id, where, fingerprint, raced)  # written meanwhile
            return
        self.store.release(session_id)  # keep memory flat over thousands of sessions
        self.report.created.append(session_id)
        self.report.events += writer.version

    def _found(self, session_id: str, where: str, fingerprint: str | None,
               raced: Callable[[], None] | None) -> None:
        """A session to create that is stored already: checked as on a re-import."""
        if raced is None:
            self.already_here(session_id, where, fingerprint)
        else:
            raced()

    @contextmanager
    def extension(self, state: SessionState, where: str) -> Iterator[SessionWriter]:
        """A writer that appends to the stored session ``state`` describes, in one batch.

        For a source that grew since its import: the writer starts where the session is
        (its version, status and agents), and nothing is stored if the batch fails."""
        session_id = state.session_id
        with self._unwritten_counts_forgotten(), self.store.batch():
            writer = SessionWriter(self, session_id, where, state.agent_id)
            writer.resume(state)
            yield writer
        self.store.release(session_id)
        if writer.version == state.version:  # nothing new after all (a line half written)
            self.report.already_here(session_id)
            return
        self.report.extended.append(session_id)
        self.report.events += writer.version - state.version

    @contextmanager
    def _unwritten_counts_forgotten(self) -> Iterator[None]:
        """A session that is not written takes its skipped and malformed records back out
        of the report: they would describe records of which nothing was stored (and a
        retry would count them twice)."""
        report = self.report
        skipped, malformed, kept = Counter(report.skipped), report.malformed, len(report.problems)
        try:
            yield
        except BaseException:
            report.skipped, report.malformed = skipped, malformed
            del report.problems[kept:]
            raise


    def already_here(self, session_id: str, where: str, fingerprint: str | None) -> None:
        first = next(iter(self.store.events(session_id, upto=1)), None)
        stored = first.data.get("metadata", {}).get(SOURCE_HASH) if first else None
        if fingerprint is None or stored is None or stored == fingerprint:
            self.report.already_here(session_id)
            return
        self.refuse(where, (
            f"session {session_id} is already here, imported from a source of the same name "
            "with other content (the file changed since, or another run wrote a file of that "
            "name); it was not changed. To keep this one too, import it into another store"))


USAGE_KEY = "message_id"
"""The metadata key of the model response a message came from (see ``SessionWriter.usage``)."""
SOURCE_HASH = "source_sha256"
"""The metadata key of an imported session's source fingerprint (see ``session``)."""


class SessionWriter:
    """Writes one imported session through the store's public API, counting its events."""

    def __init__(self, ctx: ImportContext, session_id: str, where: str, own_agent: str | None):
        self.ctx = ctx
        self.store = ctx.store
        self.session_id = session_id
        self.where = where
        self.version = 0
        self.status_now = "active"
        self._own_agent = own_agent
        self._agents: set[str] = set()
        self._usage: dict[str, tuple[int, int]] = {}
        self._pinned = False  # the next write must find the session at ``version``
        self.attempts = 0  # writes tried, refused ones too: what the source had to add

    def resume(self, state: SessionState) -> None:
        """Go on from a stored session: its version, status and agents, and the usage its
        messages already counted (by ``usage_key`` in their metadata)."""
        self.version = state.version
        self._pinned = True  # another import may extend it meanwhile: its lines come once
        self.status_now = state.status.value
        self._agents = set(state.agents)
        for message in state.messages:
            key = message.metadata.get(USAGE_KEY)
            if key is not None and (message.tokens_in or message.tokens_out):
                seen_in, seen_out = self._usage.get(str(key), (0, 0))
                self._usage[str(key)] = (
                    seen_in + (message.tokens_in or 0), seen_out + (message.tokens_out or 0))

    def attempt(self, where: str, write: Callable[[], int]) -> None:
        """Run one write; a record the domain refuses is reported like a malformed one."""
        self.attempts += 1
        try:
            self._wrote(write())
        except (BackendError, ConcurrencyConflict):
            raise
        except SessionStoreError as e:
            self.ctx.malformed(where, str(e))

    def _expected(self) -> int | None:
        """``expected_version`` for the next write: pinned until the first write succeeds
        (the batch then holds the session's state, and any later write conflicts)."""
        return self.version if self._pinned else None

    def _wrote(self, version: int) -> None:
        self.version, self._pinned = version, False

    def ensure_agent(self, agent_id: str | None, where: str, **fields: Any) -> None:
        """Add an agent the first time it appears (the domain refuses unknown agents)."""
        if agent_id is None or agent_id == self._own_agent or agent_id in self._agents:
            return
        self._agents.add(agent_id)
        self.attempt(where, lambda: self.store.add_agent(
            self.session_id, agent_id, **fields, expected_version=self._expected()))

    def message(self, where: str, role: str, content: str, **fields: Any) -> None:
        self.ensure_agent(fields.get("agent_id"), where)
        content, fields = _within_limit(content, fields)
        self.attempt(
            where, lambda: self.store.add_message(
                self.session_id, role, content, **fields, expected_version=self._expected()))

    def usage(self, response_id: str | None, tokens_in: int, tokens_out: int) -> tuple[int, int]:
        """The tokens not yet counted for this model response.

        Sources repeat one response's usage on every record made from it (Claude Code writes
        one line per content block); counting only the growth keeps totals equal to the
        response's final usage however many records share it.
        """
        if response_id is None:
            return tokens_in, tokens_out
        key = str(response_id)
        seen_in, seen_out = self._usage.get(key, (0, 0))
        self._usage[key] = (max(seen_in, tokens_in), max(seen_out, tokens_out))
        return max(0, tokens_in - seen_in), max(0, tokens_out - seen_out)

    def status(self, target: str, where: str, reason: str | None = None) -> None:
        """Move to ``target``; through ``recovering`` and ``active`` when the status machine
        allows no direct move (from ``error``), as an agent that recovered meanwhile."""
        if target == self.status_now:
            return
        steps = recovery_path(
            parse_enum(SessionStatus, self.status_now, "session status"),
            parse_enum(SessionStatus, target, "session status"),
        )
        if steps is None:
            self.ctx.ignore(f"status change to {target} that the status machine refuses")
            return
        for step in steps:
            self._wrote(self.store.change_status(
                self.session_id, step, reason=reason, expected_version=self._expected()))
            self.status_now = step.value

    def source_read(self, fmt: str, file: str, span: SourceSpan) -> None:
        """Note how far the import read the source file (``SourceImported``): a later
        import of the file, grown since, starts there."""
        self._wrote(self.store.record_source(
            self.session_id, source=fmt, file=file, size=span.size, sha256=span.sha256,
            expected_version=self._expected()))

    def complete(self, result: str | None) -> None:
        """Complete the session, first back to ``active`` if the source left it elsewhere."""
        if self.status_now not in ("active", "idle"):
            self.status("active", self.where, reason="the source finished the session")
        try:
            self._wrote(self.store.complete(
                self.session_id, result=result, expected_version=self._expected()))
        except InvalidTransition:
            self.ctx.ignore(f"completion from {self.status_now}, which the status machine refuses")
            return
        self.status_now = "completed"

    def compaction(self, where: str, **fields: Any) -> None:
        self.attempt(where, lambda: self.store.record_compaction(
            self.session_id, **fields, expected_version=self._expected()))


TRUNCATED = "\n[... truncated on import: {size} bytes in the source]"


def _within_limit(content: str, fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``content`` cut to the store's limit, with a marker and the source size in metadata.

    Tools write outputs of many megabytes; dropping such a message would leave its tool
    call unanswered, so the import keeps its beginning instead."""
    if len(content) * 4 <= MAX_CONTENT_BYTES:  # fits whatever the characters
        return content, fields
    size = len(content.encode("utf-8", "surrogatepass"))
    if size <= MAX_CONTENT_BYTES:
        return content, fields
    marker = TRUNCATED.format(size=size)
    room = MAX_CONTENT_BYTES - len(marker.encode())
    kept = content.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    metadata = {**(fields.get("metadata") or {}), "truncated_from_bytes": size}
    return kept + marker, {**fields, "metadata": metadata}
