"""CLI fixtures: one database seeded by ``releaseflow demo`` per test module."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from releaseflow.cli import cli


@pytest.fixture(name="db", scope="module")
def _db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database seeded once by ``releaseflow demo``."""
    path = tmp_path_factory.mktemp("cli") / "agency.db"
    url = f"sqlite:///{path}"
    result = CliRunner().invoke(cli, ["--db", url, "demo", "--today", "2026-03-20"])
    assert result.exit_code == 0, result.output
    assert "press_inquiry" in result.output
    return url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def copy_db(db: str, tmp_path: Path) -> str:
    target = tmp_path / "copy.db"
    with (
        sqlite3.connect(db.removeprefix("sqlite:///")) as src,
        sqlite3.connect(target) as dst,
    ):
        src.backup(dst)
    return f"sqlite:///{target}"
