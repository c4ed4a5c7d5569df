"""Query classification throughput.

    python bench/classify.py              # 100,000 queries, 3 runs, prints the median

Queries are built from taxonomy terms wrapped in everyday words, plus queries that match nothing,
so both paths are timed. Target (issue 3): at least 20,000 queries/s after loading.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PREFIXES = ["", "什么是", "如何学习", "基于", "2017", "最新", "北京", "免费", "ＡＩ ", "好用的"]
SUFFIXES = ["", "教程", "公司排名", "的应用", "解决方案", "是什么", "招聘", "算法", " pdf", "價格"]
NOISE = ["今天天气怎么样", "火车票查询", "taiwan travel", "红烧肉的做法", "高考分数线"]


def make_queries(n: int, seed: int = 0) -> list[str]:
    from aicity.keywords.taxonomy import default_taxonomy
    rng = random.Random(seed)
    terms = default_taxonomy().unique_terms()
    out = []
    for i in range(n):
        if i % 5 == 4:
            out.append(rng.choice(NOISE) + str(rng.randint(0, 999)))
        else:
            out.append(rng.choice(PREFIXES) + rng.choice(terms) + rng.choice(SUFFIXES))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from aicity.keywords.classify import Classifier
    t0 = time.perf_counter()
    clf = Classifier()
    print(f"load: {time.perf_counter() - t0:.2f} s")
    queries = make_queries(args.queries)
    rates = []
    for i in range(args.runs):
        t0 = time.perf_counter()
        matched = sum(1 for q in queries if clf.classify(q))
        rate = len(queries) / (time.perf_counter() - t0)
        rates.append(rate)
        print(f"run {i + 1}: {rate:,.0f} queries/s ({matched:,} of {len(queries):,} matched)")
    print(f"median of {len(rates)}: {statistics.median(rates):,.0f} queries/s (target >= 20,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
