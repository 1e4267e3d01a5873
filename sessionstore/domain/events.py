"""The event catalogue: immutable pydantic models, one per thing that can happen to a session.

Every event carries its place (``session_id``, ``version``), its times (``recorded_at`` from
the store clock, ``occurred_at`` from the source clock for imports) and its place in the hash
chain (``prev_hash``, ``hash``; filled in by storage). The other fields are the event's data.

``EVENT_TYPES`` maps a stored type name to its class. Storage resolves stored names through
this mapping only (an allowlist), never through arbitrary imports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .status import AgentStatus, Role, SessionKind, SessionStatus

MAX_CONTENT_BYTES = 4 * 1024 * 1024
"""Largest message content accepted; larger content belongs in a blob store, referenced."""

MAX_TEXT_BYTES = 64 * 1024
"""Largest name, label, reason or other short text field accepted."""

# Fields every event has; the rest of an event's fields are its data.
ENVELOPE_FIELDS = frozenset(
    {"session_id", "version", "recorded_at", "occurred_at", "prev_hash", "hash"}
)
# Fields not held to MAX_TEXT_BYTES (content has its own limit; the rest are not text).
_FREE_FIELDS = frozenset({"content", "metadata", "tool_calls", "prev_hash", "hash"})


STORED: dict[str, bool] = {"stored": True}
"""Validation context for events read back from storage. Their texts were checked when they
were written and the hash chain guards them since, so the text checks are skipped; types are
still validated, so a replayed event equals the live one."""


TEXTS_CHECKED: dict[str, bool] = STORED
"""Validation context for events whose texts the caller has just checked: the short texts
with ``checked_texts``, a message's content with ``check_text`` (a batch of messages checks
them in one pass): the same checks are not run twice."""


def is_stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def check_text(value: Any, *, limit: int, field: str) -> Any:
    """Refuse text that is not valid UTF-8 or is longer than ``limit`` bytes."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{field} is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    if isinstance(value, str):
        # ASCII, the common case, is valid UTF-8 of one byte a character: no encoded copy.
        size = len(value) if value.isascii() else _utf8_size(value, field)
        if size > limit:
            raise ValueError(f"{field} is {size} bytes; the limit is {limit} bytes")
    return value


