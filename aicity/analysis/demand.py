"""Technology demand types (docs/definitions.md): which of speech, vision and deep learning drive a
city's application demand."""
from __future__ import annotations

import pandas as pd

from aicity.vocabulary import TECH_GROUPS as GROUPS

TYPE_BY_DRIVERS = {1: "single", 2: "dual", 3: "all"}
RULES = ("absolute", "relative")
DEFAULT_THRESHOLD = {"absolute": 0.25, "relative": 1.0}


def rule_text(rule: str = "absolute", threshold: float | None = None,
              lang: str = "en") -> str:
    """The driver rule in words, as every table, the report and docs/definitions.md say it."""
    t = DEFAULT_THRESHOLD[rule] if threshold is None else threshold
    if rule == "absolute":
        return (f"a technology drives a city's demand when it is at least {t:.0%} of the "
                f"city's demand for the three technologies (speech, vision, deep learning)"
                if lang == "en" else
                f"语音语义、计算机视觉、深度学习三者之中，某项占该城三项需求之和的{t:.0%}及以上者为驱动技术")
    return (f"a technology drives a city's demand when its share of the city's demand for the "
            f"three technologies is at least {t:g} times its national share"
            if lang == "en" else
            f"某项技术在该城三项需求中的占比达到其全国占比的{t:g}倍及以上者为驱动技术")


def demand_types(groups: pd.DataFrame, top: int = 15, threshold: float | None = None,
                 rule: str = "absolute") -> pd.DataFrame:
    """For the `top` regions by total demand for the three technologies: each technology's
    share of that total, the drivers (ids sorted and joined by '+'), and the type (single,
    dual, all).

    rule "absolute" (the default, 0.25): a technology drives when its share is at least
    `threshold`. Absolute shares also mirror how many keywords each group has, so rule
    "relative" (1.0) compares a city's share with the nation's (all regions of `groups`): a
    technology drives when its share is at least `threshold` times the national share.

    `groups` has one row per region and the columns speech, vision, deep_learning (generative
    demand is not one of the report's three). A share of exactly the threshold drives. Missing
    groups count as 0 for shares; regions with no data at all are left out. Ties at the cut-off
    keep every tied region.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, not {rule!r}")
    threshold = DEFAULT_THRESHOLD[rule] if threshold is None else threshold
    g = groups.reindex(columns=list(GROUPS)).astype(float)
    total = g.sum(axis=1, min_count=1)
    g, total = g[total.notna() & (total > 0)], total[total.notna() & (total > 0)]
    national = g.fillna(0.0).sum() / total.sum()
    ranks = total.rank(ascending=False, method="min")
    keep = ranks[ranks <= top].index
    shares = g.loc[keep].fillna(0.0).div(total[keep], axis=0)
    measure = shares if rule == "absolute" else shares / national.replace(0.0, float("nan"))
    # Round before comparing: shares computed as ratios may sit a hair under the threshold.
    drives = measure.round(12) >= threshold
    drivers = drives.apply(lambda row: "+".join(sorted(c for c in GROUPS if row[c])), axis=1)
    n = drives.sum(axis=1)
    out = pd.DataFrame({"total": total[keep], **{c: shares[c] for c in GROUPS},
                        "type": n.map(lambda k: TYPE_BY_DRIVERS.get(int(k), "none")),
                        "drivers": drivers, "rank": ranks[keep].astype(int)})
    out.attrs["rule"] = rule_text(rule, threshold)
    out.attrs["national"] = national.to_dict()
    return out.sort_values(["rank", "total"], ascending=[True, False])
