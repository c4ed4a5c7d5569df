"""Observations stored compactly (m007): the migration carries everything over; the old
`observations` name still reads the same rows. Analysis tables rebuilt (m009) lose nothing."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from aicity.cli import cli
from aicity.db import store
from aicity.db.schema import migrations
from aicity.keywords.taxonomy import default_taxonomy


def _old_database(path):
    """A database as the version before m007 made it, with rows of every kind."""
    db = Database(path)
    migrations.apply(db, stop_before="m007_compact_observations")
    later = {"name_en", "population_year", "population_source"}
    db.table("regions").insert_all(       # the columns regions had then
        {**{k: v for k, v in r.as_row().items() if k not in later}, "legacy": int(r.legacy)}
        for r in store.default_registry())
    db.conn.executemany("INSERT INTO keywords(term, in_taxonomy) VALUES (?, 1)",
                        [(t,) for t in default_taxonomy().unique_terms()])
    db.conn.commit()
    run = db.execute("INSERT INTO runs(kind, status, source, started_at, finished_at) VALUES "
                     "('collect', 'ok', 'emulator', '2017-03-02T00:00:00+00:00', "
                     "'2017-03-02T01:00:00+00:00')").lastrowid
    rows = []
    for i, day in enumerate(["2016-12-31", "2017-01-01", "2017-02-28", "2017-03-01"]):
        rows += [(1, 97, "all", "day", day, 100 + i, "emulator", "2017-03-02T00:30:00+00:00",
                  run),
                 (1, 97, "pc", "day", day, None if i == 2 else 40 + i, "emulator",
                  "2017-03-02T00:30:00+00:00", run),
                 (2, 0, "wise", "week", day, 9007199254740991 if i == 3 else i, "import",
                  "2017-01-05T00:00:00+00:00", None)]
    db.conn.executemany("INSERT INTO observations VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.conn.commit()
    db.close()
    return sorted(rows)


def test_migration_keeps_every_observation_and_its_provenance(tmp_path):
    path = tmp_path / "old.db"
    before = _old_database(path)
    info = store.init_db(path, taxonomy=default_taxonomy())
    assert "m007_compact_observations" in info["migrations"]
    db = store.connect(path)
    after = sorted(tuple(r) for r in db.execute(
        "SELECT keyword_id, region, device, granularity, date, value, source, fetched_at, "
        "run_id FROM observations"))
    assert [r[:7] for r in after] == [r[:7] for r in before]
    # the rows written without a run now have one, with their source and fetch time
    legacy = {r[8] for r in after if r[6] == "import"}
    assert len(legacy) == 1 and None not in legacy
    assert db.execute("SELECT source, finished_at FROM runs WHERE id = ?", [legacy.pop()]
                      ).fetchone() == ("import", "2017-01-05T00:00:00+00:00")
    assert store.count_observations(db) == len(before)
    series = store.series(db, 1, 97, device="pc")
    assert list(series["date"]) == ["2016-12-31", "2017-01-01", "2017-02-28", "2017-03-01"]
    assert series["value"].isna().tolist() == [False, False, True, False]
    db.close()


def test_a_row_costs_under_30_bytes(tmp_path, db_path):
    rows = [(kw, region, 0, 0, 17000 + d, 1000 + (d * 37 + kw) % 5000, 1)
            for kw in range(1, 41) for region in (97, 94, 57, 910, 0) for d in range(1000)]
    def size() -> int:
        con = sqlite3.connect(db_path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("VACUUM")
        pages = con.execute("PRAGMA page_count").fetchone()[0] * \
            con.execute("PRAGMA page_size").fetchone()[0]
        con.close()
        return pages

    db = store.connect(db_path)
    db.execute("INSERT INTO runs(id, kind, status, started_at) VALUES (1, 'import', 'ok', "
               "'2017-01-01')")
    db.conn.commit()
    db.close()
    empty = size()
    db = store.connect(db_path)
    with db.atomic():
        store.upsert_obs(db, rows)
    db.close()
    per_row = (size() - empty) / len(rows)
    assert per_row <= 30, per_row


def test_a_crawls_small_writes_are_copied_into_the_file_in_large_checkpoints(db_path):
    # a crawl stores answer after answer, each its own transaction, all over the file: at
    # SQLite's default a checkpoint copied the WAL every 1,000 pages, the same pages again
    # and again (12% of storing a demo's rows)
    db = store.connect(db_path)
    db.execute("INSERT INTO runs(id, kind, status, started_at) VALUES (1, 'import', 'ok', "
               "'2017-01-01')")
    db.conn.commit()
    for i in range(600):
        with db.atomic():
            store.upsert_obs(db, [((i * 7919) % 131 + 1, (i * 31) % 300, 0, 0, 17000 + d,
                                   100 + d, 1) for d in range(365)])
    # (busy, frames in the WAL, frames copied): every frame still waits in the WAL
    busy, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    db.close()
    from aicity.db.connection import WAL_CHECKPOINT_PAGES
    assert busy == 0 and 1000 < frames <= WAL_CHECKPOINT_PAGES, frames


def test_the_views_read_like_the_old_table(db_path, tmp_path):
    from tests.conftest import write_csv
    path = write_csv(tmp_path / "a.csv", ["keyword", "region", "date", "value"],
                     [["人工智能", "成都", "2017-01-01", 5],
                      ["人工智能", "成都", "2017-01-02", ""]])
    assert CliRunner().invoke(cli, ["--db", str(db_path), "import", str(path)]).exit_code == 0
    db = store.connect(db_path)
    named = db.execute("SELECT keyword, region, date, value, source FROM observations_named "
                       "ORDER BY date").fetchall()
    db.close()
    assert named == [("人工智能", "成都市", "2017-01-01", 5, "import"),
                     ("人工智能", "成都市", "2017-01-02", None, "import")]


def test_m009_carries_components_and_anomalies_over_with_their_views(tmp_path):
    path = tmp_path / "m008.db"
    db = Database(path)
    migrations.apply(db, stop_before="m009_analysis_tables")
    later = {"population_year", "population_source"}     # m012's
    db.table("regions").insert_all({**{k: v for k, v in r.as_row().items() if k not in later},
                                    "legacy": int(r.legacy)} for r in store.default_registry())
    db.conn.executemany("INSERT INTO keywords(term, in_taxonomy) VALUES (?, 1)",
                        [(t,) for t in default_taxonomy().unique_terms()])
    blob = bytes(range(40)) * 100
    comps = [(f"k:{kw}", region, "all", "day", "2017-01-01", 1, 1000, blob, blob, blob,
              None if region else blob, blob, "stl", 2, "2017-03-02T00:00:00+00:00")
             for kw in (1, 2) for region in (0, 97)]
    anomalies = [("k:1", 97, f"2017-01-{d:02d}", None if d == 3 else float(d), -1.5 * d)
                 for d in range(1, 6)]
    db.conn.executemany("INSERT INTO components VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", comps)
    db.conn.executemany("INSERT INTO anomalies VALUES (?,?,?,?,?)", anomalies)
    db.conn.commit()
    db.close()
    assert "m009_analysis_tables" in store.init_db(path)["migrations"]
    db = store.connect(path)
    assert sorted(db.execute("SELECT * FROM components").fetchall()) == sorted(comps)
    assert sorted(db.execute("SELECT * FROM anomalies").fetchall()) == sorted(anomalies)
    assert db.execute("SELECT count(*), min(subject) FROM anomalies_named").fetchone() == \
        (5, "人工智能")
    assert db.execute("SELECT count(*) FROM components_named WHERE region = '成都市'"
                      ).fetchone() == (2,)
    # the key still refuses a second row for the same series
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO components VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", comps[0])
    db.close()


def _database_before(path, migration: str):
    """A database migrated up to `migration` (not applied), with regions, the taxonomy and one
    finished collect run; returns it and the run's id."""
    db = Database(path)
    migrations.apply(db, stop_before=migration)
    later = {"population_year", "population_source"}     # m012's
    db.table("regions").insert_all({k: v for k, v in r.as_row().items() if k not in later}
                                   for r in store.default_registry())
    db.conn.executemany("INSERT INTO keywords(term, in_taxonomy) VALUES (?, 1)",
                        [(t,) for t in default_taxonomy().unique_terms()])
    run = db.execute("INSERT INTO runs(kind, status, source, started_at, finished_at) VALUES "
                     "('collect', 'ok', 'emulator', '2017-03-02T00:00:00+00:00', "
                     "'2017-03-02T01:00:00+00:00')").lastrowid
    return db, run


