"""``verify``: recompute every hash chain and name the first event that does not fit.

A session's chain is intact when its events run from its first version (1, or a fork's
``SessionForked``) to its head without a gap, each stored hash equals the hash recomputed
from the previous hash and the stored bytes, and the last hash equals the head's. A changed
byte breaks a hash, a deletion leaves a gap (or a head that points past the end), a swap
puts versions out of order or breaks hashes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from eventsourcing.persistence import PersistenceError, StoredEvent

from ..domain.errors import IntegrityError
from ..domain.events import SessionCreated, SessionForked
from .codec import link_hash
from .log import EventLog
from .recorder import Head


@dataclass(frozen=True)
class Problem:
    session_id: str
    version: int
    kind: str  # altered | missing | reordered | unreadable | head | checkpoint
    detail: str

    def __str__(self) -> str:
        return f"session {self.session_id} version {self.version}: {self.kind}: {self.detail}"


@dataclass
class VerifyReport:
    sessions: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def first_problem(self, session_id: str) -> Problem | None:
        return next((p for p in self.problems if p.session_id == session_id), None)


class _Chain:
    """Walks one session's stored rows in the order read and records its first problem."""

    def __init__(self, log: EventLog, head: Head | None, session_id: str) -> None:
        self.log, self.head, self.session_id = log, head, session_id
        self.expected: int | None = None
        self.prev = b""
        self.problem: Problem | None = None

    def feed(self, row: StoredEvent) -> None:
        if self.problem is not None:
            return
        version = row.originator_version
        if self.expected is None:
            self._start(row)
        elif version != self.expected:
            kind = "missing" if version > self.expected else "reordered"
            self._fail(self.expected, kind, f"expected version {self.expected}, found {version}")
            return
        if self.problem is None:
            self._link(row)

    def _start(self, row: StoredEvent) -> None:
        version = row.originator_version
        first = self.head.first_version if self.head else version
        if version != first or row.topic not in (SessionCreated.type_name, SessionForked.type_name):
            self._fail(
                first,
                "missing",
                f"the session's first event is gone (found {row.topic} v{version})",
            )
            return
        self.expected = version
        if row.topic == SessionForked.type_name:
            self.prev = self._fork_link(row)

    def _fork_link(self, row: StoredEvent) -> bytes:
        try:
            forked = self.log.codec.decode(row)
        except IntegrityError:
            return b""  # the hash check below reports the row
        assert isinstance(forked, SessionForked)
        try:
            return self.log.hash_at(forked.parent_id, forked.parent_version)
        except IntegrityError as e:  # the parent's own chain reports the row itself
            self._fail(row.originator_version, "unreadable",
                       f"the parent event it links to cannot be read: {e}")
            return b""

    def _link(self, row: StoredEvent) -> None:
        version = row.originator_version
        try:
            stored_hash, body = self.log.codec.split(row)
        except IntegrityError as e:
            self._fail(version, "unreadable", str(e))
            return
        computed = link_hash(self.prev, row.topic, self.session_id, version, body)
        if computed != stored_hash:
            self._fail(version, "altered", "its bytes do not match its hash")
            return
        self.prev, self.expected = stored_hash, version + 1

    def finish(self) -> None:
        if self.problem is not None:
            return
        if self.head is None:
            self._fail(self.expected or 0, "head", "events exist for a session with no head row")
        elif self.expected is None:
            self._fail(self.head.first_version, "missing", "every event of the session is gone")
        elif self.expected - 1 != self.head.version:
            last = self.expected - 1
            self._fail(
                # The first event missing below the head, or the last one beyond it.
                self.expected if last < self.head.version else last,
                "missing" if last < self.head.version else "head",
                f"the log ends at {last} but the head says {self.head.version}",
            )
        elif self.prev != self.head.hash:
            self._fail(self.head.version, "altered", "the last hash does not match the head")

    def _fail(self, version: int, kind: str, detail: str) -> None:
        self.problem = Problem(self.session_id, version, kind, detail)


def verify_session(log: EventLog, session_id: str) -> VerifyReport:
    chain = _Chain(log, log.head(session_id), session_id)
    report = VerifyReport(sessions=1)
    for row in _readable(log.stored(session_id)):
        report.events += 1
        chain.feed(row)
    chain.finish()
    report.problems.extend([chain.problem] if chain.problem else [])
    return report


def verify_all(log: EventLog, page: int = 1000) -> VerifyReport:
    """Stream the whole notification log once; memory grows with sessions, not events."""
    heads = {h.session_id: h for h in log.heads()}
    chains: dict[str, _Chain] = {}
    report = VerifyReport()
    for row in _readable(_all_rows(log, page)):
        session_id = str(row.originator_id)
        chain = chains.get(session_id)
        if chain is None:
            chain = chains[session_id] = _Chain(log, heads.get(session_id), session_id)
        report.events += 1
        chain.feed(row)
    for session_id, head in heads.items():
        chains.setdefault(session_id, _Chain(log, head, session_id))
    for chain in chains.values():
        chain.finish()
        if chain.problem:
            report.problems.append(chain.problem)
    report.sessions = len(chains)
    return report


def _all_rows(log: EventLog, page: int) -> Iterator[StoredEvent]:
    start = 1
    while True:
        batch = log.recorder.select_notifications(start, page)
        yield from batch
        if len(batch) < page:
            return
        start = batch[-1].id + 1


def _readable(rows: Iterator[StoredEvent]) -> Iterator[StoredEvent]:
    """The rows, or an ``IntegrityError`` when the database holds values we never write."""
    try:
        yield from rows
    except PersistenceError as e:
        raise IntegrityError(
            f"the stored events cannot be read ({e}): the database was changed outside "
            "sessionstore; restore it from a backup"
        ) from e
