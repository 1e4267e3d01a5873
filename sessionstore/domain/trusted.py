"""Building state models from values already known to be valid, without validating again.

A state of N messages holds N ``Message`` models. Validating each one again when it comes
from an event that was validated when it was built, or from checksummed checkpoint bytes that
we wrote from a valid model, was most of the cost of building a state. pydantic's own
``model_construct`` skips validation too, but walks the fields in Python and costs more than
validating; this sets the instance's storage the way it does, in four assignments.

Only for values that are complete (every field present) and of the declared types; the
tests compare each trusted build with the validated one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from .events import MAX_CONTENT_BYTES, MessageAdded, ToolCall, check_text, plain_texts
from .state import Message
from .status import Role

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__

_MISSING: Any = object()


def _template(cls: type[BaseModel]) -> dict[str, Any]:
    """Every field of ``cls`` in declaration order (dumps follow the instance's order), the
    optional ones with their defaults, the required ones ``_MISSING``."""
    return {
        name: _MISSING if field.is_required() else field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
    }


_MESSAGE_TEMPLATE = _template(Message)
_REQUIRED = tuple(name for name, value in _MESSAGE_TEMPLATE.items() if value is _MISSING)
_REQUIRED_SET = frozenset(_REQUIRED)
MESSAGE_FIELDS = tuple(_MESSAGE_TEMPLATE)
# Every message built here has every field set. pydantic only ever adds to this set (on
# assignment, a name already in it) and copies it for copies, so one set serves them all:
# making a 14-name set per message was a sixth of the cost of building one.
_ALL_SET = set(MESSAGE_FIELDS)
ROLES: dict[str, Role] = {role.value: role for role in Role}


def build(cls: type[M], values: dict[str, Any], fields_set: set[str] | None = None) -> M:
    """An instance of ``cls`` holding ``values`` (every field, already valid) as they are."""
    instance = cls.__new__(cls)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values) if fields_set is None else fields_set)
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


def assign(model: BaseModel, values: dict[str, Any]) -> None:
    """``setattr(model, name, value)`` for each of ``values`` (valid fields of ``model``), as
    pydantic does it without validation (``validate_assignment`` is off), in two calls: its
    ``__setattr__`` is two Python calls per field."""
    model.__dict__.update(values)
    model.__pydantic_fields_set__.update(values)


def message(values: dict[str, Any]) -> Message:
    """A ``Message`` from stored values: defaults filled in, role and tool calls rebuilt.

    Raises ``KeyError``, ``TypeError`` or ``ValueError`` when ``values`` cannot be a message
    (an unknown field or role), so that callers can report the bytes as corrupt.
    """
    full = {**_MESSAGE_TEMPLATE, **values}
    if len(full) != len(_MESSAGE_TEMPLATE) or not values.keys() >= _REQUIRED_SET:
        unknown = sorted(set(full) - set(_MESSAGE_TEMPLATE))
        missing = [name for name in _REQUIRED if full[name] is _MISSING]
        raise KeyError(f"unknown fields {unknown}, missing fields {missing}")
    full["role"] = ROLES[full["role"]]
    calls = full["tool_calls"]
    # Tool calls are few: validating them costs little and keeps their field order.
    full["tool_calls"] = [ToolCall.model_validate(c) for c in calls] if calls else []
    full["metadata"] = full["metadata"] or {}  # never the template's shared default
    return build(Message, full, _ALL_SET)



def message_row(row: list[Any]) -> Message:
    """A ``Message`` from its values in ``MESSAGE_FIELDS`` order, as checkpoints store them."""
    if len(row) != len(MESSAGE_FIELDS):
        raise ValueError(f"a message has {len(MESSAGE_FIELDS)} fields, not {len(row)}")
    values = dict(zip(MESSAGE_FIELDS, row, strict=True))
    values["role"] = ROLES[values["role"]]
    calls = values["tool_calls"]
    if calls:
        values["tool_calls"] = [ToolCall.model_validate(c) for c in calls]
    return build(Message, values, _ALL_SET)


_EVENT_TEMPLATE = _template(MessageAdded)
_EVENT_REQUIRED = frozenset(n for n, v in _EVENT_TEMPLATE.items() if v is _MISSING)
_OPTIONAL_TEXTS = ("tool_name", "tool_call_id", "agent_id", "model")


def plain_message_added(values: dict[str, Any]) -> MessageAdded | None:
    """The ``MessageAdded`` that validating ``values`` gives, built without pydantic, or None.

    Only for the usual message: every value of exactly its declared type, texts plain
    ASCII within their limits (or content that ``check_text`` accepts), no tool calls, no
    metadata, no hashes. Anything else returns None and goes through validation, which
    gives the same event or the error. Validating was a fifth of a one-commit append;
    ``tests/unit/test_fast_paths.py`` holds the two builds equal.
    """
    if not (values.keys() >= _EVENT_REQUIRED and plain_texts(MessageAdded, values)):
        return None
    role = ROLES.get(values["role"]) if type(values["role"]) is str else None
    if role is None or not _plain_message_values(values):
        return None
    try:
        check_text(values["content"], limit=MAX_CONTENT_BYTES, field="content")
    except ValueError:
        return None
    full = {**_EVENT_TEMPLATE, **values, "role": role, "tool_calls": [], "metadata": {}}
    return build(MessageAdded, full, set(values))  # set: the fields given, as validation's


def _plain_message_values(values: dict[str, Any]) -> bool:
    get = values.get
    return (
        type(values["content"]) is str
        and type(values["session_id"]) is str
        and type(values["recorded_at"]) is datetime
        and (get("occurred_at") is None or type(get("occurred_at")) is datetime)
        and all(get(n) is None or type(get(n)) is str for n in _OPTIONAL_TEXTS)
        and _count(values["version"], floor=1) and _count(values["seq"], floor=1)
        and _count(get("tokens_in"), floor=0, optional=True)
        and _count(get("tokens_out"), floor=0, optional=True)
        and _empty(get("tool_calls", []), list) and _empty(get("metadata", {}), dict)
        and "prev_hash" not in values and "hash" not in values
    )


def _count(value: Any, *, floor: int, optional: bool = False) -> bool:
    if value is None:
        return optional
    return type(value) is int and value >= floor  # not bool: validation makes True a 1


def _empty(value: Any, kind: type) -> bool:
    return type(value) is kind and not value
