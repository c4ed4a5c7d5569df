"""aicity command line: a thin layer over the library, mostly service/ (and db/, keywords/,
the crawler's collect, the scheduler and the explorer).

Every command parses its options, calls one library function and prints through `emit`.
Domain errors become a one-line `Error: …` and exit status 1.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aicity.db import store
from aicity.crawler.config import PUBLISH_HOUR, SiteAccess, Tuning
from aicity.db.regions import RegionError
from aicity.service.tables import emit_rows, frame_rows
from aicity.vocabulary import BANDS_SOURCE, DEVICES, DIMENSIONS, PER_CAPITA_FLOOR

if TYPE_CHECKING:
    import pandas as pd


class AicityGroup(click.Group):
    """Commands in the order they are defined (the order of docs/contract.md), not alphabetical."""

    def list_commands(self, ctx):
        return list(self.commands)


FORMATS = ("table", "csv", "json")


class DayType(click.ParamType):
    """A YYYY-MM-DD option, checked the same way everywhere (passed on as ISO text)."""
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        from aicity.vocabulary import DateError, parse_day
        try:
            return parse_day(value, "").isoformat()
        except DateError as err:
            self.fail(str(err).strip(), param, ctx)


DAY = DayType()


def emit(frame: pd.DataFrame, fmt: str, out=None) -> None:
    """Print a frame as an aligned table, CSV (UTF-8, header) or a JSON list of objects."""
    emit_rows(*frame_rows(frame), fmt, out)


def format_option(fn):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(fn)


def db_option(fn):
    """--db on every command as well as on the group, so either position works."""

    @click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                  help="SQLite database file or postgresql:// URL (default: env AICITY_DB, else "
                       "./aicity.db).")
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
        from aicity.keywords.taxonomy import TaxonomyError
        from aicity.vocabulary import DateError
        from aicity.service.selection import NoResults
        from aicity.spelling import SpellingError
        import sqlite3
        try:
            return fn(*args, **kwargs)
        except (*import_errors(), RegionError, TaxonomyError, store.NotInitialised,
                store.UnknownKeyword, DateError, NoResults, store.DatabaseProblem,
                SpellingError) as err:
            raise click.ClickException(str(err)) from None
        except sqlite3.DatabaseError as err:
            # damaged, read-only or full: one line naming the cause, no traceback
            where = store.db_path(kwargs.get("db_path"))
            raise click.ClickException(store.storage_problem(err, where)) from None
        except store.server_errors() as err:   # evaluated only when something is raised
            where = store.shown(kwargs.get("db_path"))
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise click.ClickException(f"database {where}: {first}") from None
        except MemoryError:
            raise click.ClickException("not enough memory for this command; free memory or "
                                       "narrow it (fewer regions, keywords or days)") from None
        except OSError as err:
            if err.errno is None:
                raise
            if err.errno == 24:
                raise click.ClickException(store.open_files_problem(err)) from None
            name = f"{err.filename}: " if err.filename else ""
            raise click.ClickException(f"{name}{err.strerror or err}") from None

    return wrapper


def import_errors() -> tuple[type[Exception], ...]:
    """The importer's error, when the importer was used: loading it (and pandas with it) for
    every command only to name an error it cannot raise cost 0.3 s."""
    importer = sys.modules.get("aicity.importer")
    return (importer.ImportFailed,) if importer else ()


# Baidu's search box takes 38 Chinese characters (76 bytes): a longer keyword is not one the
# site can have indexed, and asking for it only wastes requests.
MAX_KEYWORD_CHARS = 38


def _selection(ctx, param, value: str | None, keywords: bool = False) -> str | None:
    """A comma-separated selection, cleaned ('成都, 杭州' -> '成都,杭州'). Absent means all;
    given but empty ('', ',,,', ' ') is an error, never 'all'."""
    if value is None:
        return None
    # full-width commas (，) separate as ASCII ones do
    items = [x.strip() for x in unicodedata.normalize("NFKC", value).split(",") if x.strip()]
    if not items:
        raise click.BadParameter(f"{value!r} selects nothing; leave --{param.name} out to "
                                 f"mean all", param=param)
    if keywords:
        for item in items:
            if len(item) > MAX_KEYWORD_CHARS:
                raise click.BadParameter(
                    f"keyword {item[:20]!r}… is {len(item):,} characters; Baidu Index takes "
                    f"at most {MAX_KEYWORD_CHARS}", param=param)
    return ",".join(items)


def label_source(db, period=None) -> None:
    """Say on stderr when results rest on simulated data, and which period they cover with how
    many days of data (stdout carries the same in its `source` column)."""
    sources = store.sources(db)
    if "emulator" in sources:
        mixed = " mixed with " + ", ".join(x for x in sources if x != "emulator") \
            if len(sources) > 1 else ""
        click.echo(f"note: SIMULATED data (source emulator{mixed})", err=True)
    if period is not None:
        from aicity.analysis.periods import parse_period
        from aicity.service.selection import period_note
        click.echo(f"note: {period_note(db, parse_period(period))}", err=True)


def with_source(frame, db):
    """The frame with a last column `source` (simulated, baidu, import): the label travels with
    the rows into any file they are saved to."""
    frame = frame.copy()
    frame["source"] = frame.attrs.get("source") or store.source_label(db)
    return frame


def open_db(db_path):
    db = store.connect(db_path)
    store.require_schema(db)
    return db


@click.group(cls=AicityGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=click.Path(dir_okay=False), envvar="AICITY_DB",
              help="SQLite database file or postgresql:// URL (default: env AICITY_DB, else "
                   "./aicity.db).")
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
    from aicity.db.regions import read_registry
    from aicity.keywords.taxonomy import default_taxonomy, load_taxonomy
    registry = read_registry(regions_csv) if regions_csv else None
    tax = load_taxonomy(taxonomy) if taxonomy else default_taxonomy()
    info = store.init_db(db_path, registry=registry, taxonomy=tax)
    applied = ", ".join(info["migrations"]) or "none (up to date)"
    click.echo(f"{info['db']}: migrations applied: {applied}; {info['regions']} regions, "
               f"{info['keywords']} taxonomy keywords")


# What `aicity regions` shows without --all-columns (the contract's columns).
REGION_SHOWN = ("code", "name", "level", "province", "lon", "lat", "qinling_huaihe", "yangtze",
                "cluster", "tier_2017")


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
    columns, rows = store.region_rows(store.registry(db), level=level, province=province,
                                      include_legacy=include_legacy)
    if not all_columns:
        keep = [columns.index(c) for c in REGION_SHOWN]
        columns, rows = list(REGION_SHOWN), [tuple(r[i] for i in keep) for r in rows]
    emit_rows(columns, rows, fmt)


@cli.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--level", type=click.Choice(["country", "province", "city"]),
              help="Resolve region names at this level (北京 is a province and a city).")
@click.option("--region", help="The region of a wide file (date plus one column per keyword).")
@click.option("--granularity", type=click.Choice(["auto", "day", "week"]), default="auto",
              show_default=True, help="auto: weekly when a series' dates are 7 days apart.")
@click.option("--device", type=click.Choice(DEVICES),
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
    from aicity.importer import import_csv
    db = open_db(db_path)
    result = import_csv(db, file, level=level, region=region, granularity=granularity,
                        device=device, source=source)
    grans = ", ".join(f"{n} {g}" for g, n in result.granularity.items() if n)
    click.echo(f"{file}: read {result.rows_read} rows ({result.form} form, {result.encoding}); "
               f"{result.rows_written} written; {result.keywords} keywords, "
               f"{result.regions} regions; {grans}")


@cli.command()
@click.option("--keyword", help="A term, alias or any imported keyword.")
@click.option("--dimension", "category", type=click.Choice(list(DIMENSIONS)),
              help="Instead of --keyword: a dimension's daily sum of its keywords' seasonally "
                   "adjusted values (with --group: that group's), as the rankings sum them.")
@click.option("--group", help="A group of the dimension (e.g. vision, 金融).")
@click.option("--region", required=True, help="Region name or area code.")
@click.option("--level", type=click.Choice(["country", "province", "city"]))
@click.option("--start", type=DAY, help="First date (YYYY-MM-DD).")
@click.option("--end", type=DAY, help="Last date (YYYY-MM-DD).")
@click.option("--device", type=click.Choice(DEVICES), default="all",
              show_default=True)
@click.option("--granularity", type=click.Choice(["day", "week"]),
              help="Default: daily if stored, else weekly.")
@click.option("--components", is_flag=True,
              help="Add the trend, seasonal and resid columns of the stored decomposition.")
@format_option
@db_option
@domain_errors
def series(db_path, keyword, category, group, region, level, start, end, device, granularity,
           components, fmt):
    """One stored series: columns date,value,state.

    With --dimension (and --group) the selection's daily sum of its keywords' seasonally
    adjusted values instead (state `adjusted`; a day with no keyword asked has no row).

    state is `reported`, `below floor` (asked; Baidu sends nothing under its reporting floor,
    its own weekly values count such a day 0) or `waiting` (empty, asked again later: the site
    may not have published it). A day never asked has no row.

    Example: aicity series --keyword 人工智能 --region 成都 --start 2017-01-01
    """
    if start and end and end < start:
        raise click.BadParameter(f"{end} is before --start {start}", param_hint="--end")
    if bool(keyword) == bool(category):
        raise click.UsageError("give --keyword or --dimension (with --group), one of them")
    db = open_db(db_path)
    if category:
        _dimension_series(db, category, group, region, level, start, end, device, fmt)
        return
    kw_id, _ = store.resolve_keyword(db, keyword)
    reg = store.registry(db).resolve(region, level)
    frame = store.series(db, kw_id, reg.code, device=device, granularity=granularity,
                         start=start, end=end)
    if granularity is None and frame.attrs.get("granularity") == "week" and len(frame):
        click.echo("note: no daily values in this range; showing weekly values, each dated "
                   "as stored (the site dates a week by its Monday, an imported file by its "
                   "own dates) and the mean of its days; a week stored up to six days before "
                   "--start is shown, as it holds days of the range", err=True)
    if components:
        from aicity.service.queries import components_for
        comp = components_for(db, kw_id, reg.code, device, frame.attrs.get("granularity"))
        frame = frame.merge(comp, on="date", how="left")
    label_source(db)
    emit(frame, fmt)


def _dimension_series(db, category, group, region, level, start, end, device, fmt) -> None:
    from aicity.analysis.periods import Period
    from aicity.service.selection import data_span
    from aicity.service.timeseries import Selection, selection_series
    reg = store.registry(db).resolve(region, level)
    span = data_span(db)
    if span is None:
        raise click.ClickException("no data yet; run `aicity collect` or `aicity import`")
    from aicity.vocabulary import parse_day
    first = parse_day(start) if start else span[0]
    last = parse_day(end) if end else span[1]
    selection = Selection("group", f"{category}/{group}") if group else \
        Selection("dimension", category)
    frame, _ = selection_series(db, selection, reg.code, Period(first, last, ""), device)
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    label_source(db)
    emit(frame, fmt)


# --- crawling ---------------------------------------------------------------------------------

def _not_on_command_line(ctx, param, value):
    """Cookies come from the environment or a file: on a command line every user's `ps` sees
    them."""
    # (click tells a value's source only after the callbacks: compare with the variable)
    if value is not None and value != os.environ.get(param.envvar):
        raise click.BadParameter("give cookies in AICITY_BAIDU_COOKIES (one per line) or "
                                 "--cookies-file FILE, never on the command line")
    return value


# Where the site is, whose accounts, at what pace: collect, doctor and status share them, and
# each has its environment variable (the nightly job's children read the same ones).
ACCOUNT_OPTIONS = (
    click.option("--cookies-file", type=click.Path(exists=True, dir_okay=False),
                 envvar="AICITY_BAIDU_COOKIES_FILE", show_envvar=True,
                 help="Cookies, one per line (default: env AICITY_BAIDU_COOKIES, one per "
                      "line)."),
    click.option("--cookies", "cookies_text", envvar="AICITY_BAIDU_COOKIES", hidden=True,
                 callback=_not_on_command_line, expose_value=True),
    click.option("--daily-budget", type=click.IntRange(min=0),
                 default=SiteAccess.daily_budget, show_default=True,
                 envvar="AICITY_BAIDU_DAILY_BUDGET", show_envvar=True,
                 help="Requests one account may send a day (0 = no limit); counted across "
                      "runs in the database."),
)
SITE_OPTIONS = (
    click.option("--base-url", envvar="AICITY_BAIDU_BASE_URL", show_envvar=True,
                 help="Server speaking the Baidu Index protocol (default: the real site)."),
    click.option("--delay", type=click.FloatRange(min=0),
                 default=SiteAccess.delay, show_default=True,
                 envvar="AICITY_BAIDU_DELAY", show_envvar=True,
                 help="Seconds between two requests of one account."),
    click.option("--cipher-file", type=click.Path(dir_okay=False), envvar="AICITY_CIPHER_FILE",
                 show_envvar=True,
                 help="Cipher-Text constants (TOML: key, t0, version; default: the packaged "
                      "current public values)."),
    click.option("--cipher-key", envvar="AICITY_CIPHER_KEY", show_envvar=True,
                 help="The Cipher-Text AES key over the file's."),
    click.option("--cipher-t0", envvar="AICITY_CIPHER_T0", show_envvar=True,
                 help="The Cipher-Text T0 over the file's."),
    click.option("--cipher-version", envvar="AICITY_CIPHER_VERSION", show_envvar=True,
                 help="The Cipher-Text version over the file's."),
    click.option("--publish-hour", type=click.IntRange(0, 23),
                 default=PUBLISH_HOUR, show_default=True,
                 envvar="AICITY_BAIDU_PUBLISH_HOUR", show_envvar=True,
                 help="Beijing hour from which yesterday is published (before it, the day "
                      "before yesterday is the latest)."),
    click.option("--lag-days", type=click.IntRange(min=0), envvar="AICITY_BAIDU_LAG_DAYS",
                 show_envvar=True, help="A fixed lag in days instead of --publish-hour."),
    *ACCOUNT_OPTIONS,
)
def tuning_option(flag: str, kind, envvar: str, help: str):
    """An option for a Tuning field: its default is the field's, its variable is shown."""
    return click.option(flag, type=kind, default=getattr(Tuning, flag[2:].replace("-", "_")),
                        show_default=True, envvar=envvar, show_envvar=True, help=help)


