"""Pausing Python's cyclic garbage collector while a state is built.

Building a state allocates one model (and its dict) per message, all kept. Each 700 new
container objects start a collection that walks the young objects, and the older
generations are walked again and again as the state grows: about a third of the time of
building a 20,000-message state. Nothing built there forms cycles that need collecting
early, so the collector waits until the state is built. Reference counting still frees
everything as usual.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def gc_paused(function: Callable[P, T]) -> Callable[P, T]:
    """Run ``function`` with the collector paused (left as found when it was already off)."""

    @functools.wraps(function)
    def paused(*args: P.args, **kwargs: P.kwargs) -> T:
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused
