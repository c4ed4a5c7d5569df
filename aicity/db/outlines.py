"""Province outlines for the report's map (db/sources/china_provinces_ne.geojson, Natural Earth,
public domain; SOURCES.md says what was assembled and how), read and checked once."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PATH = Path(__file__).with_name("sources") / "china_provinces_ne.geojson"
KINDS = ("province", "sar", "claimed_area", "nine_dash_line")


class OutlineError(ValueError):
    """The outline file is not what the map expects (names the file and the feature)."""


@dataclass(frozen=True)
class Outline:
    name: str
    name_en: str
    kind: str                                   # one of KINDS
    parts: tuple[tuple[tuple[float, float], ...], ...]   # rings (areas) or lines (dashes)


@lru_cache(maxsize=1)
def outlines(path: Path = PATH) -> tuple[Outline, ...]:
    """Every feature: provinces, SARs and 台湾省, the claimed areas, the nine dashes."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise OutlineError(f"{path}: {err}") from None
    out = []
    for i, feature in enumerate(data.get("features", []), start=1):
        props, geometry = feature.get("properties") or {}, feature.get("geometry") or {}
        kind, kind_of = props.get("kind"), geometry.get("type")
        where = f"{path}: feature {i} ({props.get('name', '?')})"
        if kind not in KINDS:
            raise OutlineError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        coords = geometry.get("coordinates") or []
        if kind_of == "Polygon":
            parts = [coords[0]]                 # the outer ring: the map has no holes to show
        elif kind_of == "MultiPolygon":
            parts = [polygon[0] for polygon in coords]
        elif kind_of == "LineString":
            parts = [coords]
        else:
            raise OutlineError(f"{where}: geometry {kind_of!r} is not drawn")
        rings = tuple(tuple((float(x), float(y)) for x, y in part) for part in parts)
        if not all(70 <= x <= 136 and 0 <= y <= 55 for ring in rings for x, y in ring):
            raise OutlineError(f"{where}: a point lies outside 70-136E, 0-55N")
        out.append(Outline(props.get("name", ""), props.get("name_en", ""), kind, rings))
    if sum(o.kind == "province" for o in out) < 31:
        raise OutlineError(f"{path}: fewer than 31 provinces")
    return tuple(out)
