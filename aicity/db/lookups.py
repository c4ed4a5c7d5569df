"""The lookup tables: regions and keywords (terms, aliases, taxonomy groups)."""
from __future__ import annotations

import os
from datetime import date
from typing import TYPE_CHECKING, Iterable, Sequence

from sqlite_utils import Database

from aicity.db import postgres
from aicity.db.connection import NotInitialised, _upsert, connect, shown
from aicity.db.regions import COLUMNS as REGION_COLUMNS
from aicity.db.regions import Region, RegionRegistry, default_registry
from aicity.db.schema import migrate

if TYPE_CHECKING:
    import pandas as pd


def init_db(path: str | os.PathLike | None = None, registry: RegionRegistry | None = None,
            taxonomy=None) -> dict:
    """Create or migrate the database and load the region registry and keyword taxonomy."""
    db = connect(path, create=True)
    try:
        applied = db.create_schema() if db.dialect == "postgresql" else migrate(db)
        if db.dialect == "postgresql" and db.schema_version() != postgres.SCHEMA_VERSION:
            raise NotInitialised(f"the PostgreSQL schema is at version {db.schema_version()}, "
                                 f"which this aicity cannot bring to {postgres.SCHEMA_VERSION}")
        registry = registry or default_registry()
        with db.atomic():
            load_regions(db, registry)
            n_terms = 0
            if taxonomy is not None:
                n_terms = load_taxonomy(db, taxonomy)
        return {"db": shown(path), "migrations": applied, "regions": len(registry),
                "keywords": n_terms}
    finally:
        db.close()


class UnknownKeyword(LookupError):
    """A keyword the database has never seen (neither a taxonomy term, alias nor imported)."""


def load_regions(db: Database, registry: RegionRegistry) -> int:
    rows = []
    for r in registry:
        row = r.as_row()
        row["legacy"] = int(r.legacy)
        rows.append(row)
    _upsert(db, "regions", rows, ("code",))
    return len(rows)


# Registries built from regions tables, by the table's rows: an export asks for the registry
# some fifty times, and building one (every name form of 700 regions) took 8-14 ms each time.
# The rows are read every time, so a changed table is seen at once.
_BUILT: dict[tuple, RegionRegistry] = {}


def registry(db: Database) -> RegionRegistry:
    """The registry as stored in this database (what imports and queries resolve against)."""
    rows = list(db.query("SELECT * FROM regions ORDER BY code"))   # code is SQLite's rowid
    if not rows:
        raise NotInitialised("the database has no regions; run `aicity init`")
    key = tuple(tuple(r.values()) for r in rows)
    built = _BUILT.get(key)
    if built is None:
        if len(_BUILT) >= 4:
            _BUILT.clear()
        built = _BUILT[key] = _registry_of(rows)
    return built


def _registry_of(rows: list[dict]) -> RegionRegistry:
    return RegionRegistry(Region(
        code=r["code"], name=r["name"], level=r["level"], province=r["province"], lon=r["lon"],
        lat=r["lat"], qinling_huaihe=r["qinling_huaihe"], yangtze=r["yangtze"],
        cluster=r["cluster"], tier_2017=r["tier_2017"], adcode=r["adcode"],
        population=r["population"], legacy=bool(r["legacy"]), note=r["note"],
        name_en=r.get("name_en") or "", population_year=r.get("population_year"),
        population_source=r.get("population_source") or "") for r in rows)


def region_rows(reg: RegionRegistry, level: str | None = None, province: str | None = None,
                include_legacy: bool = False) -> tuple[list[str], list[tuple]]:
    """The registry's columns and one row of plain values a region (legacy as 0/1)."""
    columns = list(REGION_COLUMNS)
    rows = []
    for r in reg.filter(level=level, province=province, include_legacy=include_legacy):
        row = r.as_row()
        row["legacy"] = int(row["legacy"])
        rows.append(tuple(row[c] for c in columns))
    return columns, rows


def regions_frame(reg: RegionRegistry, level: str | None = None, province: str | None = None,
                  include_legacy: bool = False) -> pd.DataFrame:
    import pandas as pd
    columns, rows = region_rows(reg, level, province, include_legacy)
    frame = pd.DataFrame(rows, columns=columns)
    frame["population"] = frame["population"].astype("Int64")
    frame["population_year"] = frame["population_year"].astype("Int64")
    frame["legacy"] = frame["legacy"].astype(int)
    return frame


def keyword_ids(db: Database, terms: Iterable[str], create: bool = True) -> dict[str, int]:
    """Ids for terms, adding terms outside the taxonomy when create is true. A term's id never
    changes, so a connection remembers those it has looked up (one query less a series)."""
    terms = list(dict.fromkeys(terms))
    known = db.__dict__.setdefault("_keyword_ids", {})
    if all(t in known for t in terms):
        return {t: known[t] for t in terms}
    found = _keyword_ids(db, terms, create)
    known.update(found)
    return found


def _keyword_ids(db: Database, terms: list[str], create: bool) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(terms), 500):
        part = terms[i:i + 500]
        marks = ",".join("?" * len(part))
        found.update((r[0], r[1]) for r in db.execute(
            f"SELECT term, id FROM keywords WHERE term IN ({marks})", part))
    missing = [t for t in terms if t not in found]
    if missing and create:
        # never a keyword that differs from a stored one only in width, case or script (ＡＩ,
        # ai, 人工智慧 spelled in traditional characters): it is the stored one
        spell = keyword_spelling(db)
        spelled = {t: spell(t) for t in missing}
        new = sorted({s for s in spelled.values() if s not in found})
        # two crawlers meeting a new term at once: the second finds it made
        db.conn.executemany("INSERT INTO keywords(term) VALUES (?) ON CONFLICT(term) DO NOTHING",
                            [(t,) for t in new])
        ids = _keyword_ids(db, sorted(set(spelled.values())), create=False)
        found.update({t: ids[s] for t, s in spelled.items()})
    return found


