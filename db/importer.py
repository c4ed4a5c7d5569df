"""Import observations from CSV, all or nothing.

Two layouts are accepted:

* long: ``keyword,region,date,value`` (optional ``device`` and ``granularity`` columns; Chinese
  headers 关键词, 地区/城市, 日期, 指数/搜索指数 are understood);
* wide, as Baidu Index export tools write it: a date column plus one column per keyword, for the
  single region given with ``region=``.

The whole file is parsed and checked before anything is written, and the write is one
transaction, so a bad row leaves the database exactly as it was. Errors read ``file:line: reason``.
"""
from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlite_utils import Database

from db import store
from db.regions import RegionError

LONG_ALIASES = {
    "keyword": ("keyword", "关键词", "词"),
    "region": ("region", "地区", "城市", "area", "region_code"),
    "date": ("date", "日期", "day", "week"),
    "value": ("value", "指数", "搜索指数", "index"),
    "device": ("device", "设备", "端"),
    "granularity": ("granularity", "粒度"),
}
WIDE_DATE_HEADERS = ("date", "日期", "时间", "day", "week")
DEVICE_ALIASES = {"all": "all", "pc": "pc", "wise": "wise", "mobile": "wise", "pc+移动": "all",
                  "移动": "wise", "整体": "all"}
_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_EPOCH = date(1970, 1, 1).toordinal()
CHUNK_ROWS = 1_000_000
WRITE_BATCH = 250_000


class ImportFailed(ValueError):
    """A file that cannot be imported; the message is `file:line: reason`."""


@dataclass
class ImportResult:
    path: str
    form: str
    encoding: str
    rows_read: int
    rows_written: int
    keywords: int
    regions: int
    granularity: dict = field(default_factory=dict)
    run_id: int | None = None


def detect_encoding(path: Path) -> str:
    """utf-8-sig for a BOM, else utf-8 if the head decodes, else gb18030 (a superset of GBK)."""
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the 1 MiB boundary is not evidence against UTF-8.
        if err.start >= len(head) - 3:
            return "utf-8"
    try:
        head.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        raise ImportFailed(f"{path}:1: not UTF-8 or GBK text") from None


def _parse_date(text: str) -> int | None:
    """Days since 1970-01-01 for YYYY-MM-DD (or YYYY/M/D), None if not a real date."""
    m = _DATE_RE.match(text.strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).toordinal() - _EPOCH
    except ValueError:
        return None


def _iso(day: int) -> str:
    return date.fromordinal(day + _EPOCH).isoformat()


def _read_header(path: Path, encoding: str) -> list[str]:
    with path.open(encoding=encoding, newline="") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise ImportFailed(f"{path}:1: the file is empty") from None
        except UnicodeDecodeError:
            raise ImportFailed(f"{path}:1: not valid {encoding} text") from None
    return [h.strip() for h in header]


def _column_map(header: list[str]) -> dict[str, str]:
    """Map our canonical column names to the file's header names, for the long form."""
    lowered = {h.lower(): h for h in header}
    found = {}
    for canon, names in LONG_ALIASES.items():
        for name in names:
            if name in lowered:
                found[canon] = lowered[name]
                break
    return found


def _first_bad(mask: np.ndarray, lines: np.ndarray) -> int:
    return int(lines[np.flatnonzero(mask)[0]])


class _Columns:
    """Validated rows accumulated over chunks as compact arrays (about 30 bytes a row)."""

    def __init__(self):
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                                   ("kw", "region", "device", "date", "value",
                                                    "gran", "line")}

    def add(self, **arrays: np.ndarray) -> None:
        for key, arr in arrays.items():
            self.parts[key].append(arr)

    def build(self) -> dict[str, np.ndarray]:
        return {k: (np.concatenate(v) if v else np.array([], dtype=np.int64))
                for k, v in self.parts.items()}


def _read_chunks(path: Path, encoding: str, usecols=None):
    try:
        yield from pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False,
                               skip_blank_lines=False, chunksize=CHUNK_ROWS, usecols=usecols,
                               skipinitialspace=True)
    except UnicodeDecodeError:
        raise ImportFailed(f"{path}: not valid {encoding} text (mixed encodings?)") from None
    except pd.errors.ParserError as err:
        line = re.search(r"line (\d+)", str(err))
        where = f"{path}:{line[1]}" if line else str(path)
        raise ImportFailed(f"{where}: malformed CSV ({str(err).splitlines()[-1].strip()})") from None