# How the crawl meets the site's refusals and gaps.
TUNING_OPTIONS = (
    tuning_option("--cooldown", click.FloatRange(min=0), "AICITY_BAIDU_COOLDOWN",
                  "Seconds an account first rests after 10001 (blocked); it doubles on each "
                  "block (1 h, 2 h, 4 h), then the account rests until the next night. Kept "
                  "across runs."),
    tuning_option("--throttle-cooldown", click.FloatRange(min=0),
                  "AICITY_BAIDU_THROTTLE_COOLDOWN",
                  "Seconds an account first rests after HTTP 403 or 429 (throttled), doubling; "
                  "the request is asked again."),
    tuning_option("--abnormal-backoff", click.FloatRange(min=0), "AICITY_BAIDU_BACKOFF",
                  "First back-off in seconds after 10018 (abnormal access), doubling."),
    tuning_option("--abnormal-retries", click.IntRange(min=0), "AICITY_BAIDU_ABNORMAL_RETRIES",
                  "New Cipher-Texts tried for one request before backing off."),
    tuning_option("--max-wait", click.FloatRange(min=0), "AICITY_BAIDU_MAX_WAIT",
                  "Seconds to wait for a parked account before giving up."),
    tuning_option("--token-streak", click.IntRange(min=1), "AICITY_BAIDU_TOKEN_STREAK",
                  "10018 answers in a row that mean the Cipher-Text itself is refused."),
    tuning_option("--unreachable-streak", click.IntRange(min=1), "AICITY_BAIDU_UNREACHABLE_STREAK",
                  "Connection failures in a row that mean the server is gone."),
    tuning_option("--unconfirmed-tries", click.IntRange(min=1), "AICITY_UNCONFIRMED_TRIES",
                  "Answers an empty last day needs before it is accepted as missing..."),
    tuning_option("--unconfirmed-days", click.FloatRange(min=0), "AICITY_UNCONFIRMED_DAYS",
                  "...over at least this many days."),
    tuning_option("--blank-rest-hours", click.FloatRange(min=0), "AICITY_BLANK_REST_HOURS",
                  "A series answered wholly blank is asked again after this many hours (the "
                  "next night) and, blank again, accepted as below Baidu's reporting floor."),
    tuning_option("--download-timeout", click.IntRange(min=1), "AICITY_DOWNLOAD_TIMEOUT",
                  "Seconds to wait for an answer."),
    tuning_option("--log-level", click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
                  "AICITY_LOG_LEVEL", "The crawler's log level."),
)
SITE_NAMES = {"base_url", "delay", "cipher_file", "cipher_key", "cipher_t0", "cipher_version",
              "publish_hour", "lag_days", "cookies_file", "cookies_text", "daily_budget"}
