"""Shared fixtures: a temporary initialised database and a CLI runner against it."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from aicity.cli import cli
from aicity.db import store


@pytest.fixture(scope="session", autouse=True)
def _operator_cache(tmp_path_factory, worker_id):
    """Built STL operators go to a temporary folder, not the user's cache: that of `aicity
    analyze` in children, and the library's default when a test calls it. The workers of one
    run share it (an operator is written aside and renamed, so none reads half of one): each
    built the same few, seconds apiece."""
    import os
    base = tmp_path_factory.getbasetemp()
    folder = (base if worker_id == "master" else base.parent) / "stl-cache"
    folder.mkdir(exist_ok=True)
    os.environ["AICITY_CACHE_DIR"] = str(folder)


@pytest.fixture
def db_path(tmp_path) -> Path:
    """A fresh database with the packaged regions and taxonomy loaded."""
    path = tmp_path / "aicity.db"
    from aicity.keywords.taxonomy import default_taxonomy
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


CITIES = ["北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安", "南京", "天津",
          "重庆", "郑州", "苏州", "长沙", "沈阳", "青岛", "合肥", "济南", "昆明", "厦门"]


def _world():
    from aicity.emulator.world import World
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    words = {}
    for t in default_taxonomy().terms:
        words.setdefault(t.term, (t.category, t.group, t.since))
    return World(default_registry(), words, seed=4, latest=date(2018, 1, 10))


def write_world_csv(path, codes, start, end, part: tuple[int, int] = (0, 1)):
    """The world's series as an import CSV; `part` (i, n): only every n-th keyword from the
    i-th, so that n processes can write a world between them."""
    w = _world()
    dates = pd.date_range(start, end, freq="D").strftime("%Y-%m-%d")
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("keyword,region,date,value\n")
        for term in list(w.keywords)[part[0]::part[1]]:
            # a keyword's regions at once: a csv.writer row at a time took 8 of the shared
            # national fixture's seconds
            values = np.concatenate([w.series(term, code, first, last) for code in codes])
            pd.DataFrame({"keyword": term, "region": np.repeat(codes, len(dates)),
                          "date": np.tile(dates, len(codes)),
                          "value": pd.array(values, dtype="Float64").astype("Int64")}
                         ).to_csv(fh, header=False, index=False, lineterminator="\n")
    return path


def add_world_data(db_path, codes, start, end, processes: int = 1) -> None:
    """Import the simulated world's series for these regions and days through the importer;
    `processes` write the CSV between them (a national sum draws every city of the world)."""
    from concurrent.futures import ProcessPoolExecutor
    from aicity.importer import import_csv
    parts = [Path(db_path).with_name(f"world_{start}_{end}_{i}.csv") for i in range(processes)]
    if processes == 1:
        write_world_csv(parts[0], codes, start, end)
    else:
        with ProcessPoolExecutor(processes) as pool:
            for done in [pool.submit(write_world_csv, src, codes, start, end, (i, processes))
                         for i, src in enumerate(parts)]:
                done.result()
    db = store.connect(db_path)
    try:
        for src in parts:
            import_csv(db, src, source="emulator")
    finally:
        db.close()


@pytest.fixture(scope="session")
def national_db(tmp_path_factory, worker_id):
    """20 cities and the nation, every taxonomy keyword, 2016-2017 daily; analysed. Read only:
    under xdist the workers of one run share one copy, built by whichever asks first (each
    built its own, a minute of two cores apiece); a test that writes uses db_copy."""
    if worker_id == "master":
        return _build_national(tmp_path_factory.mktemp("national"))
    import fcntl
    shared = tmp_path_factory.getbasetemp().parent / "national"    # this run's, every worker's
    shared.mkdir(exist_ok=True)
    with open(shared / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # the other worker waits for the build, not a sleep
        if not (shared / "built").exists():
            _build_national(shared)
            (shared / "built").write_text("ok")
    return shared / "aicity.db"


def _build_national(folder: Path) -> Path:
    from aicity.service.refit import analyze
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    path = folder / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    reg = default_registry()
    codes = [reg.resolve(c, level="city").code for c in CITIES] + [0]
    add_world_data(path, codes, "2016-01-01", "2017-12-31", processes=2)
    analyze(path, workers=2)
    return path


@pytest.fixture
def db_copy(national_db, tmp_path):
    path = tmp_path / "copy.db"
    shutil.copy(national_db, path)
    return path




@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on loopback for the session (skips, saying why, where the server
    programs are not installed)."""
    from tests.servers import running_postgres, why_no_postgres
    reason = why_no_postgres()
    if reason:
        pytest.skip(reason)
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server():
    from tests.servers import running_redis, why_no_redis
    reason = why_no_redis()
    if reason:
        pytest.skip(reason)
    with running_redis() as url:
        yield url


@pytest.fixture
def pg_url(postgres_server, request):
    """A new empty PostgreSQL database for one test."""
    import re

    from tests.servers import new_database
    return new_database(postgres_server, re.sub(r"\W", "_", request.node.name)[:60].lower())


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis with every key removed (each test starts with an empty queue)."""
    import redis
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    return redis_server


def first_difference(a, b) -> str:
    """'' when the two texts (or JSON-able values) are equal; otherwise the line count of each
    and their first differing line. Use it for long tables: pytest's own explanation of a
    failing `==` on hundreds of similar lines is a line-by-line diff that ran for over ten
    minutes, so a failure looked like a hang."""
    if not isinstance(a, str) or not isinstance(b, str):
        a, b = (json.dumps(v, ensure_ascii=False, sort_keys=True, indent=0, default=str)
                for v in (a, b))
    if a == b:
        return ""
    left, right = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(left, right)):
        if x != y:
            return f"{len(left)} vs {len(right)} lines; line {i + 1}: {x[:300]!r} != {y[:300]!r}"
    shorter = min(len(left), len(right))
    return f"{len(left)} vs {len(right)} lines; the longer goes on after line {shorter}"


# What starts another process (an emulator, a crawl in a child, the nightly job's stages, a
# server, a browser): `-m "not slow"` leaves these out. Read from each test's own source and
# from every fixture it uses (the explorer's browser is a fixture's), so a new test of that
# kind is marked without anyone remembering to.
_STARTS_A_PROCESS = ("running_emulator(", "subprocess.", "Popen(", "run_cli(", "chromium",
                     "run_job(", "guarded_job(", "running_postgres(", "running_redis(",
                     "spawned_pool(", "in_child(", "ctx.Process(")


def _starts_a_process(fn) -> bool:
    import inspect
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return False
    return any(mark in source for mark in _STARTS_A_PROCESS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        fn = getattr(item, "function", None)
        if fn is None or item.get_closest_marker("slow"):
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        used = [d.func for defs in (fixtures.name2fixturedefs.values() if fixtures else ())
                for d in defs if d.baseid]        # the project's fixtures, not pytest's own
        if _starts_a_process(fn) or any(_starts_a_process(f) for f in used):
            item.add_marker(pytest.mark.slow)


def invoke(db, *args):
    """The CLI on a database, in this process; the click Result."""
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def import_days(db_path, tmp_path, name, region, start, days, base=100):
    """Import `days` daily values of 人工智能 for one region from `start` through the CLI."""
    import datetime as dt
    first = dt.date.fromisoformat(start)
    rows = [["人工智能", region, (first + dt.timedelta(days=i)).isoformat(), base + i % 7]
            for i in range(days)]
    path = write_csv(tmp_path / name, ["keyword", "region", "date", "value"], rows)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def wait_for_exit(pid: int, timeout: float = 30.0) -> bool:
    """Block until process pid (not our child) exits: a pidfd becomes readable then."""
    import os
    import select
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def job_order(args, env: dict | None = None):
    """The CollectOrder `aicity schedule --collect-args ARGS` gives the nightly job, with
    these environment variables (a deployment's) over the test's own."""
    import os
    from unittest import mock

    from aicity.cli import collect_order_from_args
    with mock.patch.dict(os.environ, env or {}):
        return collect_order_from_args(list(args))


def dry_run_job(tmp_path, monkeypatch, env: dict):
    """The nightly job on a relative `rel.db` in tmp_path, the working directory, planning
    成都 only (a dry run: nothing is asked), with a deployment's environment `env`."""
    from aicity import scheduler as nightly
    from aicity.keywords.taxonomy import default_taxonomy
    monkeypatch.chdir(tmp_path)
    store.init_db("rel.db", taxonomy=default_taxonomy())
    return nightly.run_job("rel.db", now=nightly.datetime(2017, 3, 2, 2, 30,
                                                          tzinfo=nightly.SHANGHAI),
                           out=tmp_path / "out",
                           order=job_order(["--dry-run", "--regions", "成都", "--start",
                                            "2017-01-01"], env))
