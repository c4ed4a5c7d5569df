"""The emulator's simulated world: what every answer it serves is made of."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from aicity.emulator import build_state


@pytest.fixture(scope="module")
def world():
    return build_state(latest=date(2018, 1, 10), seed=7, rate_limit="0").world


def test_provinces_and_the_nation_are_exactly_the_sums_of_their_cities(world):
    start, end = date(2016, 11, 3), date(2017, 2, 28)
    for keyword in ("人工智能", "深度学习"):
        cities = {c.code: world.devices(keyword, c.code, start, end) for c in world.cities}
        for device in ("all", "pc", "wise"):
            national = world.devices(keyword, 0, start, end)[device]
            assert np.array_equal(national, sum(d[device] for d in cities.values()))
        sichuan = world.provinces["四川"]
        own = [c.code for c in world.cities if c.province == "四川"]
        assert len(own) > 10
        assert np.array_equal(world.devices(keyword, sichuan.code, start, end)["all"],
                              sum(cities[c]["all"] for c in own))


def test_a_day_is_the_same_whatever_range_asks_for_it_and_however_late_the_world_ends(world):
    chengdu = next(c.code for c in world.cities if c.name.startswith("成都"))
    year = world.devices("人工智能", chengdu, date(2017, 1, 1), date(2017, 12, 31))
    wider = world.devices("人工智能", chengdu, date(2016, 3, 5), date(2018, 1, 10))
    offset = (date(2017, 1, 1) - date(2016, 3, 5)).days
    later = build_state(latest=date(2021, 6, 1), seed=7, rate_limit="0").world
    for device in ("all", "pc", "wise"):
        assert np.array_equal(year[device], wider[device][offset:offset + 365])
        assert np.array_equal(year[device],
                              later.devices("人工智能", chengdu, date(2017, 1, 1),
                                            date(2017, 12, 31))[device])
    other_seed = build_state(latest=date(2018, 1, 10), seed=8, rate_limit="0").world
    assert not np.array_equal(year["all"], other_seed.devices(
        "人工智能", chengdu, date(2017, 1, 1), date(2017, 12, 31))["all"])


def test_day_to_day_noise_is_lognormal_with_its_spread_and_differs_between_cities(world):
    # a big city's values divided by what its share and the national profile give: the noise
    keyword, start, end = "人工智能", date(2016, 1, 1), date(2017, 12, 31)
    lo, hi = world._day_index(start), world._day_index(end)
    expected = world.profile(keyword)[lo:hi + 1]
    logs = {}
    for name in ("北京", "上海", "广州"):
        i, city = next((i, c) for i, c in enumerate(world.cities) if c.name.startswith(name))
        values = world.devices(keyword, city.code, start, end)["all"]
        factor = world.city_share[i] * world._group_affinity(keyword)[i] * 5.0
        logs[name] = np.log(values / (expected * factor))
        assert abs(logs[name].mean()) < 0.02
        assert 0.10 < logs[name].std() < 0.14           # lognormal(0, 0.12)
        assert abs(np.corrcoef(logs[name][:-1], logs[name][1:])[0, 1]) < 0.1
    assert abs(np.corrcoef(logs["北京"], logs["上海"])[0, 1]) < 0.1
    pc = world.devices(keyword, 0, start, end)
    assert (pc["pc"] <= pc["all"]).all() and (pc["wise"] >= 0).all()
