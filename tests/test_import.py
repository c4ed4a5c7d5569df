"""`aicity import`: long and wide CSV, encodings, weekly data, idempotence, all-or-nothing."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from aicity.db import store
from aicity.db.regions import default_registry
from tests.conftest import observation_count, write_csv

START = dt.date(2017, 3, 1)


def _days(n, start=START, step=1):
    return [(start + dt.timedelta(days=i * step)).isoformat() for i in range(n)]


@pytest.fixture
def daily_file(tmp_path):
    """300 cities × 2 keywords × 30 days; one day missing per series, some empty values."""
    rng = random.Random(7)
    cities = default_registry().filter(level="city")[:300]
    rows, expected = [], {}
    for city in cities:
        for kw in ("人工智能", "深度学习"):
            for i, day in enumerate(_days(30)):
                if i == 10:
                    continue  # a missing day: no row at all
                value = "" if i == 20 else rng.randint(0, 5000)
                region = city.code if i % 2 else city.name
                rows.append([kw, region, day, value])
                expected[(kw, city.code, day)] = None if value == "" else value
    return write_csv(tmp_path / "daily.csv", ["keyword", "region", "date", "value"], rows), expected


def test_import_long_daily_file_for_hundreds_of_cities(run, db_path, daily_file):
    path, expected = daily_file
    result = run("import", str(path), "--level", "city")
    assert result.exit_code == 0, result.output
    assert f"read {len(expected)} rows" in result.output
    assert observation_count(db_path) == len(expected)
    db = store.connect(db_path)
    stored = {(kw, region, day): value for kw, region, day, value in db.execute(
        "SELECT k.term, o.region, o.date, o.value FROM observations o "
        "JOIN keywords k ON k.id = o.keyword_id WHERE o.granularity = 'day' AND o.device = 'all'")}
    assert stored == expected


def test_reimport_changes_nothing(run, db_path, daily_file):
    path, expected = daily_file
    run("import", str(path), "--level", "city")
    db = store.connect(db_path)
    snapshot = db.execute("SELECT * FROM observations ORDER BY 1, 2, 3, 4, 5").fetchall()
    result = run("import", str(path), "--level", "city")
    assert result.exit_code == 0
    assert "0 written" in result.output
    assert db.execute("SELECT * FROM observations ORDER BY 1, 2, 3, 4, 5").fetchall() == snapshot


def test_series_prints_exactly_what_was_imported(run, daily_file):
    path, expected = daily_file
    run("import", str(path), "--level", "city")
    result = run("series", "--keyword", "人工智能", "--region", "成都", "--format", "csv")
    assert result.exit_code == 0
    chengdu = default_registry().resolve("成都").code
    want = sorted((day, value) for (kw, code, day), value in expected.items()
                  if kw == "人工智能" and code == chengdu)
    lines = result.output.splitlines()
    assert lines[0] == "date,value,state"
    got = [tuple(line.split(",")) for line in lines[1:]]
    assert got == [(day, "" if v is None else str(v), "below floor" if v is None else "reported")
                   for day, v in want]
    assert _days(30)[10] not in result.output  # the missing day stays missing, not zero


def test_weekly_series_are_stored_as_weekly(run, db_path, tmp_path):
    rows = [["人工智能", "杭州", day, 100 + i] for i, day in enumerate(_days(20, step=7))]
    path = write_csv(tmp_path / "weekly.csv", ["keyword", "region", "date", "value"], rows)
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    db = store.connect(db_path)
    assert db.execute("SELECT granularity, count(*) FROM observations GROUP BY 1").fetchall() \
        == [("week", 20)]
    out = run("series", "--keyword", "人工智能", "--region", "杭州", "--format", "json")
    data = json.loads(out.stdout)
    assert [r["date"] for r in data] == _days(20, step=7)  # never spread over days
    assert "showing weekly values" in out.stderr           # and says why there are no days


def test_a_weekly_series_with_a_missing_and_an_empty_week_is_stored_as_given(run, db_path,
                                                                              tmp_path):
    # rows are written a run of evenly spaced weeks at a time: a gap starts a new run
    weeks = _days(12, step=7)
    given = {day: ("" if i == 7 else 300 + i) for i, day in enumerate(weeks) if i != 4}
    rows = [["人工智能", "杭州", day, value] for day, value in given.items()]
    path = write_csv(tmp_path / "weekly.csv", ["keyword", "region", "date", "value"], rows)
    assert run("import", str(path)).exit_code == 0
    out = json.loads(run("series", "--keyword", "人工智能", "--region", "杭州",
                         "--format", "json").stdout)
    assert [(r["date"], r["value"]) for r in out] == [
        (day, None if value == "" else value) for day, value in given.items()]


def test_wide_form_with_region(run, db_path, tmp_path):
    rows = [[day, i, 2 * i] for i, day in enumerate(_days(10))]
    path = write_csv(tmp_path / "wide.csv", ["date", "人工智能", "机器学习"], rows)
    result = run("import", str(path), "--region", "西安")
    assert result.exit_code == 0, result.output
    assert observation_count(db_path) == 20
    out = run("series", "--keyword", "机器学习", "--region", "西安市", "--format", "csv")
    assert out.output.splitlines()[-1] == f"{_days(10)[-1]},18,reported"


def test_wide_form_needs_region(run, tmp_path):
    path = write_csv(tmp_path / "wide.csv", ["date", "人工智能"], [["2017-01-01", 1]])
    result = run("import", str(path))
    assert result.exit_code != 0
    assert "wide.csv:1: wide form" in result.output and "needs --region" in result.output


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_encodings_are_detected(run, db_path, tmp_path, encoding):
    rows = [["人脸识别", "深圳", day, 7] for day in _days(5)]
    path = write_csv(tmp_path / "enc.csv", ["关键词", "地区", "日期", "指数"], rows, encoding)
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert observation_count(db_path) == 5
    assert run("series", "--keyword", "人脸识别", "--region", "深圳").output.count("\n") == 6


def test_keywords_outside_taxonomy_are_stored_and_queryable(run, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["keyword", "region", "date", "value"],
                     [["区块链", "94", "2018-01-01", 5]])
    assert run("import", str(path)).exit_code == 0
    assert "2018-01-01" in run("series", "--keyword", "区块链", "--region", "深圳").output


GOOD = ["人工智能", "成都", "2017-01-01", "10"]


@pytest.mark.parametrize("bad_row,reason", [
    (["人工智能", "火星", "2017-01-02", "10"], "unknown region '火星'"),
    (["人工智能", "北京", "2017-01-02", "10"], "region '北京' is ambiguous"),
    (["人工智能", "成都", "2017-02-30", "10"], "date '2017-02-30' is not a date"),
    (["人工智能", "成都", "yesterday", "10"], "date 'yesterday' is not a date"),
    (["人工智能", "成都", "2017-01-02", "-3"], "value '-3' is negative"),
    (["人工智能", "成都", "2017-01-02", "lots"], "value 'lots' is not a number"),
    (["人工智能", "成都", "2017-01-02", "2.5"], "value '2.5' is not a whole number"),
    (["人工智能", "成都", "2017-01-01", "11"], "already given a different value at line 2"),
])
def test_bad_row_stops_import_and_changes_nothing(run, db_path, tmp_path, bad_row, reason):
    first = write_csv(tmp_path / "first.csv", ["keyword", "region", "date", "value"],
                      [["机器学习", "成都", "2016-12-01", "1"]])
    run("import", str(first))
    before = observation_count(db_path)
    runs_before = store.connect(db_path).execute("SELECT count(*) FROM runs").fetchone()[0]
    rows = [GOOD, ["人工智能", "成都", "2017-01-01", "10"], bad_row, GOOD[:2] + ["2017-01-03", "9"]]
    path = write_csv(tmp_path / "bad.csv", ["keyword", "region", "date", "value"], rows)
    result = run("import", str(path))
    assert result.exit_code != 0
    message = result.output.strip()
    assert message.startswith(f"Error: {path}:4: "), message
    assert reason in message
    assert len(message.splitlines()) == 1
    assert observation_count(db_path) == before
    assert store.connect(db_path).execute("SELECT count(*) FROM runs").fetchone()[0] == runs_before


def test_error_in_a_later_chunk_still_writes_nothing(run, db_path, tmp_path, monkeypatch):
    from aicity import importer
    monkeypatch.setattr(importer, "CHUNK_ROWS", 10)
    rows = [["人工智能", "成都", d, 1] for d in _days(45)] + [["人工智能", "成都", "bad", 1]]
    path = write_csv(tmp_path / "late.csv", ["keyword", "region", "date", "value"], rows)
    result = run("import", str(path))
    assert result.exit_code != 0
    assert f"{path}:47: date 'bad'" in result.output
    assert observation_count(db_path) == 0
    assert store.connect(db_path).execute("SELECT count(*) FROM keywords WHERE term = '人工智能'"
                                          ).fetchone()[0] == 1


def test_new_keyword_from_a_failed_import_is_not_kept(run, db_path, tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["keyword", "region", "date", "value"],
                     [["新词一个", "成都", "2017-01-01", "1"], ["新词一个", "成都", "x", "1"]])
    assert run("import", str(path)).exit_code != 0
    db = store.connect(db_path)
    assert db.execute("SELECT count(*) FROM keywords WHERE term = '新词一个'").fetchone()[0] == 0


def test_import_into_uninitialised_database_says_so(tmp_path):
    from click.testing import CliRunner

    from aicity.cli import cli
    path = write_csv(tmp_path / "x.csv", ["keyword", "region", "date", "value"], [GOOD])
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "import", str(path)])
    assert result.exit_code != 0
    assert "run `aicity init` first" in result.output
    assert not (tmp_path / "none.db").exists()


def test_import_records_a_run_with_provenance(run, db_path, daily_file):
    path, expected = daily_file
    run("import", str(path), "--level", "city")
    db = store.connect(db_path)
    kind, status, rows, detail = db.execute(
        "SELECT kind, status, rows_written, detail FROM runs").fetchone()
    assert (kind, status, rows) == ("import", "ok", len(expected))
    detail = json.loads(detail)
    assert detail["file"].endswith("daily.csv") and len(detail["sha256"]) == 64


def test_import_into_postgresql_stores_the_same_and_reimport_changes_nothing(pg_url, daily_file):
    from click.testing import CliRunner

    from aicity.cli import cli
    path, expected = daily_file
    store.init_db(pg_url)
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", pg_url, "import", str(path), "--level", "city"])
    assert first.exit_code == 0, first.output
    assert f"{len(expected)} written" in first.output
    db = store.connect(pg_url)
    try:
        stored = {(kw, region, day): value for kw, region, day, value in db.execute(
            "SELECT k.term, o.region, o.date, o.value FROM observations o JOIN keywords k "
            "ON k.id = o.keyword_id WHERE o.granularity = 'day' AND o.device = 'all'")}
    finally:
        db.close()
    assert stored == expected
    again = runner.invoke(cli, ["--db", pg_url, "import", str(path), "--level", "city"])
    assert again.exit_code == 0 and "0 written" in again.output


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64, 1 << 24])
def test_the_byte_checks_read_in_blocks_find_the_same_line(tmp_path, monkeypatch, block):
    """Encoding and cut-off rows are checked a block at a time (a file held whole peaked at
    three times its size); a character or a line split by a block boundary changes nothing."""
    from aicity import importer
    monkeypatch.setattr(importer, "BLOCK", block)
    head = "keyword,region,date,value\n"
    good = "人工智能,成都,2017-01-01,5\n机器学习,北京,2017-01-02,6\n"

    def file(name, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    assert importer.detect_encoding(file("u.csv", (head + good).encode())) == "utf-8"
    assert importer.detect_encoding(file("b.csv", b"\xef\xbb\xbf" + (head + good).encode())) \
        == "utf-8-sig"
    assert importer.detect_encoding(file("g.csv", (head + good).encode("gbk"))) == "gb18030"
    mixed = file("m.csv", (head + good).encode() + "深度学习,成都,2017-01-03,7\n".encode("gbk"))
    with pytest.raises(importer.ImportFailed, match=r"m\.csv:4: not valid UTF-8"):
        importer.detect_encoding(mixed)
    neither = file("n.csv", (head + "a,1,2017-01-01,5\n").encode() + b"\x81\xff,1\n")
    with pytest.raises(importer.ImportFailed, match=r"n\.csv:3: not UTF-8 or GBK"):
        importer.detect_encoding(neither)

    cut = file("c.csv", (head + good + "人工智能,成都,2017-01-03\n\n").encode())
    assert importer._first_short_row(cut, "utf-8", 4) == (4, 3)
    last = file("l.csv", (head + good + "\r\n人工智能,成都").encode())   # no final newline
    assert importer._first_short_row(last, "utf-8", 4) == (5, 2)
    whole = file("w.csv", (head + good).encode())
    assert importer._first_short_row(whole, "utf-8", 4) is None
    quoted = file("q.csv", (head + good + '"人工智能",成都,2017-01-03\n').encode("gbk"))
    assert importer._first_short_row(quoted, "gb18030", 4) == (4, 3)


# --- a file larger than memory is imported a partition at a time (issue 36 §5) --------------

@pytest.fixture
def spilling(monkeypatch):
    """The importer as it treats a file of many millions of rows, on a small one: rows go to
    partition files on disk after the first few, and are checked a partition at a time."""
    from aicity import importer
    monkeypatch.setattr(importer, "SPILL_ROWS", 1000)
    monkeypatch.setattr(importer, "PARTITION_ROWS", 700)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 900)
    return importer


def test_a_spilled_import_stores_what_an_import_in_memory_stores(run, db_path, daily_file,
                                                                  spilling):
    path, expected = daily_file
    result = run("import", str(path), "--level", "city")
    assert result.exit_code == 0, result.output
    db = store.connect(db_path)
    stored = {(kw, region, day): value for kw, region, day, value in db.execute(
        "SELECT k.term, o.region, o.date, o.value FROM observations o "
        "JOIN keywords k ON k.id = o.keyword_id WHERE o.granularity = 'day' AND o.device = 'all'")}
    touched = db.execute("SELECT count(*) FROM touched").fetchone()[0]
    db.close()
    assert stored == expected
    assert touched == 300 * 2                       # one note a series, not one a partition


def test_a_spilled_import_refuses_the_earliest_conflict_and_writes_nothing(run, db_path,
                                                                           tmp_path, spilling):
    rows = [["人工智能", city.code, day, 100 + i]
            for city in default_registry().filter(level="city")[:200]
            for i, day in enumerate(_days(20))]
    rows.insert(2500, ["人工智能", rows[2400][1], rows[2400][2], 9])     # line 2502 repeats 2402
    rows.append(["人工智能", rows[10][1], rows[10][2], 7])               # a later conflict
    path = write_csv(tmp_path / "twice.csv", ["keyword", "region", "date", "value"], rows)
    result = run("import", str(path), "--level", "city")
    assert result.exit_code == 1
    assert "twice.csv:2502:" in result.output and "at line 2402" in result.output
    assert observation_count(db_path) == 0
    db = store.connect(db_path)
    assert db.execute("SELECT count(*) FROM runs WHERE kind = 'import'").fetchone()[0] == 0
    db.close()