TUNING_NAMES = {f.name for f in dataclasses.fields(Tuning)}


def with_options(options):
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


def read_cookies(cookies_text: str | None, cookies_file: str | None) -> list[str]:
    from aicity.crawler.config import CollectError
    from aicity.crawler.config import read_cookies as cookies_from
    try:
        return cookies_from(cookies_text, cookies_file)
    except CollectError as err:
        raise click.ClickException(str(err)) from None


def site_access(**site):
    """The options of SITE_OPTIONS as the crawler's SiteAccess (crawler.config.site_access)."""
    from aicity.crawler.config import CollectError
    from aicity.crawler.config import site_access as access_from
    try:
        return access_from(**site)
    except CollectError as err:
        raise click.ClickException(str(err)) from None


def collect_order(params: dict):
    """`aicity collect`'s option values (as click gives them) as the CollectOrder they
    mean: the one way a collect is told what to do, from the command line, the nightly
    job's --collect-args or Python."""
    from aicity.crawler.config import CollectOrder, Tuning

    def split(text):
        return tuple(text.split(",")) if text else None

    site, tuning, rest = split_options(params)
    return CollectOrder(site=site, tuning=Tuning(**tuning), kind=rest.get("kind") or "index",
                        start=rest.get("start"), end=rest.get("end"),
                        regions=split(rest.get("regions")),
                        keywords=split(rest.get("keywords")),
                        window_days=rest.get("window_days"),
                        devices=None if rest.get("devices") is None
                        else tuple(rest["devices"].split(",")),
                        check=not rest.get("no_check"), dry_run=bool(rest.get("dry_run")),
                        queue=rest.get("queue"), queue_lease=rest.get("queue_lease"))


def collect_order_from_args(args: list[str]):
    """--collect-args (the nightly job's `aicity collect` options) as a CollectOrder, parsed
    by `aicity collect`'s own options, environment variables included: a wrong option is an
    error when the job is set up, not at night."""
    try:
        ctx = collect.make_context("collect", list(args), resilient_parsing=False)
    except click.exceptions.Exit:
        raise click.BadParameter("--help is not a collect option for the job",
                                 param_hint="--collect-args") from None
    except click.UsageError as err:
        raise click.BadParameter(err.format_message(), param_hint="--collect-args") from None
    params = dict(ctx.params)
    params.pop("fmt", None)
    params.pop("db_path", None)
    return collect_order(params)


def split_options(options: dict) -> tuple[dict, dict, dict]:
    """(site options, tuning options, the rest)."""
    site = {k: v for k, v in options.items() if k in SITE_NAMES}
    tuning = {k: v for k, v in options.items() if k in TUNING_NAMES}
    rest = {k: v for k, v in options.items() if k not in SITE_NAMES | TUNING_NAMES}
    return site, tuning, rest


@cli.command()
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulated world.")
@click.option("--faults", default="", help="e.g. 5xx=0.1,malformed=0.05,timeout=0.01,"
                                           "empty_ptbk=0.05,block=0.01,abnormal=0.01")
@click.option("--latest", type=DAY, help="Last published day (default: yesterday, Asia/Shanghai).")
@click.option("--rate-limit", default="120/60", show_default=True,
              help="Requests per seconds allowed per account before 10001 (0 = no limit).")
@click.option("--block-seconds", type=float, default=600.0, show_default=True,
              help="How long an account that broke the rate limit stays blocked.")
@click.option("--timeout-delay", type=float, default=30.0, show_default=True,
              help="How long a 'timeout' fault holds the response.")
@click.option("--taxonomy", type=click.Path(exists=True, dir_okay=False),
              help="Keywords the world knows (default: the packaged taxonomy).")
@click.option("--extra-words", default="", help="More indexed keywords, comma-separated.")
@click.option("--habits", default="real", show_default=True,
              help="The real site's habits to copy: 'real' (all), 'none', or some of "
                   "lowercase,block-type,blank=RATE,unpublished,token-expiry=RATE,strict-token,"
                   "region-one-word,top-cities=N.")
@click.option("--site-key", default="", help="The AES key the site expects in Cipher-Text "
                                             "(default: the current public one).")
@click.option("--site-t0", type=int, help="The T0 the site expects in Cipher-Text.")
@click.option("--site-version", default="", help="The version the site expects in Cipher-Text.")
@domain_errors
def emulator(port, host, seed, faults, latest, rate_limit, block_seconds, timeout_delay,
             taxonomy, extra_words, habits, site_key, site_t0, site_version):
    """Serve the Baidu Index protocol on loopback from a simulated world.

    Everything it serves is simulated and is stored with source 'emulator'. Stop with Ctrl-C.

    Example: aicity emulator --port 0 --seed 7 --faults 5xx=0.1
    """
    from aicity.service.collect import latest_published
    from datetime import date

    from aicity.emulator import build_state, serve_emulator
    try:
        last = date.fromisoformat(latest) if latest else latest_published()
        state = build_state(latest=last, seed=seed, faults=faults, rate_limit=rate_limit,
                            block_seconds=block_seconds, timeout_delay=timeout_delay,
                            taxonomy=taxonomy, extra_words=extra_words, habits=habits,
                            site_key=site_key, site_t0=site_t0, site_version=site_version)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None

    def ready(bound):
        click.echo(f"aicity emulator (SIMULATED data, seed {seed}, latest {last}) "
                   f"listening on http://{host}:{bound}")
        sys.stdout.flush()

    from twisted.internet.error import CannotListenError
    try:
        serve_emulator(state, port=port, host=host, on_ready=ready)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--host") from None
    except CannotListenError as err:
        why = getattr(err.socketError, "strerror", None) or str(err.socketError)
        raise click.ClickException(f"cannot listen on {host}:{port}: {why}; choose another "
                                   f"--port (0 takes a free one)") from None


@cli.command()
@click.option("--start", type=DAY, help="First day (default: two years before --end; never before "
                              "2011-01-01).")
@click.option("--end", type=DAY, help="Last day (default: the latest day Baidu has published).")
@click.option("--regions", callback=lambda c, p, v: _selection(c, p, v),
              help="Comma-separated names or area codes (default: all).")
@click.option("--keywords", callback=lambda c, p, v: _selection(c, p, v, keywords=True),
              help="Comma-separated keywords (default: the taxonomy).")
@click.option("--what", "kind", type=click.Choice(["index", "snapshot", "region", "word-graph"]),
              default="index", show_default=True,
              help="index: daily series; snapshot: every city's last 30 days from the regional "
                   "distribution (one call a keyword per province), what the first nights' "
                   "briefing stands on; region: regional distribution; word-graph: related "
                   "words for `keywords suggest`.")
@click.option("--window-days", type=int, default=300, show_default=True,
              help="Days per request; Baidu answers more than about a year weekly.")
@click.option("--devices", default="all,pc,wise", show_default=True,
              callback=lambda c, p, v: _selection(c, p, v),
              help="Which of Baidu's series to store (all = PC + mobile).")
@click.option("--no-check", is_flag=True, help="Skip the keyword pre-check.")
@click.option("--dry-run", is_flag=True, help="Only show the plan: tonight's requests within "
                                              "the budget and what it means for the nights "
                                              "ahead.")
