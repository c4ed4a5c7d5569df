"""aicity command line: a thin layer over db/, keywords/, crawler/ and analysis/.

Every command parses its options, calls one library function and prints through `emit`.
Domain errors become a one-line `Error: …` and exit status 1.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
import pandas as pd

from db import store
from db.regions import RegionError


class AicityGroup(click.Group):
    """Commands in the order they are defined (the order of DESIGN.md §4), not alphabetical."""

    def list_commands(self, ctx):
        return list(self.commands)


FORMATS = ("table", "csv", "json")


def emit(frame: pd.DataFrame, fmt: str, out=None) -> None:
    """Print a frame as an aligned table, CSV (UTF-8, header) or a JSON list of objects."""
    out = out or sys.stdout
    if fmt == "csv":
        frame.to_csv(out, index=False, lineterminator="\n")
    elif fmt == "json":
        records = json.loads(frame.to_json(orient="records", force_ascii=False))
        out.write(json.dumps(records, ensure_ascii=False, indent=1) + "\n")
    else:
        if frame.empty:
            out.write("(no rows)\n")
            return
        shown = frame.astype(object).where(frame.notna(), "")
        out.write(shown.to_string(index=False) + "\n")


def format_option(fn):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(fn)


def db_option(fn):
    """--db on every command as well as on the group, so either position works."""

    @click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                  help="SQLite database (default: env AICITY_DB, else ./aicity.db).")
    @click.pass_context
    @functools.wraps(fn)
    def wrapper(ctx, db_path, *args, **kwargs):
        ctx.ensure_object(dict)
        return fn(*args, db_path=db_path or ctx.obj.get("db"), **kwargs)

    return wrapper


def domain_errors(fn):
    """Turn library errors into one-line click errors (no traceback for expected failures)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from db.importer import ImportFailed
        from keywords.taxonomy import TaxonomyError
        try:
            return fn(*args, **kwargs)
        except (ImportFailed, RegionError, TaxonomyError, store.NotInitialised,
                store.UnknownKeyword) as err:
            raise click.ClickException(str(err)) from None

    return wrapper


def open_db(db_path):
    db = store.connect(db_path)
    store.require_schema(db)
    return db


@click.group(cls=AicityGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=click.Path(dir_okay=False), envvar="AICITY_DB", default="aicity.db",
              show_default=True, help="SQLite database (env AICITY_DB).")
