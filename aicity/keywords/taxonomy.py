"""Load and validate the keyword taxonomy (keywords/taxonomy.toml).

Every problem is reported as ``file:line: reason`` so a person editing the file can find it.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aicity import vocabulary

if TYPE_CHECKING:
    import pandas as pd

TAXONOMY_TOML = Path(__file__).with_name("taxonomy.toml")

# The ids of docs/definitions.md (re-exported here: taxonomy files are checked against them).
DIMENSIONS = vocabulary.DIMENSIONS
LABELS_ZH = vocabulary.LABELS_ZH
_TERM_KEYS = {"term", "aliases", "note", "since", "added", "ambiguous"}
_GROUP_KEYS = {"label", "terms"}


class TaxonomyError(ValueError):
    """A taxonomy file that does not validate; the message is `file:line: reason`."""


@dataclass(frozen=True)
class Term:
    term: str
    category: str
    group: str = ""
    aliases: tuple[str, ...] = ()
    note: str = ""
    line: int = 0
    since: date | None = None     # the day the term came into being (nothing before)
    added: str = ""               # the revision that brought it in ('' = the report's 2017)
    # what else people mean by the term ('' = nothing known): its series carries those
    # searches too, and `--vocabulary unambiguous` leaves it out
    ambiguous: str = ""


@dataclass
class Taxonomy:
    terms: list[Term]
    path: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def select(self, category: str | None = None, group: str | None = None) -> list[Term]:
        return [t for t in self.terms
                if (category is None or t.category == category)
                and (group is None or t.group == group)]

    def groups(self, category: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.group for t in self.terms if t.category == category))

    def first_dates(self) -> dict[str, date]:
        """term -> the day it came into being, for the terms that have one."""
        return {t.term: t.since for t in self.terms if t.since}

    def unique_terms(self) -> list[str]:
        return list(dict.fromkeys(t.term for t in self.terms))

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd
        return pd.DataFrame(
            [{"term": t.term, "category": t.category, "group": t.group,
              "aliases": "|".join(t.aliases), "note": t.note, "ambiguous": t.ambiguous}
             for t in self.terms],
            columns=["term", "category", "group", "aliases", "note", "ambiguous"])


class _Lines:
    """Find the line where a table header or a term string stands, for error messages."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def header(self, dotted: str) -> int:
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, dotted.split(".")))
                             + r"\s*\]")
        for i, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return i
        return 1

    def string(self, value: str, after: int, nth: int = 1) -> int:
        needle_dq, needle_sq = f'"{value}"', f"'{value}'"
        seen = 0
        for i, line in enumerate(self.lines[after - 1:], after):
            code = line.split("#", 1)[0]
            if needle_dq in code or needle_sq in code:
                seen += 1
                if seen == nth:
                    return i
        return after