@click.option("--queue", envvar="AICITY_QUEUE", show_envvar=True,
              metavar="redis://HOST[:PORT]/N",
              help="Be one of several workers sharing the plan through Redis: the first "
                   "pushes it, every worker takes pieces until none is left.")
@click.option("--queue-lease", type=click.FloatRange(min=0.1), envvar="AICITY_QUEUE_LEASE",
              show_envvar=True, default=60.0, show_default=True,
              help="Seconds after which a silent worker counts as dead and its pieces go back "
                   "to the queue.")
@with_options(SITE_OPTIONS)
@with_options(TUNING_OPTIONS)
@format_option
@db_option
@domain_errors
def collect(db_path, start, end, regions, keywords, kind, window_days, devices, no_check,
            dry_run, queue, queue_lease, fmt, **options):
    """Crawl what is not yet stored into the database (incremental and resumable).

    On a daily request budget the night is planned for freshness: recent days of every region
    before older history, the nation and provinces first, cities in rotation when the budget
    cannot cover them all. What does not fit tonight is deferred, not lost.

    Exit status: 0 when everything planned for tonight is stored (deferred pieces are not a
    failure), 1 when pieces are still missing (run again), 2 when it stopped because no account
    was left, 3 when the server stopped answering, 4 when Baidu refused our Cipher-Text (run
    `aicity doctor`), 5 when storing failed (disk full, damaged database), 6 when the crawl
    could not start or go on (too many open files). What was collected before a stop is kept;
    an interrupted run (Ctrl-C, SIGTERM) exits 1 with what is still missing.

    Example: aicity collect --regions 成都,北京市 --start 2017-01-01 --end 2017-12-31

    On several hosts: aicity --db postgresql://… collect --queue redis://qhost/0 on each.
    """
    from aicity.crawler.describe import describe, failure
    from aicity.service.collect import CollectError, collect_ordered

    if queue and kind != "index" and \
            click.get_current_context().get_parameter_source("queue").name == "ENVIRONMENT":
        queue = None   # a deployment's AICITY_QUEUE is for the index series; the rest runs here
    order = collect_order(dict(options, start=start, end=end, regions=regions,
                               keywords=keywords, kind=kind, window_days=window_days,
                               devices=devices, no_check=no_check, dry_run=dry_run,
                               queue=queue, queue_lease=queue_lease))
    try:
        result = collect_ordered(db_path, order)
    except CollectError as err:      # a wrong cookies file or cipher among them: one line
        raise click.ClickException(str(err)) from None
    click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=1) if fmt == "json"
               else describe(result))
    why = failure(result)
    if why:
        click.echo(f"Error: {why}", err=True)
        sys.exit({"network": 3, "queue": 3, "token": 4, "storage": 5, "crawl": 6}.get(
            result.stopped_cause, 2) if result.stopped else 1)


@cli.command()
@with_options(SITE_OPTIONS)
@click.option("--timeout", type=float, default=15.0, show_default=True,
              help="Seconds to wait for each answer.")
@click.option("--acs", "acs_file", type=click.Path(dir_okay=False),
              help="A saved copy of the site's acs-2057.js: read its Cipher-Text key and T0 "
                   "(statically, nothing is run), keep them in your configuration "
                   "($XDG_CONFIG_HOME/aicity/cipher.toml) with the sets used so far as "
                   "fallbacks, and say which set is in use. No request is sent.")
def doctor(timeout, acs_file, **site):
    """Check collecting with one request per account: network, cookie, token, site.

    Each line names the part and what to do. Exit status 0 when every account can collect,
    1 otherwise. Cookies are never printed. With --acs, refresh the Cipher-Text constants
    from Baidu's JavaScript instead.
    """
    from aicity.crawler.doctor import doctor as run_doctor
    from aicity.service.collect import latest_published
    if acs_file:
        _refresh_cipher(acs_file, site)
        return
    access = site_access(**site)
    click.echo(access.cipher.describe())
    findings = run_doctor(access.base_url, list(access.cookies), access.cipher,
                          latest_published(lag_days=access.lag_days,
                                           publish_hour=access.publish_hour), timeout)
    for f in findings:
        click.echo(f"{'ok  ' if f.ok else 'FAIL'} {f.part}: {f.message}")
    if not all(f.ok for f in findings):
        sys.exit(1)


def _refresh_cipher(acs_file: str, site: dict) -> None:
    from aicity.crawler.acs import AcsError, read_acs
    from aicity.crawler.cipher import (CipherConfigError, load_cipher, save_user_cipher,
                                       user_cipher_file)
    from aicity.crawler.protocol import CIPHER_IV
    try:
        text = Path(acs_file).read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise click.ClickException(f"{acs_file}: {err.strerror or err}") from None
    try:
        found = read_acs(text)
    except AcsError as err:
        raise click.ClickException(f"{acs_file}: {err}") from None
    if found.iv.encode() != CIPHER_IV:
        raise click.ClickException(f"{acs_file}: the SDK now uses IV {found.iv!r}, not "
                                   f"{CIPHER_IV.decode()!r}; aicity cannot use it yet, "
                                   f"nothing was changed")
    try:
        before = load_cipher(site.get("cipher_file"))
        saved = save_user_cipher(found.key, found.t0, found.version, keep=before)
        now = load_cipher(None if not site.get("cipher_file") else saved)
    except (CipherConfigError, OSError) as err:
        raise click.ClickException(str(err)) from None
    if site.get("cipher_file"):
        click.echo(f"note: --cipher-file/AICITY_CIPHER_FILE ({site['cipher_file']}) still wins "
                   f"over {user_cipher_file()}", err=True)
    click.echo(f"kept in {saved}: {now.describe()}")


@cli.command()
@with_options(ACCOUNT_OPTIONS)
@click.option("--check", is_flag=True, help="Also run SQLite's quick_check on the file "
                                           "(exit status 1 when it finds damage). It reads the "
                                           "whole file: seconds for a national database.")
@format_option
@db_option
@domain_errors
def status(db_path, cookies_file, cookies_text, daily_budget, check, fmt):
    """How fresh the data is: data through which day per level, the last analysis, the last
    nightly job and where its briefings are, the accounts' budget left today.

    Example: aicity status
    """
    from aicity.service.collect import budget_left
    from aicity.service.status import freshness_rows
    path = store.db_path(db_path)
    db = open_db(path)
    rows = freshness_rows(db, path)
    cookies = read_cookies(cookies_text, cookies_file)
    if cookies:
        budget = daily_budget
        left = budget_left(db, cookies, budget)
        rows.append(("accounts", f"{len(cookies)}; " + (
            f"{left:,} of {budget * len(cookies):,} requests left today (Asia/Shanghai)"
            if left is not None else "no daily budget")))
        from aicity.crawler.accounts import account_key
        kept = store.account_states(db)
        salt = store.crawl_salt(db)
        for i, cookie in enumerate(cookies, 1):     # named by position, never by cookie
            state = kept.get(account_key(salt, cookie), {})
            rows.append((f"account #{i}", _account_state(state)))
    else:
        rows.append(("accounts", "none configured (AICITY_BAIDU_COOKIES or --cookies-file)"))
    damage = ""
    if check:
        size = store.size_bytes(db)
        if size > 100_000_000:
            # the one slow part of status: say why before it starts
            click.echo(f"note: --check reads every page of the database ({size / 1e6:,.0f} MB); "
                       f"on a busy disk that takes a while", err=True)
        damage = store.integrity_problem(db)
        rows.append(("integrity", damage or "ok"))
    db.close()
    emit_rows(["item", "value"], rows, fmt)
    if damage:
        # the table shows what is wrong; scripts see it in the exit status
        click.echo(f"Error: database {store.shown(db_path)} is damaged; "
                   f"restore it from a backup", err=True)
        sys.exit(1)


def _account_state(state: dict) -> str:
    from datetime import datetime, timezone
    until = state.get("resting_until") or ""
    resting = until and datetime.fromisoformat(until) > datetime.now(timezone.utc)
    blocks = state.get("blocks") or 0
    if resting:
        return f"resting until {until} after {blocks} block(s) in a row (10001)"
    if blocks:
        return f"usable; {blocks} block(s) in a row (10001), the next rest is longer"
    return "usable"


