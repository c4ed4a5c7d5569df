"""Several crawler processes sharing one plan through Redis and one PostgreSQL store (issue 13),
against real servers started for the session (tests.servers)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from aicity.crawler.plan import Piece
from aicity.crawler.queue import MAX_ATTEMPTS, PieceQueue, piece_to_json
from aicity.db import store
from aicity.emulator.process import running_emulator
from aicity.keywords.taxonomy import default_taxonomy
from tests.conftest import first_difference, job_order

ROOT = Path(__file__).resolve().parent.parent
LATEST = "2026-11-20"
SEED = 5
KEYWORDS = "人工智能,深度学习,自动驾驶,机器学习,语音识别,人脸识别,机器人"
REGIONS = "0,911,成都,北京市,广东省,杭州"
SCOPE = ["--regions", REGIONS, "--keywords", KEYWORDS, "--start", "2017-01-01",
         "--end", "2017-12-31", "--window-days", "120", "--delay", "0"]


def pieces(n: int) -> list[Piece]:
    return [Piece(900 + i, date(2017, 1, 1), date(2017, 3, 31), ("人工智能",)) for i in range(n)]


def client(url):
    import redis
    return redis.Redis.from_url(url)


def stored_rows(db_url) -> list[tuple]:
    db = store.connect(db_url)
    try:
        return [tuple(r) for r in db.execute(
            "SELECT k.term, o.region, o.device, o.granularity, o.date, o.value FROM observations o "
            "JOIN keywords k ON k.id = o.keyword_id ORDER BY 1, 2, 3, 4, 5").fetchall()]
    finally:
        db.close()


def run_cli(db, *args, cookies="BDUSS=single", env=None):
    return subprocess.run([sys.executable, "-m", "aicity", "--db", str(db), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), AICITY_BAIDU_COOKIES=cookies,
                                   **(env or {})))


COLLECT_IN_CHILD = """
import json, sys
from aicity.crawler.config import SiteAccess
from aicity.crawler.describe import failure
from aicity.service.collect import collect
order = json.loads(sys.argv[1])
r = collect(order["db"], access=SiteAccess(base_url=order["url"], delay=0,
                                           cookies=(order["cookie"],)),
            regions=order["regions"], keywords=order["keywords"], start="2017-01-01",
            end="2017-12-31", window_days=order["window_days"], queue=order["queue"],
            settings=order["settings"])
print(json.dumps({"status": r.status, "missing": r.remaining_pieces,
                  "interrupted": r.interrupted, "why": failure(r)}))
"""


def collect_in_child(db, url, cookie, hook: str, hook_settings: dict, window_days=120,
                     queue=None) -> tuple[dict, str]:
    """collect() over REGIONS × KEYWORDS in 2017 in a process of its own, with one of
    tests.crawl_hooks' extensions: (what it said, its stderr)."""
    order = {"db": str(db), "url": url, "cookie": cookie, "regions": REGIONS.split(","),
             "keywords": KEYWORDS.split(","), "window_days": window_days, "queue": queue,
             "settings": {"EXTENSIONS": {f"tests.crawl_hooks.{hook}": 100}, **hook_settings}}
    worker = subprocess.run([sys.executable, "-c", COLLECT_IN_CHILD, json.dumps(order)],
                            cwd=ROOT, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            capture_output=True, timeout=300)
    assert worker.returncode == 0, worker.stderr[-3000:]
    return json.loads(worker.stdout.strip().splitlines()[-1]), worker.stderr


# --- the queue on its own ------------------------------------------------------------------

def test_a_plan_is_pushed_once_however_many_workers_start(redis_url):
    first = PieceQueue(client(redis_url), worker="a")
    second = PieceQueue(client(redis_url), worker="b")
    assert first.push_plan(pieces(5), "2017-03-31") == 5
    assert second.push_plan(pieces(5), "2017-03-31") == 0   # being worked: not pushed again
    assert second.pending() == 5
    taken = [p for _, p in first.take(3)] + [p for _, p in second.take(3)]
    assert sorted(p.region for p in taken) == [900, 901, 902, 903, 904]
    assert second.pending() == 0