def _map_unique(values: pd.Series, fn, lines: np.ndarray, path: Path, what: str,
                dtype=np.int64) -> np.ndarray:
    """Apply fn to each distinct string once; fn returns a number or raises ValueError/RegionError."""
    codes, uniques = pd.factorize(values, sort=False)
    mapped = np.empty(len(uniques), dtype=dtype)
    for i, text in enumerate(uniques):
        try:
            mapped[i] = fn(text)
        except RegionError as err:
            line = _first_bad(codes == i, lines)
            raise ImportFailed(f"{path}:{line}: {err}") from None
        except (ValueError, KeyError) as err:
            line = _first_bad(codes == i, lines)
            raise ImportFailed(f"{path}:{line}: {what} {text!r} {err}") from None
    return mapped[codes]


def _values(raw: pd.Series, lines: np.ndarray, path: Path) -> np.ndarray:
    """Values as float64 with NaN for missing; rejects non-numeric, negative, fractional."""
    text = raw.str.strip()
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    empty = (text == "").to_numpy()
    bad = np.isnan(num) & ~empty
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise ImportFailed(f"{path}:{lines[i]}: value {raw.iloc[i]!r} is not a number")
    neg = num < 0
    if neg.any():
        i = np.flatnonzero(neg)[0]
        raise ImportFailed(f"{path}:{lines[i]}: value {raw.iloc[i]!r} is negative")
    frac = ~np.isnan(num) & (num != np.floor(num))
    if frac.any():
        i = np.flatnonzero(frac)[0]
        raise ImportFailed(f"{path}:{lines[i]}: value {raw.iloc[i]!r} is not a whole number")
    num[empty] = np.nan
    return num


