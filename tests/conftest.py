"""Shared fixtures: a fresh in-memory store and a fresh SQLite file store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionstore import SessionStore


@pytest.fixture
def store() -> Iterator[SessionStore]:
    with SessionStore(":memory:") as s:
        yield s


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "sessions.db")


@pytest.fixture
def file_store(db_path: str) -> Iterator[SessionStore]:
    with SessionStore(db_path, durability="normal") as s:
        yield s
