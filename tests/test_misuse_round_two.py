"""The second fault campaign (issue 27): each probe that found a wrong answer, a lost file or a
traceback, as a test that fails before its fix."""
from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from aicity.service.refit import analyze
from aicity.cli import cli
from aicity.db import store
from aicity.importer import import_csv
from aicity.keywords.taxonomy import default_taxonomy
from tests.conftest import dry_run_job, write_csv


def cli_run(path, *args, input=None):
    return CliRunner().invoke(cli, ["--db", str(path), *args], input=input,
                              catch_exceptions=False)


def _write_rows(path, rows):
    return write_csv(path, ["keyword", "region", "date", "value"], rows)


@pytest.fixture(scope="module")
def uneven_db(tmp_path_factory):
    """成都 stored from 2025-01-01, 西安 only from 2025-06-01, both through 2026-11-30."""
    tmp = tmp_path_factory.mktemp("yoy")
    path = tmp / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    rng = np.random.default_rng(27)
    rows = []
    day = date(2025, 1, 1)
    while day <= date(2026, 11, 30):
        growth = 1.0 + (day - date(2025, 1, 1)).days / 700
        rows.append(["语音识别", "成都", day.isoformat(),
                     int(300 * growth * rng.uniform(.95, 1.05))])
        if day >= date(2025, 6, 1):
            rows.append(["语音识别", "西安", day.isoformat(),
                         int(200 * growth * rng.uniform(.95, 1.05))])
        day += timedelta(days=1)
    db = store.connect(path)
    import_csv(db, _write_rows(tmp / "uneven.csv", rows), source="import")
    db.close()
    analyze(path, workers=1)
    return path


def test_year_on_year_compares_like_with_like_region_by_region(uneven_db):
    result = cli_run(uneven_db, "movers", "--keyword", "语音识别", "--period",
                     "2026-01-01..2026-11-30", "--show", "growth", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["region"]: r for r in json.loads(result.stdout)}
    assert rows["成都市"]["change"] == pytest.approx(0.41, abs=0.03)
    # 西安's year before holds six months: no change is given rather than a wrong one
    assert rows["西安市"]["change"] is None and rows["西安市"]["previous"] is None
    assert "left empty for 1 region(s)" in result.stderr


def test_the_briefing_leaves_the_uneven_region_empty_and_says_why(uneven_db):
    from aicity.service.export import briefing_frame
    from aicity.analysis.periods import parse_period
    from aicity.db.regions import default_registry
    db = store.connect(uneven_db)
    try:
        frame = briefing_frame(db, parse_period("2026-01-01..2026-11-30"))
    finally:
        db.close()
    reg = default_registry()
    frame = frame.set_index("region_code")
    assert np.isnan(frame.loc[reg.resolve("西安").code, "application_yoy"])
    assert frame.loc[reg.resolve("成都").code, "application_yoy"] > 0.3
    assert "left empty for 1 region(s)" in frame.attrs["yoy_gap"]


@pytest.mark.parametrize("given", ["", ",,,", " "])
def test_an_empty_selection_is_an_error_not_every_region(db_path, given):
    result = cli_run(db_path, "collect", "--regions", given, "--dry-run")
    assert result.exit_code == 2 and "selects nothing" in result.output
    assert "Traceback" not in result.output
    demo = CliRunner().invoke(cli, ["demo", "--regions", given, "--out", str(db_path.parent / "d")])
    assert demo.exit_code == 2 and "selects nothing" in demo.output


def test_an_over_long_keyword_is_refused_before_asking(db_path):
    result = cli_run(db_path, "collect", "--keywords", "人工智能," + "智" * 12000, "--dry-run")
    assert result.exit_code == 2
    assert "12,000 characters; Baidu Index takes at most 38" in result.output


def test_import_names_every_bad_row_in_file_order(db_path, tmp_path):
    rows = [["人工智能", "成都", "2017-01-01", "5"],
            ["人工智能", "火星", "2017-01-02", "5"],
            ["人工智能", "成都", "2017-01-03", "x"],
            ["人工智能", "成都", "2017-02-30", "5"],
            ["人工智能", "成都", "2017-01-05", "-3"],
            ["人工智能", "火星", "2017-01-06", "5"]]
    path = _write_rows(tmp_path / "bad.csv", rows)
    result = cli_run(db_path, "import", str(path))
    assert result.exit_code != 0 and "Traceback" not in result.output
    message = result.output.strip().splitlines()[-1]
    assert f"{path}:3: unknown region '火星'" in message
    for line, why in ((4, "value 'x' is not a number"), (5, "date '2017-02-30'"),
                      (6, "value '-3' is negative"), (7, "unknown region '火星'")):
        assert f"line {line}: {why}" in message
    assert message.index("line 4") < message.index("line 5") < message.index("line 7")
    assert "(5 bad rows)" in message
    db = store.connect(db_path)
    assert store.count_observations(db) == 0          # nothing half-written
    db.close()


