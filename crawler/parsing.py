"""Turn Baidu Index JSON payloads into items. Pure functions: tested on saved payloads."""
from __future__ import annotations

from datetime import date, timedelta

from crawler import protocol as proto
from crawler.items import (RegionDistributionItem, SeriesItem, UnindexedKeywordItem,
                           WordGraphItem)

DEVICES = ("all", "pc", "wise")


def expected_count(start: date, end: date, granularity: str) -> int:
    days = (end - start).days + 1
    return -(-days // 7) if granularity == "week" else days


def series_items(payload: dict, ptbk: str, region: int, requested: tuple[str, str]
                 ) -> list[SeriesItem]:
    """One SeriesItem per series in a SearchApi/index payload, decoded with its ptbk key.

    Granularity and dates come from the response (`type`, `startDate`, `endDate`), never from
    what was asked: Baidu answers long ranges weekly.
    """
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("userIndexes"), list):
        raise proto.ProtocolError("SearchApi/index payload has no data.userIndexes list")
    items = []
    for entry in data["userIndexes"]:
        keyword = proto.series_name(entry.get("word") or [])
        granularity = entry.get("type") or "day"
        if granularity not in ("day", "week"):
            raise proto.ProtocolError(f"unknown series type {granularity!r} for {keyword}")
        values, start, end = {}, None, None
        for device in DEVICES:
            block = entry.get(device)
            if not isinstance(block, dict):
                continue
            s = date.fromisoformat(block["startDate"])
            e = date.fromisoformat(block["endDate"])
            want = expected_count(s, e, granularity)
            decoded = proto.parse_values(proto.decode(block.get("data") or "", ptbk), want)
            if len(decoded) != want:
                raise proto.ProtocolError(f"{keyword} {device}: {len(decoded)} values for "
                                          f"{s}..{e} ({granularity}), expected {want}")
            values[device] = decoded
            start, end = s, e
        if "all" not in values:
            raise proto.ProtocolError(f"{keyword}: no 'all' series in the response")
        items.append(SeriesItem(keyword=keyword, region=region, requested_start=requested[0],
                                requested_end=requested[1], granularity=granularity,
                                start=start.isoformat(), end=end.isoformat(), values=values))
    return items


def dated_values(item: SeriesItem, device: str) -> list[tuple[str, int | None]]:
    start = date.fromisoformat(item.start)
    step = 7 if item.granularity == "week" else 1
    return [((start + timedelta(days=step * i)).isoformat(), v)
            for i, v in enumerate(item.values[device])]


def unindexed_items(payload: dict) -> list[UnindexedKeywordItem]:
    """checkWordsExists lists only problem entries; an entry may be 'a+b' (a combination)."""
    data = payload.get("data") or {}
    out = []
    for entry in data.get("result") or []:
        word = entry.get("word") if isinstance(entry, dict) else None
        if word:
            out.append(UnindexedKeywordItem(keyword=word))
    return out


def region_items(payload: dict, area: int) -> list[RegionDistributionItem]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise proto.ProtocolError("SearchApi/region payload has no data object")
    items = []
    for entry in data.get("region") or []:
        a, _, b = str(entry.get("period", "")).partition("|")
        start = date(int(a[:4]), int(a[4:6]), int(a[6:8])).isoformat()
        end = date(int(b[:4]), int(b[4:6]), int(b[6:8])).isoformat()
        values = {int(k): (None if v in ("", None) else int(v))
                  for k, v in {**(entry.get("prov") or {}), **(entry.get("city") or {})}.items()}
        real = {**(entry.get("provReal") or entry.get("prov_real") or {}),
                **(entry.get("cityReal") or entry.get("city_real") or {})}
        shares = {int(k): (None if v in ("", None) else int(round(float(v))))
                  for k, v in real.items()}
        items.append(RegionDistributionItem(keyword=entry.get("key", ""), area=area, start=start,
                                            end=end, values=values, shares=shares))
    return items


def word_graph_items(payload: dict) -> list[WordGraphItem]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise proto.ProtocolError("WordGraph/multi payload has no data object")
    period = str(data.get("period", ""))
    return [WordGraphItem(keyword=e.get("keyword", ""), period=period,
                          words=[{"word": w.get("word"), "pv": w.get("pv"),
                                  "ratio": w.get("ratio"), "sim": w.get("sim")}
                                 for w in e.get("wordGraph") or []])
            for e in data.get("wordlist") or []]