# --- analysis -----------------------------------------------------------------------------------

# `cognition` is the combined index of the three cognition layers: `rank` ranks by it, the other
# commands say in one line to give a layer
DIMENSION_CHOICE = click.Choice([*DIMENSIONS, "cognition"])
LEVEL_CHOICE = click.Choice(["city", "province"])


def vocabulary_option(fn):
    from aicity.vocabulary import VOCABULARIES
    return click.option(
        "--vocabulary", type=click.Choice(VOCABULARIES), default="all", show_default=True,
        help="all: every taxonomy term; report-2017: only the report's 2017 terms (the 2017 "
             "method over any period; generative AI and the other 2026 terms left out); "
             "unambiguous: every term but those with another everyday sense (豆包, Sora, CNN, "
             "TPU: `aicity keywords list` shows them).")(fn)


def basis_option(fn):
    return click.option(
        "--basis", type=click.Choice(["series", "distribution"]), default="series",
        show_default=True,
        help="series: the analysed daily series; distribution: the newest city snapshot from "
             "Baidu's regional distribution (`collect --what snapshot`; --period names another "
             "snapshot's START..END), period means, not seasonally adjusted.")(fn)


def selection(fn):
    fn = click.option("--keyword", help="One keyword instead of a dimension.")(fn)
    fn = click.option("--group", help="A group of the dimension (e.g. vision, finance).")(fn)
    fn = click.option("--dimension", "category", type=DIMENSION_CHOICE)(fn)
    return fn


def _need_selection(category, keyword):
    if bool(category) == bool(keyword):
        raise click.UsageError("give exactly one of --dimension or --keyword")


@cli.command()
@click.option("--full", is_flag=True, help="Refit everything (default: only what new data "
                                           "touched).")
@click.option("--workers", type=int, help="Worker processes (default: up to 2).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where built STL operators are kept [env AICITY_CACHE_DIR; default "
                   "$XDG_CACHE_HOME/aicity, else ~/.cache/aicity].")
@db_option
@domain_errors
def analyze(db_path, full, workers, cache_dir):
    """Decompose series and store the components, incrementally.

    Example: aicity analyze
    """
    from aicity.children import stop_on_sigterm
    from aicity.service.refit import AnalysisFailed, describe
    from aicity.service.refit import analyze as run_analyze
    stop_on_sigterm()
    with click.progressbar(length=1, label="analysing", file=sys.stderr) as bar:
        state = {"stage": None}

        def progress(stage, done, total):
            if state["stage"] != stage:
                state["stage"] = stage
                bar.length, bar.pos = total, 0
                bar.label = f"analysing {stage}"
            bar.update(done - bar.pos)

        try:
            result = run_analyze(db_path, full=full, workers=workers, progress=progress,
                                 cache_dir=cache_dir)
        except AnalysisFailed as err:      # out of memory, a worker that died: one line
            raise click.ClickException(str(err)) from None
    click.echo(describe(result))


@cli.command()
@selection
@click.option("--level", type=LEVEL_CHOICE, default="city", show_default=True)
@click.option("--period", help="2017, 2017-03 or START..END (default: the latest 365 days "
                               "with data).")
@click.option("--normalize", type=click.Choice(["raw", "per-capita", "share", "score"]),
              default="raw", show_default=True,
              help="What value is (the unit column says it): raw, index/day; per-capita, "
                   "index/day per million residents (the period's year where a yearly figure "
                   "exists, else 2020); share, percent of the total "
                   "of all regions; score, 0-100 on a log scale, the top region 100.")
@click.option("--tiers", type=click.Choice(["bands", "breaks"]), default="bands",
              show_default=True, help="Rank bands 1-10, 11-30, 31-100, rest; or natural breaks.")
@click.option("--uncertainty", is_flag=True, help="Add a 90% rank interval and tier confidence "
                                                  "(block bootstrap over weeks; the interval "
                                                  "also spans what days below Baidu's floor "
                                                  "leave open).")
@click.option("--top", type=int, help="Only the first N rows.")
@click.option("--province", help="Only this province and its cities (the rank stays national; "
                                 "rank_in_area is the place among them).")
@click.option("--cluster", help="Only this city cluster's cities (长三角, 珠三角, …; English "
                                "names too).")
@basis_option
@vocabulary_option
@click.option("--min-population", type=click.IntRange(min=0), default=PER_CAPITA_FLOOR,
              show_default=True,
              help="With --normalize per-capita: places with fewer residents are listed "
                   "unranked (a few searches above Baidu's floor there outweigh the gaps "
                   "between cities).")
@click.option("--added-share", is_flag=True,
              help="Add added_terms_pct: the percent of each value that comes from terms added "
                   "after the report's 2017 vocabulary (ChatGPT, DeepSeek, …).")
@format_option
@db_option
@domain_errors
def rank(db_path, category, group, keyword, level, period, normalize, tiers, uncertainty, top,
         province, cluster, basis, vocabulary, min_population, added_share, fmt):
    """Rank regions by a dimension, group or keyword:
    rank,region_code,region,province,value,tier,coverage,source,unit.

    --dimension cognition ranks by the combined cognition index: each of basic, professional
    and technical cognition over its mean across the regions, then the mean of the three.

    value is the period mean of the seasonally adjusted days, a day below Baidu's reporting
    floor counting 0 (Baidu's own convention), in the unit the unit column names (see
    --normalize); coverage is the fraction (0-1) of asked keyword-days above the floor behind
    it. A region with every day below the floor ranks last.

    With --province or --cluster only those regions are listed, still with their national
    rank, and a rank_in_area column gives their place among themselves.

    Example: aicity rank --dimension professional --period 2017 --top 10
    """
    from aicity.service.selection import area_codes, rows_within
    _need_selection(category, keyword)
    db = open_db(db_path)
    keep = area_codes(store.registry(db), province, cluster)
    area_column = [] if keep is None else ["rank_in_area"]
    if basis == "series" and not uncertainty and not added_share and category != "cognition":
        # the common question, answered without pandas (the same table as queries.rank)
        from aicity.service.ranked import COLUMNS, rank_regions
        ranked = rank_regions(db, category=category, group=group, keyword=keyword, level=level,
                              period=period, normalize=normalize, tiers=tiers,
                              vocabulary=vocabulary, min_population=min_population)
        from aicity.analysis.indices import UNITS
        source, unit = store.source_label(db), UNITS[normalize]
        # unit after source: scripts that read the columns before it by position still can
        rows = [(*row, source, unit) for row in rows_within(ranked.rows(), keep)]
        label_source(db, ranked.period)
        if tiers == "bands":
            click.echo(f"note: {BANDS_SOURCE}", err=True)
        _say_measure(ranked.regions, normalize, min_population)
        emit_rows([*COLUMNS, *area_column, "source", "unit"], rows[:top] if top else rows, fmt)
        return
    from aicity.service import queries
    out = queries.rank(db, category=category, group=group, keyword=keyword, level=level,
                       period=period, normalize=normalize, uncertainty=uncertainty, tiers=tiers,
                       basis=basis, vocabulary=vocabulary, added_share=added_share,
                       min_population=min_population)
    out = queries.within_area(out, keep)
    label_source(db, out.attrs["period"])
    if tiers == "bands":
        click.echo(f"note: {BANDS_SOURCE}", err=True)
    if out.attrs.get("measure"):
        click.echo(f"note: value = {out.attrs['measure']}", err=True)
    shown = with_source(out.head(top) if top else out, db)
    emit(shown[[c for c in shown.columns if c != "unit"] + ["unit"]], fmt)


def _say_measure(regions, normalize: str, min_population: int) -> None:
    if normalize == "per-capita":
        from aicity.analysis.indices import per_capita_measure
        click.echo(f"note: value = {per_capita_measure(regions, min_population)}", err=True)


@cli.command()
@selection
@click.option("--line", type=click.Choice(["qinling-huaihe", "yangtze", "both"]),
              default="qinling-huaihe", show_default=True,
              help="both: the two lines side by side (the finding may flip with the line).")