def test_import_counts_what_it_does_not_name(db_path, tmp_path):
    rows = [["人工智能", "成都", f"2017-01-{d:02d}", "x"] for d in range(1, 31)]
    path = _write_rows(tmp_path / "many.csv", rows)
    result = cli_run(db_path, "import", str(path))
    assert "line 11: value 'x'" in result.output and "line 12:" not in result.output
    assert "and 20 more bad rows" in result.output


def test_a_last_row_cut_off_before_its_value_is_a_bad_row(db_path, tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text("keyword,region,date,value\n人工智能,成都,2017-02-01,40\n"
                    "人工智能,成都,2017-02-02,", encoding="utf-8")
    result = cli_run(db_path, "import", str(path))
    assert result.exit_code != 0
    assert f"{path}:3: the row has no value and the file ends without a newline" in result.output
    # the same row ended properly means what it says: empty, below Baidu's floor
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert cli_run(db_path, "import", str(path)).exit_code == 0


def test_a_full_database_is_named_as_a_full_disk_not_damage(tmp_path):
    """SQLite's own 'database or disk is full' (here from a page limit): no backup advice."""
    import sqlite3
    path = tmp_path / "small.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.DatabaseError) as caught:
        con.execute("CREATE TABLE t(x)")
        con.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 100)
        con.commit()
    said = store.storage_problem(caught.value, path)
    assert "the disk is full" in said and "backup" not in said


