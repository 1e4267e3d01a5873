"""PostgreSQL specifics: URLs, secrets kept out of errors, durability, unreachable servers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from sessionstore import SessionStore
from sessionstore.cli import main
from sessionstore.domain.errors import BackendError, InvalidInput
from sessionstore.storage.postgres import PostgresSessionRecorder, parse_url
from tests.conformance.backends import fresh_postgres_url

SECRET = "s3cr3t-Pa55"
UNREACHABLE = f"postgresql://alice:{SECRET}@127.0.0.1:1/nowhere?connect_timeout=1"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        yield url


def test_url_parts_and_options_are_parsed() -> None:
    cfg = parse_url("postgresql://bob:p%40ss@db.example:6543/sessions?schema=team"
                    "&pool_size=3&max_overflow=1&connect_timeout=2.5")
    assert (cfg.user, cfg.password, cfg.host, cfg.port, cfg.dbname) == (
        "bob", "p@ss", "db.example", 6543, "sessions")
    assert (cfg.schema, cfg.pool_size, cfg.max_overflow, cfg.connect_timeout) == (
        "team", 3, 1, 2.5)
    assert "p@ss" not in repr(cfg)


def test_defaults_fill_what_the_url_leaves_out() -> None:
    cfg = parse_url("postgresql:///")
    assert (cfg.user, cfg.host, cfg.port, cfg.dbname, cfg.schema) == (
        "postgres", "localhost", 5432, "postgres", "public")


@pytest.mark.parametrize("query", ["?pool_size=many", "?colour=blue"])
def test_bad_url_options_are_named_without_the_password(query: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_url(f"postgresql://alice:{SECRET}@host/db{query}")
    assert SECRET not in str(caught.value)
    assert "alice:***@host" in str(caught.value)


def test_unreachable_server_is_a_quick_backend_error_without_the_password() -> None:
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        SessionStore(UNREACHABLE)
    assert time.monotonic() - started < 15
    assert SECRET not in str(caught.value)
    assert "alice:***@127.0.0.1:1" in str(caught.value)


def test_cli_reports_an_unreachable_server_with_exit_code_7_and_no_secret() -> None:
    result = CliRunner().invoke(main, ["--db", UNREACHABLE, "verify"])
    assert result.exit_code == 7
    assert SECRET not in result.output
    assert "***" in result.output


@pytest.mark.postgres
@pytest.mark.parametrize(("durability", "setting"), [("full", "on"), ("normal", "off")])
def test_durability_sets_synchronous_commit(pg_url: str, durability: str, setting: str) -> None:
    with SessionStore(pg_url, durability=durability) as store:
        recorder = store._log.recorder
        assert isinstance(recorder, PostgresSessionRecorder)
        with recorder.datastore.transaction(commit=False) as c:
            c.execute("SHOW synchronous_commit")
            row = c.fetchone()
        assert row is not None and row["synchronous_commit"] == setting


def with_password(url: str) -> str:
    # The test server trusts local users, so any password connects; what matters is
    # that the password never shows in what the store reports.
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}:{SECRET}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["demo"], ["tree"], ["list"], ["verify"]])
def test_cli_output_never_shows_the_password(pg_url: str, command: list[str]) -> None:
    result = CliRunner().invoke(main, ["--db", with_password(pg_url), *command])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output


@pytest.mark.postgres
def test_password_in_url_is_used_and_kept_out_of_errors(pg_url: str) -> None:
    url = with_password(pg_url)
    with SessionStore(url) as store:
        sid = store.create_session("secret keeper")
        assert store.current_version(sid) == 1
        assert SECRET not in store._log.recorder.safe_url  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_stores_in_different_schemas_do_not_see_each_other(pg_url: str) -> None:
    with fresh_postgres_url() as other_url, SessionStore(pg_url) as a, \
            SessionStore(other_url) as b:
        sid = a.create_session("only in a")
        assert [h.session_id for h in a._log.heads()] == [sid]
        assert list(b._log.heads()) == []


@pytest.mark.postgres
@pytest.mark.slow
def test_processes_opening_a_new_schema_together_all_succeed(pg_url: str) -> None:
    # Concurrent CREATE ... IF NOT EXISTS fails in PostgreSQL without the advisory lock.
    opener = "import sys; from sessionstore import SessionStore; SessionStore(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", opener, pg_url], stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    with SessionStore(pg_url) as store:
        sid = store.create_session("after the stampede")
        assert [h.session_id for h in store._log.heads()] == [sid]