@click.option("--with-sar", is_flag=True,
              help="Count 香港 and 澳门 (left out by default: Baidu's coverage there is not "
                   "the mainland's).")
@click.option("--period", help="2017, 2017-03 or START..END (default: the latest 365 days "
                               "with data).")
@click.option("--level", type=LEVEL_CHOICE, default="city", show_default=True)
@vocabulary_option
@format_option
@db_option
@domain_errors
def split(db_path, category, group, keyword, line, with_sar, period, level, vocabulary, fmt):
    """North vs south:
    side,regions,total,share,mean,median,top10,top50,p_value,coverage,line.

    p_value is left empty: the cities are a census of neighbours, not a sample (stderr says
    so); compare the medians and top-k counts, on both lines (--line both).

    Example: aicity split --dimension basic --line both
    """
    from aicity.service import queries
    _need_selection(category, keyword)
    db = open_db(db_path)
    out = queries.split(db, category=category, group=group, keyword=keyword, line=line,
                        period=period, level=level, vocabulary=vocabulary, with_sar=with_sar)
    click.echo(f"note: {out.attrs['note']}", err=True)
    label_source(db, out.attrs["period"])
    emit(with_source(out, db), fmt)


@cli.command()
@click.option("--keywords", required=True,
              callback=lambda c, p, v: _selection(c, p, v, keywords=True),
              help="Comma-separated keywords (names or aliases).")
@click.option("--regions", callback=lambda c, p, v: _selection(c, p, v),
              help="Comma-separated regions (default: the nation).")
@click.option("--start", type=DAY, help="First date (YYYY-MM-DD).")
@click.option("--end", type=DAY, help="Last date (YYYY-MM-DD).")
@click.option("--normalize", type=click.Choice(["raw", "relative"]), default="raw",
              show_default=True,
              help="raw: Baidu's daily index; relative: scaled so the table's largest value is "
                   "100 (pytrends' scale).")
