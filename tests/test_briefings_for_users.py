"""What a new user expects of briefings and answers: one language a file, percentages, region
names in English, clusters and levels, Chinese group names, fresh levels, anomalies by area."""
from __future__ import annotations

import json


from aicity.db import store

from tests.conftest import first_difference, import_days, invoke




def test_the_english_briefing_has_no_chinese_yes(national_db, tmp_path):
    from aicity.service.export import export_briefings
    result = export_briefings(national_db, tmp_path / "b", period="2017", lang="en")
    text = "".join(p.read_text(encoding="utf-8-sig") for p in result.files)
    assert "是" not in text


# --- what a new user expects --------------------------------------------------------------------

def test_the_chinese_briefing_has_no_english_codes_and_gives_percentages(national_db, tmp_path):
    import pandas as pd

    from aicity.service.export import export_briefings
    result = export_briefings(national_db, tmp_path / "zh", period="2017", lang="zh")
    frame = pd.read_csv(result.files[0], encoding="utf-8-sig", dtype=str).fillna("")
    codes = {"north", "south", "single", "dual", "all", "speech", "vision", "deep_learning",
             "finance", "retail", "driving", "security", "healthcare", "manufacturing"}
    cells = {part for col in frame.columns if col not in ("城市", "省份", "城市群")
             for v in frame[col] for part in v.split("+")}
    assert not cells & codes
    assert set(frame["秦岭淮河南北"]) <= {"北", "南"}
    assert "基础认知同比变化(%)" in frame.columns and "语音语义占比(%)" in frame.columns
    share = frame["语音语义占比(%)"].replace("", float("nan")).astype(float)
    assert share.max() > 1          # percent, not a fraction
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["data_through"] == "2017-12-31" and "share_pct" in manifest["units"]


def test_a_typo_in_a_region_suggests_the_closest(national_db):
    result = invoke(national_db, "series", "--keyword", "人工智能", "--region", "成督")
    assert result.exit_code == 1 and "did you mean 成都市?" in result.output


def test_export_takes_a_city_cluster_and_a_level(national_db, tmp_path):
    result = invoke(national_db, "export", "briefing", "--period", "2017", "--region", "长三角",
                  "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "c").glob("*.csv")] == ["briefing_城市群_长三角.csv"]
    # the fixture has cities and the nation, no province
    result = invoke(national_db, "export", "briefing", "--period", "2017", "--level", "province",
                  "--out", str(tmp_path / "p"))
    assert result.exit_code == 1 and "at province level" in result.output


def test_groups_answer_to_their_chinese_names(national_db):
    a = invoke(national_db, "rank", "--dimension", "industry", "--group", "金融", "--period",
             "2017", "--format", "csv")
    b = invoke(national_db, "rank", "--dimension", "industry", "--group", "finance", "--period",
             "2017", "--format", "csv")
    assert a.exit_code == 0 and len(a.stdout.splitlines()) > 10
    assert not (diff := first_difference(a.stdout, b.stdout)), diff
    bad = invoke(national_db, "rank", "--dimension", "industry", "--group", "金", "--period",
                 "2017")
    assert bad.exit_code == 1 and "finance (金融)" in bad.output


def test_status_says_how_fresh_each_level_is(db_path, tmp_path):
    import_days(db_path, tmp_path, "a.csv", "成都", "2017-01-01", 60)
    result = invoke(db_path, "status", "--format", "json", "--check")
    assert result.exit_code == 0, result.output
    items = {r["item"]: r["value"] for r in json.loads(result.stdout)}
    assert items["city data through"].startswith("2017-03-01 (1 of ")
    assert items["country data through"].startswith("no data")
    assert items["last nightly job"] == "never" and items["integrity"] == "ok"


def test_anomalies_by_region_and_date_and_the_named_views(national_db):
    import io

    import pandas as pd
    result = invoke(national_db, "anomalies", "--region", "成都", "--start", "2017-06-01",
                  "--top", "0", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) > 0 and set(frame["region"]) == {"成都市"}
    assert frame["date"].min() >= "2017-06-01"
    assert list(frame["date"]) == sorted(frame["date"], reverse=True)
    db = store.connect(national_db)
    named = db.execute("SELECT count(*) FROM anomalies_named WHERE region = '成都市' AND "
                       "date >= '2017-06-01'").fetchone()[0]
    kinds = {r[0] for r in db.execute("SELECT DISTINCT kind FROM components_named")}
    db.close()
    assert named == len(frame) and kinds == {"keyword", "dimension", "group"}


def test_the_english_briefing_names_places_in_english(national_db, tmp_path):
    import pandas as pd

    from aicity.service.export import export_briefings
    result = export_briefings(national_db, tmp_path / "en", period="2017", lang="en",
                              region="成渝")
    frame = pd.read_csv(result.files[0], encoding="utf-8-sig", dtype=str).fillna("")
    assert {"Chengdu", "Chongqing"} <= set(frame["region"])
    assert "Sichuan" in set(frame["province"])
    assert all("Chengdu-Chongqing" in c for c in frame["cluster"])
    text = "".join(frame[c].str.cat() for c in ("region", "province", "cluster", "tier_2017"))
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text)
