"""The plain-message lane: the messages an orchestrator writes most, decided without events.

Nearly every event of a session is a message, and nearly every message is text from a known
role, perhaps naming a tool call, an agent, a model and token counts. For those, the store
does not build a ``MessageAdded`` model, apply it, and encode it: it builds the state's
``Message`` here, storage encodes the same bytes from it (``EventCodec.encode_message``), and
the state takes it once those are recorded. A one-commit append spent a third of its time
outside SQLite on those layers, and after every commit each runs with cold CPU caches.

``plain_message`` says None for anything else (tool calls, metadata, other input types, a
message the session would refuse): ``Session.add_message`` then decides it, and says what is
wrong. ``tests/unit/test_plain_lane.py`` holds the two lanes equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .events import MAX_CONTENT_BYTES, MAX_TEXT_BYTES, check_text
from .state import Message, SessionState
from .trusted import MESSAGE_FIELDS, ROLES, build

_TEXTS = ("tool_name", "tool_call_id", "agent_id", "model")
_COUNTS = ("tokens_in", "tokens_out")
_EMPTY: dict[str, type] = {"tool_calls": list, "metadata": dict}
_NAMES = frozenset(("role", "content", "occurred_at", *_TEXTS, *_COUNTS, *_EMPTY))
_ALL_SET = set(MESSAGE_FIELDS)  # shared, as trusted.message's: every field is set


def plain_message(
    state: SessionState, arguments: Mapping[str, Any], now: datetime, *, version: int, seq: int
) -> Message | None:
    """The ``Message`` that ``Session.add_message(**arguments)`` would add to ``state`` as
    message ``seq`` at ``version``, recorded ``now``; or None, when the arguments are not
    plain or the session would refuse them."""
    if state.is_terminal or not _plain_options(state, arguments):
        return None
    get = arguments.get
    given, content = get("role"), get("content")
    role = ROLES.get(given) if given.__class__ is str else None
    if role is None or content.__class__ is not str or not _plain_content(content):
        return None
    values: dict[str, Any] = {
        "seq": seq, "version": version, "role": role, "content": content,
        "tool_calls": [], "tool_name": get("tool_name"), "tool_call_id": get("tool_call_id"),
        "agent_id": get("agent_id"), "model": get("model"), "tokens_in": get("tokens_in"),
        "tokens_out": get("tokens_out"), "metadata": {}, "recorded_at": now,
        "occurred_at": get("occurred_at"),
    }
    return build(Message, values, _ALL_SET)


def _plain_options(state: SessionState, arguments: Mapping[str, Any]) -> bool:
    if not _NAMES.issuperset(arguments):
        return False  # an unknown argument: the general path names it
    for name, value in arguments.items():
        if value is None:
            continue
        if name in _TEXTS:
            if value.__class__ is not str or len(value) > MAX_TEXT_BYTES or not value.isascii():
                return False
        elif name in _COUNTS:
            if value.__class__ is not int or value < 0:  # not bool: validation makes it 1
                return False
        elif name in _EMPTY:
            if value.__class__ is not _EMPTY[name] or value:
                return False
        elif name == "occurred_at" and value.__class__ is not datetime:
            return False  # role and content are the caller's to check
    agent_id = arguments.get("agent_id")
    return agent_id is None or agent_id == state.agent_id or agent_id in state.agents


def _plain_content(content: str) -> bool:
    if content.isascii():
        return len(content) <= MAX_CONTENT_BYTES
    try:
        check_text(content, limit=MAX_CONTENT_BYTES, field="content")
    except ValueError:
        return False
    return True