def test_a_plan_left_by_an_earlier_night_does_not_hold_tonights_back(redis_url):
    stale = PieceQueue(client(redis_url), worker="stale")
    stale.push_plan(pieces(2), "2017-03-30")        # its workers all stopped
    tonight = PieceQueue(client(redis_url), worker="tonight")
    assert tonight.push_plan(pieces(3), "2017-03-31") == 3
    assert tonight.pending() == 5                     # the old pieces too (taken if missing)
    assert tonight.push_plan(pieces(3), "2017-03-31") == 0


def test_a_worker_of_another_scope_is_refused_tonight_and_replaces_an_older_plan(redis_url):
    from aicity.crawler.queue import OtherPlan
    theirs = PieceQueue(client(redis_url), worker="theirs")
    assert theirs.push_plan(pieces(4), "2017-03-31", "cities", "3 cities") == 4
    mine = PieceQueue(client(redis_url), worker="mine")
    with pytest.raises(OtherPlan, match="3 cities"):
        mine.push_plan(pieces(2), "2017-03-31", "provinces", "34 provinces")
    assert mine.pending() == 4                        # nothing of theirs was touched
    assert theirs.push_plan(pieces(4), "2017-03-31", "cities", "3 cities") == 0
    # tomorrow: yesterday's plan of another scope goes, its pieces with it
    assert mine.push_plan(pieces(2), "2017-04-01", "provinces", "34 provinces") == 2
    assert mine.pending() == 2


def test_a_worker_is_refused_in_one_line_when_the_queue_holds_another_scope(db_path,
                                                                             redis_url):
    PieceQueue(client(redis_url), worker="other").push_plan(
        pieces(3), "2017-12-31", "elsewhere", "3 regions, 1 keywords, 2017-01-01..2017-12-31")
    result = run_cli(db_path, "collect", *SCOPE, "--base-url", "http://127.0.0.1:9",
                     "--queue", redis_url)
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "working tonight's plan of another scope (3 regions" in lines[0]
    assert "not this worker's (5 regions, 7 keywords, 2017-01-01..2017-12-31)" in lines[0]


def test_an_interrupted_queue_worker_fails_and_counts_what_its_scope_lacks(pg_url, redis_url,
                                                                          tmp_path):
    """SIGTERM mid-crawl: the worker said 'ok; 0 pieces still missing' from the queue's
    counters while hundreds of its scope's pieces were missing."""
    assert run_cli(pg_url, "init").returncode == 0
    with running_emulator(seed=SEED, latest=LATEST, habits="none") as url:
        said, _ = collect_in_child(pg_url, url, "BDUSS=stopped", "SignalAfterItems",
                                   {"SIGNAL_AFTER_ITEMS": 3}, window_days=30, queue=redis_url)
        plan = run_cli(pg_url, "collect", *SCOPE[:-4], "--window-days", "30", "--delay", "0",
                       "--base-url", url, "--dry-run", "--daily-budget", "0",
                       "--format", "json")
    left = json.loads(plan.stdout)["pieces"]
    assert left > 0
    assert said["interrupted"] == "SIGTERM" and said["status"] == "partial"
    assert said["missing"] == left
    assert said["why"].startswith(f"interrupted by SIGTERM: {left} pieces still missing")


def test_a_database_at_its_connection_limit_fails_a_worker_in_one_line(pg_url, redis_url):
    """The worker said 'ok; 0 series, 0 rows written' with every piece still pending; a plain
    collect printed Twisted's CRITICAL traceback."""
    import secrets

    import psycopg
    role = f"limited_{secrets.token_hex(3)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
        conn.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    url = pg_url.replace("postgres@", f"{role}@")
    assert run_cli(url, "init").returncode == 0
    for queue in (["--queue", redis_url], []):
        result = run_cli(url, "collect", *SCOPE, "--base-url", "http://127.0.0.1:9", *queue)
        assert result.returncode == 5, (queue, result.stdout, result.stderr[-2000:])
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "too many connections" in lines[0], result.stderr[-2000:]
        assert "pieces still missing" in lines[0] and "; 0 pieces still missing" not in lines[0]


