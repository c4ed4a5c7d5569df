"""Each room keeps to its job (issue 29 §4): checked from the installed package's own source,
so a module that strays fails here, not in review."""
from __future__ import annotations

import ast
from pathlib import Path

import aicity

PACKAGE = Path(aicity.__file__).parent


def _modules(room: str) -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted((PACKAGE / room).rglob("*.py"))}


def _imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_db_commits():
    """Transactions are db/'s: no module outside it commits; a run's start and end are
    committed by store.open_run and store.close_run."""
    outside = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.relative_to(PACKAGE).parts[0] != "db"
               and ".commit()" in p.read_text(encoding="utf-8")]
    assert outside == []


def test_analysis_is_functions_of_frames_and_arrays():
    """analysis/ reads and writes nothing: it imports no database, file, network or other room
    of the project (only its own modules and the shared vocabulary), and opens no file."""
    modules = _modules("analysis")
    assert "analysis/decompose.py" in modules and "analysis/rankings.py" in modules
    strays = {}
    for name, tree in modules.items():
        bad = {m for m in _imported(tree)
               if (m.startswith("aicity") and not m.startswith(("aicity.analysis",
                                                               "aicity.vocabulary")))
               or m.split(".")[0] in {"sqlite3", "sqlite_utils", "psycopg", "requests",
                                      "urllib", "http", "socket", "scrapy", "csv"}}
        opens = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", getattr(n.func, "attr", "")) in {"open", "read_text",
                                                                          "write_text", "connect",
                                                                          "to_csv"}]
        if bad or opens:
            strays[name] = (sorted(bad), opens)
    assert strays == {}


def test_no_arrow_runs_back_up():
    """db/ imports neither the importer, the services nor the crawler; analysis/ no service
    (the re-export modules aicity.analysis.queries/.compare and aicity.db.importer made the
    only two arrows back up; 0.1 removed them, issue 34 §4)."""
    for room, above in (("db", ("aicity.importer", "aicity.service", "aicity.crawler",
                                "aicity.analysis")),
                        ("analysis", ("aicity.service", "aicity.db", "aicity.importer"))):
        for name, tree in _modules(room).items():
            assert not {m for m in _imported(tree) if m.startswith(above)}, name
    assert not (PACKAGE / "analysis" / "queries.py").exists()
    assert not (PACKAGE / "db" / "importer.py").exists()


def test_the_importer_runs_no_sql_and_the_crawler_no_analysis():
    importer = ast.parse((PACKAGE / "importer.py").read_text(encoding="utf-8"))
    calls = {getattr(n.func, "attr", "") for n in ast.walk(importer) if isinstance(n, ast.Call)}
    assert not calls & {"execute", "executemany", "executescript"}
    for name, tree in _modules("crawler").items():
        assert not {m for m in _imported(tree)
                    if m.startswith(("aicity.analysis", "aicity.service"))}, name
