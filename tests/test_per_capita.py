"""Per capita with the period's population, and no tiny place on top on little data (issue 35
§5)."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

from aicity.cli import cli
from aicity.db import store
from aicity.db.populations import period_year, province_by_year, with_period_population
from aicity.db.regions import default_registry
from aicity.importer import import_csv
from aicity.keywords.taxonomy import default_taxonomy
from aicity.service.refit import analyze
from tests.conftest import write_csv


def cli_run(path, *args):
    return CliRunner().invoke(cli, ["--db", str(path), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def flat_2017_db(tmp_path_factory):
    """2017: 广东 and 山东 at 1000 a day each; 成都 at 2000, 五指山 (112,000 residents) at 500."""
    tmp = tmp_path_factory.mktemp("per_capita")
    path = tmp / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    rows, day = [], date(2017, 1, 1)
    while day <= date(2017, 12, 31):
        for region, value in (("广东", 1000), ("山东", 1000), ("成都", 2000), ("五指山", 500)):
            rows.append(["人工智能", region, day.isoformat(), value])
        day += timedelta(days=1)
    db = store.connect(path)
    import_csv(db, write_csv(tmp / "flat.csv", ["keyword", "region", "date", "value"], rows),
               source="import")
    db.close()
    analyze(path, workers=1)
    return path


def test_a_period_takes_the_year_holding_most_of_its_days():
    assert period_year(date(2017, 1, 1), date(2017, 12, 31)) == 2017
    assert period_year(date(2025, 12, 6), date(2026, 12, 5)) == 2026
    assert period_year(date(2016, 7, 1), date(2017, 6, 30)) == 2016     # 184 days against 181
    assert period_year(date(2017, 7, 3), date(2018, 7, 1)) == 2018      # 182 each: the later


def test_provinces_take_the_yearbook_figure_of_the_period_and_cities_say_2020_stands():
    reg = default_registry()
    guangdong, shenzhen = reg.resolve("广东", level="province"), reg.resolve("深圳")
    heilongjiang = reg.resolve("黑龙江", level="province")
    got = {r.name: r for r in with_period_population([guangdong, shenzhen, heilongjiang],
                                                      date(2017, 1, 1), date(2017, 12, 31))}
    assert got["广东"].population == 111_690_000 and got["广东"].population_year == 2017
    assert got["黑龙江"].population_year == 2017        # the file calls it 黑龙
    assert got["深圳市"].population == shenzhen.population
    assert "used for 2017: no yearly figure" in got["深圳市"].population_source
    late = with_period_population([guangdong], date(2026, 1, 1), date(2026, 12, 31))[0]
    assert late.population_year == 2022 and "used for 2026" in late.population_source
    assert set(province_by_year()["广东"]) == set(range(2003, 2023))


def test_a_2017_per_capita_ranking_divides_by_2017_residents(flat_2017_db):
    result = cli_run(flat_2017_db, "rank", "--keyword", "人工智能", "--level", "province",
                     "--period", "2017", "--normalize", "per-capita", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["region"]: r["value"] for r in json.loads(result.stdout)}
    assert rows["广东"] == pytest.approx(1000 / 111.69, rel=0.01)     # 2020: 1000 / 126.01
    assert rows["山东"] == pytest.approx(1000 / 100.06, rel=0.01)
    assert "2017, yearbook year-end 2017" in result.stderr


def test_a_tiny_place_is_left_unranked_per_capita_and_the_floor_is_an_option(flat_2017_db):
    def ranks(*extra):
        result = cli_run(flat_2017_db, "rank", "--keyword", "人工智能", "--period", "2017",
                         "--normalize", "per-capita", "--format", "json", *extra)
        assert result.exit_code == 0, result.output
        return {r["region"]: r["rank"] for r in json.loads(result.stdout)}, result.stderr

    ranked, said = ranks()
    assert ranked["成都市"] == 1 and ranked["五指山市"] is None
    assert "under 300,000 residents left unranked" in said
    ranked, _ = ranks("--min-population", "0")
    assert ranked["五指山市"] == 1          # 500 a day over 112,269 residents
