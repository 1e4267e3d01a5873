"""``Message`` and ``MessageList``: a state's messages, loading their older part on first use.

A state loaded from a checkpoint has every message of the session; building 20,000
``Message`` models is most of the cost of that load, and many callers never look at them
(they append, read counters, or only look at the last few). So a checkpoint hands its
messages over undecoded, as a loader, and the list decodes them the first time anything
before its own tail is read. Appending, ``len``, and reading the newest messages (those
added after the load) never decode.

It behaves as a ``list[Message]`` for reading (indexing, slicing to a plain list, iterating,
``len``, ``==`` with lists) and for what the reducer does (``append``, ``extend``,
``clear``). pydantic validates it from any list of messages and dumps it as a list.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, SupportsIndex, overload

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from .events import ToolCall
from .status import Role

Loader = Callable[[], "list[Message]"]
_LOADING = threading.Lock()


class StateModel(BaseModel):
    # Mutable on purpose: the reducer extends a state in place so that building a state of
    # N events costs O(N), not O(N^2). Copy a state (``model_copy(deep=True)``) to keep it.
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Message(StateModel):
    seq: int
    version: int
    role: Role
    content: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_name: str | None = None
    tool_call_id: str | None = None
    agent_id: str | None = None
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    recorded_at: datetime
    occurred_at: datetime | None = None


class MessageList(Sequence[Message]):
    __slots__ = ("_items", "_load", "_unloaded")

    def __init__(self, items: Iterable[Message] = ()) -> None:
        self._items: list[Message] = list(items)
        self._unloaded = 0  # how many messages come before ``_items``, not yet decoded
        self._load: Loader | None = None

    @classmethod
    def lazy(cls, count: int, load: Loader) -> MessageList:
        """A list whose first ``count`` messages ``load()`` returns when first needed."""
        messages = cls()
        if count:
            messages._unloaded, messages._load = count, load
        return messages

    @property
    def loaded(self) -> bool:
        return self._load is None

    def _loaded(self) -> list[Message]:
        if self._load is not None:
            with _LOADING:  # two threads reading one list must not both prepend
                if self._load is not None:
                    older = self._load()
                    if len(older) != self._unloaded:
                        raise ValueError(
                            f"expected {self._unloaded} messages, loaded {len(older)}"
                        )
                    self._items[:0] = older
                    self._unloaded, self._load = 0, None
        return self._items

    # -- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._unloaded + len(self._items)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Message | list[Message]:
        if self._load is not None:
            tail = self._tail_part(index)
            if tail is not None:
                return tail
        return self._loaded()[index]

    def _tail_part(self, index: SupportsIndex | slice) -> Message | list[Message] | None:
        """What ``index`` reads when it only reads messages added after the load."""
        size = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(size)
            if step == 1 and start >= self._unloaded:
                return self._items[start - self._unloaded : max(stop - self._unloaded, 0)]
            return None
        position = index.__index__()
        position = position + size if position < 0 else position
        if self._unloaded <= position < size:
            return self._items[position - self._unloaded]
        return None

    def __iter__(self) -> Iterator[Message]:
        return iter(self._loaded())

    def __reversed__(self) -> Iterator[Message]:
        return reversed(self._loaded())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MessageList):
            return len(self) == len(other) and self._loaded() == other._loaded()
        if isinstance(other, list):
            return len(self) == len(other) and self._loaded() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        if self._load is not None:
            return f"MessageList({self._unloaded} not yet decoded + {self._items!r})"
        return f"MessageList({self._items!r})"

    def __add__(self, other: Iterable[Message]) -> list[Message]:
        return [*self._loaded(), *other]

    # -- changing (the reducer's operations) ------------------------------------------------
    def append(self, message: Message) -> None:
        self._items.append(message)

    def extend(self, messages: Iterable[Message]) -> None:
        self._items.extend(messages)

    def truncate(self, length: int) -> None:
        """Keep the first ``length`` messages (taking back messages just appended)."""
        if length < self._unloaded:
            self._loaded()
        del self._items[length - self._unloaded :]

    def clear(self) -> None:
        self._items.clear()
        self._unloaded, self._load = 0, None

    # -- copies -----------------------------------------------------------------------------
    def __copy__(self) -> MessageList:
        twin = MessageList(self._items)
        twin._unloaded, twin._load = self._unloaded, self._load
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> MessageList:
        # Not yet decoded messages stay so: the copy decodes its own when it needs them.
        twin = MessageList(copy.deepcopy(self._items, memo))
        twin._unloaded, twin._load = self._unloaded, self._load
        return twin

    def __reduce__(self) -> tuple[type[MessageList], tuple[list[Message]]]:
        # A loader may not pickle (a closure over checkpoint bytes): pickle the messages.
        return MessageList, (self._loaded(),)

    # -- pydantic ---------------------------------------------------------------------------
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        as_list = handler.generate_schema(list[Message])
        from_list = core_schema.no_info_after_validator_function(cls, as_list)
        return core_schema.union_schema(
            [core_schema.is_instance_schema(cls), from_list],
            serialization=core_schema.plain_serializer_function_ser_schema(
                _as_list, return_schema=as_list
            ),
        )


def _as_list(messages: MessageList) -> list[Message]:
    return list(messages)
