"""Turn Baidu Index JSON payloads into items. Pure functions: tested on saved payloads."""
from __future__ import annotations

import functools
from datetime import date, timedelta

from aicity.crawler import protocol as proto
from aicity.crawler.items import (RegionDistributionItem, SeriesItem, UnindexedKeywordItem,
                                  WordGraphItem)
from aicity.vocabulary import DEVICES


def week_starts(start: date, end: date) -> list[date]:
    """The Monday of every calendar week (Monday to Sunday) holding a day of start..end.

    The site answers long ranges in calendar weeks with a partial week at each end (research
    note 2026 §1, 4,198 of 4,198 weeks of public data): a weekly value stands for its week's
    days inside the range, and is dated here by its week's Monday.
    """
    first = start - timedelta(days=start.weekday())
    return [first + timedelta(days=7 * i) for i in range((end - first).days // 7 + 1)]


def expected_count(start: date, end: date, granularity: str) -> int:
    return len(week_starts(start, end)) if granularity == "week" else (end - start).days + 1


def _granularity(entry: dict, block: dict, start: date, end: date, count: int) -> str:
    """The series' granularity: the entry's declared `type` (where the real site puts it), else
    the block's, else what the number of values says (Baidu answers long ranges weekly)."""
    declared = entry.get("type") or block.get("type")
    if declared:
        if declared not in ("day", "week"):
            raise proto.ProtocolError(f"unknown series type {declared!r}")
        return declared
    if count != expected_count(start, end, "day") and \
            count == expected_count(start, end, "week"):
        return "week"
    return "day"


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


def decoded_devices(devices: tuple[str, ...]) -> tuple[str, ...]:
    """The blocks of a series that are decoded: the kept devices, and always `all`."""
    return tuple(d for d in DEVICES if d == "all" or d in devices)


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
        for device in decoded_devices(devices):
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
            wants = expected_count(s, e, g)
            try:
                decoded = proto.parse_values(raw, wants)
            except proto.ProtocolError as err:
                raise proto.ProtocolError(f"{keyword} {device}: {err}") from None
            if decoded == [] and raw == "":
                decoded = [None] * wants   # a blank answer: every value empty
            if len(decoded) != wants:
                raise proto.ProtocolError(f"{keyword} {device}: {len(decoded)} values for "
                                          f"{s}..{e} ({g}), expected {wants}")
            values[device] = decoded
            start, end, granularity = s, e, g
        if "all" not in values:
            raise proto.ProtocolError(f"{keyword}: no 'all' series in the response")
        items.append(SeriesItem(keyword=keyword, region=region, requested_start=requested[0],
                                requested_end=requested[1], granularity=granularity,
                                start=start.isoformat(), end=end.isoformat(), values=values))
    return items


def numberless_items(payload: dict, region: int, requested: tuple[str, str],
                     keywords: tuple[str, ...] = (), devices: tuple[str, ...] = DEVICES
                     ) -> list[SeriesItem] | None:
    """series_items of an answer that holds no number at all, decoded without its ptbk key;
    None when it may hold one (then the key is needed).

    A city below Baidu's reporting floor answers every day empty: its `data` is the day count
    less one enciphered commas, one character repeated, and a number would need digits beside
    them. So when the decoded blocks of every series share at most one character, that
    character can only be the comma. The decoding is checked as the key's is: each block's
    count of values against its dates (a one-day block of one repeated digit fails it and
    asks for the key), then generalRatio's average in the spider.
    """
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("userIndexes"), list):
        return None
    seen: set[str] = set()
    for entry in data["userIndexes"]:
        # the blocks series_items decodes, and only those: a character the scan missed would
        # be left undeciphered by the stand-in key
        for device in decoded_devices(devices):
            block = entry.get(device) if isinstance(entry, dict) else None
            text = block.get("data") if isinstance(block, dict) else None
            if isinstance(text, str):
                seen.update(text)
            if len(seen) > 1:
                return None
    # the one character read as the comma ("," itself when every block is empty)
    stand_in = (seen.pop() if seen else ",") + ","
    try:
        return series_items(payload, stand_in, region, requested, keywords, devices)
    except proto.ProtocolError:
        return None


def value_grid(item: SeriesItem) -> tuple[date, int]:
    """The day the first value stands for and the days between two values (value i is
    first + i * step): value_dates without a date object a value."""
    start = date.fromisoformat(item.start)
    if item.granularity == "week":
        return start - timedelta(days=start.weekday()), 7
    return start, 1


@functools.lru_cache(maxsize=64)
def iso_grid(first: date, step: int, n: int) -> tuple[str, ...]:
    """The ISO dates of n values from `first`, `step` days apart: every series of a night (or
    a backfill) shares one grid, built once instead of once a series."""
    return tuple((first + timedelta(days=step * i)).isoformat() for i in range(n))


def value_dates(item: SeriesItem) -> list[date]:
    """The day each value stands for: every day of the range, or each calendar week's Monday
    (the first may fall before the range's start); value_grid's rule, spelled out."""
    first, step = value_grid(item)
    n = expected_count(date.fromisoformat(item.start), date.fromisoformat(item.end),
                       item.granularity)
    return [first + timedelta(days=step * i) for i in range(n)]


def average_matches(values: list[int | None], avg) -> bool:
    """Whether decoded values agree with the answer's own `generalRatio` average.

    How the site rounds, and whether its mean counts an empty day as 0 or skips it, is not
    known (research note 2026 §5): either mean, truncated or rounded, passes."""
    numbers = [v for v in values if v is not None]
    if not numbers:
        return avg in (0, None)
    for mean in (sum(numbers) / len(numbers), sum(numbers) / len(values)):
        if abs(mean - avg) < 1.0 + 1e-9:
            return True
    return False


def checksum_problems(payload: dict, items: list[SeriesItem]) -> dict[str, str]:
    """Keywords whose decoded `all` series the answer itself contradicts, with why.

    Each series carries `generalRatio[i].all.avg`; a ptbk that does not belong to the answer
    (a stale uniqid, a proxy's cache, a key bound to another keyword) decodes to plausible,
    wrong numbers, and only this average shows it. Two keywords with the same non-empty series
    are flagged too: that is what a combined series or a mixed-up key looks like."""
    ratios = (payload.get("data") or {}).get("generalRatio")
    problems: dict[str, str] = {}
    for i, item in enumerate(items):
        ratio = ratios[i] if isinstance(ratios, list) and i < len(ratios) else None
        block = ratio.get("all") if isinstance(ratio, dict) else None
        avg = block.get("avg") if isinstance(block, dict) else None
        if not isinstance(avg, (int, float)) or isinstance(avg, bool):
            continue        # the site sometimes sends 0 for the whole entry: nothing to check
        if not average_matches(item.values["all"], avg):
            numbers = [v for v in item.values["all"] if v is not None]
            mean = sum(numbers) / len(numbers) if numbers else 0
            problems[item.keyword] = f"decoded mean {mean:.1f} but the answer says {avg}"
    seen: dict[tuple, str] = {}
    for item in items:
        values = tuple(item.values["all"])
        # a constant series (a place with no searches) is the same for every keyword
        if len({v for v in values if v is not None}) > 1:
            twin = seen.setdefault(values, item.keyword)
            if twin != item.keyword:
                problems.setdefault(twin, f"the same series as {item.keyword}")
                problems.setdefault(item.keyword, f"the same series as {twin}")
    return problems


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