@click.version_option(package_name="aicity")
@click.pass_context
def cli(ctx, db):
    """Track search interest in AI terms across Chinese cities, Baidu-Index style."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db


@cli.command()
@click.option("--regions", "regions_csv", type=click.Path(exists=True, dir_okay=False),
              help="Region registry CSV (default: the packaged db/regions.csv).")
@click.option("--taxonomy", type=click.Path(exists=True, dir_okay=False),
              help="Keyword taxonomy TOML (default: the packaged keywords/taxonomy.toml).")
@db_option
@domain_errors
def init(db_path, regions_csv, taxonomy):
    """Create or migrate the database and load regions and keywords.

    Example: aicity --db city.db init
    """
    from db.regions import read_registry
    from keywords.taxonomy import default_taxonomy, load_taxonomy
    registry = read_registry(regions_csv) if regions_csv else None
    tax = load_taxonomy(taxonomy) if taxonomy else default_taxonomy()
    info = store.init_db(db_path, registry=registry, taxonomy=tax)
    applied = ", ".join(info["migrations"]) or "none (up to date)"
    click.echo(f"{info['db']}: migrations applied: {applied}; {info['regions']} regions, "
               f"{info['keywords']} taxonomy keywords")


@cli.command()
@click.option("--level", type=click.Choice(["country", "province", "city"]))
@click.option("--province", help="Only regions of this province (name or code).")
@click.option("--include-legacy", is_flag=True, help="Also list legacy duplicate area codes.")
@click.option("--all-columns", is_flag=True, help="Add adcode, population, legacy and note.")
@format_option
@db_option
@domain_errors
def regions(db_path, level, province, include_legacy, all_columns, fmt):
    """The region registry: area codes, coordinates, north/south sides, clusters, tiers.

    Example: aicity regions --level city --format csv
    """
    db = open_db(db_path)
    frame = store.regions_frame(store.registry(db), level=level, province=province,
                                include_legacy=include_legacy)
    if not all_columns:
        frame = frame[["code", "name", "level", "province", "lon", "lat", "qinling_huaihe",
                       "yangtze", "cluster", "tier_2017"]]
    emit(frame, fmt)


@cli.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--level", type=click.Choice(["country", "province", "city"]),
              help="Resolve region names at this level (北京 is a province and a city).")
@click.option("--region", help="The region of a wide file (date plus one column per keyword).")
@click.option("--granularity", type=click.Choice(["auto", "day", "week"]), default="auto",
              show_default=True, help="auto: weekly when a series' dates are 7 days apart.")
@click.option("--device", type=click.Choice(["all", "pc", "wise"]),
              help="Device of every row when the file has no device column (default all).")
@click.option("--source", default="import", show_default=True,
              help="Provenance stored with each row.")
@db_option
@domain_errors
def import_(db_path, file, level, region, granularity, device, source):
    """Load observations from a CSV file, all or nothing.

    Long form: keyword,region,date,value (region by name or area code). Wide form: a date
    column plus one column per keyword, with --region. UTF-8 (with or without BOM) or GBK.

    Example: aicity import daily.csv --level city
    """
    from db.importer import import_csv
    db = open_db(db_path)
    result = import_csv(db, file, level=level, region=region, granularity=granularity,
                        device=device, source=source)
    grans = ", ".join(f"{n} {g}" for g, n in result.granularity.items() if n)
    click.echo(f"{file}: read {result.rows_read} rows ({result.form} form, {result.encoding}); "
               f"{result.rows_written} written; {result.keywords} keywords, "
               f"{result.regions} regions; {grans}")


@cli.command()
@click.option("--keyword", required=True, help="A term, alias or any imported keyword.")
@click.option("--region", required=True, help="Region name or area code.")
@click.option("--level", type=click.Choice(["country", "province", "city"]))
@click.option("--start", help="First date (YYYY-MM-DD).")
@click.option("--end", help="Last date (YYYY-MM-DD).")
@click.option("--device", type=click.Choice(["all", "pc", "wise"]), default="all",
              show_default=True)
@click.option("--granularity", type=click.Choice(["day", "week"]),
              help="Default: daily if stored, else weekly.")
@format_option
@db_option
@domain_errors
def series(db_path, keyword, region, level, start, end, device, granularity, fmt):
    """One stored series: columns date,value. Missing days stay missing.

    Example: aicity series --keyword 人工智能 --region 成都 --start 2017-01-01
    """
    db = open_db(db_path)
    kw_id, _ = store.resolve_keyword(db, keyword)
    reg = store.registry(db).resolve(region, level)
    frame = store.series(db, kw_id, reg.code, device=device, granularity=granularity,
                         start=start, end=end)
    emit(frame, fmt)


# --- keywords --------------------------------------------------------------------------------

@cli.group(cls=AicityGroup)
def keywords():
    """The keyword taxonomy: list, classify queries, suggest new terms, validate the file."""


@keywords.command(name="list")
@click.option("--dimension", "category",
              type=click.Choice(["basic", "professional", "technical", "application",
                                 "industry"]))
@click.option("--group")
@click.option("--taxonomy", type=click.Path(dir_okay=False), help="Taxonomy file to read.")
@format_option
@domain_errors
def keywords_list(category, group, taxonomy, fmt):
    """Taxonomy terms: columns term,category,group (json and table add aliases and note).

    Example: aicity keywords list --dimension application --format csv
    """
    from keywords.taxonomy import default_taxonomy, load_taxonomy
    tax = load_taxonomy(taxonomy) if taxonomy else default_taxonomy()
    frame = tax.to_frame()
    if category:
        frame = frame[frame["category"] == category]
    if group:
        frame = frame[frame["group"] == group]
    if fmt == "csv":
        frame = frame[["term", "category", "group"]]
    emit(frame.reset_index(drop=True), fmt)


@keywords.command(name="classify")
@click.argument("text", nargs=-1)
@click.option("--from", "from_file", type=click.File("r", encoding="utf-8-sig"),
              help="Read queries from a file, one a line ('-' for standard input).")
@format_option
@domain_errors
def keywords_classify(text, from_file, fmt):
    """Which dimensions, groups and terms each query mentions.

    Example: aicity keywords classify 基于深度学习的人脸识别算法
    """
    from keywords.classify import default_classifier
    queries = list(text)
    if from_file is not None:
        queries.extend(line.strip() for line in from_file if line.strip())
    if not queries:
        raise click.UsageError("give queries as arguments or with --from FILE")
    clf = default_classifier()
    results = [(q, clf.classify(q)) for q in queries]
    if fmt == "json":
        click.echo(json.dumps([{"query": q, "matches": [m.as_dict() for m in ms]}
                               for q, ms in results], ensure_ascii=False, indent=1))
        return
    rows = [{"query": q, "category": m.category, "group": m.group, "term": m.term}
            for q, ms in results for m in (ms or [None]) if m is not None]
    rows += [{"query": q, "category": "", "group": "", "term": ""} for q, ms in results if not ms]
    order = {q: i for i, q in enumerate(queries)}
    frame = pd.DataFrame(rows, columns=["query", "category", "group", "term"])
    frame = frame.sort_values("query", key=lambda s: s.map(order), kind="stable")
    emit(frame.reset_index(drop=True), fmt)


@keywords.command(name="suggest")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False),
              help="Related words as CSV keyword,word,pv,ratio,sim (default: what the crawler "
                   "stored from Baidu's demand graph).")
@click.option("--min-sim", type=float, default=0.0, show_default=True)
@click.option("--limit", type=int, default=10, show_default=True, help="Candidates per group.")
@format_option
@db_option
@domain_errors
def keywords_suggest(db_path, from_file, min_sim, limit, fmt):
    """Rank candidate new terms per group from related searches, with the evidence.

    Nothing is added: accept a candidate by adding it to the taxonomy file.

    Example: aicity keywords suggest --limit 5
    """
    from keywords.classify import suggest_terms
    if from_file:
        related = pd.read_csv(from_file, dtype={"keyword": str, "word": str})
    else:
        related = store.word_graph_frame(open_db(db_path))
    missing = {"keyword", "word", "pv", "ratio", "sim"} - set(related.columns)
    if missing:
        raise click.ClickException(f"{from_file}: missing columns {', '.join(sorted(missing))}")
    if related.empty:
        raise click.ClickException("no related words stored yet; run `aicity collect --word-graph` "
                                   "or pass --from FILE")
    emit(suggest_terms(related, min_sim=min_sim, limit=limit), fmt)


@keywords.command(name="validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@domain_errors
def keywords_validate(file):
    """Check a taxonomy file (default: the packaged one); prints file:line: reason on error.

    Example: aicity keywords validate keywords/taxonomy.toml
    """
    from keywords.taxonomy import TAXONOMY_TOML, load_taxonomy
    tax = load_taxonomy(file or TAXONOMY_TOML)
    dims = {}
    for t in tax.terms:
        dims[t.category] = dims.get(t.category, 0) + 1
    summary = ", ".join(f"{d} {n}" for d, n in dims.items())
    click.echo(f"{file or TAXONOMY_TOML}: ok, {len(tax.terms)} terms ({summary})")


def main():  # pragma: no cover - console script entry point
    cli(obj={})


if __name__ == "__main__":  # pragma: no cover
    main()
