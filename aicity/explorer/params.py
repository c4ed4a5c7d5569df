"""What a request asks for, read and checked in one place: every view's whole state is in its
URL, and anything wrong is one `BadRequest` line in the page's language (never a 500). No SQL is
built from request text: names go through the registry and the keyword lookups."""
from __future__ import annotations

from datetime import date, timedelta

from aicity.analysis.periods import Period, PeriodError, parse_period
from aicity.db.lookups import UnknownKeyword
from aicity.db.regions import RegionError
from aicity.explorer.text import LANGS
from aicity.vocabulary import DateError

MAX_SERIES = 20           # series × regions a view draws (more: say so, draw none)
OVERLAID = 5              # more than this many lines: small multiples
MAX_ROWS = 100_000        # rows a download may hold
MAX_QUERY = 4096          # characters of a query string
PRESETS = {"30d": 30, "90d": 90, "365d": 365}


class BadRequest(ValueError):
    """A request the explorer cannot answer: `zh` and `en` say why in one line."""

    def __init__(self, en: str, zh: str | None = None, status: int = 400):
        super().__init__(en)
        self.en, self.zh, self.status = en, zh or en, status

    def said(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Query:
    """A request's parameters, each taken through a checked accessor."""

    def __init__(self, params, default_lang: str = "zh", memo=None):
        self.params = params
        lang = params.get("lang", default_lang)
        self.lang = lang if lang in LANGS else default_lang
        # memo(key, build): an answer shared by views for the current data (app.Explorer)
        self.memo = memo or (lambda key, build: build())

    def one(self, name: str, choices, default: str) -> str:
        value = self.params.get(name, default) or default
        if value not in choices:
            raise BadRequest(f"{name} {value!r} is not one of {', '.join(choices)}",
                             f"{name} 的值 {value!r} 不在 {'、'.join(choices)} 之中")
        return value

    def text(self, name: str, default: str = "", limit: int = 200) -> str:
        value = (self.params.get(name) or default).strip()
        if len(value) > limit:
            raise BadRequest(f"{name} is longer than {limit} characters",
                             f"{name} 超过 {limit} 个字符")
        return value

    def many(self, name: str, limit: int = MAX_SERIES) -> list[str]:
        values = [v.strip() for v in self.params.getlist(name) if v.strip()]
        if len(values) > limit:
            raise BadRequest(f"{len(values)} values of {name}: at most {limit} a view",
                             f"{name} 有 {len(values)} 个值：每页最多 {limit} 个")
        return values

    def flag(self, name: str) -> bool:
        return self.params.get(name, "") in ("1", "on", "true", "yes")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.params.get(name, "")
        if not text:
            return default
        try:
            value = int(text)
        except ValueError:
            raise BadRequest(f"{name} {text!r} is not a whole number",
                             f"{name} 的值 {text!r} 不是整数") from None
        if not low <= value <= high:
            raise BadRequest(f"{name} {value} is outside {low}..{high}",
                             f"{name} 的值 {value} 不在 {low}..{high} 之内")
        return value

    def period(self, span: tuple[date, date] | None, default: str = "365d") -> Period:
        """`period` 30d, 90d, 365d (the days up to the latest with data) or all; or `start`
        and `end` (YYYY-MM-DD); or `period` as --period takes it (2017, 2017-03, A..B);
        without any, `default`."""
        if span is None:
            raise BadRequest("no data yet: run `aicity collect` or `aicity demo`",
                             "还没有数据：请先运行 aicity collect 或 aicity demo", status=404)
        first, last = span
        start, end = self.text("start", limit=10), self.text("end", limit=10)
        text = self.text("period", default, limit=40)
        try:
            if start or end:
                per = parse_period(f"{start or first}..{end or last}")
            elif text in PRESETS:
                begin = max(first, last - timedelta(days=PRESETS[text] - 1))
                per = Period(begin, last, f"{begin}..{last}")
            elif text == "all":
                per = Period(first, last, f"{first}..{last}")
            else:
                per = parse_period(text)
        except (PeriodError, DateError) as err:
            raise BadRequest(str(err), f"时段有误：{err}") from None
        if per.end < first or per.start > last:
            raise BadRequest(f"no data for {per.start}..{per.end}; the data covers "
                             f"{first}..{last}",
                             f"{per.start}..{per.end} 没有数据；数据覆盖 {first}..{last}")
        return per


def one_line(err: Exception, lang: str) -> BadRequest:
    """A library error as a BadRequest in the page's language."""
    if isinstance(err, BadRequest):
        return err
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, UnknownKeyword):
        return BadRequest(text, f"未知关键词：{text}")
    if isinstance(err, RegionError):
        return BadRequest(text, f"地区有误：{text}")
    return BadRequest(text, f"无法回答：{text}")