def test_a_stopped_workers_pieces_go_back_and_are_done_once(redis_url):
    dead = PieceQueue(client(redis_url), worker="dead", lease_seconds=0.1)
    live = PieceQueue(client(redis_url), worker="live", lease_seconds=60)
    dead.push_plan(pieces(4), "2017-03-31")
    held = dead.take(3)
    dead.done(held[0][0])                          # stored one, then died holding two
    client(redis_url).delete(dead.key("alive", "dead"))   # its key expired
    assert live.held_elsewhere() == 2
    assert live.requeue_dead() == 2
    again = live.take(10)
    assert sorted(p.region for _, p in again) == [901, 902, 903]
    for data, _ in again:
        live.done(data)
    assert live.finish()                           # nothing left anywhere: the plan goes
    assert live.push_plan(pieces(1), "2017-03-31") == 1   # so the next night pushes its own


def test_a_piece_stored_before_its_worker_died_is_not_asked_again(redis_url):
    stored = {900}
    q = PieceQueue(client(redis_url), worker="w",
                   still_missing=lambda ps: [p for p in ps if p.region not in stored])
    q.push_plan(pieces(3), "2017-03-31")
    assert [p.region for _, p in q.take(3)] == [901, 902]
    assert q.skipped_count == 1 and q.pending() == 0


def test_a_piece_whose_workers_keep_dying_is_dropped_for_the_next_run(redis_url):
    r = client(redis_url)
    live = PieceQueue(r, worker="live")
    live.push_plan(pieces(1), "2017-03-31")
    for i in range(MAX_ATTEMPTS):
        dying = PieceQueue(r, worker=f"dying{i}")
        assert len(dying.take(1)) == 1
        r.delete(dying.key("alive", dying.worker))
        live.requeue_dead()
    assert live.pending() == 0 and live.held_elsewhere() == 0
    assert piece_to_json(pieces(1)[0]).encode() not in r.lrange(live.key("pending"), 0, -1)


def test_an_unreachable_queue_is_one_line_naming_it(tmp_path, db_path):
    from tests.servers import free_port
    result = run_cli(db_path, "collect", *SCOPE, "--base-url", "http://127.0.0.1:9",
                     "--queue", f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    assert "Error: queue redis://127.0.0.1:" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


# --- PostgreSQL ----------------------------------------------------------------------------

def test_postgresql_takes_the_same_commands(pg_url, tmp_path):
    from click.testing import CliRunner

    from aicity.cli import cli

    def command(db, *args):
        return CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)

    assert command(pg_url, "init").exit_code == 0
    scope = [*SCOPE[:-4], "--window-days", "366", "--delay", "0"]
    reference = tmp_path / "reference.db"
    store.init_db(reference, taxonomy=default_taxonomy())
    with running_emulator(seed=SEED, latest=LATEST) as url:
        pg = run_cli(pg_url, "collect", *scope, "--base-url", url)
        assert pg.returncode == 0, pg.stderr[-2000:]
        assert run_cli(reference, "collect", *scope, "--base-url", url).returncode == 0
    rows = stored_rows(pg_url)
    assert len(rows) > 10_000
    assert rows == stored_rows(reference)
    # the analysis reads and writes through the same db/ functions: same ranks, same anomalies
    for db in (pg_url, reference):
        assert command(db, "analyze").exit_code == 0
    for query in (["rank", "--dimension", "basic", "--period", "2017"],
                  ["anomalies", "--top", "20"],
                  ["split", "--dimension", "basic", "--period", "2017"]):
        on_pg = command(pg_url, *query, "--format", "csv")
        assert on_pg.exit_code == 0, on_pg.output[-2000:]
        assert on_pg.stdout.count("\n") > 2
        diff = first_difference(on_pg.stdout,
                                command(reference, *query, "--format", "csv").stdout)
        assert not diff, (query, diff)
    # a second run finds everything stored
    again = command(pg_url, "collect", *scope, "--base-url", "http://127.0.0.1:9",
                    "--format", "json")
    assert again.exit_code == 0, again.output[-2000:]
    assert json.loads(again.stdout)["pieces"] == 0
    status = command(pg_url, "status")
    assert status.exit_code == 0 and "SIMULATED" in status.output
    assert "postgresql://postgres@127.0.0.1" in status.stdout
    series = command(pg_url, "series", "--keyword", "人工智能", "--region", "成都")
    assert series.exit_code == 0 and "2017-12-31" in series.stdout


