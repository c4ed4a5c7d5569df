"""The ids of DESIGN.md §2 and the calendar, defined once for every room.

Dimensions and their groups, their Chinese labels, Baidu's three series (devices) and the
Asia/Shanghai day that every date in the project means. The emulator keeps its own copy of the
device names: it is the other side of the protocol and shares no protocol code with the crawler.
"""
from __future__ import annotations

from datetime import timedelta, timezone

# Flat dimensions have no groups; grouped ones allow only these.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "basic": (),
    "professional": (),
    "technical": (),
    "application": ("speech", "vision", "deep_learning"),
    "industry": ("driving", "security", "healthcare", "retail", "finance", "manufacturing"),
}
COGNITION = ("basic", "professional", "technical")     # the three cognition tiers
TECH_GROUPS = DIMENSIONS["application"]                # technology application demand
INDUSTRIES = DIMENSIONS["industry"]
LABELS_ZH = {
    "basic": "基础认知", "professional": "专业认知", "technical": "技术认知",
    "application": "应用需求", "industry": "行业需求", "speech": "语音语义",
    "vision": "计算机视觉", "deep_learning": "深度学习", "driving": "智能驾驶", "security": "安防",
    "healthcare": "医疗", "retail": "零售", "finance": "金融", "manufacturing": "制造",
}

# Baidu's series: all = PC + mobile (wise). Their order is obs.device's code (0, 1, 2).
DEVICES = ("all", "pc", "wise")

# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
