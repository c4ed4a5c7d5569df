"""The importer stores nothing wrong: repeated columns, mixed encodings, aliases, cut rows,
values a float cannot hold, files of blank lines."""
from __future__ import annotations


import pytest
from click.testing import CliRunner

from aicity.cli import cli
from aicity.db import store

from tests.conftest import write_csv




# --- import stores nothing wrong -------------------------------------------------------------

def _import_file(db_path, path, *args):
    return CliRunner().invoke(cli, ["--db", str(db_path), "import", str(path), *args])


def _terms(db_path) -> set[str]:
    db = store.connect(db_path)
    try:
        return {r[0] for r in db.execute("SELECT DISTINCT k.term FROM observations o JOIN "
                                         "keywords k ON k.id = o.keyword_id")}
    finally:
        db.close()


def test_a_repeated_wide_column_is_refused_not_renamed(db_path, tmp_path):
    path = write_csv(tmp_path / "w.csv", ["date", "人工智能", "机器学习", "人工智能"],
                     [["2017-01-01", 1, 2, 3]])
    result = _import_file(db_path, path, "--region", "成都")
    assert result.exit_code == 1
    assert "w.csv:1: column 4 repeats '人工智能' (column 2)" in result.output
    assert _terms(db_path) == set()


def test_a_gbk_line_in_a_utf8_file_is_refused_with_its_line(db_path, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes("keyword,region,date,value\n人工智能,成都,2017-01-01,5\n".encode("utf-8")
                     + "机器学习,成都,2017-01-01,6\n".encode("gbk"))
    result = _import_file(db_path, path)
    assert result.exit_code == 1
    assert "mixed.csv:3: not valid UTF-8" in result.output
    assert _terms(db_path) == set()


def test_a_taxonomy_alias_is_stored_as_its_term(db_path, tmp_path):
    path = write_csv(tmp_path / "a.csv", ["keyword", "region", "date", "value"],
                     [["人工智慧", "成都", "2017-01-01", 5], ["人工智能", "成都", "2017-01-02", 6]])
    result = _import_file(db_path, path)
    assert result.exit_code == 0, result.output
    assert _terms(db_path) == {"人工智能"}


def test_an_alias_and_its_term_disagreeing_on_a_day_is_an_error(db_path, tmp_path):
    path = write_csv(tmp_path / "a.csv", ["keyword", "region", "date", "value"],
                     [["人工智慧", "成都", "2017-01-01", 5], ["人工智能", "成都", "2017-01-01", 6]])
    result = _import_file(db_path, path)
    assert result.exit_code == 1 and "a.csv:3:" in result.output


def test_a_row_cut_off_before_its_value_is_refused(db_path, tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text("keyword,region,date,value\n人工智能,成都,2017-01-01,5\n"
                    "人工智能,成都,2017-01-02\n\n人工智能,成都,2017-01-03,\n", encoding="utf-8")
    result = _import_file(db_path, path)
    assert result.exit_code == 1
    assert "cut.csv:3: 3 fields where the header has 4" in result.output
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('keyword,region,date,value\n"人工智能",成都,2017-01-01,5\n'
                      '"人工智能",成都,2017-01-02\n', encoding="utf-8")
    assert "quoted.csv:3: 3 fields" in _import_file(db_path, quoted).output
    assert _terms(db_path) == set()


@pytest.mark.parametrize("value", ["9007199254740993", "inf", "1e400"])
def test_a_value_a_float_cannot_hold_is_refused(db_path, tmp_path, value):
    path = write_csv(tmp_path / "big.csv", ["keyword", "region", "date", "value"],
                     [["人工智能", "成都", "2017-01-01", 5],
                      ["人工智能", "成都", "2017-01-02", value]])
    result = _import_file(db_path, path)
    assert result.exit_code == 1
    assert f"big.csv:3: value '{value}' is not a finite number" in result.output
    assert _terms(db_path) == set()


def test_a_file_of_blank_lines_is_refused(db_path, tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n\n", encoding="utf-8")
    result = _import_file(db_path, path)
    assert result.exit_code == 1 and "blank.csv:1: the first line is blank" in result.output


@pytest.mark.parametrize("encoding, said", [("utf-16-le", "UTF-16LE (without a byte-order mark)"),
                                            ("utf-16-be", "UTF-16BE (without a byte-order mark)"),
                                            ("utf-16", "UTF-16LE")])
def test_a_utf16_file_is_named_as_such(db_path, tmp_path, encoding, said):
    """Excel's 'Unicode text' export: it was reported as 'a row cut off?'."""
    text = "keyword,region,date,value\n人工智能,成都,2017-01-01,100\n人工智能,成都,2017-01-02,101\n"
    path = tmp_path / "excel.csv"
    path.write_bytes(text.encode(encoding))
    result = _import_file(db_path, path)
    assert result.exit_code == 1
    assert f"excel.csv:1: the file is {said} text, not UTF-8 or GBK" in result.output
    assert "cut off" not in result.output and _terms(db_path) == set()