def test_postgresql_not_initialised_or_unreachable_is_one_line(postgres_server):
    from tests.servers import free_port, new_database
    empty = new_database(postgres_server, "empty_one")
    result = run_cli(empty, "status")
    assert result.returncode == 1 and "aicity init" in result.stderr
    gone = f"postgresql://u:topsecret@127.0.0.1:{free_port()}/x"
    result = run_cli(gone, "status")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "topsecret" not in result.stderr and "127.0.0.1" in result.stderr


M010_OBSERVATIONS = """
    CREATE VIEW observations AS
    SELECT o.series >> 13 AS keyword_id, ((o.series >> 3) & 1023)::integer AS region,
           CASE (o.series >> 1) & 3 WHEN 0 THEN 'all' WHEN 1 THEN 'pc' ELSE 'wise' END
               AS device,
           CASE o.series & 1 WHEN 1 THEN 'week' ELSE 'day' END AS granularity,
           to_char(DATE '1970-01-01' + o.day, 'YYYY-MM-DD') AS date, o.value,
           r.source, coalesce(r.finished_at, r.started_at) AS fetched_at, o.run_id
    FROM obs o LEFT JOIN runs r ON r.id = o.run_id"""


def test_a_postgresql_database_made_at_m010_is_brought_up_to_date_by_init(pg_url):
    """Its `observations` view decoded every row; `aicity init` replaces the views, keeps the
    rows and records the version (until then the commands ask for `aicity init`)."""
    from aicity.db import postgres
    store.init_db(pg_url, taxonomy=default_taxonomy())
    db = store.connect(pg_url)
    with db.atomic():
        db.execute("DROP VIEW observations_named")
        db.execute("DROP VIEW observations")
        db.execute(M010_OBSERVATIONS)
        db.execute("CREATE VIEW observations_named AS SELECT k.term AS keyword, g.name AS "
                   "region, o.region AS region_code, o.device, o.granularity, o.date, o.value, "
                   "o.source FROM observations o JOIN keywords k ON k.id = o.keyword_id "
                   "JOIN regions g ON g.code = o.region")
        db.execute("UPDATE schema_version SET version = 'm010_series_key'")
        # m012's columns did not exist yet either
        db.execute("ALTER TABLE regions DROP COLUMN population_year, "
                   "DROP COLUMN population_source")
        db.execute("ALTER TABLE keywords DROP COLUMN since, DROP COLUMN added, "
                   "DROP COLUMN ambiguous")
        db.execute("UPDATE regions SET population = NULL")
        db.conn.executemany("INSERT INTO obs(series, day, value) VALUES (?, ?, ?)",
                            [(store.series_id(kw, region, device, weekly), day, day % 9 or None)
                             for kw in (1, 112) for region in (0, 97) for device in (0, 2)
                             for weekly in (0, 1) for day in range(17167, 17181)])
    before = sorted(tuple(r) for r in db.execute("SELECT * FROM observations_named"))
    db.close()
    assert run_cli(pg_url, "status").returncode == 1           # asks for `aicity init`
    assert store.init_db(pg_url)["migrations"] == ["postgresql m011_observations_seek",
                                                   "postgresql m012_world_2026",
                                                   "postgresql m013_ambiguous_terms"]
    db = store.connect(pg_url)
    try:
        assert db.schema_version() == postgres.SCHEMA_VERSION
        wuhan = db.execute("SELECT population, population_year FROM regions WHERE name = "
                           "'武汉市'").fetchone()
        assert wuhan == (12326518, 2020)
        assert len(before) == 2 * 2 * 2 * 2 * 14
        assert sorted(tuple(r) for r in db.execute("SELECT * FROM observations_named")) == before
        view = db.execute("SELECT pg_get_viewdef('observations')").fetchone()[0]
        assert "JOIN obs o ON" in view
    finally:
        db.close()
    assert store.init_db(pg_url)["migrations"] == []           # nothing left to do
    db = store.connect(pg_url)
    with db.atomic():
        db.execute("UPDATE schema_version SET version = 'm004_real_site'")
    db.close()
    refused = run_cli(pg_url, "init")           # no upgrade from there: says so, not "run init"
    assert refused.returncode == 1
    assert "schema is at version m004_real_site, which this aicity cannot bring to " \
        f"{postgres.SCHEMA_VERSION}" in refused.stderr


