"""The ids of docs/definitions.md and the calendar, defined once for every room.

Dimensions and their groups, their Chinese labels, Baidu's three series (devices), and the
Asia/Shanghai day that every date in the project means, written YYYY-MM-DD. The emulator keeps
its own copy of the device names: it is the other side of the protocol and shares no protocol
code with the crawler.
"""
from __future__ import annotations

import re
from datetime import date, timedelta, timezone

# Flat dimensions have no groups; grouped ones allow only these.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "basic": (),
    "professional": (),
    "technical": (),
    "application": ("speech", "vision", "deep_learning", "generative"),
    "industry": ("driving", "security", "healthcare", "retail", "finance", "manufacturing"),
}
# Why an empty answer waits (the `unconfirmed` table's reason): the whole series came back
# blank, or only its last days did (not published yet).
BLANK_ANSWER = "blank answer"
EMPTY_AT_END = "empty at the end of the answer"
COGNITION = ("basic", "professional", "technical")     # the three cognition tiers
# Where the tier bands (analysis.rankings.DEFAULT_BANDS) come from, said wherever a tier is
# printed: the report names its first tier (the top 10); the cuts at 30 and 100 are ours.
BANDS_SOURCE = ("tiers: ranks 1-10, 11-30, 31-100, the rest; the first cut (top 10) is the "
                "report's, the cuts at 30 and 100 are ours")
# the combined cognition index, a `--dimension` of `rank` (docs/definitions.md)
COMBINED_COGNITION = "cognition"
COMBINED_NOTE = ("combined cognition: each of basic, professional and technical cognition over "
                 "its mean across the regions, then the mean of the three (1 = the regions' "
                 "mean on every layer)")
# Per-capita values of places with fewer residents are left out (empty, unranked): there a
# handful of searches above Baidu's floor moves the rate by more than the gaps between cities
# (on the demo 五指山市, 112,000 residents and 56% of its days above the floor, ranked 7th).
# Ours, not the report's; `rank --min-population` changes it.
PER_CAPITA_FLOOR = 300_000
# technology application demand: the report's three technologies (demand types are defined
# over them; `generative` is application demand of the 2026 vocabulary, outside the types)
TECH_GROUPS = ("speech", "vision", "deep_learning")
INDUSTRIES = DIMENSIONS["industry"]
LABELS_ZH = {
    "basic": "基础认知", "professional": "专业认知", "technical": "技术认知",
    "application": "应用需求", "industry": "行业需求", "speech": "语音语义",
    "vision": "计算机视觉", "deep_learning": "深度学习", "generative": "生成式AI",
    "driving": "智能驾驶", "security": "安防",
    "healthcare": "医疗", "retail": "零售", "finance": "金融", "manufacturing": "制造",
}

# Named keyword selections: every term; the report's 2017 vocabulary (terms not `added`
# since), which reproduces the 2017 method over any period; or every term but the ambiguous
# ones (the taxonomy's `ambiguous`: 豆包 is also a steamed bun, and Baidu counts those searches).
VOCABULARIES = ("all", "report-2017", "unambiguous")

# Baidu's series: all = PC + mobile (wise). Their order is obs.device's code (0, 1, 2).
DEVICES = ("all", "pc", "wise")

# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class DateError(ValueError):
    """A date that is not written YYYY-MM-DD or does not exist."""


def parse_day(text: str, what: str = "date") -> date:
    """A day written YYYY-MM-DD, the one form every date option takes.

    `date.fromisoformat` alone would also take 20170101 and 2017-W01-1, and a string compared
    with stored dates (2017/01/01) would silently select the wrong rows."""
    text = str(text).strip()
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if not m:
        raise DateError(f"{what} {text!r} is not a date (YYYY-MM-DD)")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as err:
        raise DateError(f"{what} {text!r} is not a real date ({err})") from None