def test_m010_carries_every_observation_over_to_the_series_key(tmp_path):
    """A database as m009 left it: the `observations` view reads the same rows after m010, the
    key is (series, day), and a keyword's series load as before."""
    path = tmp_path / "m009.db"
    db, run = _database_before(path, "m010_series_key")
    rows = [(kw, region, device, weekly, day, None if (day + device) % 7 == 0 else day * 3 + kw,
             run)
            for kw in (1, 2, 112) for region in (0, 97, 934) for device in (0, 1, 2)
            for weekly in (0, 1) for day in range(17167, 17167 + 40, 7 if weekly else 1)]
    db.conn.executemany("INSERT INTO obs VALUES (?,?,?,?,?,?,?)", rows)
    db.conn.commit()
    before = sorted(tuple(r) for r in db.execute("SELECT * FROM observations"))
    db.close()
    info = store.init_db(path, taxonomy=default_taxonomy())
    assert info["migrations"] == ["m010_series_key", "m011_observations_seek",
                                  "m012_world_2026", "m013_ambiguous_terms"]
    db = store.connect(path)
    assert sorted(tuple(r) for r in db.execute("SELECT * FROM observations")) == before
    assert [r[1] for r in db.execute("PRAGMA table_info(obs)")] == ["series", "day", "value",
                                                                     "run_id"]
    from aicity.db.results import _rows_keyword, load_keyword
    loaded = load_keyword(db.conn, 112, "pc")
    assert sorted(loaded) == [(r, g) for r in (0, 97, 934) for g in ("day", "week")]
    rows = _rows_keyword(db.conn, 112, "pc", None)
    assert all(loaded[k][:2] == rows[k][:2]
               and np.array_equal(loaded[k][2], rows[k][2], equal_nan=True) for k in rows)
    first, step, values = loaded[(934, "week")]
    assert (first, step, len(values)) == (17167, 7, 6)


