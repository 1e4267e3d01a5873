"""With no PostgreSQL server the PostgreSQL tests skip with a reason, except under ``CI``,
where they fail: CI must run them for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_SERVER = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
ONE_PG_TEST = "tests/integration/test_postgres_backend.py::test_stores_in_different_schemas" \
    "_do_not_see_each_other"


def run_pytest(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["SESSIONSTORE_TEST_POSTGRES"] = NO_SERVER
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", ONE_PG_TEST],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_without_a_server_postgres_tests_skip_with_a_reason() -> None:
    result = run_pytest(ci=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 skipped" in result.stdout
    assert "no PostgreSQL server at 127.0.0.1:1" in result.stdout


@pytest.mark.slow
def test_under_ci_postgres_tests_fail_instead_of_skipping() -> None:
    result = run_pytest(ci=True)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 error" in result.stdout and "skipped" not in result.stdout  # in the fixture
    assert "CI must run the PostgreSQL tests" in result.stdout
