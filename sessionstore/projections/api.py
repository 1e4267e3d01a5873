"""The read-model half of ``SessionStore`` (history, sessions, search, audit, metrics)."""

from __future__ import annotations


class ReadModelsMixin:
    """Queries over the SQLite read models. Mixed into ``SessionStore``."""

    def _init_read_models(self, views: str | None) -> None:
        self._views_url = views
