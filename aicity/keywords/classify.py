"""Classify free-text search queries against the taxonomy, with jieba segmentation.

Text is normalised first (full-width to half-width, traditional to simplified, lower case, no
spaces). Chinese terms and aliases match wherever they stand in the query: jieba's best cut of
人工智能安防 is 人工|智能安防, yet the query mentions both 人工智能 and 智能安防, so matching whole
tokens only would lose one. Latin terms must stand on their own ("ai" is not in "taiwan").

jieba carries every Chinese taxonomy term in its user dictionary, so `segment` keeps 深度学习 or
人脸识别 whole; suggestions use it to cut related words. Latin terms stay out of jieba's dictionary
because jieba would otherwise split Latin words around them (t|ai|wan).
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

from typing import TYPE_CHECKING

from aicity import spelling
from aicity.keywords.taxonomy import Taxonomy, default_taxonomy

if TYPE_CHECKING:
    import pandas as pd

_SPACES = re.compile(r"\s+")
# A space survives only between two Latin letters or digits ("alphago zero"); between Chinese
# characters it is noise ("人 脸 识 别").
_NOISE_SPACE = re.compile(r" (?![0-9a-z])|(?<![0-9a-z]) ")
_LATIN = re.compile(r"^[0-9a-z.+#\-_ ]+$")
# jieba's own word frequencies top out near 10^6; ours must beat any split of a taxonomy term.
_USER_FREQ = 10 ** 7


@dataclass(frozen=True)
class Match:
    category: str
    group: str
    term: str

    def as_dict(self) -> dict:
        return {"category": self.category, "group": self.group, "term": self.term}


def normalise(text: str) -> str:
    """The name's one spelling (aicity.spelling.key: full-width to half-width, traditional to
    simplified, case folded; invisible characters refused), spaces only between Latin words."""
    return _NOISE_SPACE.sub("", _SPACES.sub(" ", spelling.key(text)).strip())


class Classifier:
    """Holds a jieba tokenizer loaded with the taxonomy; `classify` is safe to call often."""

    def __init__(self, taxonomy: Taxonomy | None = None):
        self.taxonomy = taxonomy or default_taxonomy()
        self._tokenizer = None
        # normalised surface form -> the matches it stands for
        self.forms: dict[str, list[Match]] = {}
        for t in self.taxonomy.terms:
            match = Match(t.category, t.group, t.term)
            for surface in (t.term, *t.aliases):
                form = normalise(surface)
                bucket = self.forms.setdefault(form, [])
                if match not in bucket:
                    bucket.append(match)
        latin = sorted((f for f in self.forms if _LATIN.match(f)), key=len, reverse=True)
        self._cjk_forms = [f for f in self.forms if not _LATIN.match(f)]
        self._latin = re.compile(r"(?<![0-9a-z])(?:%s)(?![0-9a-z])"
                                 % "|".join(map(re.escape, latin))) if latin else None

    @property
    def tokenizer(self):
        """jieba with the taxonomy's Chinese terms, loaded on first use: classify matches
        forms by themselves, and jieba's dictionary alone takes half a second to load."""
        if self._tokenizer is None:
            import jieba
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for form in self._cjk_forms:
                tokenizer.add_word(form, freq=_USER_FREQ)
            self._tokenizer = tokenizer
        return self._tokenizer

    def segment(self, text: str) -> list[str]:
        """The normalised query cut into tokens (Chinese taxonomy terms stay whole)."""
        return [tok for tok in self.tokenizer.cut(normalise(text), HMM=False) if tok.strip()]

    def classify(self, text: str) -> list[Match]:
        """Every (category, group, term) the query mentions, in order of first mention."""
        norm = normalise(text)
        found: list[tuple[int, str]] = []
        for form in self._cjk_forms:
            at = norm.find(form)
            if at >= 0:
                found.append((at, form))
        if self._latin is not None:
            found.extend((m.start(), m.group()) for m in self._latin.finditer(norm))
        out: list[Match] = []
        for _, form in sorted(found):
            for m in self.forms[form]:
                if m not in out:
                    out.append(m)
        return out


_default: Classifier | None = None


def default_classifier() -> Classifier:
    global _default
    if _default is None:
        _default = Classifier()
    return _default


def classify(text: str) -> list[Match]:
    """Classify one query against the packaged taxonomy."""
    return default_classifier().classify(text)


def suggest_terms(related: pd.DataFrame, classifier: Classifier | None = None,
                  min_sim: float = 0.0, limit: int | None = None) -> pd.DataFrame:
    """Rank words from Baidu's demand graph (需求图谱) as candidate new taxonomy terms.

    `related` has columns keyword (the taxonomy term it was fetched for), word, pv, ratio, sim.
    A candidate takes its group from the terms it mentions when it mentions any, else from the
    keywords it was seen next to. Words already in the taxonomy (as terms or aliases) are left
    out. The score favours words related to several seed terms, with high relevance and volume:
    sum over sightings of sim × log10(1 + pv). Nothing is added to the taxonomy: a person reads
    the list and edits the file.
    """
    classifier = classifier or default_classifier()
    tax = classifier.taxonomy
    known = set(classifier.forms)
    seed_groups = {t.term: (t.category, t.group) for t in tax.terms}
    rows = []
    for word, sightings in related.groupby("word", sort=False):
        norm = normalise(str(word))
        if not norm or norm in known:
            continue
        sightings = sightings[sightings["sim"].astype(float) >= min_sim]
        if sightings.empty:
            continue
        mentions = classifier.classify(str(word))
        if mentions:
            groups = list(dict.fromkeys((m.category, m.group) for m in mentions))
            basis = "mentions " + "、".join(dict.fromkeys(m.term for m in mentions))
        else:
            groups = list(dict.fromkeys(seed_groups[k] for k in sightings["keyword"]
                                        if k in seed_groups))
            basis = "related to " + "、".join(dict.fromkeys(sightings["keyword"]))
        if not groups:
            continue
        score = float(sum(float(s) * math.log10(1 + float(p))
                          for s, p in zip(sightings["sim"], sightings["pv"])))
        for category, group in groups:
            rows.append({"word": word, "category": category, "group": group,
                         "score": round(score, 3), "seeds": len(set(sightings["keyword"])),
                         "pv": int(sightings["pv"].astype(float).max()),
                         "sim": round(float(sightings["sim"].astype(float).max()), 3),
                         "ratio": round(float(sightings["ratio"].astype(float).mean()), 3),
                         "evidence": basis})
    import pandas as pd
    out = pd.DataFrame(rows, columns=["word", "category", "group", "score", "seeds", "pv", "sim",
                                      "ratio", "evidence"])
    out = out.sort_values(["category", "group", "score", "word"],
                          ascending=[True, True, False, True]).reset_index(drop=True)
    if limit:
        out = out.groupby(["category", "group"], sort=False).head(limit).reset_index(drop=True)
    return out
