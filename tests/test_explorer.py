"""`aicity serve`, the explorer (issue 37): proven in a real browser (Debian's chromium driven by
Playwright) and over HTTP: every page draws with no console error and no request to another
host, what a page shows is what the CLI prints, a view's URL reopens it, downloads equal the
CLI's output, Chinese and English, and bad input is one line with a 4xx, never a 500."""
from __future__ import annotations

import csv
import http.client
import io
import json
import shutil
import threading
from urllib.parse import quote, urlencode

import pytest
from click.testing import CliRunner

from aicity.cli import cli
from aicity.db import store
from aicity.db.regions import default_registry
from tests.servers import _wait_for_port, free_port

CHROMIUM = "/usr/bin/chromium"
PERIOD = "2017"


def cli_out(db, *args) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def server(national_db):
    """The explorer on loopback over the national test database, in this process."""
    import uvicorn
    from aicity.explorer.app import create_app
    port = free_port()
    app = create_app(national_db, "zh", warm=False)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    _wait_for_port(port, None, "the explorer")
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield launched
        launched.close()


class Watched:
    """A page that records console errors, page errors and requests to other hosts."""

    def __init__(self, browser, base: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:"))
                     else self.outside.append(r.url))

    def open(self, path: str):
        response = self.page.goto(self.base + path)
        if self.page.query_selector("#chart"):
            self.page.wait_for_selector("#chart[data-drawn='1']", timeout=20_000)
        return response

    def table(self, selector: str = "#table") -> list[dict]:
        return self.page.eval_on_selector(selector, """t => {
            const heads = [...t.tHead.rows[0].cells].map(c => c.dataset.col);
            return [...t.tBodies[0].rows].map(r => Object.fromEntries(
                [...r.cells].map((c, i) => [heads[i], c.textContent.trim()])));
        }""")

    def close(self):
        self.context.close()


@pytest.fixture
def watched(browser, server):
    page = Watched(browser, server)
    yield page
    page.close()


def _code(name: str) -> int:
    return default_registry().resolve(name, level="city").code


def test_every_page_draws_in_chromium_with_no_error_and_no_outside_request(watched):
    paths = ["/explore", f"/explore?s=d:technical&r={quote('成都')}&r={quote('杭州')}",
             "/explore?" + urlencode([("s", f"k:{t}") for t in ("人工智能", "深度学习")]
                                     + [("r", c) for c in ("北京", "上海", "广州")]),
             "/map?dimension=application&colour=tier", "/rankings?dimension=cognition",
             "/rankings?table=demand", "/rankings?table=split&dimension=basic", "/movers",
             f"/region/{_code('成都')}", "/status", "/explore?lang=en", "/map?lang=en"]
    for path in paths:
        response = watched.open(path)
        assert response.status == 200, path
        assert watched.page.query_selector("main h1") is not None, path
    assert watched.errors == []
    assert watched.outside == []
    # six lines (two terms in three cities) became small multiples: six plots, no legend
    watched.open(paths[2])
    axes = watched.page.evaluate("document.getElementById('chart')._fullLayout._subplots"
                                 ".cartesian.length")
    assert axes == 6


def test_holidays_are_named_on_the_daily_chart(watched):
    watched.open(f"/explore?s=k:{quote('人工智能')}&r={quote('成都')}"
                 "&start=2017-01-01&end=2017-03-31&g=day")
    traces = watched.page.evaluate("document.getElementById('chart').data.map("
                                   "t => [t.name, (t.text || []).join(' ')])")
    names = dict(traces)
    assert "春节" in names["节假日"] and "元旦" in names["节假日"]
    assert "2017-01-28" in watched.page.evaluate(
        "document.getElementById('chart').data.find(t => t.name == '节假日').x.join(' ')")
    assert watched.errors == []


def test_the_top_cognition_tier_and_how_sure_is_what_the_cli_says(watched, national_db):
    watched.open(f"/rankings?dimension=cognition&uncertainty=1&period={PERIOD}")
    shown = watched.table()
    printed = list(csv.DictReader(io.StringIO(cli_out(
        national_db, "rank", "--dimension", "cognition", "--uncertainty", "--period", PERIOD,
        "--format", "csv"))))
    assert len(shown) == len(printed) == 20
    for row, cli_row in zip(shown, printed):
        for col in ("rank", "region", "value", "tier", "rank_low", "rank_high",
                    "tier_confidence", "vocabulary_rank_low", "vocabulary_rank_high"):
            assert row[col] == cli_row[col], (col, row, cli_row)
    notes = watched.page.inner_text("#notes")
    assert "30 与 100 的分界是本项目的" in notes           # the bands say where they come from


