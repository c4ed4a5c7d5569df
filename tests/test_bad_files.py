"""One line, no traceback, nothing half-written: unusable or truncated database files, an
export failing midway, a group without data."""
from __future__ import annotations


import pytest
from click.testing import CliRunner

from aicity.cli import cli
from aicity.db import store





# --- one line, no traceback, nothing half-written ----------------------------------------------

def test_unusable_database_files_get_one_line(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database", encoding="utf-8")
    for args, expected in [
        (["--db", str(tmp_path / "no" / "x.db"), "init"], "folder"),
        (["--db", str(garbage), "regions"], "not a usable SQLite database"),
    ]:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert expected in result.output and len(result.output.strip().splitlines()) == 1


def test_a_truncated_database_gets_one_line(db_path, tmp_path):
    cut = tmp_path / "cut.db"
    cut.write_bytes(db_path.read_bytes()[:40_000])
    result = CliRunner().invoke(cli, ["--db", str(cut), "rank", "--dimension", "basic"])
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output


def test_an_export_that_fails_midway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    import errno

    import pandas as pd

    from aicity.service import export
    path = tmp_path / "briefing.csv"
    frame = pd.DataFrame({"region": ["成都", "武汉", "西安"], "basic_value": [1.0, 2.0, 3.0]})
    export.write_csv(frame, path, "zh", "test")
    before = path.read_bytes()
    calls = {"n": 0}
    real = export._cell

    def full_disk(value, lang="zh"):
        calls["n"] += 1
        if calls["n"] > 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(value, lang)

    monkeypatch.setattr(export, "_cell", full_disk)
    with pytest.raises(OSError):
        export.write_csv(frame.assign(basic_value=[4.0, 5.0, 6.0]), path, "zh", "test")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["briefing.csv"]


def test_industries_answer_when_one_group_has_no_data(db_copy):
    db = store.connect(db_copy)
    db.execute("DELETE FROM components WHERE subject IN (SELECT 'k:' || keyword_id FROM "
               "keyword_groups WHERE category = 'industry' AND group_name = 'finance')")
    db.conn.commit()
    from aicity.service import queries
    out = queries.industries(db, period="2017")
    db.close()
    assert out["finance_share"].fillna(0).eq(0).all()
    assert out["healthcare_share"].notna().any()
