"""Shared fixtures: a temporary initialised database and a CLI runner against it."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from db import store


@pytest.fixture
def db_path(tmp_path) -> Path:
    """A fresh database with the packaged regions and taxonomy loaded."""
    path = tmp_path / "aicity.db"
    from keywords.taxonomy import default_taxonomy
    store.init_db(path, taxonomy=default_taxonomy())
    return path


@pytest.fixture
def run(db_path):
    """Invoke the CLI against db_path; returns the click Result."""
    runner = CliRunner()

    def _run(*args: str, input: str | None = None):
        return runner.invoke(cli, ["--db", str(db_path), *args], input=input,
                             catch_exceptions=False)

    return _run


def observation_count(path: Path) -> int:
    db = store.connect(path)
    try:
        return store.count_observations(db)
    finally:
        db.close()


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path
