"""Turn Baidu Index JSON payloads into items. Pure functions: tested on saved payloads."""
from __future__ import annotations

from datetime import date, timedelta

from aicity.crawler import protocol as proto
from aicity.crawler.items import (RegionDistributionItem, SeriesItem, UnindexedKeywordItem,
                                  WordGraphItem)
from aicity.vocabulary import DEVICES


def expected_count(start: date, end: date, granularity: str) -> int:
    days = (end - start).days + 1
    return -(-days // 7) if granularity == "week" else days


def _granularity(entry: dict, block: dict, start: date, end: date, count: int) -> str:
    """The series' granularity: the block's declared `type` (where the real site puts it), else
    the entry's, else what the number of values says (Baidu answers long ranges weekly)."""
    declared = block.get("type") or entry.get("type")
    if declared:
        if declared not in ("day", "week"):
            raise proto.ProtocolError(f"unknown series type {declared!r}")
        return declared
    if count != expected_count(start, end, "day") and \
            count in _weekly_counts(start, end):
        return "week"
    return "day"


def _weekly_counts(start: date, end: date) -> set[int]:
    # Weekly anchoring is not confirmed (research note §9): a partial last week may or may not
    # be a value of its own.
    days = (end - start).days + 1
    return {days // 7, -(-days // 7)} - {0}


def _match(requested: tuple[str, ...], returned: list[str]) -> list[str]:
    """The requested keyword each answered name stands for.

    The real site lowercases Latin letters in the names it returns (`AI` comes back as `ai`),
    so answers are matched to requests by position, with the case-folded name as a check; if
    the order differs, by case-folded name alone.
    """
    if not requested:
        return returned
    if len(returned) != len(requested):
        raise proto.ProtocolError(f"{len(returned)} series answered for {len(requested)} "
                                  f"requested ({', '.join(requested)})")
    if all(r.casefold() == q.casefold() for r, q in zip(returned, requested)):
        return list(requested)
    by_fold = {q.casefold(): q for q in requested}
    matched = [by_fold.get(r.casefold()) for r in returned]
    if None in matched or len(set(matched)) != len(matched):
        raise proto.ProtocolError(f"answered series {', '.join(returned)} do not match the "
                                  f"request ({', '.join(requested)})")
    return matched


def series_items(payload: dict, ptbk: str, region: int, requested: tuple[str, str],
                 keywords: tuple[str, ...] = (), devices: tuple[str, ...] = DEVICES
                 ) -> list[SeriesItem]:
    """One SeriesItem per series in a SearchApi/index payload, decoded with its ptbk key.

    Only the `devices` to be kept are decoded, and always `all` (the confirmation of empty
    days reads it): decoding unwanted blocks was a fifth of parsing in a one-device backfill.

    `keywords` are the requested series in order; items carry those names, not the returned
    ones. Granularity and dates come from the response (`type`, `startDate`, `endDate`), never
    from what was asked: Baidu answers long ranges weekly.
    """
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("userIndexes"), list):
        raise proto.ProtocolError("SearchApi/index payload has no data.userIndexes list")
    entries = data["userIndexes"]
    names = _match(tuple(keywords), [proto.series_name(e.get("word") or []) for e in entries])
    items = []
    for keyword, entry in zip(names, entries):
        values, start, end, granularity = {}, None, None, None
        for device in DEVICES:
            if device != "all" and device not in devices:
                continue
            block = entry.get(device)
            if not isinstance(block, dict):
                continue
            try:
                s = date.fromisoformat(block["startDate"])
                e = date.fromisoformat(block["endDate"])
            except (KeyError, TypeError, ValueError):
                raise proto.ProtocolError(f"{keyword} {device}: no valid startDate/endDate") \
                    from None
            raw = proto.decode(block.get("data") or "", ptbk)
            count = len(raw.split(",")) if raw else 0
            g = _granularity(entry, block, s, e, count)
            wants = {expected_count(s, e, "day")} if g == "day" else _weekly_counts(s, e)
            try:
                decoded = proto.parse_values(raw, max(wants) if len(wants) == 1 else None)
            except proto.ProtocolError as err:
                raise proto.ProtocolError(f"{keyword} {device}: {err}") from None
            if decoded == [] and raw == "":
                decoded = [None] * max(wants)   # a blank answer: every value empty
            if len(decoded) not in wants:
                raise proto.ProtocolError(f"{keyword} {device}: {len(decoded)} values for "
                                          f"{s}..{e} ({g}), expected {sorted(wants)}")
            values[device] = decoded
            start, end, granularity = s, e, g
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


def region_items(payload: dict, area: int, asked: list[str] | None = None
                 ) -> list[RegionDistributionItem]:
    """The answer's entries, named by the keywords `asked` (by position, as for the index:
    the site lowercases Latin letters in `key`), else by their `key`."""
    data = payload.get("data")
    if not isinstance(data, dict):
        raise proto.ProtocolError("SearchApi/region payload has no data object")
    entries = data.get("region") or []
    names = _match(tuple(asked or ()), [str(e.get("key", "")) for e in entries])
    items = []
    for name, entry in zip(names, entries):
        a, _, b = str(entry.get("period", "")).partition("|")
        start = date(int(a[:4]), int(a[4:6]), int(a[6:8])).isoformat()
        end = date(int(b[:4]), int(b[4:6]), int(b[6:8])).isoformat()
        values = {int(k): _number(v) for k, v in
                  {**(entry.get("prov") or {}), **(entry.get("city") or {})}.items()}
        real = {**(entry.get("provReal") or entry.get("prov_real") or {}),
                **(entry.get("cityReal") or entry.get("city_real") or {})}
        # The *Real values are fractional on the real site: keep them as they come.
        shares = {int(k): (None if v in ("", None) else float(v)) for k, v in real.items()}
        items.append(RegionDistributionItem(keyword=name, area=area, start=start,
                                            end=end, values=values, shares=shares))
    return items


def _number(v) -> int | float | None:
    """A region value: None when empty, an int when whole, else the float as sent."""
    if v in ("", None):
        return None
    f = float(v)
    return int(f) if f.is_integer() else f


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
