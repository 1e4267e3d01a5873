"""Every backend passes the same ``StoreContract``: each joins here with a few lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_replay_checkpoint_store import CheckpointStoreContract

from .backends import (
    Backend,
    MemoryBackend,
    PostgresBackend,
    SQLiteBackend,
    fresh_postgres_url,
)
from .contract import StoreContract


class TestMemory(StoreContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return MemoryBackend()


class TestSQLiteMemory(StoreContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return SQLiteBackend("sqlite-memory", ":memory:")


class TestSQLiteFile(StoreContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return SQLiteBackend("sqlite", str(tmp_path / "sessions.db"))


@pytest.mark.postgres
class TestPostgres(StoreContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        with fresh_postgres_url() as url:
            yield PostgresBackend(url)


@pytest.mark.postgres
class TestPostgresCheckpointStore(CheckpointStoreContract):
    @pytest.fixture
    def checkpoint_store(self) -> Iterator[object]:
        from sessionstore.storage.postgres import PostgresCheckpointStore, open_postgres

        with fresh_postgres_url() as url:
            recorder = open_postgres(url)
            yield PostgresCheckpointStore(recorder)
            recorder.close()