# --- workers -------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_workers_one_killed_store_what_one_process_stores(pg_url, redis_url, tmp_path):
    """Two workers on one queue and one PostgreSQL database; one dies by SIGKILL after
    storing a few series while holding pieces. The other takes them over: the stored table
    equals a single process's, nothing lost, nothing stored twice."""
    assert run_cli(pg_url, "init").returncode == 0
    with running_emulator(seed=SEED, latest=LATEST) as url:
        doomed = textwrap.dedent(f"""
            from aicity.crawler.config import SiteAccess
            from aicity.service.collect import collect
            collect({pg_url!r}, access=SiteAccess(base_url={url!r}, delay=0,
                                                  cookies=("BDUSS=doomed",)),
                    regions={REGIONS.split(",")!r}, keywords={KEYWORDS.split(",")!r},
                    start="2017-01-01", end="2017-12-31", window_days=120,
                    queue={redis_url!r}, queue_lease=1.0,
                    settings={{"EXTENSIONS": {{"tests.crawl_hooks.KillAfterItems": 100}},
                               "KILL_AFTER_ITEMS": 4}})
        """)
        killed = subprocess.Popen([sys.executable, "-c", doomed], cwd=ROOT, text=True,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        survivor = run_cli(pg_url, "collect", *SCOPE, "--base-url", url, "--queue", redis_url,
                           "--queue-lease", "1", "--format", "json",
                           cookies="BDUSS=survivor1\nBDUSS=survivor2")
        _, err = killed.communicate(timeout=600)
        assert killed.returncode == -9, err[-2000:]
        assert survivor.returncode == 0, survivor.stderr[-2000:]
        reference = tmp_path / "reference.db"
        store.init_db(reference, taxonomy=default_taxonomy())
        assert run_cli(reference, "collect", *SCOPE, "--base-url", url).returncode == 0
    rows = stored_rows(pg_url)
    assert rows == stored_rows(reference)
    assert len(rows) == len(set((r[:5]) for r in rows))
    queue = json.loads(survivor.stdout)["queue"]
    assert queue["requeued_from_stopped"] >= 1     # the killed worker held pieces
    assert queue["pending"] == 0
    # the queue is finished: the plan is gone, nobody holds anything
    r = client(redis_url)
    assert not r.exists("aicity:index:plan") and r.llen("aicity:index:pending") == 0
    db = store.connect(pg_url)
    try:
        statuses = dict(db.execute("SELECT status, count(*) FROM runs GROUP BY status"))
    finally:
        db.close()
    assert statuses.get("ok") == 1


def test_one_nightly_job_at_a_time_across_hosts_by_a_lock_in_the_database(pg_url):
    from aicity.lock import DatabaseLock, LockHeld, run_lock
    store.init_db(pg_url)
    holder = run_lock(pg_url)
    assert isinstance(holder, DatabaseLock)
    with holder:
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
            with DatabaseLock(pg_url):
                pass
    with DatabaseLock(pg_url) as again:            # released on exit
        assert again.took_over == ""
    # a holder that dies without unlocking: its connection goes, and so does the lock
    crashed = DatabaseLock(pg_url).__enter__()
    crashed.db.close()
    with DatabaseLock(pg_url) as after:
        assert after.took_over.startswith(f"pid {os.getpid()}")


@pytest.mark.slow
def test_the_nightly_job_on_postgresql_with_a_queue(pg_url, redis_url, tmp_path):
    """The scheduler's host: its collect stage is a queue worker (AICITY_QUEUE in the
    environment), the snapshot stage runs alone, the stages get the database URL from their
    environment, and export and the report read PostgreSQL."""
    from datetime import datetime

    from aicity import scheduler as nightly
    store.init_db(pg_url, taxonomy=default_taxonomy())
    now = datetime(2017, 3, 2, 2, 30, tzinfo=nightly.SHANGHAI)
    with running_emulator(seed=3, latest="2017-03-01", rate_limit="0") as url:
        result = nightly.guarded_job(
            pg_url, now=now, out=tmp_path / "out",
            order=job_order(["--regions", "成都,0", "--start", "2017-02-01", "--delay", "0"],
                            {"AICITY_BAIDU_COOKIES": "BDUSS=job-a",
                             "AICITY_BAIDU_DAILY_BUDGET": "0", "AICITY_BAIDU_BASE_URL": url,
                             "AICITY_QUEUE": redis_url}))
    assert result.status == "ok", result.stages
    assert "queue" in result.stages["collect"]["summary"]
    db = store.connect(pg_url)
    try:
        assert db.execute("SELECT max(date) FROM observations").fetchone()[0] == "2017-02-28"
        assert db.execute("SELECT count(*) FROM components").fetchone()[0] > 0
    finally:
        db.close()
    assert list((tmp_path / "out" / "2017-02-28").glob("*.csv"))


def test_the_embedded_default_needs_no_scale_out_package():
    """`pip install .` has neither scrapy-redis nor psycopg: Scrapy's spider loader (which
    imports every spider module) and a SQLite collect plan must not need them."""
    code = textwrap.dedent("""
        import sys
        sys.modules["scrapy_redis"] = None       # as if not installed
        sys.modules["psycopg"] = None
        from scrapy.settings import Settings
        from scrapy.spiderloader import SpiderLoader
        settings = Settings()
        settings.setmodule("aicity.crawler.settings")
        print(sorted(SpiderLoader.from_settings(settings).list()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "search_index" in out.stdout


@pytest.mark.slow
def test_a_worker_that_finds_every_piece_taken_takes_over_from_a_dead_one(pg_url, redis_url):
    from aicity.service.collect import plan, scope
    assert run_cli(pg_url, "init").returncode == 0
    db = store.connect(pg_url)
    try:
        terms, codes = scope(db, ["0", "成都"], KEYWORDS.split(","))
        night = plan(db, terms, codes, date(2017, 1, 1), date(2017, 12, 31), 366, budget=None,
                     check_requests=0)
    finally:
        db.close()
    ghost = PieceQueue(client(redis_url), worker="ghost", lease_seconds=0.1)
    assert ghost.push_plan(night.pieces, "2017-12-31") == len(night.pieces) > 1
    assert len(ghost.take(len(night.pieces))) == len(night.pieces)   # took all, then died
    scope_args = ["--regions", "0,成都", "--keywords", KEYWORDS, "--start", "2017-01-01",
                  "--end", "2017-12-31", "--window-days", "366", "--delay", "0"]
    with running_emulator(seed=SEED, latest=LATEST) as url:
        late = run_cli(pg_url, "collect", *scope_args, "--base-url", url, "--queue", redis_url,
                       "--format", "json")
    assert late.returncode == 0, late.stderr[-2000:]
    queue = json.loads(late.stdout)["queue"]
    assert queue["pending"] == 0 and queue["requeued_from_stopped"] == len(night.pieces)
    left = run_cli(pg_url, "collect", *scope_args, "--base-url", "http://127.0.0.1:9",
                   "--dry-run", "--format", "json")
    assert json.loads(left.stdout)["pieces"] == 0


def test_a_postgresql_restart_mid_crawl_costs_a_wait_not_the_run(postgres_server, tmp_path):
    """`pg_ctl restart -m fast` while a collect stores: the run ended, its bookkeeping said
    'free space or fix the database' (issue 36 §2). Now the crawl waits for the server, stores
    the batch it lost again, and finishes."""
    from tests.servers import RESTART, running_postgres
    with running_postgres() as server, running_emulator(seed=SEED, latest=LATEST,
                                                        habits="none") as url:
        assert run_cli(server, "init").returncode == 0
        said, stderr = collect_in_child(server, url, "BDUSS=restarted", "CommandAfterItems",
                                        {"COMMAND_AFTER_ITEMS": 10,
                                         "COMMAND_AFTER_ITEMS_ARGS": RESTART[server]})
        assert said == {"status": "ok", "missing": 0, "interrupted": "", "why": ""}, \
            stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-6000:]
        assert "went away" in stderr or "is back" in stderr
        reference = tmp_path / "reference.db"
        store.init_db(reference, taxonomy=default_taxonomy())
        assert run_cli(reference, "collect", *SCOPE, "--base-url", url).returncode == 0
        assert stored_rows(server) == stored_rows(reference)


def test_a_postgresql_server_that_does_not_come_back_is_one_line_naming_it():
    from aicity.db.postgres import DatabaseUnavailable, PostgresDatabase
    from tests.servers import running_postgres
    with running_postgres() as server:
        db = PostgresDatabase(server)
        stopped = server.replace("postgres@", "postgres:s3cret@")   # a password never shows
        db.url = stopped
    # the server is gone now
    with pytest.raises(DatabaseUnavailable) as gone:
        db.reconnect(waits=(0.05, 0.05))
    message = str(gone.value)
    assert message.startswith("PostgreSQL postgresql://postgres:***@127.0.0.1:")
    assert "did not come back within 0 s" in message and "s3cret" not in message
    assert "\n" not in message


def test_a_redis_restart_mid_crawl_costs_a_wait_not_the_run(db_path, tmp_path):
    """Redis killed during a queue crawl (and back a few seconds later, its append-only file
    kept): 35 tracebacks, exit 1 and a run left 'running' (issue 36 §2). Now the worker's
    commands wait for it and the crawl finishes."""
    import time

    from tests.servers import _wait_for_port, free_port, why_no_redis
    if why_no_redis():
        pytest.skip(why_no_redis())
    port, folder = free_port(), tmp_path / "redis"
    folder.mkdir()
    pidfile = folder / "redis.pid"
    start = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(folder),
             "--daemonize", "yes", "--pidfile", str(pidfile)]
    subprocess.run(start, check=True, capture_output=True)
    _wait_for_port(port, None, "redis-server")
    queue = f"redis://127.0.0.1:{port}/0"
    # kill -9, and start it again three seconds later, in the background: the crawl meets it
    # gone on its next command
    crash = ["sh", "-c", f"kill -9 $(cat {pidfile}); rm -f {pidfile}; "
                         f"(sleep 3; {' '.join(start)}) >/dev/null 2>&1 &"]
    try:
        with running_emulator(seed=SEED, latest=LATEST, habits="none") as url:
            said, stderr = collect_in_child(db_path, url, "BDUSS=queued", "CommandAfterItems",
                                            {"COMMAND_AFTER_ITEMS": 10,
                                             "COMMAND_AFTER_ITEMS_ARGS": crash},
                                            window_days=30, queue=queue)
        assert said == {"status": "ok", "missing": 0, "interrupted": "", "why": ""}, \
            stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-6000:]
        db = store.connect(db_path)
        try:
            assert db.execute("SELECT status FROM runs WHERE kind = 'collect'").fetchone()[0] \
                == "ok"
        finally:
            db.close()
    finally:
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)                 # the restart may still be under way
        if pidfile.exists():
            subprocess.run(["sh", "-c", f"kill -9 $(cat {pidfile})"], capture_output=True)
