"""Checks of the API's plain arguments (numbers, times, texts), so that a wrong type gets
an ``InvalidInput`` naming the argument instead of a ``TypeError`` from deep inside."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import InvalidInput


def whole_number(value: Any, name: str, *, at_least: int) -> int:
    """``value`` if it is an int (not a bool, not a float) of at least ``at_least``."""
    if type(value) is not int:
        raise InvalidInput(f"{name} must be a whole number, not {value!r}")
    if value < at_least:
        raise InvalidInput(f"{name} must be at least {at_least} (got {value})")
    return value


def moment(value: Any, name: str) -> datetime:
    """``value`` if it is a time with a zone."""
    if not isinstance(value, datetime):
        raise InvalidInput(
            f"{name} must be a datetime with a time zone, not {value!r}; parse text first, "
            "e.g. datetime.fromisoformat('2026-11-21T18:30:00+00:00')"
        )
    if value.tzinfo is None:
        raise InvalidInput(f"{name} {value.isoformat()} has no time zone; pass an aware one")
    return value


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, not {value!r}")
    return value
