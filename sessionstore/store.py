"""``SessionStore``: the one composition root. It wires a backend to the event log, the
read models and replay, and is the Python API of sessionstore.

Its parts live beside their layers: writes, ``events`` and ``verify`` in ``core.py``; queries
over the read models in ``projections/api.py``; checkpoints, time travel and forks in
``replay/api.py``.
"""

from __future__ import annotations

from .core import StoreCore
from .domain.session import Clock, utc_now
from .importers.api import ImportExportMixin
from .projections.api import ReadModelsMixin
from .replay.api import ReplayMixin


class SessionStore(ImportExportMixin, ReplayMixin, ReadModelsMixin, StoreCore):
    """An event-sourced store of AI-agent sessions.

    ``url`` is a SQLite file path (default ``sessions.db``), ``sqlite:///path``, ``:memory:``
    or ``postgresql://user@host:port/db``. ``durability`` is ``full`` (fsync every commit)
    or ``normal`` (WAL without an fsync per commit). ``checkpoint_every`` bounds time
    travel to that many reducer steps. ``views`` is where the read models live (default:
    beside the events).

    >>> with SessionStore(":memory:") as store:
    ...     sid = store.create_session("triage", agent_id="main")
    ...     store.add_message(sid, "user", "the build is red")
    2
    """

    def __init__(self, url: str = "sessions.db", *, durability: str = "full",
                 checkpoint_every: int = 1000, views: str | None = None,
                 clock: Clock = utc_now) -> None:
        StoreCore.__init__(self, url, durability=durability, clock=clock)
        self._init_replay(checkpoint_every)
        self._init_read_models(views)

    def __enter__(self) -> SessionStore:
        return self
