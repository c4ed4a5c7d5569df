"""The region registry: every Baidu Index area code with its geography.

The registry lives in ``db/regions.csv`` so a person can read and edit it; ``build_regions.py``
regenerates the derived columns from ``db/sources/``. Loading validates every row, and
``RegionRegistry.resolve`` turns what people type (成都, 成都市, 94, 黔南州) into one area code
or says clearly why it cannot.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

REGIONS_CSV = Path(__file__).with_name("regions.csv")

LEVELS = ("country", "province", "city")
SIDES = ("north", "south")

# Column order of regions.csv. The first ten are the `aicity regions` contract (docs/contract.md).
COLUMNS = (
    "code", "name", "level", "province", "lon", "lat", "qinling_huaihe", "yangtze",
    "cluster", "tier_2017", "adcode", "population", "legacy", "note", "name_en",
    "population_year", "population_source",
)
# registry files written before these were added still load
OPTIONAL_COLUMNS = ("name_en", "population_year", "population_source")

# Longest first so that 土家 wins over 土 when stripping ethnic names from autonomous prefectures.
_ETHNIC = sorted(
    "蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 "
    "傈僳 佤 畲 拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 "
    "毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 "
    "德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺".split(),
    key=len,
    reverse=True,
)
_AUTONOMOUS = re.compile(r"^(.+?)(?:(?:%s)族?)+自治(州|县)$" % "|".join(_ETHNIC))
_FORMAL_SUFFIXES = ("市", "州", "盟", "地区", "县", "林区")
_PROVINCE_FULL = {"内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区",
                  "宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区", "香港": "香港特别行政区",
                  "澳门": "澳门特别行政区"}


class RegionError(ValueError):
    """A region name or code that cannot be resolved, or a registry file that does not validate."""


@dataclass(frozen=True)
class Region:
    code: int
    name: str
    level: str
    province: str
    lon: float | None
    lat: float | None
    qinling_huaihe: str
    yangtze: str
    cluster: str
    tier_2017: str
    adcode: str
    population: int | None
    legacy: bool
    note: str
    name_en: str = ""
    population_year: int | None = None     # what `population` measures: see population_source
    population_source: str = ""

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(c for c in self.cluster.split(";") if c)

    def as_row(self) -> dict:
        return {c: getattr(self, c) for c in COLUMNS}


def short_names(name: str, level: str) -> set[str]:
    """The forms people commonly type for a region besides its full name."""
    forms = {name}
    if level == "province":
        forms.update(name + s for s in ("省", "市"))
        if name in _PROVINCE_FULL:
            forms.add(_PROVINCE_FULL[name])
        return forms
    for suffix in ("市", "地区", "林区", "盟", "县"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            forms.add(name[: -len(suffix)])
    m = _AUTONOMOUS.match(name)
    if m:
        forms.add(m.group(1))
        forms.add(m.group(1) + m.group(2))  # 黔南州, 海南州
    if name.endswith("自治州") and not m:
        forms.add(name[:2])
    return forms


class RegionRegistry:
    """All regions, indexed by code and by every accepted name form."""

    def __init__(self, regions: Iterable[Region]):
        self.regions: list[Region] = list(regions)
        self.by_code: dict[int, Region] = {r.code: r for r in self.regions}
        # 北京, 上海, 天津 and 重庆 are a province and a city with one adcode. The site lists no
        # cities under them and its UI asks them by province code (research note 2026 §1):
        # the city is asked as the province, and the answer stored under both.
        provinces = {r.name: r for r in self.regions if r.level == "province" and r.adcode}
        self.municipal_province: dict[int, int] = {
            r.code: provinces[r.province].code for r in self.regions
            if r.level == "city" and not r.legacy and r.province in provinces
            and provinces[r.province].adcode == r.adcode}
        self.municipal_city: dict[int, list[int]] = {}
        for city, province in self.municipal_province.items():
            self.municipal_city.setdefault(province, []).append(city)
        self._by_name: dict[str, list[Region]] = {}
        for r in self.regions:
            # the English name too, in any case: English briefings print it (Chengdu, Sichuan)
            english = {r.name_en.casefold()} if r.name_en else set()
            for form in short_names(r.name, r.level) | english:
                bucket = self._by_name.setdefault(form, [])
                if r not in bucket:
                    bucket.append(r)

    def __len__(self) -> int:
        return len(self.regions)

    def asked_as(self, code: int) -> int:
        """The area code the site is asked for a region's series (a municipality's province
        code for its city)."""
        return self.municipal_province.get(code, code)

    def stored_also_as(self, code: int) -> list[int]:
        """Regions an answer for `code` also stands for (a municipality's city)."""
        return self.municipal_city.get(code, [])

    def __iter__(self):
        return iter(self.regions)

    def filter(self, level: str | None = None, province: str | None = None,
               include_legacy: bool = False) -> list[Region]:
        out = self.regions
        if level:
            out = [r for r in out if r.level == level]
        if province:
            prov = self.resolve(province, level="province").name
            out = [r for r in out if r.province == prov and r.level != "country"]
        if not include_legacy:
            out = [r for r in out if not r.legacy]
        return out

    def resolve(self, text: str | int, level: str | None = None) -> Region:
        """One region for a code or name; RegionError says why not (unknown or ambiguous)."""
        from aicity import spelling
        try:
            key = spelling.clean(str(text), "region")     # ９７ is 97, ＣＨＥＮＧＤＵ is CHENGDU
        except spelling.SpellingError as err:
            raise RegionError(str(err)) from None
        if not key:
            raise RegionError("empty region name")
        if key.isdigit():
            region = self.by_code.get(int(key))
            if region is None:
                raise RegionError(f"unknown area code {key}")
            if level and region.level != level:
                raise RegionError(f"area code {key} is {region.name} ({region.level}), "
                                  f"not a {level}")
            return region
        candidates = (self._by_name.get(key) or self._by_name.get(key.casefold())
                      or self._by_name.get(spelling.simplified(key), []))   # 廣州 is 广州
        if level:
            candidates = [r for r in candidates if r.level == level]
        exact = [r for r in candidates if r.name == key and not r.legacy]
        if len(exact) == 1 and key.endswith(_FORMAL_SUFFIXES):
            # 重庆市 is the city's own formal name and only a short form of the province 重庆;
            # a bare 北京 or 吉林 stays ambiguous, since city data usually says 北京 for the city.
            return exact[0]
        current = [r for r in candidates if not r.legacy]
        if len(current) == 1:
            return current[0]
        own = self._own_province_city(current)
        if own is not None:
            return own
        if not candidates:
            hint = f" at level {level}" if level else ""
            raise RegionError(f"unknown region {key!r}{hint}{self.suggest(key, level)}")
        if not current:
            return candidates[0]
        options = ", ".join(f"{r.code} {r.name} ({r.level}, {r.province})" for r in current)
        raise RegionError(f"region {key!r} is ambiguous: {options}; give the area code or a level")

    def _own_province_city(self, candidates: list[Region]) -> Region | None:
        """香港 and 澳门 are each a province with one city of the same name: the name, as
        `regions --level city` prints it, is the city (the province by its code or a level)."""
        if len(candidates) != 2:
            return None
        province = next((r for r in candidates if r.level == "province"), None)
        city = next((r for r in candidates if r.level == "city"), None)
        if province is None or city is None or city.name != province.name \
                or city.province != province.name:
            return None
        cities = [r for r in self.regions if r.level == "city" and not r.legacy
                  and r.province == province.name]
        return city if cities == [city] else None

    def cluster_names(self) -> dict[str, str]:
        """Every city cluster a region belongs to, by each name it answers to (the Chinese
        name and, in any case, the English one) -> the Chinese name."""
        names = {c: c for r in self.regions for c in r.clusters}
        english = cluster_names_en()
        names.update({english[c].casefold(): c for c in list(names) if c in english})
        return names

    def cluster(self, text: str) -> str | None:
        """The Chinese name of the city cluster `text` names (长三角, Yangtze River Delta),
        or None when it names none."""
        names = self.cluster_names()
        key = str(text).strip()
        return names.get(key) or names.get(key.casefold())

    def area(self, text: str) -> tuple[str, list[Region]]:
        """(name, cities) for a city cluster (长三角, Yangtze River Delta), a province (its
        cities) or one city; the country is every city. RegionError says why not."""
        key = str(text).strip()
        cluster = self.cluster(key)
        if cluster:
            return cluster, [r for r in self.regions if cluster in r.clusters and not r.legacy
                             and r.level == "city"]
        region = self.resolve(key)
        if region.level == "city":
            return region.name, [region]
        cities = [r for r in self.regions if r.level == "city" and not r.legacy
                  and (region.level == "country" or r.province == region.name)]
        return region.name, cities

    def suggest(self, text: str, level: str | None = None) -> str:
        """'; did you mean …?' with the closest names, or '' (a typo in a city name is common)."""
        import difflib
        names = sorted({r.name for r in self if not r.legacy and (not level or r.level == level)})
        short = text.removesuffix("市").removesuffix("省")

        def score(name: str) -> float:   # 成督 is one character from 成都市's short form 成都
            bare = name.removesuffix("市").removesuffix("省")
            return max(difflib.SequenceMatcher(None, text, name).ratio(),
                       difflib.SequenceMatcher(None, short, bare).ratio())

        scored = sorted(((score(n), n) for n in names), key=lambda x: -x[0])
        close = [n for sc, n in scored[:3] if sc >= 0.5]
        return f"; did you mean {' or '.join(close)}?" if close else ""

    def resolver(self, level: str | None = None):
        """A cached resolve for bulk use (imports map the same few names millions of times)."""
        cache: dict[str, Region | RegionError] = {}

        def _resolve(text: str) -> Region:
            hit = cache.get(text)
            if hit is None:
                try:
                    hit = self.resolve(text, level)
                except RegionError as err:
                    hit = err
                cache[text] = hit
            if isinstance(hit, RegionError):
                raise hit
            return hit

        return _resolve


def _opt_float(value: str) -> float | None:
    return float(value) if value.strip() else None


def _opt_int(value: str) -> int | None:
    return int(float(value)) if value.strip() else None


def read_registry(path: Path | str = REGIONS_CSV) -> RegionRegistry:
    """Load and validate a regions CSV; RegionError names the file and line of the first problem."""
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])
                   and c not in OPTIONAL_COLUMNS]
        if missing:
            raise RegionError(f"{path}:1: missing columns: {', '.join(missing)}")
        rows = list(enumerate(reader, start=2))
    regions: list[Region] = []
    seen: dict[int, int] = {}
    provinces = {r["name"] for _, r in rows if r["level"] == "province"}
    for line, row in rows:
        where = f"{path}:{line}"
        try:
            code = int(row["code"])
        except ValueError:
            raise RegionError(f"{where}: area code {row['code']!r} is not a whole number") from None
        if code in seen:
            raise RegionError(f"{where}: duplicate area code {code} (first at line {seen[code]})")
        seen[code] = line
        level = row["level"]
        if level not in LEVELS:
            raise RegionError(f"{where}: unknown level {level!r} "
                              f"(expected one of {', '.join(LEVELS)})")
        if level != "country" and row["province"] not in provinces:
            raise RegionError(f"{where}: unknown province {row['province']!r} for {row['name']}")
        try:
            lon, lat = _opt_float(row["lon"]), _opt_float(row["lat"])
            population = _opt_int(row["population"])
            population_year = _opt_int(row.get("population_year") or "")
        except ValueError as err:
            raise RegionError(f"{where}: {err}") from None
        population_source = (row.get("population_source") or "").strip()
        if population is not None and "population_year" in row and not (
                population_year and population_source):
            # a per-capita figure must be able to say what it divides by
            lacking = "population_source" if population_year else "population_year"
            raise RegionError(f"{where}: population of {row['name']} has no {lacking}")
        if level == "city" and (lon is None or lat is None):
            raise RegionError(f"{where}: city {row['name']} ({code}) has no coordinates")
        if lon is not None and not (70 <= lon <= 140 and 0 <= (lat or 0) <= 60):
            raise RegionError(f"{where}: coordinates {lon},{lat} of {row['name']} are "
                              f"outside China")
        for side_col in ("qinling_huaihe", "yangtze"):
            if level != "country" and row[side_col] not in SIDES:
                raise RegionError(f"{where}: {side_col} of {row['name']} is {row[side_col]!r}, "
                                  f"expected north or south")
        regions.append(Region(
            code=code, name=row["name"], level=level, province=row["province"], lon=lon, lat=lat,
            qinling_huaihe=row["qinling_huaihe"], yangtze=row["yangtze"], cluster=row["cluster"],
            tier_2017=row["tier_2017"], adcode=row["adcode"], population=population,
            legacy=row["legacy"].strip() in ("1", "true", "yes"), note=row["note"],
            name_en=(row.get("name_en") or "").strip(), population_year=population_year,
            population_source=population_source,
        ))
    if not regions:
        raise RegionError(f"{path}: no regions")
    return RegionRegistry(regions)


def cluster_names_en() -> dict[str, str]:
    """English names of the city clusters (db/reference/names_en.csv)."""
    path = Path(__file__).with_name("reference") / "names_en.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {r["name"]: r["name_en"] for r in csv.DictReader(fh) if r["level"] == "cluster"}


_default: RegionRegistry | None = None


def default_registry() -> RegionRegistry:
    """The packaged registry, loaded once per process."""
    global _default
    if _default is None:
        _default = read_registry(REGIONS_CSV)
    return _default