def _utf8_size(value: str, field: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise ValueError(f"{field} is not valid UTF-8 (unpaired surrogate at {e.start})") from None


def _checked_texts(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every short text checked (and UTF-8 bytes decoded), or a ValueError."""
    checked = data
    for name, value in data.items():
        if name in _FREE_FIELDS or not isinstance(value, str | bytes):
            continue
        text = check_text(value, limit=MAX_TEXT_BYTES, field=name)
        if text is not value:
            checked = {**checked, name: text}
    return checked


def _plain_texts(data: dict[str, Any], fields: tuple[frozenset[str], frozenset[str]]) -> bool:
    """True when ``_checked_texts`` would return ``data`` unchanged without looking closer:
    only declared fields, and every short text is ASCII within the limit (the usual input).
    Anything else (bytes, other scripts, long or unknown fields) takes the full check, so
    the errors stay the same."""
    limited, known = fields
    if not known.issuperset(data):
        return False
    for name, value in data.items():  # the given values only, not every field's default
        if isinstance(value, str):
            if name in limited and (len(value) > MAX_TEXT_BYTES or not value.isascii()):
                return False
        elif isinstance(value, bytes) and name in limited:
            return False
    return True


def plain_texts(cls: type[BaseModel], data: dict[str, Any]) -> bool:
    """True when ``data`` holds only fields of ``cls`` and its short texts are ASCII within
    the limit: the texts need no closer look (see ``_plain_texts``)."""
    return _plain_texts(data, _text_fields(cls))


def checked_texts(cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` for ``cls`` with its short texts checked as the event's own validator checks
    them (UTF-8 bytes decoded), or the same ``ValueError``. Validate the result with
    ``context=TEXTS_CHECKED``: together they refuse and accept what validation alone does."""
    if plain_texts(cls, data):
        return data
    return _checked_texts(data)


_TEXT_FIELDS: dict[type[BaseModel], tuple[frozenset[str], frozenset[str]]] = {}


def _text_fields(cls: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    """The fields of ``cls`` held to ``MAX_TEXT_BYTES``, and all its fields; once per class."""
    fields = _TEXT_FIELDS.get(cls)
    if fields is None:
        names = frozenset(cls.model_fields) - _FREE_FIELDS
        fields = _TEXT_FIELDS[cls] = (names, frozenset(cls.model_fields))
    return fields


class ToolCall(BaseModel):
    """A tool call requested by an assistant message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    id: str | None = None
    arguments: Any = None


class Event(BaseModel):
    """The envelope shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type_name: ClassVar[str] = "Event"

    session_id: str
    version: int = Field(ge=1)
    recorded_at: datetime
    occurred_at: datetime | None = None
    prev_hash: bytes = b""
    hash: bytes = b""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type_name = cls.__name__

    @model_validator(mode="before")
    @classmethod
    def _short_texts(cls, data: Any, info: ValidationInfo) -> Any:
        # One pass over the input, not one validator call per field: this was a third of the
        # cost of building an event.
        if not isinstance(data, dict) or is_stored(info):
            return data
        if _plain_texts(data, _text_fields(cls)):
            return data
        return _checked_texts(data)

    def _link(self, prev_hash: bytes, digest: bytes) -> None:
        """Fill in the event's place in the hash chain, once storage has recorded it.

        Events are frozen; this is the one exception, for storage only, and only on a
        pending event that nothing else has seen: a copy per event cost as much as the rest
        of recording it.
        """
        self.__dict__["prev_hash"] = prev_hash
        self.__dict__["hash"] = digest
        self.__pydantic_fields_set__.update(("prev_hash", "hash"))

    def data(self) -> dict[str, Any]:
        """The event's own fields, without the envelope, in plain Python types."""
        return {k: v for k, v in self.model_dump(mode="python").items() if k not in ENVELOPE_FIELDS}


class SessionCreated(Event):
    name: str
    kind: SessionKind = SessionKind.MAIN
    agent_id: str | None = None
    parent_id: str | None = None
    label: str | None = None
    task: str | None = None
    project_dir: str | None = None
    max_agents: int = Field(default=8, ge=1, le=10_000, strict=True)
    metadata: dict[str, Any] = Field(default_factory=dict)


class SessionForked(Event):
    """The first event of a fork: its state is the parent's at ``parent_version``, then its own."""

    parent_id: str
    parent_version: int = Field(ge=1)
    checkpoint_id: str | None = None
    reason: str | None = None
    name: str | None = None
    label: str | None = None


class MessageAdded(Event):
    seq: int = Field(ge=1)
    role: Role
    content: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_name: str | None = None
    tool_call_id: str | None = None
    agent_id: str | None = None
    model: str | None = None
    tokens_in: int | None = Field(default=None, ge=0, strict=True)
    tokens_out: int | None = Field(default=None, ge=0, strict=True)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: Any, info: ValidationInfo) -> Any:
        if is_stored(info):
            return value
        return check_text(value, limit=MAX_CONTENT_BYTES, field="content")


class AgentAdded(Event):
    agent_id: str
    name: str | None = None
    role: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentRemoved(Event):
    agent_id: str
    reason: str | None = None


class AgentStatusChanged(Event):
    agent_id: str
    from_status: AgentStatus
    to_status: AgentStatus


class TaskStarted(Event):
    task_id: str
    agent_id: str | None = None
    description: str | None = None


class TaskCompleted(Event):
    task_id: str
    outcome: str | None = None
    tokens: int | None = Field(default=None, ge=0, strict=True)


class StatusChanged(Event):
    from_status: SessionStatus
    to_status: SessionStatus
    reason: str | None = None


class SessionCompleted(Event):
    from_status: SessionStatus
    result: str | None = None


class CheckpointCreated(Event):
    checkpoint_id: str
    label: str | None = None
    at_version: int = Field(ge=1)


class LabelChanged(Event):
    label: str | None = None


class ContextCompacted(Event):
    """The agent's context was compacted (summarised); earlier messages stay in the log."""

    trigger: str | None = None
    tokens_before: int | None = Field(default=None, ge=0, strict=True)
    summary: str | None = None


class SessionReopened(Event):
    """A finished session went on, from ``active``: in a what-if branch, where the history
    it replays went on through fork ``fork_id`` of a finished session (a fork reopens)."""

    from_status: SessionStatus
    fork_id: str | None = None


class SourceImported(Event):
    """An importer read the session's source (a transcript file) up to ``size`` bytes.

    ``sha256`` is the hex digest of those bytes. A later import of the same source checks
    that the file still starts with them and, if it grew, appends what was written since."""

    source: str
    file: str
    size: int = Field(ge=0, strict=True)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        SessionCreated,
        SessionForked,
        MessageAdded,
        AgentAdded,
        AgentRemoved,
        AgentStatusChanged,
        TaskStarted,
        TaskCompleted,
        StatusChanged,
        SessionCompleted,
        CheckpointCreated,
        LabelChanged,
        ContextCompacted,
        SessionReopened,
        SourceImported,
    )
}