def test_a_view_reopens_from_its_url_and_the_form_makes_that_url(watched):
    watched.open("/explore")
    page = watched.page
    page.fill("fieldset[data-name=s] input", "d:technical")
    page.fill("fieldset[data-name=r] input", "成都")
    page.click("button[data-add=r]")
    page.locator("fieldset[data-name=r] input").nth(1).fill("杭州")
    page.select_option("select[name=g]", "week")
    page.select_option("select[name=period]", "all")
    page.click("#form button[type=submit]")
    page.wait_for_selector("#chart[data-drawn='1']")
    url = page.url
    assert "s=d%3Atechnical" in url and "g=week" in url and "period=all" in url
    names = page.evaluate("document.getElementById('chart').data.map(t => t.name)")
    assert names == ["技术认知 · 成都市", "技术认知 · 杭州市"]
    again = Watched(watched.page.context.browser, watched.base)
    try:
        again.page.goto(url)
        again.page.wait_for_selector("#chart[data-drawn='1']")
        assert again.page.evaluate("document.getElementById('chart').data.map(t => t.name)") \
            == names
        assert again.page.input_value("select[name=g]") == "week"
        assert again.page.locator("fieldset[data-name=r] input").nth(1).input_value() == "杭州"
    finally:
        again.close()


def test_downloads_are_what_the_cli_prints(watched, national_db):
    watched.open(f"/rankings?dimension=technical&period={PERIOD}&province={quote('广东')}")
    with watched.page.expect_download() as got:
        watched.page.click("a[data-download=csv]")
    downloaded = open(got.value.path(), encoding="utf-8").read()
    assert downloaded == cli_out(national_db, "rank", "--dimension", "technical", "--period",
                                 PERIOD, "--province", "广东", "--format", "csv")
    with watched.page.expect_download() as got:
        watched.page.click("a[data-download=xlsx]")
    import openpyxl
    sheet = openpyxl.load_workbook(io.BytesIO(got.value.path().read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    printed = list(csv.reader(io.StringIO(downloaded)))
    assert list(rows[0]) == printed[0] and len(rows) == len(printed)
    assert [str(v) for v in rows[1][:3]] == printed[1][:3]


def test_a_briefing_downloads_as_xlsx_from_the_region_page(watched):
    sichuan = default_registry().resolve("四川", level="province").code
    chengdu = _code("成都")
    watched.open(f"/region/{chengdu}")
    assert watched.page.inner_text("#region-name").startswith("成都市")
    with watched.page.expect_download() as got:
        watched.page.click("a[data-download=briefing-xlsx]")
    import openpyxl
    book = openpyxl.load_workbook(io.BytesIO(got.value.path().read_bytes()))
    assert "manifest" in book.sheetnames and len(book.sheetnames) >= 2
    assert sichuan and got.value.suggested_filename == f"aicity-briefing-{chengdu}.xlsx"


def test_chinese_and_english_throughout_and_switchable(watched):
    watched.open("/rankings?dimension=basic")
    assert watched.page.inner_text("header nav") .split() == ["趋势", "地图", "排名", "升降",
                                                               "状态"]
    watched.page.click("#switch-lang")
    watched.page.wait_for_load_state()
    assert "lang=en" in watched.page.url and "dimension=basic" in watched.page.url
    assert watched.page.inner_text("header nav").split()[:3] == ["Explore", "Map", "Rankings"]
    assert "the cuts at 30 and 100 are ours" in watched.page.inner_text("#notes")
    assert watched.errors == []


def _get(base: str, path: str) -> tuple[int, str]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.mark.parametrize("path, status, said", [
    ("/explore?s=k:" + quote("不存在的词"), 400, "未知关键词"),
    ("/explore?r=" + quote("火星"), 400, "地区有误"),
    ("/explore?period=2017-13", 400, "时段有误"),
    ("/explore?start=2017-06-01&end=2017-01-01", 400, "ends before it starts"),
    ("/explore?" + "&".join(f"s=k:{i}" for i in range(400)), 400, "每页最多 20 个"),
    ("/rankings?dimension=everything", 400, "不在"),
    ("/rankings?top=ten", 400, "不是整数"),
    ("/region/99999", 404, "没有地区代码"),
    ("/download/..%2F..%2Fetc%2Fpasswd", 404, ""),
    ("/download/rankings.exe", 404, ""),
    ("/download/briefing/..%2Faicity.db.csv", 404, ""),
    ("/explore?lang=en&s=k:" + quote("不存在的词"), 400, "unknown keyword"),
    ("/nowhere", 404, "没有页面"),
])
def test_bad_input_is_one_line_and_a_4xx_never_a_500(server, path, status, said):
    got, body = _get(server, path)
    assert got == status, (path, body[:300])
    assert said in body and "Traceback" not in body


def test_a_huge_query_string_is_refused_not_parsed(server):
    try:        # uvicorn's HTTP parser turns it away before the application sees it
        got, body = _get(server, "/explore?s=" + "x" * 10_000_000)
        assert got in (400, 414, 431) and "Traceback" not in body
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        pass
    assert _get(server, "/status")[0] == 200          # and the server goes on answering
    got, body = _get(server, "/explore?s=" + "x" * 5000)
    assert got == 414 and "最多 4,096" in body


def test_the_api_answers_with_the_cli_json_columns(server, national_db):
    got, body = _get(server, f"/api/rankings?dimension=professional&period={PERIOD}")
    assert got == 200
    assert json.loads(body) == json.loads(cli_out(national_db, "rank", "--dimension",
                                                  "professional", "--period", PERIOD,
                                                  "--format", "json"))


def test_a_region_page_gives_each_dimension_its_rank_interval_as_the_cli_does(server,
                                                                             national_db):
    got, body = _get(server, f"/api/region/{_code('成都')}?period={PERIOD}")
    assert got == 200
    rows = {r["dimension"]: r for r in json.loads(body)}
    assert set(rows) == {"basic", "professional", "technical", "application", "industry",
                         "cognition"}
    printed = {r["region"]: r for r in json.loads(cli_out(
        national_db, "rank", "--dimension", "technical", "--period", PERIOD, "--uncertainty",
        "--format", "json"))}["成都市"]
    assert (rows["technical"]["rank"], rows["technical"]["rank_low"],
            rows["technical"]["rank_high"]) == (printed["rank"], printed["rank_low"],
                                                printed["rank_high"])


def test_the_explorer_reads_while_a_writer_holds_the_database(server, national_db):
    """Read-only (mode=ro) beside a nightly collect in WAL mode: neither blocks the other, and
    the explorer's connection cannot write."""
    writer = store.connect(national_db)
    try:
        with writer.atomic():
            writer.execute("UPDATE regions SET note = note WHERE code = 0")
            got, _ = _get(server, f"/rankings?dimension=basic&period={PERIOD}&top=3")
            assert got == 200
    finally:
        writer.close()
    reader = store.connect(national_db, readonly=True)
    try:
        with pytest.raises(Exception, match="readonly"):
            reader.execute("UPDATE regions SET note = 'x' WHERE code = 0")
    finally:
        reader.close()


def test_movers_answers_who_rose_most_sorted_by_the_change(server):
    got, body = _get(server, "/api/movers?dimension=application")
    assert got == 200
    rows = json.loads(body)
    changes = [r["change"] for r in rows if r["change"] is not None]
    assert changes and len(rows) == 20
    dense = [r["change"] for r in rows if r["coverage"] is not None and r["coverage"] >= 0.5]
    assert dense == sorted(dense, reverse=True)


def test_serve_warns_off_loopback_and_names_no_password(monkeypatch, national_db):
    calls = {}
    monkeypatch.setattr("aicity.explorer.serve.serve",
                        lambda db, **kw: calls.update(db=db, **kw))
    result = CliRunner().invoke(cli, ["--db", str(national_db), "serve", "--host", "0.0.0.0",
                                      "--port", "1"])
    assert result.exit_code == 0, result.output
    assert "unauthenticated" in result.stderr and calls["host"] == "0.0.0.0"
    result = CliRunner().invoke(cli, ["--db", "postgresql://u:secret@127.0.0.1:1/x", "serve"])
    assert result.exit_code != 0 and "secret" not in result.output
    assert "Traceback" not in result.output


def test_the_warm_up_answers_every_dimension_before_anyone_asks(national_db):
    from aicity.explorer.app import Explorer
    explorer = Explorer(national_db)
    explorer.warm()
    keys = [key[0] for key in explorer.cache]
    ranked = {k[1] for k in keys if isinstance(k, tuple) and k[0] == "rank"}
    assert ranked == {"basic", "professional", "technical", "application", "industry",
                      "cognition"}
    assert {"rankings", "map", "movers", "explore"} <= {k[0] for k in keys
                                                         if isinstance(k, tuple)}


def test_explore_opens_on_a_city_when_the_nation_has_no_data_yet(tmp_path):
    """A deployment that collected cities first: /explore defaulted to the nation and answered
    400 "no analysis results"; it opens on the first-ranked region instead."""
    from datetime import date, timedelta
    from starlette.datastructures import QueryParams
    from aicity.explorer.params import Query
    from aicity.explorer.views import explore
    from aicity.importer import import_csv
    from aicity.keywords.taxonomy import default_taxonomy
    from aicity.service.refit import analyze
    from tests.conftest import write_csv
    path = tmp_path / "cities.db"
    store.init_db(path, taxonomy=default_taxonomy())
    rows = [["人工智能", city, (date(2017, 1, 1) + timedelta(days=i)).isoformat(), value]
            for i in range(120) for city, value in (("成都", 500), ("杭州", 300))]
    db = store.connect(path)
    import_csv(db, write_csv(tmp_path / "c.csv", ["keyword", "region", "date", "value"], rows),
               source="import")
    db.close()
    analyze(path, workers=1)
    db = store.connect(path, readonly=True)
    try:
        view = explore(db, Query(QueryParams("")))
    finally:
        db.close()
    assert view.form["r"] == [str(_code("成都"))]
    assert view.table["value"].notna().all() and len(view.table) == 120
