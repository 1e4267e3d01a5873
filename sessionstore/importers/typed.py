"""The tags an export puts on event data values JSON has no type for, and their restoring.

Event data may hold values JSON has no type for (bytes, aware datetimes): they are written as
base64 or ISO 8601 text, and the line's ``types`` names each by its JSON Pointer into
``data`` (``{"/metadata/when": "datetime"}``), so the import restores the exact value, which
the hash covers.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

from .core import RecordError

RESTORE: dict[str, Callable[[str], Any]] = {
    "bytes": lambda text: base64.b64decode(text, validate=True),
    "datetime": lambda text: _aware(datetime.fromisoformat(text)),
}


def typed_values(data: dict[str, Any]) -> dict[str, str]:
    """The JSON Pointer of each value in ``data`` that JSON would turn into text, and its type.

    A loop, not recursion: data may nest as deep as the store allows."""
    found: dict[str, str] = {}
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            items = [(f"{path}/{_escape(str(k))}", v) for k, v in value.items()]
            pending.extend(reversed(items))  # in document order: the same data, the same line
        elif isinstance(value, list | tuple):
            pending.extend(reversed([(f"{path}/{n}", v) for n, v in enumerate(value)]))
        elif isinstance(value, bytes | datetime):
            found[path] = "bytes" if isinstance(value, bytes) else "datetime"
    return found


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")  # RFC 6901


def plain(value: Any) -> Any:
    # Enums, and the values ``typed_values`` names; floats stay as json writes them.
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def restore_types(data: dict[str, Any], types: Any) -> None:
    """Put back in ``data`` the bytes and datetimes that ``types`` names; ``RecordError`` if
    it names what is not there."""
    if types is None:
        return
    if not isinstance(types, dict):
        raise RecordError("types must map JSON Pointers into data to bytes or datetime")
    for pointer, kind in types.items():
        restore = RESTORE.get(kind)
        if restore is None:
            raise RecordError(f"types names {kind!r} at {pointer!r}; known: bytes, datetime")
        parent, key = _locate(data, pointer)
        try:
            parent[key] = restore(parent[key])
        except (TypeError, ValueError, binascii.Error) as e:
            raise RecordError(f"the {kind} at {pointer!r} cannot be read: {e}") from None


def _locate(data: dict[str, Any], pointer: str) -> tuple[Any, Any]:
    """The container holding the value at ``pointer`` and its key (or index) there."""
    if not pointer.startswith("/"):
        raise RecordError(f"{pointer!r} is not a JSON Pointer into data")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
    parent: Any = data
    try:
        for token in tokens[:-1]:
            parent = parent[_key(parent, token)]
        key = _key(parent, tokens[-1])
        parent[key]  # it must be there: a KeyError or IndexError if not
    except (KeyError, IndexError, TypeError, ValueError):
        raise RecordError(f"types names {pointer!r}, which is not in data") from None
    return parent, key


def _key(container: Any, token: str) -> Any:
    if not isinstance(container, list):
        return token
    if not token.isdecimal():
        raise ValueError(f"{token!r} is not a list index")
    return int(token)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("it has no time zone")
    return moment