def _infer_granularity(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Per series (keyword, region, device): weekly when all its dates are 7·k days apart."""
    frame = pd.DataFrame({"kw": cols["kw"], "region": cols["region"], "device": cols["device"],
                          "date": cols["date"]})
    frame = frame.drop_duplicates().sort_values(["kw", "region", "device", "date"])
    gaps = frame.groupby(["kw", "region", "device"], sort=False)["date"].diff()
    frame["off_week"] = gaps.notna() & (gaps % 7 != 0)
    frame["has_gap"] = gaps.notna()
    per_series = frame.groupby(["kw", "region", "device"]).agg(
        off=("off_week", "any"), gaps=("has_gap", "any"))
    weekly = per_series[~per_series["off"] & per_series["gaps"]].index
    key = pd.MultiIndex.from_arrays([cols["kw"], cols["region"], cols["device"]])
    return key.isin(weekly).astype(np.int8)  # 1 = week


def import_csv(db: Database, path: str | Path, *, level: str | None = None,
               region: str | None = None, granularity: str = "auto", device: str | None = None,
               source: str = "import") -> ImportResult:
    """Import one CSV file into `db`; raises ImportFailed and writes nothing on any bad row."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    if granularity not in ("auto", "day", "week"):
        raise ImportFailed(f"{path}: granularity must be auto, day or week, not {granularity!r}")
    store.require_schema(db)
    registry = store.registry(db)
    resolve_region = registry.resolver(level)
    encoding = detect_encoding(path)
    header = _read_header(path, encoding)
    colmap = _column_map(header)
    is_long = all(c in colmap for c in ("keyword", "region", "date", "value"))
    fixed_region = None
    if region is not None:
        try:
            fixed_region = resolve_region(region).code
        except RegionError as err:
            raise ImportFailed(f"{path}: --region: {err}") from None
    if is_long and fixed_region is not None:
        raise ImportFailed(f"{path}:1: --region is for the wide form; this file has a region column")
    if not is_long:
        if header[0].lower() not in WIDE_DATE_HEADERS or len(header) < 2:
            raise ImportFailed(f"{path}:1: header {','.join(header)!r} is neither the long form "
                               f"keyword,region,date,value nor a date column plus keyword columns")
        if fixed_region is None:
            raise ImportFailed(f"{path}:1: wide form (a date column plus one column per keyword) "
                               f"needs --region")
        empty_heads = [i + 1 for i, h in enumerate(header) if not h]
        if empty_heads:
            raise ImportFailed(f"{path}:1: column {empty_heads[0]} has no keyword in the header")
    fixed_device = None
    if device is not None:
        fixed_device = DEVICE_ALIASES.get(device.lower())
        if fixed_device is None:
            raise ImportFailed(f"{path}: --device must be all, pc or wise, not {device!r}")

    keyword_names: dict[str, int] = {}  # term -> provisional index; ids assigned at write time
    cols = _Columns()
    explicit_gran: list[np.ndarray] = []
    rows_read = 0
    next_line = 2
    for chunk in _read_chunks(path, encoding):
        lines = np.arange(next_line, next_line + len(chunk), dtype=np.int64)
        next_line += len(chunk)
        chunk.columns = [str(c).strip() for c in chunk.columns]
        blank = (chunk == "").all(axis=1).to_numpy()
        if blank.any():
            chunk, lines = chunk[~blank], lines[~blank]
        if chunk.empty:
            continue
        if not is_long:
            date_col = chunk.columns[0]
            melted = chunk.melt(id_vars=[date_col], var_name="keyword", value_name="value",
                                ignore_index=False)
            row_lines = pd.Series(lines, index=chunk.index)
            lines = row_lines.loc[melted.index].to_numpy()
            chunk = pd.DataFrame({"keyword": melted["keyword"].to_numpy(),
                                  "date": melted[date_col].to_numpy(),
                                  "value": melted["value"].to_numpy()})
            chunk["region"] = ""
            cmap = {"keyword": "keyword", "region": "region", "date": "date", "value": "value"}
        else:
            cmap = colmap
        n = len(chunk)
        rows_read += n
        kw_text = chunk[cmap["keyword"]].str.strip()
        if (kw_text == "").any():
            raise ImportFailed(f"{path}:{_first_bad((kw_text == '').to_numpy(), lines)}: "
                               f"empty keyword")
        kw = _map_unique(kw_text, lambda t: keyword_names.setdefault(t, len(keyword_names)),
                         lines, path, "keyword")
        if fixed_region is not None:
            reg = np.full(n, fixed_region, dtype=np.int64)
        else:
            reg = _map_unique(chunk[cmap["region"]].str.strip(), lambda t: resolve_region(t).code,
                              lines, path, "region")
        days = _map_unique(chunk[cmap["date"]], _date_or_raise, lines, path, "date")
        if fixed_device is not None:
            dev = np.zeros(n, dtype=np.int8) + store.DEVICES.index(fixed_device)
        elif "device" in cmap:
            dev = _map_unique(chunk[cmap["device"]].str.strip().str.lower(), _device_index, lines,
                              path, "device", dtype=np.int8)
        else:
            dev = np.zeros(n, dtype=np.int8)
        if "granularity" in cmap and granularity == "auto":
            explicit_gran.append(_map_unique(chunk[cmap["granularity"]].str.strip().str.lower(),
                                             _gran_index, lines, path, "granularity",
                                             dtype=np.int8))
        cols.add(kw=kw.astype(np.int32), region=reg.astype(np.int32), device=dev,
                 date=days.astype(np.int32), value=_values(chunk[cmap["value"]], lines, path),
                 line=lines.astype(np.int64))
    data = cols.build()
    if rows_read == 0:
        raise ImportFailed(f"{path}:2: no data rows")

    if explicit_gran:
        data["gran"] = np.concatenate(explicit_gran)
    elif granularity == "auto":
        data["gran"] = _infer_granularity(data)
    else:
        data["gran"] = np.full(rows_read, int(granularity == "week"), dtype=np.int8)

    keep = _check_duplicates(data, path, {v: k for k, v in keyword_names.items()}, registry)
    for key in data:
        data[key] = data[key][keep]

    return _write(db, path, data, keyword_names, source, encoding,
                  "long" if is_long else "wide", rows_read)


def _date_or_raise(text: str) -> int:
    day = _parse_date(text)
    if day is None:
        raise ValueError("is not a date (expected YYYY-MM-DD)")
    return day


def _device_index(text: str) -> int:
    if not text:
        return 0
    if text not in DEVICE_ALIASES:
        raise ValueError("must be all, pc or wise")
    return store.DEVICES.index(DEVICE_ALIASES[text])


def _gran_index(text: str) -> int:
    if text in ("", "day", "daily", "日"):
        return 0
    if text in ("week", "weekly", "周"):
        return 1
    raise ValueError("must be day or week")


def _check_duplicates(data: dict[str, np.ndarray], path: Path, names: dict[int, str],
                      registry) -> np.ndarray:
    """Error on a key given twice with different values; return a mask keeping one of each key."""
    order = np.lexsort((data["line"], data["date"], data["gran"], data["device"], data["region"],
                        data["kw"]))
    same_key = np.ones(len(order), dtype=bool)
    same_key[0] = False
    for key in ("kw", "region", "device", "gran", "date"):
        arr = data[key][order]
        same_key[1:] &= arr[1:] == arr[:-1]
    if not same_key.any():
        return np.ones(len(order), dtype=bool)
    vals = data["value"][order]
    prev = np.roll(vals, 1)
    differs = same_key & ~((vals == prev) | (np.isnan(vals) & np.isnan(prev)))
    if differs.any():
        # Report the earliest offending line in the file, not the first in key order.
        idx = np.flatnonzero(differs)
        at = idx[np.argmin(data["line"][order][idx])]
        i, j = order[at], order[at - 1]
        region = registry.by_code[int(data["region"][i])].name
        raise ImportFailed(
            f"{path}:{data['line'][i]}: {names[int(data['kw'][i])]} / {region} / "
            f"{_iso(int(data['date'][i]))} was already given a different value at line "
            f"{data['line'][j]}")
    keep = np.ones(len(order), dtype=bool)
    keep[order[same_key]] = False
    return keep


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _write(db: Database, path: Path, data: dict[str, np.ndarray], keyword_names: dict[str, int],
           source: str, encoding: str, form: str, rows_read: int) -> ImportResult:
    uniq_days, day_idx = np.unique(data["date"], return_inverse=True)
    iso_days = np.array([_iso(int(d)) for d in uniq_days], dtype=object)
    devices = np.array(store.DEVICES, dtype=object)
    grans = np.array(store.GRANULARITIES, dtype=object)
    fetched_at = store.now_iso()
    detail = {"file": str(path.resolve()), "sha256": _file_digest(path), "encoding": encoding,
              "form": form, "rows_read": rows_read}
    n = len(data["kw"])
    with db.atomic():
        run = store.start_run(db, "import", source, detail)
        ids = store.keyword_ids(db, keyword_names)
        id_of = np.zeros(len(keyword_names), dtype=np.int64)
        for term, idx in keyword_names.items():
            id_of[idx] = ids[term]
        written = 0
        for lo in range(0, n, WRITE_BATCH):
            hi = min(n, lo + WRITE_BATCH)
            values = data["value"][lo:hi]
            value_list = np.nan_to_num(values, nan=0.0).astype(np.int64).tolist()
            for i in np.flatnonzero(np.isnan(values)).tolist():
                value_list[i] = None
            rows = zip(id_of[data["kw"][lo:hi]].tolist(), data["region"][lo:hi].tolist(),
                       devices[data["device"][lo:hi]].tolist(), grans[data["gran"][lo:hi]].tolist(),
                       iso_days[day_idx[lo:hi]].tolist(), value_list,
                       [source] * (hi - lo), [fetched_at] * (hi - lo), [run.id] * (hi - lo))
            written += store.upsert_observations(db, rows)
        gran_counts = {g: int((data["gran"] == i).sum()) for i, g in enumerate(store.GRANULARITIES)}
        detail["granularity"] = gran_counts
        store.finish_run(db, run, "ok", written, detail)
    return ImportResult(path=str(path), form=form, encoding=encoding, rows_read=rows_read,
                        rows_written=written, keywords=len(keyword_names),
                        regions=int(len(np.unique(data["region"]))), granularity=gran_counts,
                        run_id=run.id)

