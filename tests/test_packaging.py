"""What a user installs is what the tests test: every file of the package reaches the wheel, CI
runs the suite against the installed wheel, and the two schemas (SQLite migrations and
postgresql.sql) describe the same tables.

CI (`.ci/run`) builds the wheel, installs it into a fresh environment and runs this suite from a
copy of `tests/` outside the clone, with AICITY_WHEEL, AICITY_SOURCE_TREE and
AICITY_TEST_INSTALLED set; a developer's run builds its own wheel from the checkout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import aicity
from aicity.db import store
from aicity.keywords.taxonomy import default_taxonomy


def source_tree() -> Path | None:
    """The checkout the package was built from: named by CI, or the folder above tests/."""
    named = os.environ.get("AICITY_SOURCE_TREE")
    if named:
        return Path(named)
    here = Path(__file__).resolve().parent.parent
    return here if (here / "setup.cfg").is_file() and (here / "aicity").is_dir() else None


def package_files(tree: Path) -> set[str]:
    """Every file of the package as git tracks it (or, outside git, as it lies on disk)."""
    listed = subprocess.run(["git", "ls-files", "aicity"], cwd=tree, capture_output=True,
                            text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return set(listed.stdout.split())
    return {p.relative_to(tree).as_posix() for p in (tree / "aicity").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def wheel(tmp_path: Path, tree: Path) -> Path:
    """CI's wheel, or one built from a clean copy of the checkout: setuptools also packs what
    an earlier build listed in a stale *.egg-info/SOURCES.txt, which hid the missing file."""
    named = os.environ.get("AICITY_WHEEL")
    if named:
        return Path(named)
    clean = tmp_path / "src"
    shutil.copytree(tree, clean, ignore=shutil.ignore_patterns(
        "*.egg-info", "build", "dist", ".git", "__pycache__", "demo-output", "*.db*"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp_path), str(clean)], check=True, capture_output=True, timeout=300)
    return next(tmp_path.glob("aicity-*.whl"))


def test_every_file_of_the_package_is_in_the_wheel(tmp_path):
    tree = source_tree()
    if tree is None:
        pytest.skip("no source tree to compare the wheel with (set AICITY_SOURCE_TREE)")
    with zipfile.ZipFile(wheel(tmp_path, tree)) as whl:
        shipped = set(whl.namelist())
    expected = package_files(tree)
    assert "aicity/db/postgresql.sql" in expected      # the file whose absence broke installs
    missing = sorted(expected - shipped)
    assert not missing, f"left out of the wheel (setup.cfg [options.package_data]): {missing}"


def test_the_suite_runs_against_the_installed_package():
    if not os.environ.get("AICITY_TEST_INSTALLED"):
        pytest.skip("a developer's run tests the checkout; CI sets AICITY_TEST_INSTALLED")
    where = Path(aicity.__file__).resolve()
    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert purelib in where.parents, f"aicity was imported from {where}, not from {purelib}"
    tree = source_tree()
    assert tree is None or tree.resolve() not in where.parents


# --- the two schemas ---------------------------------------------------------------------

_TYPE_CLASS = {"integer": "integer", "bigint": "integer", "smallint": "integer",
               "real": "real", "double precision": "real", "text": "text", "bytea": "blob",
               "blob": "blob"}


def _sqlite_schema(path) -> dict:
    db = store.connect(path)
    try:
        out = {}
        for name, kind in db.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'").fetchall():
            cols = db.execute(f"PRAGMA table_info({name})").fetchall()
            if kind == "view":
                out[name] = ("view", tuple(c[1] for c in cols))
                continue
            unique = set()
            for _, index, is_unique, *_ in db.execute(f"PRAGMA index_list({name})").fetchall():
                columns = [c[2] for c in db.execute(f"PRAGMA index_info({index})").fetchall()]
                if is_unique and None not in columns:      # not an index on an expression
                    unique.add(tuple(columns))
            pk = tuple(c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5])
            if pk:
                unique.add(pk)           # a rowid key (INTEGER PRIMARY KEY) has no index
            out[name] = ("table", tuple(sorted(
                (c[1], _TYPE_CLASS[c[2].lower()], bool(c[3] or c[5])) for c in cols)),
                pk, frozenset(unique))
        return out
    finally:
        db.close()


def _postgres_schema(url) -> dict:
    db = store.connect(url)
    try:
        out = {}
        kinds = dict(db.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'public'").fetchall())
        for name, kind in kinds.items():
            if name == "schema_version":        # PostgreSQL's stand-in for _sqlite_migrations
                continue
            cols = db.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
                [name]).fetchall()
            if kind == "VIEW":
                out[name] = ("view", tuple(c[0] for c in cols))
                continue
            pk = tuple(r[0] for r in db.execute(
                "SELECT k.column_name FROM information_schema.table_constraints c "
                "JOIN information_schema.key_column_usage k USING (constraint_schema, "
                "constraint_name) WHERE c.table_schema = 'public' AND c.table_name = ? "
                "AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position",
                [name]).fetchall())
            # every unique index (a primary key's and a constraint's included), as ON CONFLICT
            # needs one: its columns in order
            unique = {tuple(r[0]) for r in db.execute(
                "SELECT array_agg(a.attname ORDER BY array_position(x.indkey::int2[], a.attnum)) "
                "FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey) "
                "WHERE n.nspname = 'public' AND t.relname = ? AND x.indisunique "
                "AND x.indexprs IS NULL GROUP BY x.indexrelid", [name]).fetchall()}
            out[name] = ("table", tuple(sorted(
                (c[0], _TYPE_CLASS[c[1]], c[2] == "NO") for c in cols)), pk, frozenset(unique))
        return out
    finally:
        db.close()


def test_sqlite_and_postgresql_schemas_agree(tmp_path, pg_url):
    """Tables, views, columns (type, NOT NULL), primary keys and unique indexes: the SQLite
    migrations and postgresql.sql are kept by hand, and this is what keeps them one schema."""
    lite = tmp_path / "a.db"
    store.init_db(lite, taxonomy=default_taxonomy())
    store.init_db(pg_url, taxonomy=default_taxonomy())
    on_sqlite, on_postgres = _sqlite_schema(lite), _postgres_schema(pg_url)
    assert {"obs", "observations", "regions", "runs"} <= set(on_sqlite)
    assert sorted(on_sqlite) == sorted(on_postgres)
    differ = {name: (on_sqlite[name], on_postgres[name]) for name in on_sqlite
              if on_sqlite[name] != on_postgres[name]}
    assert not differ
