"""The one error root of sessionstore and its specific subclasses.

Every error says what happened and what to do about it::

    SessionStoreError
    ├── InvalidInput            (also a ValueError)   bad argument: unknown role, too big, ...
    │   └── UnsupportedFormat                         an importer or export format we do not know
    ├── SessionNotFound         (also a KeyError)     no session with that id
    ├── CheckpointNotFound      (also a KeyError)     no checkpoint with that id
    ├── InvalidTransition                             a status move the status machine refuses
    ├── SessionClosed                                 a change to a session in a terminal status
    ├── AgentLimitReached / DuplicateAgent / UnknownAgent
    ├── DuplicateTask / UnknownTask
    ├── BatchAborted                                  a nested batch failed: nothing stored
    ├── ConcurrencyConflict                           a stale writer; nothing was written
    │   └── CheckpointsChanged                        another store changed a checkpoint chain
    ├── IntegrityError                                stored bytes do not match their hash chain
    ├── CorruptCheckpoint                             a checkpoint blob failed its checksum
    ├── StoreClosed                                   a call on a store after ``close()``
    └── BackendError                                  the database refused or is unreachable
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class SessionStoreError(Exception):
    """The root of every error sessionstore raises on purpose."""


class InvalidInput(SessionStoreError, ValueError):
    """An argument is malformed: the message names it and says what is accepted."""


class UnsupportedFormat(InvalidInput):
    """An import or export format that sessionstore does not know."""


class SessionNotFound(SessionStoreError, KeyError):
    """No session has this id."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no session {session_id!r}: check the id with `sessionstore list`, "
            "or create the session first"
        )
        self.session_id = session_id

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class CheckpointNotFound(SessionStoreError, KeyError):
    """No checkpoint has this id."""

    def __init__(self, checkpoint_id: str) -> None:
        super().__init__(
            f"no checkpoint {checkpoint_id!r}: list them with `sessionstore checkpoints SESSION`"
        )
        self.checkpoint_id = checkpoint_id

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidTransition(SessionStoreError):
    """The status machine does not allow this move."""


class SessionClosed(SessionStoreError):
    """The session is in a terminal status and takes no more messages, agents or tasks."""


class AgentLimitReached(SessionStoreError):
    """The session already has `max_agents` agents."""


class DuplicateAgent(SessionStoreError):
    """An agent with this id is already in the session."""


class UnknownAgent(SessionStoreError):
    """No agent with this id is in the session."""


class DuplicateTask(SessionStoreError):
    """A task with this id was already started in the session."""


class UnknownTask(SessionStoreError):
    """No started task has this id."""


class BatchAborted(SessionStoreError):
    """A batch nested in another raised; the outer batch stored nothing (no savepoints)."""


class ConcurrencyConflict(SessionStoreError):
    """Another writer appended first. Nothing was written: re-read and try again."""


class CheckpointsChanged(ConcurrencyConflict):
    """Another store deleted a checkpoint that this write builds on, or built on one that
    this delete removes. Nothing was changed: read the checkpoints again and retry (the
    store's own checkpoint writes and prunes do)."""


def retry_on(
    conflict: type[ConcurrencyConflict],
    operation: Callable[[], T],
    attempts: int,
    pause: Callable[[int], None] = lambda attempt: None,
) -> T:
    """Run ``operation`` again after ``conflict``, up to ``attempts`` times, calling
    ``pause(attempt)`` between tries: a conflict changed nothing, so the next attempt
    starts from what is stored then."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except conflict:
            if attempt == attempts:
                raise
        pause(attempt)
    raise AssertionError("unreachable")


class StoreClosed(SessionStoreError):
    """The store was closed: nothing more is read or written through it."""

    def __init__(self) -> None:
        super().__init__(
            "this SessionStore is closed: open a new one (a `with SessionStore(...)` block "
            "closes its store when the block ends)"
        )


class IntegrityError(SessionStoreError):
    """Stored events do not match their hash chain: the log was altered."""


class CorruptCheckpoint(SessionStoreError):
    """A checkpoint blob failed its checksum or could not be decoded."""


class BackendError(SessionStoreError):
    """The database refused the operation or could not be reached."""