def load_taxonomy(path: str | Path = TAXONOMY_TOML) -> Taxonomy:
    """Parse and validate a taxonomy file; raises TaxonomyError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise TaxonomyError(f"{path}:1: not UTF-8 text") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"line (\d+)", str(err))
        line = m[1] if m else max(1, len(text.splitlines()))  # "at end of document"
        raise TaxonomyError(f"{path}:{line}: malformed TOML: "
                            f"{str(err).split(' (at')[0]}") from None
    lines = _Lines(text)
    terms: list[Term] = []
    labels: dict[str, str] = {}
    seen_in_dim: dict[tuple[str, str], tuple[str, int]] = {}
    occurrences: dict[str, int] = {}
    first_dates: dict[str, tuple[date | None, int]] = {}
    senses: dict[str, tuple[str, int]] = {}

    def fail(line: int, reason: str):
        raise TaxonomyError(f"{path}:{line}: {reason}")

    for dim, body in doc.items():
        if dim not in DIMENSIONS:
            fail(lines.header(dim) if isinstance(body, dict) else lines.string(dim, 1),
                 f"unknown dimension {dim!r} (expected one of {', '.join(DIMENSIONS)})")
        if not isinstance(body, dict):
            fail(1, f"{dim} must be a table")
        allowed = DIMENSIONS[dim]
        if not allowed:
            sections = [(dim, "", body)]
            extra = set(body) - _GROUP_KEYS
            if extra:
                fail(lines.header(dim), f"{dim} has no groups; unexpected key {sorted(extra)[0]!r}")
        else:
            if "terms" in body:
                fail(lines.header(dim), f"{dim} terms must sit in a group "
                                        f"({', '.join(allowed)}), e.g. [{dim}.{allowed[0]}]")
            sections = []
            for grp, gbody in body.items():
                if grp == "label":
                    continue
                if grp not in allowed:
                    fail(lines.header(f"{dim}.{grp}"),
                         f"unknown group {grp!r} in {dim} (expected one of {', '.join(allowed)})")
                if not isinstance(gbody, dict):
                    fail(lines.header(dim), f"{dim}.{grp} must be a table")
                extra = set(gbody) - _GROUP_KEYS
                if extra:
                    fail(lines.header(f"{dim}.{grp}"), f"unexpected key {sorted(extra)[0]!r}")
                sections.append((dim, grp, gbody))
        if "label" in body:
            labels[dim] = str(body["label"])
        for dim_, grp, gbody in sections:
            where = f"{dim_}.{grp}" if grp else dim_
            head = lines.header(where)
            if "label" in gbody and grp:
                labels[grp] = str(gbody["label"])
            raw_terms = gbody.get("terms", [])
            if not isinstance(raw_terms, list):
                fail(head, f"terms of {where} must be a list")
            if not raw_terms:
                fail(head, f"group {where} is empty")
            for entry in raw_terms:
                if isinstance(entry, str):
                    entry = {"term": entry}
                if not isinstance(entry, dict) or not isinstance(entry.get("term"), str):
                    fail(head, f"a term in {where} is not a string or {{ term = \"…\" }}")
                extra = set(entry) - _TERM_KEYS
                term = entry["term"].strip()
                occurrences[term] = occurrences.get(term, 0) + 1
                line = lines.string(entry["term"], head, 1)
                if extra:
                    fail(line, f"unexpected key {sorted(extra)[0]!r} for term {term!r}")
                if not term:
                    fail(line, f"empty term in {where}")
                aliases = entry.get("aliases", [])
                if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip()
                                                            for a in aliases):
                    fail(line, f"aliases of {term!r} must be a list of non-empty strings")
                for name in (term, *aliases):
                    key = (dim_, name.strip().lower())
                    if key in seen_in_dim:
                        other, other_line = seen_in_dim[key]
                        kind = "term" if name == term else "alias"
                        fail(line, f"{kind} {name!r} is already in {other} "
                                   f"(line {other_line}); a term belongs to one group per "
                                   f"dimension")
                    seen_in_dim[key] = (where, line)
                since = entry.get("since")
                if isinstance(since, str):
                    try:
                        since = vocabulary.parse_day(since, f"since of {term!r}")
                    except vocabulary.DateError as err:
                        fail(line, str(err))
                if since is not None and (not isinstance(since, date) or
                                          isinstance(since, datetime)):
                    fail(line, f"since of {term!r} must be a date (YYYY-MM-DD)")
                added = entry.get("added", "")
                if not isinstance(added, str):
                    fail(line, f"added of {term!r} must be a string such as \"2026\"")
                ambiguous = entry.get("ambiguous", "")
                if not isinstance(ambiguous, str):
                    fail(line, f"ambiguous of {term!r} must say what else the term means, "
                               f"as a string")
                earlier = first_dates.setdefault(term, (since, line))
                if earlier[0] != since:
                    fail(line, f"since of {term!r} differs from line {earlier[1]}")
                other_sense = senses.setdefault(term, (ambiguous.strip(), line))
                if other_sense[0] != ambiguous.strip():
                    fail(line, f"ambiguous of {term!r} differs from line {other_sense[1]}")
                terms.append(Term(term=term, category=dim_, group=grp,
                                  aliases=tuple(a.strip() for a in aliases),
                                  note=str(entry.get("note", "")), line=line, since=since,
                                  added=added.strip(), ambiguous=ambiguous.strip()))
    if not terms:
        raise TaxonomyError(f"{path}:1: the taxonomy has no terms")
    return Taxonomy(terms=terms, path=str(path), labels=labels)


_default: Taxonomy | None = None


def default_taxonomy() -> Taxonomy:
    global _default
    if _default is None:
        _default = load_taxonomy(TAXONOMY_TOML)
    return _default