def keyword_spelling(db: Database):
    """A function from a keyword as written to the keyword it is: a stored term or taxonomy
    alias as written, else the stored term (or alias) it differs from only in width, case or
    script (aicity.spelling.key), else the name cleaned, a new keyword (and later spellings of
    it in the same call are it). SpellingError for a name with an invisible character."""
    from aicity import spelling
    terms = [r[0] for r in db.execute("SELECT term FROM keywords ORDER BY id")]
    aliases = keyword_aliases(db)
    exact = {**{t: t for t in terms}, **aliases}
    by_key: dict[str, str] = {}
    for written, term in [*((t, t) for t in terms), *aliases.items()]:
        by_key.setdefault(spelling.key(written), term)

    def spell(text: str) -> str:
        name = spelling.clean(text, "keyword")
        if name in exact:
            return exact[name]
        return by_key.setdefault(spelling.key(name), name)
    return spell


def keyword_aliases(db: Database) -> dict[str, str]:
    """Taxonomy aliases and the terms they stand for (人工智慧 → 人工智能)."""
    return dict(db.execute("SELECT a.alias, k.term FROM keyword_aliases a JOIN keywords k "
                           "ON k.id = a.keyword_id").fetchall())


def resolve_keyword(db: Database, text: str) -> tuple[int, str]:
    """A keyword id for a term or alias, as stored, however it is spelled (ＡＩ and ai are AI:
    aicity.spelling); UnknownKeyword if the database has never seen it, SpellingError for a
    name with an invisible character."""
    row = db.execute("SELECT id, term FROM keywords WHERE term = ?", [text]).fetchone()
    if row is None:
        row = db.execute("SELECT k.id, k.term FROM keyword_aliases a JOIN keywords k "
                         "ON k.id = a.keyword_id WHERE a.alias = ?", [text]).fetchone()
    if row is None:
        term = keyword_spelling(db)(text)
        row = db.execute("SELECT id, term FROM keywords WHERE term = ?", [term]).fetchone()
    if row is None:
        raise UnknownKeyword(f"unknown keyword {text!r}")
    return row[0], row[1]


def load_taxonomy(db: Database, taxonomy) -> int:
    """Replace the stored taxonomy by `taxonomy` (a keywords.taxonomy.Taxonomy).

    Terms that left the taxonomy keep their id and observations; they are only unmarked.
    """
    terms = [t.term for t in taxonomy.terms]
    ids = keyword_ids(db, terms)
    db.execute("UPDATE keywords SET in_taxonomy = 0")
    db.execute("DELETE FROM keyword_groups")
    db.execute("DELETE FROM keyword_aliases")
    db.conn.executemany("UPDATE keywords SET in_taxonomy = 1, note = ?, since = ?, added = ?, "
                        "ambiguous = ? WHERE id = ?",
                        [(t.note, t.since.isoformat() if t.since else None, t.added,
                          t.ambiguous, ids[t.term]) for t in taxonomy.terms])
    db.conn.executemany(
        "INSERT INTO keyword_groups(keyword_id, category, group_name) VALUES (?, ?, ?) "
        "ON CONFLICT(keyword_id, category) DO NOTHING",
        [(ids[t.term], t.category, t.group) for t in taxonomy.terms])
    db.conn.executemany(
        "INSERT INTO keyword_aliases(alias, keyword_id) VALUES (?, ?) "
        "ON CONFLICT(alias) DO NOTHING",
        [(a, ids[t.term]) for t in taxonomy.terms for a in t.aliases])
    return len(set(terms))


def first_dates(db: Database, terms: Sequence[str] | None = None) -> dict[str, date]:
    """term -> the day it came into being, for taxonomy terms that have one."""
    rows = db.execute("SELECT term, since FROM keywords WHERE since IS NOT NULL").fetchall()
    wanted = None if terms is None else set(terms)
    return {t: date.fromisoformat(s_) for t, s_ in rows if wanted is None or t in wanted}


def keyword_terms(db: Database, ids: Iterable[int]) -> dict[int, str]:
    """keyword id -> term, for the ids given."""
    wanted = set(int(i) for i in ids)
    return {int(i): t for i, t in db.execute("SELECT id, term FROM keywords") if i in wanted}


def keyword_groups_frame(db: Database) -> pd.DataFrame:
    """term, category, group for every taxonomy membership."""
    import pandas as pd
    return pd.DataFrame(
        db.execute("SELECT k.term, g.category, g.group_name FROM keyword_groups g "
                   "JOIN keywords k ON k.id = g.keyword_id "
                   "ORDER BY g.category, g.group_name, k.term").fetchall(),
        columns=["term", "category", "group"])


def taxonomy_terms(db: Database) -> list[str]:
    """The taxonomy's keywords in the order they were loaded."""
    return [r[0] for r in db.execute("SELECT term FROM keywords WHERE in_taxonomy = 1 "
                                     "ORDER BY id")]


def keyword_strata(db: Database, terms: Sequence[str]) -> list[tuple[str, str]]:
    """(term, 'category/group') for the terms' taxonomy memberships, in taxonomy order."""
    wanted = set(terms)
    return [(t, f"{c}/{g or ''}") for t, c, g in db.execute(
        "SELECT k.term, g.category, g.group_name FROM keyword_groups g "
        "JOIN keywords k ON k.id = g.keyword_id ORDER BY g.category, g.group_name, k.id")
        if t in wanted]

