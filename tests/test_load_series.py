"""Reading a keyword's series for analysis: the packed read (one text a series) gives exactly
what reading row by row gives, also where it has to fall back."""
from __future__ import annotations

import sqlite3

import numpy as np

from aicity.db.results import _rows_keyword, load_keyword
from aicity.db import store

DAY0 = store.day_number("2017-01-01")


def _write(db_path, rows):
    db = store.connect(db_path)
    with db.atomic():
        store.upsert_obs(db, rows)
    db.close()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k][0] == b[k][0] and a[k][1] == b[k][1]
        and np.array_equal(a[k][2], b[k][2], equal_nan=True) for k in a)


def test_packed_read_equals_row_read_with_gaps_weekly_nulls_and_other_devices(db_path):
    rows = []
    rows += [(1, 97, 0, 0, DAY0 + i, None if i == 3 else 10 + i, None) for i in range(30)]
    rows += [(1, 98, 0, 0, DAY0 + i, 5, None) for i in range(30) if i not in (7, 8)]  # a gap
    rows += [(1, 98, 0, 1, DAY0 + 7 * i, 70 + i, None) for i in range(10)]   # weekly beside
    rows += [(1, 97, 1, 0, DAY0 + i, 99, None) for i in range(30)]           # pc: not read
    rows += [(2, 97, 0, 0, DAY0 + i, 1, None) for i in range(30)]            # another keyword
    _write(db_path, rows)
    conn = sqlite3.connect(db_path)
    packed, by_rows = load_keyword(conn, 1), _rows_keyword(conn, 1, "all", None)
    assert set(packed) == {(97, "day"), (98, "day"), (98, "week")}
    assert _same(packed, by_rows)
    first, step, values = packed[(98, "day")]
    assert (first, step, len(values)) == (DAY0, 1, 30) and np.isnan(values[7:9]).all()
    # stored empty: asked and below Baidu's floor (0); a day with no row was not asked (NaN)
    assert packed[(97, "day")][2][3] == 0 and packed[(97, "day")][2][4] == 14
    assert packed[(98, "week")][1] == 7
    assert _same(load_keyword(conn, 1, regions=[98]), _rows_keyword(conn, 1, "all", [98]))


def test_rows_of_a_region_missing_from_the_registry_are_still_read(db_path):
    _write(db_path, [(1, 97, 0, 0, DAY0 + i, 3, None) for i in range(20)]
           + [(1, 1000, 0, 0, DAY0 + i, 4, None) for i in range(20)])
    conn = sqlite3.connect(db_path)
    packed = load_keyword(conn, 1)
    assert set(packed) == {(97, "day"), (1000, "day")}
    assert _same(packed, _rows_keyword(conn, 1, "all", None))


def test_a_series_of_only_missing_days_and_a_single_day_are_read(db_path):
    """The order check sums day × value, and SQL's sum of nothing but NULLs is NULL: such a
    series (a city Baidu published no value for) must still come back, all below the floor."""
    _write(db_path, [(1, 97, 0, 0, DAY0 + i, None, None) for i in range(12)]
           + [(1, 98, 0, 0, DAY0 + 5, 42, None)]
           + [(1, 99, 0, 1, DAY0 + 7 * i, None if i else 0, None) for i in range(4)])
    conn = sqlite3.connect(db_path)
    packed = load_keyword(conn, 1)
    assert set(packed) == {(97, "day"), (98, "day"), (99, "week")}
    assert len(packed[(97, "day")][2]) == 12 and (packed[(97, "day")][2] == 0).all()
    assert packed[(98, "day")][0] == DAY0 + 5 and packed[(98, "day")][2].tolist() == [42.0]
    assert _same(packed, _rows_keyword(conn, 1, "all", None))


def test_empty_days_waiting_to_be_confirmed_are_unknown_not_below_the_floor(db_path):
    """An empty day at the end of an answer may be a day the site has not published yet: until
    it is confirmed it is NaN for the analysis; once accepted it is below the floor (0)."""
    _write(db_path, [(1, 97, 0, 0, DAY0 + i, None if i >= 8 else 60 + i, None)
                     for i in range(10)])
    db = store.connect(db_path)
    term = db.execute("SELECT term FROM keywords WHERE id = 1").fetchone()
    if term is None:
        db.execute("INSERT INTO keywords(id, term) VALUES (1, 'kw')")
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO unconfirmed(keyword_id, region, date, granularity, reason, tries, "
            "first_seen, last_seen, accepted_at) VALUES (1, 97, ?, 'day', 'r', 1, 'x', 'x', ?)",
            [(store.iso_day(DAY0 + 8), None), (store.iso_day(DAY0 + 9), "2017-02-01")])
    db.close()
    conn = sqlite3.connect(db_path)
    values = load_keyword(conn, 1)[(97, "day")][2]
    assert np.isnan(values[8]) and values[9] == 0 and values[7] == 67
    assert _same(load_keyword(conn, 1), load_keyword(conn, 1, regions=[97]))
