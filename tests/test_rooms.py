"""Each room keeps to its job (issue 29 §4): checked from the installed package's own source,
so a module that strays fails here, not in review."""
from __future__ import annotations

import ast
from pathlib import Path

import aicity
from aicity.db import store

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


# what reads or writes a file, a database or the network, whatever the library: numpy's and
# pandas' readers and writers, Path's methods, the builtins
_IO_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "mkdir", "unlink",
             "rmdir", "touch", "connect", "urlopen", "load", "loads", "save", "savez",
             "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile", "tofile",
             "memmap", "read_csv", "to_csv", "read_excel", "to_excel", "read_json", "to_json",
             "read_parquet", "to_parquet", "read_pickle", "to_pickle", "read_sql", "to_sql",
             "read_hdf", "to_hdf", "read_table", "read_feather", "to_feather"}
_IO_MODULES = {"os", "pathlib", "shutil", "tempfile", "io", "pickle", "glob", "json", "csv",
               "sqlite3", "sqlite_utils", "psycopg", "redis", "requests", "urllib", "http",
               "socket", "subprocess", "scrapy", "importlib"}


def test_analysis_is_functions_of_frames_and_arrays():
    """analysis/ reads and writes nothing: it imports no database, file, network or other room
    of the project (only its own modules and the shared vocabulary), and calls nothing that
    reads or writes (decompose.stl_operators kept an .npz cache here until 0.1)."""
    modules = _modules("analysis")
    assert "analysis/decompose.py" in modules and "analysis/rankings.py" in modules
    strays = {}
    for name, tree in modules.items():
        bad = {m for m in _imported(tree)
               if (m.startswith("aicity") and not m.startswith(("aicity.analysis",
                                                               "aicity.vocabulary")))
               or m.split(".")[0] in _IO_MODULES}
        calls = [(n.lineno, getattr(n.func, "id", getattr(n.func, "attr", "")))
                 for n in ast.walk(tree) if isinstance(n, ast.Call)]
        io = [c for c in calls if c[1] in _IO_CALLS]
        if bad or io:
            strays[name] = (sorted(bad), io)
    assert strays == {}


def _io_from_analysis(work) -> list[str]:
    """What `work()` did to files, sockets or processes from inside aicity/analysis/ (seen by
    an audit hook, so by whatever means: numpy, pandas, Path, a library underneath), leaving
    out imports (a lazy one is still an import) and the reading of source lines for a
    warning."""
    import sys
    analysis = str(PACKAGE / "analysis")
    watched = ("open", "os.", "shutil.", "socket.", "sqlite3.", "subprocess.", "urllib.")
    seen, active = [], [False]

    def hook(event, args):
        if not active[0] or not event.startswith(watched):
            return
        frame, where = sys._getframe(1), None
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith("<frozen importlib") or name.endswith("linecache.py"):
                return
            if where is None and name.startswith(analysis):
                where = f"{Path(name).name}:{frame.f_lineno}"
            frame = frame.f_back
        if where:
            seen.append(f"{where} {event} {str(args)[:80]}")

    sys.addaudithook(hook)          # stays for the session; inert once `active` is off
    active[0] = True
    try:
        work()
    finally:
        active[0] = False
    return seen


def test_analysis_does_no_io_while_the_commands_run(tmp_path):
    """The room rule checked at run time: decomposing a database's series (operators from the
    cache in service/) and the commands that rank, type and split cities."""
    from aicity.db.regions import default_registry
    from aicity.importer import import_csv
    from aicity.keywords.taxonomy import default_taxonomy
    from aicity.service.refit import analyze
    from tests.conftest import invoke, write_world_csv
    db_file = tmp_path / "small.db"
    store.init_db(db_file, taxonomy=default_taxonomy())
    codes = [default_registry().resolve(c, level="city").code for c in ("成都", "西安", "杭州")]
    world = write_world_csv(tmp_path / "world.csv", codes + [0], "2016-01-01", "2017-12-31",
                            part=(0, 12))       # every 12th keyword: a few of each dimension
    db = store.connect(db_file)
    try:
        import_csv(db, world, source="emulator")
    finally:
        db.close()

    def work():
        analyze(db_file, full=True, workers=1)
        for args in (["rank", "--dimension", "basic", "--period", "2017", "--uncertainty"],
                     ["demand-types", "--period", "2017"], ["industries", "--period", "2017"],
                     ["split", "--dimension", "basic", "--period", "2017"],
                     ["movers", "--dimension", "basic", "--period", "2017-06"],
                     ["series", "--keyword", "人工智能", "--region", "成都",
                      "--components"]):
            result = invoke(db_file, *args)
            assert result.exit_code == 0, (args, result.output)
            assert len(result.output.splitlines()) > 2, (args, result.output)
    assert _io_from_analysis(work) == []


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


def _import_graph() -> dict[str, set[str]]:
    """Each aicity module and the aicity modules it imports, at the top or inside a function."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aicity"):
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                          else node.module for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("aicity")}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_module_imports_round_a_circle():
    """No circle of imports, however deferred (crawler/accounts and crawler/config imported each
    other until 0.1, one of them inside a function to get away with it)."""
    graph = _import_graph()
    assert graph["aicity.crawler.accounts"] >= {"aicity.crawler.config"}
    circles = []
    for start in graph:                       # a path back to start, depth first
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    assert circles == []


def test_a_collect_is_a_service_and_the_crawler_keeps_no_run_record():
    """The crawler room holds the Scrapy project; the collect that plans, records the run and
    judges it is a service (it was crawler/run.py, 28 store calls, until 0.1)."""
    assert not (PACKAGE / "crawler" / "run.py").exists()
    assert (PACKAGE / "service" / "collect.py").exists()
    for name, tree in _modules("crawler").items():
        calls = {getattr(n.func, "attr", "") for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert not calls & {"open_run", "close_run"}, name


def test_only_db_knows_the_engine_and_a_transactions_flags():
    """db/ owns the write path (db/writer.py): the crawler's pipeline hands it items; nothing
    outside db/ branches on the engine or sets a connection's transaction flags (the pipeline
    did all of it by hand until 0.1)."""
    flags = (".dialect", "flat_nesting", "fresh_inserts", "touched_later", "pipelined",
             ".__exit__(")
    found = {str(p.relative_to(PACKAGE)): [f for f in flags if f in p.read_text(encoding="utf-8")]
             for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "db"}
    assert {name: f for name, f in found.items() if f} == {}
