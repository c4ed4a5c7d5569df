"""What a question is about: the keywords of a dimension, group or keyword, the period, and the
seasonally adjusted values stored for them.

Plain Python and numpy, no pandas: `aicity rank` answers from here in a fraction of a second,
and service.queries builds its frames on the same functions.
"""
from __future__ import annotations

from datetime import date

import numpy as np

from aicity.analysis.periods import Period, parse_period, trailing
from aicity.db import results, store
from aicity.vocabulary import COMBINED_COGNITION


class NoResults(RuntimeError):
    """Nothing analysed yet for what was asked (run `aicity analyze`)."""


def group_id(category: str, group: str) -> str:
    """A group of the dimension by its id or its Chinese name (金融 is finance)."""
    from aicity.keywords.taxonomy import DIMENSIONS, LABELS_ZH
    groups = DIMENSIONS.get(category, ())
    text = group.strip()
    found = {LABELS_ZH[g]: g for g in groups}.get(text, text)
    if found not in groups:
        known = ", ".join(f"{g} ({LABELS_ZH[g]})" for g in groups)
        raise NoResults(f"{category} has no group {text!r}"
                        + (f"; its groups: {known}" if known else "; it has no groups"))
    return found


def subjects(db, category: str | None, group: str | None, keyword: str | None,
             vocabulary: str = "all", born_by: date | None = None) -> tuple[list[str], str]:
    """The stored subjects (`k:<keyword id>`) a selection sums, and its label. `vocabulary`
    'report-2017' keeps the report's own terms (see vocabulary.VOCABULARIES); `born_by` keeps
    only the terms that existed on that day (a year-on-year change of terms that were not yet
    born would count their birth as growth)."""
    if keyword:
        kw_id, term = store.resolve_keyword(db, keyword)
        return [f"k:{kw_id}"], term
    if not category and group:
        raise NoResults(f"--group {group} needs --dimension (application or industry)")
    if category == COMBINED_COGNITION:
        raise NoResults("cognition is a combined index of three dimensions: `rank` ranks by it; "
                        "here give basic, professional or technical")
    if group:
        group = group_id(category, group)
    ids = results.group_keyword_ids(db, category, group, vocabulary)
    label = f"{category}{'/' + group if group else ''}"
    if not ids:
        raise NoResults(f"no keywords in {label}"
                        + (f" in the {vocabulary} vocabulary" if vocabulary != "all" else ""))
    found = [f"k:{i}" for i in ids]
    if born_by is not None:
        late = set(born_after(db, found, born_by))
        found = [s_ for s_ in found if s_ not in late]
        if not found:
            raise NoResults(f"every term of {label} came into being after {born_by}: none "
                            f"can be compared with a year earlier")
    return found, label


def added_after_2017(db, subject_ids: list[str]) -> list[str]:
    """The subjects whose term a revision after the report's 2017 vocabulary added."""
    added = results.added_subjects(db)
    return [s_ for s_ in subject_ids if s_ in added]


def born_after(db, subject_ids: list[str], day: date) -> dict[str, str]:
    """subject -> term, for the subjects whose term came into being after `day` (the
    taxonomy's `since`), in subject order."""
    born = results.first_days(db, subject_ids)
    cut = store.day_number(day.isoformat())
    late = [s_ for s_ in subject_ids if born.get(s_, cut) > cut]
    names = store.keyword_terms(db, [int(s_[2:]) for s_ in late]) if late else {}
    return {s_: names.get(int(s_[2:]), s_) for s_ in late}


def latest_day(db) -> date:
    """The last day analysed (recorded by analyze: scanning the components would read every
    stored array)."""
    day = results.latest_analysed_day(db)
    if day is None:
        raise NoResults("no analysis results yet; run `aicity analyze`")
    return date.fromisoformat(day)


def data_span(db) -> tuple[date, date] | None:
    """First and last day any run wrote (imports and crawls record what they touched)."""
    span = results.data_span(db)
    return (date.fromisoformat(span[0]), date.fromisoformat(span[1])) if span else None


def resolve_period(db, text: str | None) -> Period:
    """The period asked for (default: the latest 365 days with data, as the nightly job
    uses), refused when no data falls in it:
    a period outside the data would give blank rows that look like an answer."""
    per = parse_period(text) if text else trailing(latest_day(db), 365)
    span = data_span(db)
    if span is None:
        raise NoResults("no data yet; run `aicity collect` or `aicity import`")
    first, last = span
    if per.end < first or per.start > last:
        full_year = last.year if last.month == 12 and last.day == 31 else last.year - 1
        suggest = str(full_year) if full_year >= first.year and date(full_year, 1, 1) >= first \
            else f"{first}..{last}"
        raise NoResults(f"no data for period {per.label} ({per.start}..{per.end}); the data "
                        f"covers {first}..{last}: try --period {suggest}")
    return per


def days_with_data(db, period: Period) -> int:
    """Days of the period inside the span the data covers (first to last day any run
    wrote)."""
    span = data_span(db)
    if span is None:
        return 0
    first, last = max(span[0], period.start), min(span[1], period.end)
    return max(0, (last - first).days + 1)


def period_note(db, period: Period) -> str:
    """'period A..B: data on N of its M days' (what every result says of its period)."""
    n = days_with_data(db, period)
    text = f"period {period.start}..{period.end}: data on {n} of its {period.days} days"
    if n < period.days:
        text += " (values are means over the days with data; choose --period to change)"
    return text