@click.option("--device", type=click.Choice(["all", "pc", "wise"]), default="all",
              show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Also draw the table to FILE.png or FILE.svg.")
@format_option
@db_option
@domain_errors
def compare(db_path, keywords, regions, start, end, normalize, device, plot, fmt):
    """Keywords side by side: date, then one column per keyword (keyword/region for several
    regions), then source. A day below Baidu's floor is 0, a day not asked is empty.

    Example: aicity compare --keywords 人工智能,ChatGPT,DeepSeek --regions 成都 --start 2025-01-01
    """
    from aicity.service.compare import compare as side_by_side
    from aicity.service.compare import plot_compare
    db = open_db(db_path)
    frame = side_by_side(db, keywords.split(","), regions.split(",") if regions else None,
                         start=start, end=end, normalize=normalize, device=device)
    if frame.empty:
        raise click.ClickException("nothing stored for these keywords and regions in that "
                                   "range; run `aicity collect`")
    label_source(db)
    if frame.attrs["weekly"]:
        click.echo("note: weekly values (no daily ones in this range) for "
                   + ", ".join(frame.attrs["weekly"]), err=True)
    if plot:
        from aicity.service.export import refuse_unless_regular
        refuse_unless_regular(Path(plot))
        if Path(plot).suffix.lower() not in (".png", ".svg"):
            raise click.BadParameter(f"{plot}: give a .png or .svg file", param_hint="--plot")
        plot_compare(frame, Path(plot), normalize)
        click.echo(f"plot: {plot}", err=True)
    table = frame.reset_index()
    table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    table.attrs["source"] = frame.attrs["source"]
    emit(with_source(table, db), fmt)


@cli.command(name="demand-types")
@click.option("--period", help="2017, 2017-03 or START..END (default: the latest 365 days "
                               "with data).")
@click.option("--top", type=int, default=15, show_default=True)
@click.option("--rule", type=click.Choice(["absolute", "relative"]), default="absolute",
              show_default=True,
              help="absolute: a technology drives at a share of the three technologies' demand "
                   "of at least --threshold (0.25); relative: at a share at least --threshold "
                   "(1.0) times the nation's (absolute shares mirror how many keywords each "
                   "group has).")
@click.option("--threshold", type=float,
              help="The rule's cut-off (default 0.25 absolute, 1.0 relative).")
@basis_option
@vocabulary_option
@format_option
@db_option
@domain_errors
def demand_types(db_path, period, top, rule, threshold, basis, vocabulary, fmt):
    """Technology demand types of the top cities: shares, type (single/dual/all), drivers, and
    the rule that made them (stderr says it in words).

    Example: aicity demand-types --period 2017 --rule relative
    """
    from aicity.service import queries
    db = open_db(db_path)
    out = queries.demand_types(db, period=period, top=top, threshold=threshold, basis=basis,
                               vocabulary=vocabulary, rule=rule)
    click.echo(f"note: {out.attrs['rule']}", err=True)
    label_source(db, out.attrs["period"])
    emit(with_source(out, db), fmt)


@cli.command()
@click.option("--period", help="2017, 2017-03 or START..END (default: the latest 365 days "
                               "with data).")
@click.option("--lq", "lq_threshold", type=float, default=1.2, show_default=True,
              help="Location quotient at which a city is specialised.")
@click.option("--full-demand-rank", "full_rank", type=int, default=10, show_default=True,
              help="Full demand (全需求): in the national top N of all six industries.")
@click.option("--top", type=int, help="Only the first N rows (as everywhere).")
@basis_option
@vocabulary_option
@format_option
@db_option
@domain_errors
def industries(db_path, period, lq_threshold, full_rank, top, basis, vocabulary, fmt):
    """Industry profiles: shares, location quotients, specialisations and the 全需求 label.

    Example: aicity industries --period 2017 --format csv
    """
    from aicity.service import queries
    db = open_db(db_path)
    out = queries.industries(db, period=period, lq_threshold=lq_threshold, top=full_rank,
                             basis=basis, vocabulary=vocabulary)
    label_source(db, out.attrs["period"])
    emit(with_source(out.head(top) if top else out, db), fmt)


@cli.command()
@selection
@click.option("--period", help="2017, 2017-03 or START..END (default: the latest 365 days "
                               "with data).")
@click.option("--level", type=LEVEL_CHOICE, default="city", show_default=True)
@click.option("--top", type=int, default=10, show_default=True,
              help="Only the first N rows (0: all).")
@click.option("--show", type=click.Choice(["risers", "fallers", "growth", "tiers"]),
              default="risers", show_default=True,
              help="tiers: moves between the cognition tier and the tier of the selection "
                   "(default: application demand).")
@vocabulary_option
@click.option("--against", type=click.Choice(["auto", "year", "previous"]), default="auto",
              show_default=True,
              help="Change against the same days a year earlier (同比) or the period just "
                   "before (环比); auto: a year earlier when the data holds it.")
@click.option("--with-new-terms", "new_terms", is_flag=True,
              help="Compare every term, also those that came into being after the earlier "
                   "period began (their growth is then their birth).")
@format_option
@db_option
@domain_errors
def movers(db_path, category, group, keyword, period, level, top, show, against, vocabulary,
           new_terms, fmt):
    """Growth and rank change against a year earlier (or the period before): the growth
    table sorted by the change, risers and fallers by rank change, or tier movement.

    --show tiers lists the regions whose cognition tier (basic + professional + technical)
    differs from their tier in the selection: first_measure and second_measure name the two,
    tiers_gained is positive for a better tier under the selection (move, kept for scripts,
    is its negative); risers first, the biggest moves first.

    A dimension's year-on-year change sums only the terms that existed through both periods
    (a term born in between, such as ChatGPT, would count its birth as growth); stderr names
    those left out, and --with-new-terms keeps them.

    Example: aicity movers --dimension application --show tiers
    """
    from aicity.service import queries
    db = open_db(db_path)
    out = queries.movers(db, category=category, group=group, keyword=keyword, period=period,
                         level=level, n=top, vocabulary=vocabulary, new_terms=new_terms,
                         against=against)[show]
    if out.attrs.get("note") and show in ("risers", "fallers") and out.empty:
        # risers and fallers are about the change: without it there is nothing to show
        raise click.ClickException(
            f"{out.attrs['note']}; choose a shorter --period (the previous period of the same "
            f"length must lie in the data too), e.g. the last 90 days: --period "
            f"{_last_days(db, 90)}")
    label_source(db, out.attrs["period"])
    if out.attrs.get("note") and show != "tiers":
        click.echo(f"note: change left empty: {out.attrs['note']}", err=True)
    if out.attrs.get("terms_note"):
        click.echo(f"note: {out.attrs['terms_note']}", err=True)
    if show != "tiers":
        click.echo(f"note: change against {out.attrs['against_period']} ("
                   + ("a year earlier" if out.attrs["against"] == "year" else "the period "
                      "just before") + ")", err=True)
        if out.attrs.get("against_note"):
            click.echo(f"note: {out.attrs['against_note']}", err=True)
        if show == "growth" and out.attrs.get("left_out"):
            click.echo(f"note: {out.attrs['left_out']} region(s) without data left out",
                       err=True)
    emit(with_source(out, db), fmt)


def _last_days(db, days: int) -> str:
    from aicity.analysis.periods import trailing
    from aicity.service.selection import latest_day
    return trailing(latest_day(db), days).label


@cli.command()
@click.option("--region", help="Only this region (name or area code); a province also "
                               "takes in its cities, a city cluster (长三角) its members.")
@click.option("--level", type=click.Choice(["country", "province", "city"]))
@click.option("--keyword", help="Only this keyword's series.")
@click.option("--dimension", "category", type=DIMENSION_CHOICE,
              help="Only this dimension's aggregate (with --group: that group's).")
@click.option("--group", help="A group of the dimension (e.g. vision, 金融).")
@click.option("--start", type=DAY, help="First date (YYYY-MM-DD).")
@click.option("--end", type=DAY, help="Last date (YYYY-MM-DD).")
@click.option("--top", type=int, default=50, show_default=True, help="Only the first N rows "
                                                                   "(0: all).")
@format_option
@db_option
@domain_errors
def anomalies(db_path, region, level, keyword, category, group, start, end, top, fmt):
    """Days a series jumped out of its trend and season: date, region, subject, value, resid.

    Newest first. Found by `aicity analyze` (robust residuals of the STL decomposition); the
    same rows are in the SQL view anomalies_named.

    Example: aicity anomalies --region 成都 --start 2017-01-01
    """
    db = open_db(db_path)
    code = _anomaly_regions(store.registry(db), region, level) if region else None
    subjects = None
    if keyword:
        kw_id, _ = store.resolve_keyword(db, keyword)
        subjects = [f"k:{kw_id}"]
    elif category:
        from aicity.service.queries import NoResults, group_id
        if group:
            try:
                group = group_id(category, group)
            except NoResults as err:
                raise click.BadParameter(str(err), param_hint="--group") from None
        subjects = [f"g:{category}/{group}" if group else f"d:{category}"]
    frame = store.anomalies_frame(db, region=code, start=start, end=end, subjects=subjects,
                                  limit=top or None)
    label_source(db)
    emit(with_source(frame, db), fmt)


def _anomaly_regions(registry, region: str, level: str | None) -> int | list[int]:
    """One area code, or a province's with its cities', or a cluster's cities' (the areas
    rank --province/--cluster keep)."""
    from aicity.service.selection import area_codes
    if registry.cluster(region):
        return sorted(area_codes(registry, cluster=region))
    found = registry.resolve(region, level)
    if found.level == "province" and level is None:
        return sorted(area_codes(registry, province=str(found.code)))
    return found.code


# --- keywords --------------------------------------------------------------------------------

@cli.group(cls=AicityGroup)
def keywords():
    """The keyword taxonomy: list, classify queries, suggest new terms, validate the file."""


@keywords.command(name="list")
@click.option("--dimension", "category", type=DIMENSION_CHOICE)
@click.option("--group")
@click.option("--taxonomy", type=click.Path(dir_okay=False), help="Taxonomy file to read.")
@format_option
@domain_errors
def keywords_list(category, group, taxonomy, fmt):
    """Taxonomy terms: columns term,category,group (json and table add aliases, note and
    ambiguous: what else people mean by the term, which `--vocabulary unambiguous` leaves
    out).

    Example: aicity keywords list --dimension application --format csv
    """
    from aicity.keywords.taxonomy import default_taxonomy, load_taxonomy
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
    from aicity.keywords.classify import default_classifier
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
    rows.sort(key=lambda r: order[r["query"]])   # stable: a query's matches keep their order
    emit_rows(["query", "category", "group", "term"], [tuple(r.values()) for r in rows], fmt)


@keywords.command(name="unindexed")
@click.option("--clear", "clear", multiple=True, metavar="K",
              help="Forget the mark of keyword K (repeatable; 'all' for every mark): the next "
                   "collect asks the site again.")
@format_option
@db_option
@domain_errors
def keywords_unindexed(db_path, clear, fmt):
    """Keywords marked as not indexed by Baidu (checkWordsExists said so): keyword,
    checked_at, source. A marked keyword is not collected.

    Example: aicity keywords unindexed --clear 具身智能
    """
    db = open_db(db_path)
    try:
        if clear:
            marked = [r[0] for r in store.unindexed_rows(db)]
            names = marked if "all" in clear else list(clear)
            unknown = [k for k in names if k not in marked]
            if unknown:
                raise click.ClickException(f"not marked as unindexed: {', '.join(unknown)}")
            n = store.clear_unindexed(db, names)
            click.echo(f"cleared {n} mark(s); the next collect asks the site again", err=True)
        emit_rows(["keyword", "checked_at", "source"], store.unindexed_rows(db), fmt)
    finally:
        db.close()


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
    from aicity.keywords.classify import suggest_terms
    if from_file:
        import pandas as pd
        related = pd.read_csv(from_file, dtype={"keyword": str, "word": str})
    else:
        related = store.word_graph_frame(open_db(db_path))
    missing = {"keyword", "word", "pv", "ratio", "sim"} - set(related.columns)
    if missing:
        raise click.ClickException(f"{from_file}: missing columns {', '.join(sorted(missing))}")
    if related.empty:
        raise click.ClickException("no related words stored yet; run `aicity collect --what "
                                   "word-graph` "
                                   "or pass --from FILE")
    out = suggest_terms(related, min_sim=min_sim, limit=limit)
    # where the related words came from travels with the suggestions
    sources = set(related["source"].dropna()) if "source" in related else set()
    out["source"] = "import" if from_file else \
        "simulated" if "emulator" in sources else "baidu"
    if out["source"].eq("simulated").any():
        click.echo("note: SIMULATED data (the related words came from the emulator)", err=True)
    emit(out, fmt)


@keywords.command(name="validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@domain_errors
def keywords_validate(file):
    """Check a taxonomy file (default: the packaged one); prints file:line: reason on error.

    Example: aicity keywords validate aicity/keywords/taxonomy.toml
    """
    from aicity.keywords.taxonomy import TAXONOMY_TOML, load_taxonomy
    tax = load_taxonomy(file or TAXONOMY_TOML)
    dims = {}
    for t in tax.terms:
        dims[t.category] = dims.get(t.category, 0) + 1
    summary = ", ".join(f"{d} {n}" for d, n in dims.items())
    click.echo(f"{file or TAXONOMY_TOML}: ok, {len(tax.terms)} terms ({summary})")


@cli.group(cls=AicityGroup)
def export():
    """Files for people: regional briefing CSVs."""


@export.command(name="briefing")
@click.option("--region", help="Only this region's scope (a city, a province, a city cluster "
                                "such as 长三角, or 全国).")
@click.option("--level", type=click.Choice(["city", "province"]),
              help="One row per city or per province (default: cities, or provinces while no "
                   "city has data yet).")
@click.option("--out", type=click.Path(file_okay=False), default="briefings",
              show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Column headers in Chinese or snake_case English.")
@click.option("--line", type=click.Choice(["qinling-huaihe", "yangtze"]),
              default="qinling-huaihe", show_default=True, help="North/south line.")
@click.option("--period", help="2017, 2017-03 or START..END (default: the latest 365 days "
                               "with data).")
@click.option("--xlsx", is_flag=True, help="Also one Excel workbook in --out: a sheet per "
                                            "briefing (frozen header, number formats) and the "
                                            "manifest as a sheet.")
@db_option
@domain_errors
def export_briefing(db_path, region, level, out, lang, line, period, xlsx):
    """Regional briefing CSVs (UTF-8 with BOM, for Excel) and a manifest.

    Example: aicity export briefing --region 四川 --out briefings --xlsx
    """
    from aicity.service.export import export_briefings
    result = export_briefings(db_path, Path(out), period=period, region=region, lang=lang,
                              line=line, level=level, xlsx=xlsx)
    click.echo(f"{len(result.files)} briefing(s) for {result.period} ({result.source}) in "
               f"{result.out}; manifest {result.manifest}"
               + (f"; workbook {result.workbook}" if result.workbook else ""))


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False), default="report.html",
              show_default=True)
@click.option("--period", help="2017, 2017-03 or START..END (default: the latest 365 days "
                               "with data).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Headings, labels and place names in Chinese or English.")
@click.option("--region", "area", help="Focus on a province, a city cluster (长三角) or a city: "
                                       "rankings, tables, demand types, heat map, map and "
                                       "movers keep its cities.")
@click.option("--cluster", "cluster", help="The same for a city cluster by name.")
@db_option
@domain_errors
def report(db_path, out, period, lang, area, cluster):
    """One self-contained HTML briefing with charts, a map, top-10 tables and a method note
    (works offline). It builds every chart: a few seconds, most of it drawing.

    Example: aicity report --out briefing.html --lang en --region 长三角
    """
    from aicity.service.report import build_report
    if area and cluster:
        raise click.UsageError("give --region or --cluster, not both")
    path = build_report(db_path, Path(out), period=period, lang=lang, area=area or cluster)
    click.echo(f"report: {path}")


@cli.command()
@click.option("--at", default="02:30", show_default=True, help="Time of the nightly run, "
                                                               "Asia/Shanghai (HH:MM).")
@click.option("--once", is_flag=True, help="Run the job now, once, and exit.")
@click.option("--log-file", type=click.Path(dir_okay=False),
              help="Log file (default: DATABASE.log in --log-dir).")
@click.option("--log-dir", type=click.Path(file_okay=False),
              help="Folder of the log (default: logs/ beside a SQLite file; for a "
                   "postgresql:// database $XDG_STATE_HOME/aicity/logs, else "
                   "~/.local/state/aicity/logs). The file is named without credentials.")
@click.option("--collect-args", default="", envvar="AICITY_JOB_COLLECT_ARGS", show_envvar=True,
              help="More `aicity collect` options for the night, e.g. '--regions 成都,杭州'.")
@click.option("--publish-hour", type=click.IntRange(0, 23), default=PUBLISH_HOUR, show_default=True,
              envvar="AICITY_BAIDU_PUBLISH_HOUR", show_envvar=True,
              help="Beijing hour from which yesterday is published.")
@click.option("--lag-days", type=click.IntRange(min=0), envvar="AICITY_BAIDU_LAG_DAYS",
              show_envvar=True, help="A fixed lag in days instead of --publish-hour.")
@db_option
@domain_errors
def schedule(db_path, at, once, log_file, log_dir, collect_args, publish_hour, lag_days):
    """The nightly job: collect what is new, analyse incrementally, write the briefings.

    Briefings go to <database>-briefings/<last day>/ beside a SQLite file (for a
    postgresql:// database ./aicity-briefings/<last day>/), with their manifest.json;
    `aicity status` names the last folder written.

    Runs in the foreground; stops cleanly on SIGTERM or Ctrl-C. One run at a time, also across
    processes (a lock next to the database; a crashed run's lock does not block the next).

    Example: aicity schedule --at 02:30
    """
    import re

    from aicity import scheduler as nightly
    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", at):
        raise click.BadParameter(f"{at!r} is not HH:MM", param_hint="--at")
    path = store.db_path(db_path)
    open_db(path).close()
    import shlex
    try:
        extra = shlex.split(collect_args)
    except ValueError as err:      # an unclosed quote
        raise click.BadParameter(f"{collect_args!r}: {err}", param_hint="--collect-args") \
            from None
    # `aicity collect`'s options (and their environment variables) as the typed order every
    # night's collect stages get: a wrong one is an error now, not at 02:30
    order = collect_order_from_args(extra)
    site_access(**order.site)       # an unreadable cookies file or cipher: now too
    nightly.configure_logging(Path(log_file) if log_file else
                              nightly.default_log_file(path, Path(log_dir) if log_dir else None))
    job = {"order": order, "publish_hour": publish_hour, "lag_days": lag_days}
    if not once:
        nightly.schedule(path, at=at, **job)
        return
    try:
        result = nightly.guarded_job(path, **job)
    except nightly.LockHeld as err:
        click.echo(f"Error: {err}; not starting", err=True)
        sys.exit(3)
    for name, stage in result.stages.items():
        click.echo(f"{name}: {stage['status']} ({stage.get('summary', '')})")
    if result.status != "ok":
        sys.exit(1)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-output",
              show_default=True, help="Folder for the database, briefings and report.")