def test_a_region_code_beyond_the_key_is_refused_not_stored_as_another(db_path):
    db = store.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError):
        store.upsert_obs(db, [(1, 1024, 0, 0, 17167, 5, None)])
    with pytest.raises(ValueError, match="region code 1024"):
        store.series_id(1, 1024, 0, 0)
    assert store.count_observations(db) == 0


def _plan(db, sql, args=()):
    return " | ".join(r[3] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", args))


def test_m011_reads_the_same_rows_and_finds_a_series_by_its_key(tmp_path):
    """The m010 view decoded `series` from every row, so asking it for one series scanned the
    whole table; after m011 the same rows come back and a filtered query seeks the key."""
    path = tmp_path / "m010.db"
    db, run = _database_before(path, "m011_observations_seek")
    rows = [(store.series_id(kw, region, device, weekly), day,
             None if (day + device) % 5 == 0 else day + kw, run if region else None)
            for kw in (1, 2, 112) for region in (0, 97, 934) for device in (0, 1, 2)
            for weekly in (0, 1) for day in range(17167, 17167 + 30, 7 if weekly else 1)]
    db.conn.executemany("INSERT INTO obs VALUES (?,?,?,?)", rows)
    db.conn.commit()
    query = ("SELECT date, value FROM observations WHERE keyword_id = ? AND region = ? "
             "AND device = 'pc' AND granularity = 'day' ORDER BY date")
    assert "SCAN o" in _plan(db, query, [112, 97])
    before = sorted(tuple(r) for r in db.execute("SELECT * FROM observations"))
    named = sorted(tuple(r) for r in db.execute("SELECT * FROM observations_named"))
    one = db.execute(query, [112, 97]).fetchall()
    db.close()

    assert store.init_db(path, taxonomy=default_taxonomy())["migrations"] == [
        "m011_observations_seek", "m012_world_2026", "m013_ambiguous_terms"]
    db = store.connect(path)
    assert len(before) == len(rows)
    assert sorted(tuple(r) for r in db.execute("SELECT * FROM observations")) == before
    assert sorted(tuple(r) for r in db.execute("SELECT * FROM observations_named")) == named
    assert db.execute(query, [112, 97]).fetchall() == one and len(one) == 30
    plan = _plan(db, query, [112, 97])
    assert "SEARCH o USING PRIMARY KEY (series=?)" in plan and "SCAN o" not in plan
    by_name = ("SELECT date, value FROM observations_named WHERE keyword = ? AND region = ? "
               "AND device = 'all' AND granularity = 'week'")
    assert "SCAN o" not in _plan(db, by_name, ["人工智能", "北京"])
    db.close()
