"""``StoreCore``: writes, reads of the log, batches and verify. ``SessionStore`` builds on it.

Writes go through a cached Session aggregate per session: the command is checked against
the cached state, the event is appended with the next version, and a version already taken
(another writer was first) evicts the cache. Without ``expected_version`` the store then
re-reads, re-checks and retries a few times; with it, the caller gets ``ConcurrencyConflict``.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from .domain import events as ev
from .domain.arguments import whole_number
from .domain.errors import (
    BatchAborted,
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
    retry_on,
)
from .domain.plain import plain_message
from .domain.reducer import extend_messages, fold
from .domain.session import Clock, Session, utc_now
from .domain.state import Message, SessionState
from .gcpause import gc_paused
from .storage.backends import open_recorder
from .storage.log import EventLog, Recorded, check_session_id
from .storage.recorder import Head, JoinedWrite
from .storage.verify import VerifyReport, verify_all, verify_session

T = TypeVar("T")
CACHE_SIZE = 256
WRITE_ATTEMPTS = 32
BACK_OFF_SECONDS = 0.001
BACK_OFF_LIMIT = 0.05


def _back_off(attempt: int) -> None:
    """Wait a random while, longer after each conflict (up to 50 ms), before trying again.

    A writer that lost must re-read the session, and a busy rival writes again meanwhile:
    with eight attempts and no wait, two processes appending to one session saw a few
    writes in a thousand fail every attempt (PostgreSQL, where re-reading is slowest)."""
    time.sleep(random.uniform(0, min(BACK_OFF_LIMIT, BACK_OFF_SECONDS * 2**attempt)))


@dataclass(frozen=True)
class EventRecord:
    """An event as ``events()`` yields it: its place, type, times, data and hashes."""

    session_id: str
    version: int
    type: str
    recorded_at: datetime
    occurred_at: datetime | None
    data: dict[str, Any]
    prev_hash: bytes
    hash: bytes
    event: ev.Event

    @classmethod
    def of(cls, event: ev.Event) -> EventRecord:
        return cls(
            event.session_id,
            event.version,
            event.type_name,
            event.recorded_at,
            event.occurred_at,
            event.data(),
            event.prev_hash,
            event.hash,
            event,
        )


@dataclass
class _Cached:
    session: Session
    last_hash: bytes


class StoreCore:
    """The event-log half of ``SessionStore``. Use ``SessionStore``, not this class."""

    def __init__(
        self, url: str = "sessions.db", *, durability: str = "full", clock: Clock = utc_now
    ) -> None:
        self.url = url
        self.durability = durability
        self._clock = clock
        self._log = EventLog(open_recorder(url, durability=durability))
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.RLock()
        self._staged: list[ev.Event] | None = None
        self._staged_links: dict[str, bytes] = {}
        self._inner_failure: BaseException | None = None  # a nested batch's, until the end

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> StoreCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._log.close()

    # -- writes -----------------------------------------------------------------------------
    def create_session(
        self,
        name: str,
        *,
        kind: str = "main",
        agent_id: str | None = None,
        parent_id: str | None = None,
        label: str | None = None,
        task: str | None = None,
        project_dir: str | None = None,
        max_agents: int = 8,
        metadata: dict[str, Any] | None = None,
        session_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> str:
        """Start a session; returns its id (a UUID string, new unless ``session_id`` is given)."""
        new_id = check_session_id(session_id) if session_id is not None else str(uuid.uuid4())
        if parent_id is not None:
            self._require_exists(check_session_id(parent_id))
        with self._lock:
            if self._log.head(new_id) is not None or new_id in self._cache:
                raise InvalidInput(f"session {new_id} already exists; pick another id")
            session = Session.create(
                new_id,
                clock=self._clock,
                name=name,
                kind=kind,
                agent_id=agent_id,
                parent_id=parent_id,
                label=label,
                task=task,
                project_dir=project_dir,
                max_agents=max_agents,
                metadata={} if metadata is None else metadata,
                occurred_at=occurred_at,
            )
            self._commit({new_id: _Cached(session, b"")}, session.pending)
        return new_id

    def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        tool_calls: list[Any] | None = None,
        tool_name: str | None = None,
        tool_call_id: str | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        metadata: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Append a message; returns the session's new version."""
        arguments: dict[str, Any] = dict(
            role=role,
            content=content,
            tool_calls=tool_calls,
            tool_name=tool_name,
            tool_call_id=tool_call_id,
            agent_id=agent_id,
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            metadata=metadata,
            occurred_at=occurred_at,
        )
        session_id = check_session_id(session_id)
        version = self._add_plain(session_id, expected_version, [arguments])
        if version is not None:
            return version
        # None means none for the list and the mapping (the lane took it so too).
        arguments["tool_calls"] = tool_calls or []
        arguments["metadata"] = {} if metadata is None else metadata
        return self._write(session_id, expected_version, lambda s: s.add_message(**arguments))

    @gc_paused
    def add_messages(
        self,
        session_id: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        expected_version: int | None = None,
    ) -> int:
        """Append several messages in one transaction, all or none; returns the new version.

        Each message is a mapping of ``add_message``'s arguments: ``role`` and ``content``,
        and any of ``tool_calls``, ``tool_name``, ``tool_call_id``, ``agent_id``, ``model``,
        ``tokens_in``, ``tokens_out``, ``metadata`` and ``occurred_at``. If one is refused,
        none is stored. Cheaper per message than ``add_message`` calls in a ``batch()``::

            store.add_messages(sid, [
                {"role": "assistant", "content": "Running tests", "tool_calls": [call]},
                {"role": "tool", "content": "2 failed", "tool_call_id": "c1"},
            ])
        """
        if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
            raise InvalidInput(
                f"messages must be a list of mappings of add_message's arguments, not "
                f"{type(messages).__name__}"
            )
        items = list(messages)
        if not items:
            raise InvalidInput("add_messages needs at least one message")
        session_id = check_session_id(session_id)
        version = self._add_plain(session_id, expected_version, items)
        if version is not None:
            return version
        return self._write(
            session_id, expected_version, lambda s: self._add_messages_to(s, items)
        )

    def _add_messages_to(self, session: Session, items: list[Mapping[str, Any]]) -> ev.Event:
        """The decision of ``add_messages``: a hook for automatic checkpoints."""
        return session.add_messages(items)[-1]

    def add_agent(
        self,
        session_id: str,
        agent_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        metadata: dict[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> int:
        return self._write(
            session_id,
            expected_version,
            lambda s: s.add_agent(
                agent_id, name=name, role=role, metadata={} if metadata is None else metadata
            ),
        )

    def remove_agent(
        self,
        session_id: str,
        agent_id: str,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> int:
        return self._write(
            session_id, expected_version, lambda s: s.remove_agent(agent_id, reason=reason)
        )

    def change_agent_status(
        self, session_id: str, agent_id: str, status: str, *, expected_version: int | None = None
    ) -> int:
        return self._write(
            session_id, expected_version, lambda s: s.change_agent_status(agent_id, status)
        )

    def start_task(
        self,
        session_id: str,
        task_id: str,
        *,
        agent_id: str | None = None,
        description: str | None = None,
        expected_version: int | None = None,
    ) -> int:
        return self._write(
            session_id,
            expected_version,
            lambda s: s.start_task(task_id, agent_id=agent_id, description=description),
        )

    def complete_task(
        self,
        session_id: str,
        task_id: str,
        *,
        outcome: str | None = None,
        tokens: int | None = None,
        expected_version: int | None = None,
    ) -> int:
        return self._write(
            session_id,
            expected_version,
            lambda s: s.complete_task(task_id, outcome=outcome, tokens=tokens),
        )

    def change_status(
        self,
        session_id: str,
        status: str,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> int:
        return self._write(
            session_id, expected_version, lambda s: s.change_status(status, reason=reason)
        )

    def complete(
        self, session_id: str, *, result: str | None = None, expected_version: int | None = None
    ) -> int:
        return self._write(session_id, expected_version, lambda s: s.complete(result=result))

    def set_label(
        self, session_id: str, label: str | None, *, expected_version: int | None = None
    ) -> int:
        return self._write(session_id, expected_version, lambda s: s.set_label(label))

    def record_compaction(
        self,
        session_id: str,
        *,
        trigger: str | None = None,
        tokens_before: int | None = None,
        summary: str | None = None,
        occurred_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> int:
        return self._write(
            session_id,
            expected_version,
            lambda s: s.compact(
                trigger=trigger,
                tokens_before=tokens_before,
                summary=summary,
                occurred_at=occurred_at,
            ),
        )

    def record_source(
        self,
        session_id: str,
        *,
        source: str,
        file: str,
        size: int,
        sha256: str,
        expected_version: int | None = None,
    ) -> int:
        """Note that an importer read the session's source ``file`` (of format ``source``) up
        to ``size`` bytes, whose SHA-256 is ``sha256`` (hex): a later import of the file,
        grown since, appends only what follows (``SourceImported``)."""
        return self._write(
            session_id,
            expected_version,
            lambda s: s.record_source(source=source, file=file, size=size, sha256=sha256),
        )

    def accept(
        self, session_id: str, event: ev.Event, *, expected_version: int | None = None
    ) -> int:
        """Append an event made elsewhere, re-checked by the domain (imports, what-if).

        A ``SessionCreated`` or ``SessionForked`` starts ``session_id``, which must not exist
        yet; the event keeps its times, so an exported session re-imports with its hashes.
        """
        if isinstance(event, ev.SessionCreated | ev.SessionForked):
            return self._accept_start(check_session_id(session_id), event)
        return self._write(session_id, expected_version, lambda s: s.accept(event))

    def _accept_start(self, session_id: str, event: ev.SessionCreated | ev.SessionForked) -> int:
        if event.parent_id is not None:
            self._require_exists(check_session_id(event.parent_id))
        with self._lock:
            if self._log.head(session_id) is not None or session_id in self._cache:
                raise InvalidInput(f"session {session_id} already exists; pick another id")
            if isinstance(event, ev.SessionCreated):
                session = Session(SessionState(session_id=session_id), clock=self._clock)
                session.accept(event)
            else:
                parent = self._build_state(event.parent_id, event.parent_version)
                if parent.version != event.parent_version:
                    raise InvalidInput(
                        f"cannot fork {event.parent_id} at version {event.parent_version}: it "
                        f"has {parent.version} events; import the parent's events first"
                    )
                fields = event.data()
                del fields["parent_id"], fields["parent_version"]
                session = Session.fork(
                    parent, session_id, clock=lambda: event.recorded_at,
                    occurred_at=event.occurred_at, **fields,
                )
            self._commit({session_id: _Cached(session, b"")}, session.pending)
        return session.state.version

    @contextmanager
    def batch(self) -> Iterator[StoreCore]:
        """Stage every write made inside the block and record them in one transaction.

        If the block raises, or the final write fails, nothing of the batch is stored.
        Reads inside the block see what is stored, not the staged writes (a fork made in
        it starts from the stored version). A batch inside a batch joins the outer one;
        there are no savepoints, so if an inner block raises, even when the exception is
        caught, the outer batch stores nothing and raises ``BatchAborted`` at its end.
        """
        with self._lock:
            if self._staged is not None:  # nested: the outer batch commits
                try:
                    yield self
                except BaseException as e:
                    self._inner_failure = self._inner_failure or e
                    raise
                return
            self._staged, self._staged_links, self._inner_failure = [], {}, None
            try:
                yield self
                self._raise_if_inner_failed()
                staged, links = self._staged, self._staged_links
                self._staged = None
                if staged:
                    self._append(staged, links)
            except BaseException:
                for session_id in {e.session_id for e in self._staged or []} | set(
                    self._staged_links
                ):
                    self._cache.pop(session_id, None)
                raise
            finally:
                self._staged, self._staged_links = None, {}

    def _raise_if_inner_failed(self) -> None:
        failure = self._inner_failure
        if failure is not None:
            raise BatchAborted(
                f"a batch nested in this one failed ({type(failure).__name__}: {failure}); "
                "its writes cannot be undone alone, so nothing of the whole batch was stored"
            ) from failure

    def retry(self, operation: Callable[[], T], *, attempts: int = WRITE_ATTEMPTS) -> T:
        """Run ``operation`` again after a ``ConcurrencyConflict``, up to ``attempts`` times.

        Use it around a read-decide-write sequence that passes ``expected_version``::

            def step():
                state = store.state(sid)
                return store.add_message(sid, "assistant", reply(state),
                                         expected_version=state.version)
            store.retry(step)
        """
        tries = whole_number(attempts, "attempts", at_least=1)
        return retry_on(ConcurrencyConflict, operation, tries, _back_off)

    def release(self, session_id: str) -> None:
        """Drop a session's cached aggregate (bulk imports: it will not be written again soon).

        Only memory changes; the next write to the session reloads it from the log.
        """
        with self._lock:
            if self._staged is None:
                self._cache.pop(session_id, None)

    # -- reads ------------------------------------------------------------------------------
    def state(self, session_id: str) -> SessionState:
        """The session's current state (a copy: changing it changes nothing stored)."""
        session_id = check_session_id(session_id)
        with self._lock:
            cached = self._cache.get(session_id)
            if cached is not None and self._staged is None and self._is_current(session_id, cached):
                return cached.session.state.model_copy(deep=True)
        return self._build_state(session_id)

    def events(
        self, session_id: str, *, after: int = 0, upto: int | None = None
    ) -> Iterator[EventRecord]:
        """Recorded events with ``after < version <= upto``; a fork's start with its parent's."""
        session_id = check_session_id(session_id)
        after = whole_number(after, "after", at_least=0)
        if upto is not None:
            whole_number(upto, "upto", at_least=0)
        head = self._require_exists(session_id)
        if head.first_version > 1 and after < head.first_version - 1:
            forked = self._forked_event(session_id, head.first_version)
            parent_upto = (
                forked.parent_version if upto is None else min(upto, forked.parent_version)
            )
            yield from self.events(forked.parent_id, after=after, upto=parent_upto)
        for event in self._log.read(session_id, after=after, upto=upto):
            yield EventRecord.of(event)

    def current_version(self, session_id: str) -> int:
        return self._require_exists(check_session_id(session_id)).version

    def verify(self, session_id: str | None = None) -> VerifyReport:
        """Recompute hash chains (one session, or all) and report the first bad event of each."""
        if session_id is None:
            return verify_all(self._log)
        session_id = check_session_id(session_id)
        self._require_exists(session_id)
        return verify_session(self._log, session_id)

    # -- building states --------------------------------------------------------------------
    def _build_state(self, session_id: str, upto: int | None = None) -> SessionState:
        return self._replay_events(session_id, upto)

    @gc_paused
    def _replay_events(self, session_id: str, upto: int | None = None) -> SessionState:
        """Fold the session's events alone, starting from its parent's state if a fork."""
        head = self._require_exists(session_id)
        base: SessionState | None = None
        if head.first_version > 1:
            forked = self._forked_event(session_id, head.first_version)
            parent_upto = (
                forked.parent_version if upto is None else min(upto, forked.parent_version)
            )
            base = self._replay_events(forked.parent_id, parent_upto)
            if upto is not None and upto <= forked.parent_version:
                return base
        return fold(self._log.read_for_state(session_id, upto=upto), base)

    def _forked_event(self, session_id: str, first_version: int) -> ev.SessionForked:
        first = next(self._log.read(session_id, upto=first_version))
        assert isinstance(first, ev.SessionForked)
        return first

    def _require_exists(self, session_id: str) -> Head:
        head = self._log.head(session_id)
        if head is None:
            raise SessionNotFound(session_id)
        return head

    def _is_current(self, session_id: str, cached: _Cached) -> bool:
        head = self._log.head(session_id)
        return head is not None and head.version == cached.session.state.version

    # -- the plain-message lane ------------------------------------------------------------
    def _add_plain(
        self,
        session_id: str,
        expected_version: int | None,
        items: Sequence[Mapping[str, Any]],
    ) -> int | None:
        """Record plain messages (``domain.plain``; each a mapping of ``add_message``'s
        arguments) through the lane, and return the new version; or None, with nothing
        written, when the general write path must decide them (not plain, refused, not
        cached, in a batch, a conflict: it re-reads, retries and gives the errors)."""
        with self._lock:
            cached = self._cache.get(session_id)
            if cached is None or self._staged is not None or cached.session.pending:
                return None
            state = cached.session.state
            if expected_version is not None and (
                expected_version.__class__ is not int or expected_version != state.version
            ):
                return None  # the general path checks it, re-reads a stale cache, or refuses
            messages = self._plain_messages(state, items)
            if messages is None or not self._plain_allowed():
                return None
            count = len(messages)  # a boundary strictly inside one message: never
            stops = [*self._plain_stops(state, count), count] if count > 1 else [count]
            try:
                last_hash = self._log.append_messages(session_id, messages, cached.last_hash)
            except ConcurrencyConflict:
                del self._cache[session_id]  # another writer was first: the general path
                return None  # re-reads, and decides again on what is there now
            except BaseException:
                del self._cache[session_id]
                raise
            cached.last_hash = last_hash
            self._cache.move_to_end(session_id)
            start = 0
            for stop in stops:
                extend_messages(state, messages[start:stop])
                self._after_plain(state)
                start = stop
            return state.version

    def _plain_messages(
        self, state: SessionState, items: Sequence[Mapping[str, Any]]
    ) -> list[Message] | None:
        version, seq = state.version, state.counters.messages
        messages: list[Message] = []
        for item in items:
            if item.__class__ is not dict and not isinstance(item, Mapping):
                return None  # the general path says what a message must be
            version, seq = version + 1, seq + 1
            message = plain_message(state, item, self._clock(), version=version, seq=seq)
            if message is None:
                return None
            messages.append(message)
        return messages

    def _plain_allowed(self) -> bool:
        """Hook: whether the next write may take the lane (not while explicit checkpoints
        wait to be stored by its transaction)."""
        return True

    def _plain_stops(self, state: SessionState, count: int) -> list[int]:
        """Hook: after how many of ``count`` new messages the state is to be looked at
        (``_after_plain``) before the last: automatic checkpoints' boundaries."""
        return []

    def _after_plain(self, state: SessionState) -> None:
        """Hook: the lane recorded messages, and ``state`` holds them up to a stop."""

    # -- the write path ---------------------------------------------------------------------
    def _write(
        self, session_id: str, expected_version: int | None, decide: Callable[[Session], ev.Event]
    ) -> int:
        session_id = check_session_id(session_id)
        if expected_version is not None:
            whole_number(expected_version, "expected_version", at_least=0)
        attempts = 1 if expected_version is not None else WRITE_ATTEMPTS
        for attempt in range(1, attempts + 1):
            with self._lock:
                cached = self._cached(session_id, expected_version)
                mark = len(cached.session.pending)
                event = decide(cached.session)
                new_events = cached.session.pending[mark:]
                try:
                    self._commit({session_id: cached}, new_events)
                    return event.version
                except ConcurrencyConflict:
                    if attempt == attempts:
                        raise
            _back_off(attempt)
        raise AssertionError("unreachable")

    def _cached(self, session_id: str, expected_version: int | None) -> _Cached:
        cached = self._cache.get(session_id)
        if cached is None or (
            expected_version is not None
            and cached.session.state.version != expected_version
            # A stale cache is re-read, unless this batch has staged writes to the session:
            # its cached state holds them, and the store does not have them yet.
            and session_id not in self._staged_links
        ):
            cached = self._load(session_id)
        if expected_version is not None and cached.session.state.version != expected_version:
            raise ConcurrencyConflict(
                f"session {session_id} is at version {cached.session.state.version}, not "
                f"{expected_version}; nothing was written: re-read the session and try again"
            )
        self._cache.move_to_end(session_id)
        return cached

    def _load(self, session_id: str) -> _Cached:
        head = self._require_exists(session_id)
        state = self._build_state(session_id)
        if state.version != head.version:  # written meanwhile: read again
            return self._load(session_id)
        cached = _Cached(Session(state, clock=self._clock), head.hash)
        self._cache[session_id] = cached
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return cached

    def _commit(self, sessions: dict[str, _Cached], new_events: list[ev.Event]) -> None:
        for session_id, cached in sessions.items():
            self._cache[session_id] = cached
        if self._staged is not None:
            links = self._staged_links
            for session_id, cached in sessions.items():
                if session_id not in links:  # the batch chains from where the session was
                    links[session_id] = self._link_for(cached, new_events)
            self._staged.extend(new_events)
            return
        links = {sid: self._link_for(c, new_events) for sid, c in sessions.items()}
        try:
            self._append(new_events, links)
        except BaseException:
            for session_id in sessions:
                self._cache.pop(session_id, None)
            raise

    def _link_for(self, cached: _Cached, new_events: list[ev.Event]) -> bytes:
        first = new_events[0] if new_events else None
        if isinstance(first, ev.SessionForked):
            return self._log.hash_at(first.parent_id, first.parent_version)
        return cached.last_hash

    def _append(self, events: list[ev.Event], links: dict[str, bytes]) -> list[Recorded]:
        recorded = self._log.append(events, links, self._joined_writes())
        last_hashes = {event.session_id: event.hash for event in events}
        for session_id, last_hash in last_hashes.items():
            cached = self._cache.get(session_id)
            if cached is not None:
                cached.last_hash = last_hash
                cached.session.pending.clear()
        self._after_append(recorded)
        return recorded

    def _joined_writes(self) -> JoinedWrite | None:
        """Hook: rows to store in the next append's own transaction (explicit checkpoints)."""
        return None

    def _after_append(self, recorded: list[Recorded]) -> None:
        """Hook for parts that react to new events (automatic checkpoints)."""