@click.option("--seed", type=int, default=2018, show_default=True)
@click.option("--days", type=int, default=365, show_default=True,
              help="Days to backfill (365: one request a keyword batch per region, and the "
                   "briefings cover that year; more doubles the requests).")
@click.option("--regions", callback=lambda c, p, v: _selection(c, p, v),
              help="Comma-separated regions (default: all).")
@domain_errors
def demo(out, seed, days, regions):
    """The whole main job offline: emulator, backfill, analysis, exports (SIMULATED data).

    Example: aicity demo
    """
    from aicity.service.collect import CollectError
    from aicity.demo import run_demo
    split_regions = regions.split(",") if regions else None
    try:
        result = run_demo(Path(out), seed=seed, days=days, regions=split_regions)
    except CollectError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"demo finished in {result.timings['total']:.0f} s "
               f"(collect {result.timings['collect']:.0f} s, analyse "
               f"{result.timings['analyze']:.0f} s); everything in it is SIMULATED data")
    click.echo(f"database: {result.db}")
    for path in result.files:
        click.echo(f"  {path}")
        if path.name == "manifest.json" and path.parent.name == "briefings" \
                and result.more_briefings:
            more = result.more_briefings
            click.echo(f"  … and {more} more briefing{'s' if more > 1 else ''} in {path.parent} "
                       f"(one per province and city cluster; the manifest lists them all)")
    click.echo(f"try: aicity --db {result.db} rank --dimension professional --top 10 "
               f"--period {result.period}")
    click.echo(f"explore it in a browser: aicity --db {result.db} serve")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (another than loopback serves the data to the "
                   "network, unauthenticated).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="The pages' language until a page switches it.")
@db_option
@domain_errors
def serve(db_path, host, port, lang):
    """The explorer: the database in a browser, read-only (explore, map, rankings, movers,
    a page per region, status; a JSON API and downloads of every view).

    Without --db (and AICITY_DB) it serves ./aicity.db, or the demo's database when only
    demo-output/aicity.db exists. docs/explorer.md lists the pages and their URLs.

    Example: aicity demo && aicity serve
    """
    from aicity.explorer.serve import serve as run_server
    if db_path is None and not store.db_path(None).exists() \
            and Path("demo-output", "aicity.db").exists():
        db_path = str(Path("demo-output", "aicity.db"))
        click.echo(f"note: serving the demo's database {db_path}", err=True)
    db = open_db(db_path)
    db.close()
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: anyone who can reach it reads the data, "
                   f"unauthenticated", err=True)
    run_server(db_path, host=host, port=port, lang=lang,
               said=lambda url: click.echo(f"aicity explorer on {url} (Ctrl-C stops it)"))


def main():  # pragma: no cover - console script entry point
    # `python -m aicity` names itself as the command does
    cli(obj={}, prog_name="aicity")


if __name__ == "__main__":  # pragma: no cover
    main()