def year_on_year_gap(db, period: Period) -> str:
    """Why a year-on-year change cannot be given for `period` ('' when it can): both the period
    and the same span a year earlier must lie wholly within the data, or a full year would be
    compared with a few weeks."""
    span = data_span(db)
    if span is None:
        return "no data"
    first, last = span
    prev = period.shifted_years(-1)
    if prev.start < first:
        had = max(0, (prev.end - max(prev.start, first)).days + 1)
        return (f"year-on-year needs {prev.start}..{prev.end} in full; the data starts "
                f"{first} ({had} of {prev.days} days)")
    if period.end > last:
        return (f"year-on-year needs {period.start}..{period.end} in full; the data ends "
                f"{last}")
    return ""


BASES = ("series", "distribution")


def distribution_period(db, text: str | None = None) -> Period:
    """A regional-distribution snapshot's window: the newest, or the one `text` names."""
    windows = store.distribution_windows(db)
    if not windows:
        raise NoResults("no regional-distribution snapshot yet; run "
                        "`aicity collect --what snapshot`")
    if text is None:
        return parse_period(f"{windows[0][0]}..{windows[0][1]}")
    per = parse_period(text)
    if any((per.start.isoformat(), per.end.isoformat()) == (a, b) for a, b, _ in windows):
        return per
    raise NoResults(f"no snapshot for {per.start}..{per.end}; snapshots: "
                    + ", ".join(f"{a}..{b}" for a, b, _ in windows[:5]))


def resolve_basis_period(db, text: str | None, basis: str) -> Period:
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, not {basis!r}")
    return distribution_period(db, text) if basis == "distribution" else \
        resolve_period(db, text)


def adjusted_array(db, subjects: list[str], period: Period, regions: list[int] | None = None,
                   device: str = "all") -> tuple[list[tuple[str, int]], np.ndarray]:
    """Seasonally adjusted daily values in the period: the (subject, region) columns found and
    an array of one row a day, one column each: 0 on a day below Baidu's floor or before the
    term came into being, NaN where nothing was asked.

    Weekly series contribute their weekly value on each week's start day (so a period mean over
    such a column is the mean of the weeks that start in the period).
    """
    columns, out, _ = adjusted_with_prehistory(db, subjects, period, regions, device)
    return columns, out


def adjusted_with_prehistory(db, subjects: list[str], period: Period,
                             regions: list[int] | None = None, device: str = "all"
                             ) -> tuple[list[tuple[str, int]], np.ndarray, np.ndarray]:
    """adjusted_array, and per column the days of the period before its term came into being
    (counted as 0 there: nobody searched a word that did not exist, and Baidu was not asked)."""
    lo, hi = store.day_number(period.start.isoformat()), store.day_number(period.end.isoformat())
    n_days = hi - lo + 1
    tails = results.tail_adjusted(db, subjects, device)
    placed = results.adjusted_arrays(db, subjects, device, regions)
    columns = [p[0] for p in placed]
    # One array filled in place: a quick command (`aicity rank`) reads thousands of columns,
    # and building a NaN array per column cost a third of its time.
    out = np.full((n_days, len(columns)), np.nan)
    for j, (_, first, step, values) in enumerate(placed):
        if step == 1:
            a, b = max(lo, first), min(hi, first + len(values) - 1)
            if a <= b:
                out[a - lo:b - lo + 1, j] = values[a - first:b - first + 1]
        else:
            pos = first + step * np.arange(len(values)) - lo
            ok = (pos >= 0) & (pos < n_days)
            out[pos[ok], j] = values[ok]
        for day, adj in tails.get(columns[j], ()):
            if lo <= day <= hi:
                out[day - lo, j] = np.nan if adj is None else adj
    prehistory = np.zeros(len(columns), dtype=np.int64)
    first_days = results.first_days(db, subjects)
    for j, (subject, _) in enumerate(columns):
        born = first_days.get(subject)
        if born is not None and born > lo:
            before = out[:min(n_days, born - lo), j]
            unasked = np.isnan(before)
            prehistory[j] = int(unasked.sum())
            before[unasked] = 0.0
    return columns, out, prehistory


def area_codes(registry, province: str | None = None, cluster: str | None = None
               ) -> set[int] | None:
    """The area codes `--province` and `--cluster` keep (both: the cities in both), or None
    for no filter. A province keeps itself and its cities; a cluster its member cities."""
    keep: set[int] | None = None
    if province:
        found = registry.resolve(province, level="province")
        keep = {found.code, *(r.code for r in registry.area(str(found.code))[1])}
    if cluster:
        if registry.cluster(cluster) is None:
            from aicity.db.regions import RegionError
            known = "、".join(sorted(set(registry.cluster_names().values())))
            raise RegionError(f"unknown city cluster {cluster!r}; the clusters: {known}")
        members = {r.code for r in registry.area(cluster)[1]}
        keep = members if keep is None else keep & members
    return keep


def rows_within(rows: list[tuple], keep: set[int] | None) -> list[tuple]:
    """Ranked rows (rank first, region_code second) of the regions kept, each followed by its
    rank among them (`rank_in_area`); unranked rows keep None. The national rank stays."""
    if keep is None:
        return rows
    out, place = [], 0
    for row in rows:
        if row[1] not in keep:
            continue
        if row[0] is not None and row[0] == row[0]:
            place += 1
            out.append((*row, place))
        else:
            out.append((*row, None))
    return out
