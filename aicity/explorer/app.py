"""The explorer's web application (Starlette): pages, their JSON API and downloads.

Every route reads a checked Query (params.py), answers from views.py and never writes: the
database is opened read-only, one connection per worker thread. The whole state of a view is in
its URL. plotly.js is sent from the installed `plotly` package; the page loads nothing from any
other host.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.responses import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse,
                                 RedirectResponse, Response)
from starlette.routing import Route

from aicity.db import store
from aicity.explorer import views
from aicity.explorer.params import MAX_QUERY, MAX_ROWS, MAX_SERIES, BadRequest, Query, one_line
from aicity.explorer.text import LANGS, words
from aicity.service.selection import data_span
from aicity.service.tables import _round, cell_text, emit_rows, frame_rows

logger = logging.getLogger(__name__)
VIEWS = ("explore", "map", "rankings", "movers", "status")
FORMATS = ("csv", "json", "xlsx")
CACHED = 256                     # answers kept for the current data (a repeated view is instant)


def plotly_js() -> Path:
    """plotly.min.js as the installed plotly package ships it."""
    return Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))


class Explorer:
    """The application's state: where the database is, a read-only connection per thread, and
    views already answered for the current data."""

    def __init__(self, db_path, lang: str = "zh"):
        self.db_path = db_path
        self.lang = lang if lang in LANGS else "zh"
        self.local = threading.local()
        self.cache: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.templates = Environment(loader=PackageLoader("aicity.explorer", "templates"),
                                     autoescape=select_autoescape(["html"]))
        # a page's table is the CLI's: plain rows (frame_rows), cells as the table prints them
        self.templates.globals.update(cell=cell_text, rows=_rows, urlencode=urlencode)

    def db(self):
        db = getattr(self.local, "db", None)
        if db is None:
            db = self.local.db = store.connect(self.db_path, readonly=True)
            store.require_schema(db)
        return db

    def memo(self, key, build):
        """An answer for the current data: built once, then shared by every view and thread
        until the data changes (a new run); at most CACHED kept."""
        stamp = (key, store.runs_version(self.db()))
        with self.lock:
            if stamp in self.cache:
                self.cache.move_to_end(stamp)
                return self.cache[stamp]
        value = build()
        with self.lock:
            self.cache[stamp] = value
            while len(self.cache) > CACHED:
                self.cache.popitem(last=False)
        return value

    def warm(self) -> None:
        """Answer the common questions once at start, in the background, so the first analyst
        meets a full cache: every dimension's city ranking (each region page, the map), and the
        default pages. A failure here is only a cold cache."""
        from starlette.datastructures import QueryParams
        try:
            for name, params in (("rankings", ""), ("map", ""), ("movers", ""),
                                 ("rankings", "uncertainty=1"), ("explore", "")):
                build_view(self, name, Query(QueryParams(params), self.lang, self.memo))
            db = self.db()
            q = Query(QueryParams(""), self.lang, self.memo)
            per = q.period(data_span(db))
            for dim in views.DIMENSION_CHOICES:
                views.ranking(db, q, per, dim, "city")
            for dim in views.DIMENSION_CHOICES:        # the region pages' intervals
                views.ranking(db, q, per, dim, "city", uncertainty=True)
        except Exception:      # noqa: BLE001 - a cold cache, not an error anyone must see
            logger.debug("explorer: warm-up stopped", exc_info=True)

    def answer(self, name: str, q: Query, key: str, build):
        db = self.db()
        return self.memo((name, key), lambda: build(db, q))


# the pages whose answers are kept for the current data (status is about now: never kept)
CACHED_VIEWS = {"explore": views.explore, "map": views.map_view, "rankings": views.rankings,
                "movers": views.movers}


def build_view(app: Explorer, name: str, q: Query, code: int | None = None):
    key = str(sorted(q.params.multi_items())) + (f"#{code}" if code is not None else "")
    if name in CACHED_VIEWS:
        return app.answer(name, q, key, CACHED_VIEWS[name])
    if name == "region":
        return app.answer(name, q, key, lambda db, q_: views.region(db, q_, code))
    if name == "status":
        return views.status(app.db(), q, app.db_path)
    raise BadRequest(f"no view {name!r}; views: {', '.join(VIEWS)}",
                     f"没有视图 {name!r}；可用：{'、'.join(VIEWS)}", status=404)


def create_app(db_path, lang: str = "zh", warm: bool = True) -> Starlette:
    explorer = Explorer(db_path, lang)

    def query(request) -> Query:
        if len(request.url.query) > MAX_QUERY:
            raise BadRequest(f"the query string has {len(request.url.query):,} characters; at "
                             f"most {MAX_QUERY:,}", f"查询串有 {len(request.url.query):,} 个字符；"
                             f"最多 {MAX_QUERY:,}", status=414)
        return Query(request.query_params, explorer.lang, explorer.memo)

    def failure(request, err: Exception) -> Response:
        lang = request.query_params.get("lang", explorer.lang)
        lang = lang if lang in LANGS else explorer.lang
        bad = one_line(err, lang) if isinstance(err, (BadRequest, ValueError, LookupError,
                                                       RuntimeError)) else None
        if bad is None:
            logger.exception("explorer: %s failed", request.url.path)
            bad = BadRequest(f"the server could not answer ({type(err).__name__})",
                             f"服务器无法回答（{type(err).__name__}）", status=500)
        if request.url.path.startswith(("/api/", "/download/")):
            return JSONResponse({"error": bad.said(lang)}, status_code=bad.status)
        page = explorer.templates.get_template("error.html").render(
            w=words(lang), lang=lang, message=bad.said(lang), status=bad.status, nav=_nav(
                request, lang), view=None)
        return HTMLResponse(page, status_code=bad.status)

    def guarded(handler):
        def run(request):
            try:
                return handler(request)
            except Exception as err:     # every failure is one line, never a traceback
                return failure(request, err)
        return run

    def page(request, name: str, code: int | None = None):
        q = query(request)
        view = build_view(explorer, name, q, code)
        db = explorer.db()
        context = {"w": words(q.lang), "lang": q.lang, "view": view,
                   "nav": _nav(request, q.lang), "query": request.url.query,
                   "downloads": _downloads(request, name, code),
                   "figure": json.dumps(view.figure, ensure_ascii=False, allow_nan=False)
                   if view.figure else None,
                   "limits": words(q.lang)["limits"].format(series=MAX_SERIES,
                                                            rows=f"{MAX_ROWS:,}"),
                   "choices": _choices(db, q.lang) if name in ("explore",) else None,
                   "params": q.params}
        html = explorer.templates.get_template(f"{name}.html").render(**context)
        return HTMLResponse(html)

    @guarded
    def home(request):
        return RedirectResponse(f"/explore?{request.url.query}" if request.url.query
                                else "/explore", status_code=302)

    @guarded
    def view_page(request):
        name = request.path_params["view"]
        if name not in VIEWS:
            raise BadRequest(f"no page {name!r}", f"没有页面 {name!r}", status=404)
        return page(request, name)

    @guarded
    def region_page(request):
        return page(request, "region", _code(request.path_params["code"]))

    @guarded
    def api(request):
        name = request.path_params["view"]
        code = None
        if name.startswith("region/"):
            name, code = "region", _code(name.split("/", 1)[1])
        view = build_view(explorer, name, query(request), code)
        columns, rows = _rows(view.table)
        out = io.StringIO()
        emit_rows(columns, rows, "json", out)
        headers = {"X-Aicity-Period": f"{view.period.start}..{view.period.end}"
                   if view.period else "", "X-Aicity-Simulated": str(view.simulated).lower()}
        return Response(out.getvalue(), media_type="application/json; charset=utf-8",
                        headers=headers)

    @guarded
    def download(request):
        name, _, fmt = request.path_params["file"].rpartition(".")
        code = None
        if name.startswith("region-"):
            name, code = "region", _code(name.split("-", 1)[1])
        if fmt not in FORMATS or not (name in VIEWS or name == "region"):
            raise BadRequest(f"no download {request.path_params['file']!r}: "
                             f"<view>.csv, .json or .xlsx",
                             f"没有这个下载：{request.path_params['file']!r}", status=404)
        view = build_view(explorer, name, query(request), code)
        columns, rows = _rows(view.table)
        if len(rows) > MAX_ROWS:
            raise BadRequest(f"{len(rows):,} rows: a download holds at most {MAX_ROWS:,}",
                             f"{len(rows):,} 行：下载最多 {MAX_ROWS:,} 行", status=413)
        filename = f"aicity-{name}{'-' + str(code) if code is not None else ''}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if fmt == "xlsx":
            return Response(_workbook(columns, rows), headers=headers, media_type=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        out = io.StringIO()
        emit_rows(columns, rows, fmt, out)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        return Response(out.getvalue(), media_type=media, headers=headers)

    @guarded
    def briefing(request):
        stem, _, fmt = request.path_params["file"].rpartition(".")
        if fmt not in ("csv", "xlsx"):
            raise BadRequest("a briefing downloads as .csv or .xlsx",
                             "简报可下载为 .csv 或 .xlsx", status=404)
        code = _code(stem)
        q = query(request)
        data = explorer.memo(("briefing", code, q.lang, fmt),
                             lambda: _briefing_bytes(explorer.db_path, code, q.lang, fmt))
        media = "text/csv; charset=utf-8" if fmt == "csv" else \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="aicity-briefing-{code}.{fmt}"'})

    def static(request):
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript",
                                headers={"Cache-Control": "max-age=86400"})
        if name not in ("explorer.js", "explorer.css"):
            return PlainTextResponse("not found", status_code=404)
        text = resources.files("aicity.explorer").joinpath("static", name).read_text("utf-8")
        return Response(text, media_type="text/javascript" if name.endswith(".js")
                        else "text/css")

    def favicon(request):
        return Response(status_code=204)

    routes = [Route("/", home), Route("/region/{code}", region_page),
              Route("/api/{view:path}", api), Route("/download/briefing/{file}", briefing),
              Route("/download/{file}", download), Route("/static/{name}", static),
              Route("/favicon.ico", favicon), Route("/{view}", view_page)]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        if warm:
            threading.Thread(target=explorer.warm, name="aicity-warm-up", daemon=True).start()
        yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.explorer = explorer
    return app


def _code(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{text!r} is not an area code", f"{text!r} 不是地区代码",
                         status=404) from None


def _rows(table: pd.DataFrame | None) -> tuple[list[str], list[tuple]]:
    if table is None:
        return [], []
    return frame_rows(table)


def _workbook(columns: list[str], rows: list[tuple]) -> bytes:
    import xlsxwriter
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "nan_inf_to_errors": True})
    sheet = book.add_worksheet("aicity")
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, columns, bold)
    for i, row in enumerate(rows, start=1):
        sheet.write_row(i, 0, ["" if v is None else _round(v, c) for v, c in zip(row, columns)])
    sheet.freeze_panes(1, 0)
    book.close()
    return out.getvalue()


def _briefing_bytes(db_path, code: int, lang: str, fmt: str) -> bytes:
    """A region's briefing as `aicity export briefing --region` writes it (CSV with a BOM, or
    the workbook), read back from a temporary folder."""
    from aicity.service.export import export_briefings
    with tempfile.TemporaryDirectory(prefix="aicity-briefing-") as tmp:
        result = export_briefings(db_path, Path(tmp), region=str(code), lang=lang,
                                  xlsx=fmt == "xlsx", readonly=True)
        path = result.workbook if fmt == "xlsx" else result.files[0]
        return path.read_bytes()


def _nav(request, lang: str) -> dict:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    other = "en" if lang == "zh" else "zh"
    return {"switch": f"{request.url.path}?{urlencode(params + [('lang', other)])}",
            "other": "English" if other == "en" else "中文", "lang": lang}


def _downloads(request, name: str, code: int | None) -> dict:
    stem = f"region-{code}" if code is not None else name
    q = request.url.query
    return {fmt: f"/download/{stem}.{fmt}" + (f"?{q}" if q else "") for fmt in FORMATS} | {
        "api": f"/api/{'region/' + str(code) if code is not None else name}"
               + (f"?{q}" if q else "")}


def _choices(db, lang: str) -> dict:
    """What the explore form offers: keywords, dimensions, groups and regions."""
    from aicity.vocabulary import DIMENSIONS
    series = [f"d:{d}" for d in DIMENSIONS]
    series += [f"g:{d}/{g}" for d, groups in DIMENSIONS.items() for g in groups]
    series += [f"k:{t}" for t in store.taxonomy_terms(db)]
    regions = [r.name for r in store.registry(db) if not r.legacy]
    return {"series": series, "regions": regions}