def test_a_damaged_file_is_named_as_damage(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    result = cli_run(path, "rank", "--dimension", "basic")
    assert result.exit_code == 1 and "restore it from a backup" in result.output


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, where this machine lets the tests mount one (root with mount rights)."""
    import subprocess
    where = tmp_path / "disk"
    where.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                          capture_output=True)
    if made.returncode:
        pytest.skip("cannot mount a small file system here: "
                    + made.stderr.decode(errors="replace").strip()[:80])
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_stops_collect_with_status_5_and_the_next_run_finishes(small_disk):
    import os
    import subprocess
    import sys

    from aicity.emulator.process import running_emulator
    db = small_disk / "aicity.db"
    store.init_db(db, taxonomy=default_taxonomy())
    args = ["--regions", "成都,杭州,0", "--start", "2025-01-01", "--end", "2026-11-20",
            "--delay", "0"]
    env = dict(os.environ, AICITY_BAIDU_COOKIES="BDUSS=disk")

    def collect(url):
        return subprocess.run([sys.executable, "-m", "aicity", "--db", str(db), "collect",
                               "--base-url", url, *args], capture_output=True, text=True,
                              env=env, timeout=300)

    with running_emulator(seed=1, latest="2026-11-20", rate_limit="0",
                          habits="none") as url:
        full = collect(url)
        assert full.returncode == 5, full.stderr[-1000:]
        assert "the disk is full" in full.stderr and "backup" not in full.stderr
        assert "Traceback" not in full.stderr and len(full.stderr) < 2000   # no item dumps
        assert store.connect(db).execute("SELECT status FROM runs").fetchall() == [("failed",)]
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        again = collect(url)
    assert again.returncode == 0 and "0 pieces still missing" in again.stdout


def test_a_read_only_file_system_is_named_as_one(small_disk):
    import subprocess
    db = small_disk / "aicity.db"
    store.init_db(db, taxonomy=default_taxonomy())
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = cli_run(db, "rank", "--dimension", "basic")
    assert result.exit_code == 1 and "read-only" in result.output
    assert "backup" not in result.output


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device"])
def test_report_out_never_replaces_what_is_not_a_regular_file(db_path, tmp_path, kind):
    import os
    target = tmp_path / "report.html"
    if kind == "symlink":
        keep = tmp_path / "precious.txt"
        keep.write_text("mine", encoding="utf-8")
        target.symlink_to(keep)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target = __import__("pathlib").Path("/dev/null")
    result = cli_run(db_path, "report", "--out", str(target))
    assert result.exit_code == 1 and "not a regular file: refusing to replace it" in \
        result.output and "Traceback" not in result.output
    if kind == "symlink":
        assert target.is_symlink() and keep.read_text(encoding="utf-8") == "mine"
    elif kind == "fifo":
        assert __import__("stat").S_ISFIFO(os.lstat(target).st_mode)
    else:
        assert __import__("stat").S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_damaged_database_gives_no_answers_and_status_check_fails(tmp_path):
    import sqlite3
    path = tmp_path / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    rows = [[k, c, (date(2024, 1, 1) + timedelta(days=i)).isoformat(), 100 + i % 37]
            for i in range(400) for c in ("成都", "杭州") for k in ("人工智能", "机器学习")]
    db = store.connect(path)
    import_csv(db, _write_rows(tmp_path / "d.csv", rows), source="import")
    db.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.close()
    assert cli_run(path, "status", "--check").exit_code == 0
    with path.open("r+b") as fh:          # scribble over the middle of most pages
        for page in range(pages // 3, pages - 1):
            fh.seek(page * 4096 + 200)
            fh.write(b"\xff" * 1500)
    check = cli_run(path, "status", "--check")
    assert check.exit_code == 1 and "damaged" in check.output
    series = cli_run(path, "series", "--keyword", "机器学习", "--region", "杭州")
    assert series.exit_code == 1 and "is damaged" in series.output
    assert "Traceback" not in series.output + check.output


def test_the_nightly_job_reads_a_relative_cookies_file_where_the_user_is(tmp_path,
                                                                      monkeypatch):
    """Its stages run as children that keep the working directory: `cookies.txt` means the
    file beside the user, as it does for a plain `collect`."""
    (tmp_path / "cookies.txt").write_text("BDUSS=relative\n", encoding="utf-8")
    result = dry_run_job(tmp_path, monkeypatch, {"AICITY_BAIDU_COOKIES_FILE": "cookies.txt",
                                                 "AICITY_BAIDU_BASE_URL": "http://127.0.0.1:9"})
    assert result.stages["collect"]["status"] == "ok", result.stages
    assert "does not exist" not in json.dumps(result.stages)


def test_status_does_not_call_a_killed_job_running_nor_name_briefings_it_never_wrote(
        db_path, tmp_path):
    import socket
    import subprocess
    import sys
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    db = store.connect(db_path)
    with db.atomic():
        db.execute("INSERT INTO runs(kind, status, started_at, detail) VALUES ('job', 'running', "
                   "'2026-12-04T02:30:00+00:00', ?)",
                   [json.dumps({"pid": int(gone), "host": socket.gethostname(),
                                "out": str(tmp_path / "never"), "stages": {}})])
    db.close()
    result = cli_run(db_path, "status", "--format", "json")
    rows = {r["item"]: r["value"] for r in json.loads(result.stdout)}
    assert rows["last nightly job"].startswith("interrupted") and "is gone" in \
        rows["last nightly job"]
    assert rows["last briefings"] == "none written yet"


def _read_until(proc, marker: bytes, seconds: float) -> bytes:
    """What the child wrote to stderr up to `marker`; fails (and kills it) if the marker has not
    come within `seconds`, rather than waiting for ever."""
    import os
    import select
    import time
    deadline, seen = time.monotonic() + seconds, b""
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stderr], [], [], left)[0]:
            proc.kill()
            pytest.fail(f"no {marker!r} within {seconds:.0f} s: {seen.decode(errors='replace')}")
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    return seen


@pytest.mark.slow
def test_sigterm_to_analyze_stops_its_workers_without_a_traceback(db_copy):
    import os
    import signal
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "aicity", "--db", str(db_copy), "analyze",
                             "--full", "--workers", "2"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=dict(os.environ),
                            start_new_session=True)
    try:
        seen = _read_until(proc, b"analysing series", 120)   # the worker pool is at work
        proc.send_signal(signal.SIGTERM)
        try:
            _, rest = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("analyze (or a worker holding its stderr) was still running 60 s "
                        "after SIGTERM")
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)        # its workers too, whatever happened
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert b"Traceback" not in seen + rest and b"BrokenPipeError" not in seen + rest


def test_an_emulator_port_in_use_is_one_line(tmp_path):
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        result = CliRunner().invoke(cli, ["emulator", "--port", str(port)])
    finally:
        taken.close()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_an_unclosed_quote_in_collect_args_is_one_line(db_path):
    result = cli_run(db_path, "schedule", "--once", "--collect-args", '--regions "成都')
    assert result.exit_code == 2 and "No closing quotation" in result.output


def test_a_wrong_collect_option_for_the_job_is_refused_when_it_is_set_up(db_path):
    # --collect-args is parsed by `aicity collect`'s own options into the typed order the
    # stages get (issue 29 §3): a typo is one line now, not a failed stage at night
    result = cli_run(db_path, "schedule", "--once", "--collect-args", "--regoins 成都")
    assert result.exit_code == 2 and "--collect-args" in result.output
    assert "No such option '--regoins'" in result.output and "Traceback" not in result.output
    assert not store.connect(db_path).execute("SELECT count(*) FROM runs").fetchone()[0]


def test_the_job_log_is_named_without_credentials(tmp_path, monkeypatch):
    from aicity.scheduler import default_log_file
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    log = default_log_file("postgresql://aicity:s3cretPW@db.example:5433/aicity")
    assert "s3cretPW" not in str(log) and "aicity:" not in str(log)
    assert log == tmp_path / "state" / "aicity" / "logs" / "db.example_5433_aicity.log"
    assert default_log_file(tmp_path / "my.db") == tmp_path / "logs" / "my.db.log"
