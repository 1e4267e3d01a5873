"""The workload and the interface every system under test implements."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MESSAGE_BYTES = 500
TOOL_EVERY = 10
BATCH = 100

# A fixed vocabulary of word-like tokens: text that compresses about as well as prose
# (zstd gets ~2-3x), not as well as one repeated character.
_VOCAB_RNG = random.Random(7)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_VOCAB = [
    "".join(_VOCAB_RNG.choice(_LETTERS) for _ in range(_VOCAB_RNG.randint(2, 10)))
    for _ in range(3000)
]


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    tool_name: str | None = None
    tool_call_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The message as a chat API would carry it (what raw sqlite3 stores as JSON)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_name is not None:
            out["name"], out["tool_call_id"] = self.tool_name, self.tool_call_id
        return out


def workload(n: int, *, seed: int = 1) -> list[Message]:
    """N messages of about 500 bytes: user and assistant alternate, every 10th is a tool result."""
    rng = random.Random(seed)
    out: list[Message] = []
    for i in range(1, n + 1):
        words: list[str] = []
        size = 0
        while size <= MESSAGE_BYTES:  # the joined text is size - 1 long: at least 500
            word = rng.choice(_VOCAB)
            words.append(word)
            size += len(word) + 1
        text = " ".join(words)[:MESSAGE_BYTES]
        if i % TOOL_EVERY == 0:
            out.append(Message("tool", text, tool_name="search", tool_call_id=f"call_{i}"))
        else:
            out.append(Message("user" if i % 2 else "assistant", text))
    return out


def raw_json_bytes(messages: Sequence[Message]) -> int:
    """Bytes of the messages as compact JSON: the yardstick for bytes on disk."""
    return sum(len(json.dumps(m.as_dict(), separators=(",", ":")).encode()) for m in messages)


def batches(messages: Sequence[Message], size: int = BATCH) -> Iterator[Sequence[Message]]:
    for start in range(0, len(messages), size):
        yield messages[start : start + size]


class NotSupported(Exception):
    """The system has no such operation; the table shows n/a with this reason."""


class Adapter(ABC):
    """One system under test, holding one session in a database under ``folder``.

    ``durability`` is "full" (fsync each commit) or "normal" (WAL, no fsync per commit).
    Operations that a system emulates rather than offers say so in ``notes``.
    """

    name: str = "?"
    durabilities: tuple[str, ...] = ("full", "normal")
    max_n: int | None = None  # larger workloads are cut to this size (and the table says so)
    notes: dict[str, str] = {}  # noqa: RUF012 - read-only per class

    def __init__(self, folder: Path, durability: str) -> None:
        self.folder = folder
        self.durability = durability

    @abstractmethod
    def open(self) -> None:
        """Open (or reopen, cold) the database."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def append_one(self, message: Message) -> None:
        """Append one message in its own transaction."""

    @abstractmethod
    def append_batch(self, messages: Sequence[Message]) -> None:
        """Append many messages in one transaction (or the system's nearest equivalent)."""

    @abstractmethod
    def read_all(self) -> int:
        """Read the whole history; return how many messages."""

    @abstractmethod
    def read_last(self, k: int) -> int:
        """Read the latest ``k`` messages; return how many."""

    def state_cold(self) -> int:
        """The session's current state, just after opening; return how many messages."""
        return self.read_all()

    def time_travel(self, k: int) -> int:
        """The session as it was after its ``k``-th message; return how many messages."""
        raise NotSupported("no history of states")

    def fork(self, k: int) -> None:
        """Start a new session from the state after the ``k``-th message."""
        raise NotSupported("no forks")

    def disk_bytes(self) -> int:
        """Bytes of the event/message store on disk (WAL checkpointed first)."""
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())


@contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ssbench-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def seconds(operation: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = operation()
    return time.perf_counter() - start, result
