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

import codecs
import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlite_utils import Database

from aicity.db import store
from aicity.spelling import SpellingError
from aicity.db.regions import RegionError

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
_EPOCH = date(1900, 1, 1).toordinal()
_TO_1970 = date(1970, 1, 1).toordinal() - _EPOCH   # obs counts days from 1970
# Every row's key (keyword, region, device, granularity, day) is packed into one int64 so that a
# single sort finds duplicates, groups series for granularity inference and orders the write
# like the primary key. Bits from the low end: day 17 (to 2258), granularity 1, device 2,
# region 16, keyword 20.
_DAY_BITS, _GRAN_SHIFT, _DEV_SHIFT, _REG_SHIFT, _KW_SHIFT = 17, 17, 18, 20, 36
_MAX_KEYWORDS, _MAX_REGION = 1 << 20, (1 << 16) - 1
CHUNK_ROWS = 250_000
MAX_EXACT = (1 << 53) - 1   # the largest whole number a float64 holds exactly
WRITE_BATCH = 250_000


# Rows held in memory before they go to partition files on disk (20 bytes a row: 2 M rows are
# 40 MB); a file of more rows is sorted and checked one partition at a time, so the import's
# memory does not grow with the file (a 2 GB file took 3.1 GB).
SPILL_ROWS = 2_000_000
# partitions of a spilled file: rows of one series (keyword, region, device) share one
PARTITION_ROWS = 1_000_000


class ImportFailed(ValueError):
    """A file that cannot be imported; the message is `file:line: reason`."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


_ROW = np.dtype([("key", "<i8"), ("value", "<f8"), ("line", "<i4")])


class _Rows:
    """The packed rows of a file as they are read: in memory while few, then spilled to
    partition files by series, each small enough to sort and check on its own."""

    def __init__(self, path: Path):
        self.expected = max(1, path.stat().st_size // 16)     # rows, at most (16 bytes a row)
        self.held: list[np.ndarray] = []
        self.count = 0
        self.folder = None
        self.parts = 0

    def add(self, keys: np.ndarray, values: np.ndarray, lines: np.ndarray) -> None:
        rows = np.empty(len(keys), dtype=_ROW)
        rows["key"], rows["value"], rows["line"] = keys, values, lines
        self.count += len(rows)
        if self.folder is None:
            self.held.append(rows)
            if self.count <= SPILL_ROWS:
                return
            import tempfile
            self.folder = tempfile.TemporaryDirectory(prefix="aicity-import-")
            self.parts = max(2, -(-self.expected // PARTITION_ROWS))
            rows, self.held = np.concatenate(self.held), []
        part = (rows["key"] >> _DEV_SHIFT) % self.parts      # a series' rows stay together
        order = np.argsort(part, kind="stable")
        rows, part = rows[order], part[order]
        bounds = np.searchsorted(part, np.arange(self.parts + 1))
        for i in range(self.parts):
            if bounds[i] < bounds[i + 1]:
                with open(Path(self.folder.name) / f"{i}.rows", "ab") as fh:
                    rows[bounds[i]:bounds[i + 1]].tofile(fh)

    def partitions(self):
        """Each partition's rows as arrays (keys, values, lines), sorted by key (stable: the
        first of equal keys is the first line)."""
        if self.folder is None:
            chunks = [np.concatenate(self.held)] if self.held else []
            self.held = []
        else:
            chunks = (np.fromfile(f, dtype=_ROW) for f in
                      sorted(Path(self.folder.name).glob("*.rows")))
        for rows in chunks:
            rows = rows[np.argsort(rows["key"], kind="stable")]
            yield rows["key"].copy(), rows["value"].copy(), rows["line"].copy()

    def close(self) -> None:
        if self.folder is not None:
            self.folder.cleanup()


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


# The byte-level checks read the file a block at a time: holding it whole (and its bytes
# compared, and the text decoded) peaked at three times the file's size, 1 GB for 340 MB.
BLOCK = 1 << 24


def _blocks(path: Path, start: int = 0):
    """(offset, bytes) of the file from `start`, a block at a time."""
    with path.open("rb") as fh:
        fh.seek(start)
        offset = start
        while block := fh.read(BLOCK):
            yield offset, block
            offset += len(block)


def _line_of(path: Path, offset: int) -> int:
    """The line (from 1) holding byte `offset`."""
    lines = 1
    for at, block in _blocks(path):
        lines += block.count(b"\n", 0, max(0, offset - at))
        if at + len(block) >= offset:
            break
    return lines


def _undecodable(path: Path, encoding: str, start: int = 0) -> int | None:
    """The offset of the first byte `encoding` cannot decode from `start` on, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    at = start
    for at, block in _blocks(path, start):
        held = len(decoder.getstate()[0])   # bytes of a character the last block cut
        try:
            decoder.decode(block)
        except UnicodeDecodeError as err:   # err.start counts from the held bytes
            return at - held + err.start
        at += len(block)
    held = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        return at - held + err.start
    return None


def _ascii_before(path: Path, offset: int) -> bool:
    for at, block in _blocks(path):
        part = np.frombuffer(block, dtype=np.uint8)[:max(0, offset - at)]
        if len(part) and part.max() >= 0x80:
            return False
        if at + len(block) >= offset:
            break
    return True


def _utf16(head: bytes) -> str:
    """'UTF-16LE' or 'UTF-16BE' when the file's first bytes are UTF-16 (a byte-order mark, or
    the NUL byte that UTF-16 puts beside every ASCII character, on one side), else ''."""
    if head[:2] == b"\xff\xfe":
        return "UTF-16LE"
    if head[:2] == b"\xfe\xff":
        return "UTF-16BE"
    pairs = len(head) // 2
    if pairs < 4:
        return ""
    even, odd = head[0:pairs * 2:2].count(0), head[1:pairs * 2:2].count(0)
    if odd > pairs // 4 and even == 0:
        return "UTF-16LE (without a byte-order mark)"
    if even > pairs // 4 and odd == 0:
        return "UTF-16BE (without a byte-order mark)"
    return ""


def detect_encoding(path: Path) -> str:
    """utf-8-sig for a BOM, else utf-8 if the whole file decodes, else gb18030 (a superset of
    GBK) if it does. A file that is UTF-8 up to one line and something else there is refused:
    decoding it all as GBK would store the UTF-8 part as mojibake keywords."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    utf16 = _utf16(head)
    if utf16:
        raise ImportFailed(f"{path}:1: the file is {utf16} text, not UTF-8 or GBK; save it as "
                           f"UTF-8 (Excel: CSV UTF-8) and import it again")
    bom = head[:3] == b"\xef\xbb\xbf"
    bad = _undecodable(path, "utf-8", 3 if bom else 0)
    if bad is None:
        return "utf-8-sig" if bom else "utf-8"
    if bom or not _ascii_before(path, bad):
        raise ImportFailed(f"{path}:{_line_of(path, bad)}: not valid UTF-8 although the lines "
                           f"before are (a line in another encoding?); save the whole file "
                           f"as UTF-8") from None
    bad = _undecodable(path, "gb18030")
    if bad is None:
        return "gb18030"
    raise ImportFailed(f"{path}:{_line_of(path, bad)}: not UTF-8 or GBK text")


def _first_short_row(path: Path, encoding: str, n_fields: int) -> tuple[int, int] | None:
    """(line, fields) of the first data line with fewer fields than the header: pandas reads
    a row cut off before its value as an empty value, which would be stored as missing.
    Separators and line ends are ASCII, which neither UTF-8 nor GBK uses inside a character,
    so the count runs on the raw bytes; files with quotes go through the csv module."""
    if n_fields < 2:
        return None
    carry, line = b"", 0          # the unfinished last line of the block before; lines done
    for _, block in _blocks(path):
        if b'"' in block:
            return _first_short_quoted(path, encoding, n_fields)
        data = carry + block
        raw = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(raw == 10)
        if not len(ends):
            carry = data
            continue
        short = _short_lines(data, raw[:ends[-1]], ends, line, n_fields)
        if short:
            return short
        line += len(ends)
        carry = data[ends[-1] + 1:]
    if carry:
        raw = np.frombuffer(carry, dtype=np.uint8)
        return _short_lines(carry, raw, np.array([len(carry)]), line, n_fields)
    return None


def _short_lines(data: bytes, raw: np.ndarray, ends: np.ndarray, line: int, n_fields: int
                 ) -> tuple[int, int] | None:
    """The first short line among those ending at `ends` in `data` (`line` lines before)."""
    commas = np.bincount(np.searchsorted(ends, np.flatnonzero(raw == 44)), minlength=len(ends))
    for i in np.flatnonzero(commas < n_fields - 1):
        if line + i == 0:
            continue                # the header
        start = ends[i - 1] + 1 if i else 0
        if data[start:ends[i]].strip():
            return line + int(i) + 1, int(commas[i]) + 1
    return None


def _first_short_quoted(path: Path, encoding: str, n_fields: int) -> tuple[int, int] | None:
    with path.open(encoding=encoding, newline="") as text:
        for i, row in enumerate(csv.reader(text), start=1):
            if i > 1 and row and len(row) < n_fields and any(c.strip() for c in row):
                return i, len(row)
    return None


def _parse_date(text: str) -> int | None:
    """Days since 1900-01-01 for YYYY-MM-DD (or YYYY/M/D), None if not a real date."""
    m = _DATE_RE.match(text.strip())
    if not m:
        return None
    try:
        day = date(int(m[1]), int(m[2]), int(m[3])).toordinal() - _EPOCH
    except ValueError:
        return None
    return day if 0 <= day < (1 << _DAY_BITS) else None


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
    header = [h.strip() for h in header]
    if not any(header):
        raise ImportFailed(f"{path}:1: the first line is blank; expected a header such as "
                           f"keyword,region,date,value")
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name and name in seen:
            # pandas would rename the second one to 'name.1' and import it as a keyword
            raise ImportFailed(f"{path}:1: column {i} repeats {name!r} (column {seen[name]})")
        seen.setdefault(name, i)
    return header


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


class BadRows:
    """Every bad row of a file, in file order: one error names them all (the first
    `NAMED` of them, then how many more), so a person fixes a file in one go."""
    NAMED = 10
    KEPT = 1000       # enough to name the first ones in file order; the rest are counted

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[tuple[int, str]] = []
        self.count = 0

    def add(self, lines, reason: str) -> None:
        lines = np.asarray(lines).ravel()
        self.count += len(lines)
        room = self.KEPT - len(self.rows)
        if room > 0:
            self.rows.extend((int(line), reason) for line in lines[:room])

    def __bool__(self) -> bool:
        return self.count > 0

    def error(self) -> ImportFailed:
        rows = sorted(self.rows)[:self.NAMED]
        (first, reason), rest = rows[0], rows[1:]
        text = f"{self.path}:{first}: {reason}"
        text += "".join(f"; line {line}: {why}" for line, why in rest)
        if self.count > len(rows):
            text += f"; and {self.count - len(rows):,} more bad rows"
        elif rest:
            text += f" ({self.count} bad rows)"
        return ImportFailed(text)


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
        reason = str(err).splitlines()[-1].strip()
        raise ImportFailed(f"{where}: malformed CSV ({reason})") from None


def _map_unique(values: pd.Series, fn, lines: np.ndarray, bad: BadRows, what: str,
                dtype=np.int64) -> np.ndarray:
    """Apply fn to each distinct string once; fn returns a number or raises ValueError or
    RegionError (every row with that string is then a bad row)."""
    codes, uniques = pd.factorize(values, sort=False)
    mapped = np.zeros(len(uniques), dtype=dtype)
    for i, text in enumerate(uniques):
        text = text.strip()  # once per distinct string, not once per cell
        try:
            mapped[i] = fn(text)
        except (RegionError, SpellingError) as err:
            bad.add(lines[codes == i], str(err))
        except (ValueError, KeyError) as err:
            bad.add(lines[codes == i], f"{what} {text!r} {err}")
    return mapped[codes]


def _values(raw: pd.Series, lines: np.ndarray, bad: BadRows) -> np.ndarray:
    """Values as float64 with NaN for empty (below Baidu's floor); non-numeric, negative and
    fractional values are bad rows."""
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    empty = (raw == "").to_numpy(copy=True)
    huge = ~np.isnan(num) & ~(np.abs(num) <= MAX_EXACT)
    for i in np.flatnonzero(huge):  # inf, or too large for a float to hold exactly
        bad.add([lines[i]], f"value {raw.iloc[i]!r} is not a finite number up to "
                            f"{MAX_EXACT:,}")
    wrong = np.isnan(num) & ~empty
    if wrong.any():  # white space alone also means empty
        blank = raw[wrong].str.strip() == ""
        empty[np.flatnonzero(wrong)[blank.to_numpy()]] = True
        wrong &= ~empty
    for i in np.flatnonzero(wrong):
        bad.add([lines[i]], f"value {raw.iloc[i]!r} is not a number")
    for i in np.flatnonzero(num < 0):
        bad.add([lines[i]], f"value {raw.iloc[i]!r} is negative")
    for i in np.flatnonzero(~np.isnan(num) & ~huge & (num != np.floor(num))):
        bad.add([lines[i]], f"value {raw.iloc[i]!r} is not a whole number")
    num[empty | huge | wrong] = np.nan
    return num


def _infer_granularity(keys: np.ndarray) -> np.ndarray:
    """Granularity bit per row of sorted, de-duplicated keys: 1 (week) for a series whose dates
    are all a multiple of 7 days apart, 0 otherwise (a single date counts as daily)."""
    n = len(keys)
    series = keys >> _GRAN_SHIFT
    new_series = np.empty(n, dtype=bool)
    new_series[0] = True
    np.not_equal(series[1:], series[:-1], out=new_series[1:])
    gaps = np.diff(keys & ((1 << _DAY_BITS) - 1))
    inner = ~new_series[1:]
    off_week = np.zeros(n, dtype=bool)
    off_week[1:] = inner & (gaps % 7 != 0)
    has_gap = np.zeros(n, dtype=bool)
    has_gap[1:] = inner
    starts = np.flatnonzero(new_series)
    weekly = ~np.logical_or.reduceat(off_week, starts) & np.logical_or.reduceat(has_gap, starts)
    return np.repeat(weekly, np.diff(np.append(starts, n))).astype(np.int64)


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
    short = _first_short_row(path, encoding, len(header))
    if short:
        raise ImportFailed(f"{path}:{short[0]}: {short[1]} fields where the header has "
                           f"{len(header)} (a row cut off?)")
    spell = store.keyword_spelling(db)
    colmap = _column_map(header)
    is_long = all(c in colmap for c in ("keyword", "region", "date", "value"))
    fixed_region = None
    if region is not None:
        try:
            fixed_region = resolve_region(region).code
        except RegionError as err:
            raise ImportFailed(f"{path}: --region: {err}") from None
    if is_long and fixed_region is not None:
        raise ImportFailed(f"{path}:1: --region is for the wide form; this file has a region "
                           f"column")
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

    bad = BadRows(path)
    keyword_names: dict[str, int] = {}  # term -> provisional index; ids assigned at write time
    packed = _Rows(path)
    try:
        return _import_rows(db, path, packed, keyword_names, bad, is_long, colmap, encoding,
                            fixed_region, fixed_device, granularity, resolve_region, spell,
                            registry, source)
    finally:
        packed.close()


def _import_rows(db, path, packed, keyword_names, bad, is_long, colmap, encoding, fixed_region,
                 fixed_device, granularity, resolve_region, spell, registry, source):
    """Read every row into `packed`, then check and store them (import_csv's body)."""
    last_row = (0, "")
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
        kw = _map_unique(chunk[cmap["keyword"]], _keyword_index(keyword_names, spell), lines,
                         bad, "keyword")
        if fixed_region is not None:
            reg = np.full(n, fixed_region, dtype=np.int64)
        else:
            reg = _map_unique(chunk[cmap["region"]], lambda t: resolve_region(t).code,
                              lines, bad, "region")
        days = _map_unique(chunk[cmap["date"]], _date_or_raise, lines, bad, "date")
        if fixed_device is not None:
            dev = np.zeros(n, dtype=np.int8) + store.DEVICES.index(fixed_device)
        elif "device" in cmap:
            dev = _map_unique(chunk[cmap["device"]], _device_index, lines, bad, "device",
                              dtype=np.int8)
        else:
            dev = np.zeros(n, dtype=np.int8)
        if granularity != "auto":
            gran = np.full(n, int(granularity == "week"), dtype=np.int64)
        elif "granularity" in cmap:
            gran = _map_unique(chunk[cmap["granularity"]], _gran_index, lines, bad,
                               "granularity")
        else:
            gran = np.zeros(n, dtype=np.int64)  # inferred below, once all rows are in
        if len(keyword_names) > _MAX_KEYWORDS:
            raise ImportFailed(f"{path}: more than {_MAX_KEYWORDS:,} distinct keywords")
        values = _values(chunk[cmap["value"]], lines, bad)
        if not bad:      # a file with a bad row is refused: its rows need not be kept
            packed.add((kw.astype(np.int64) << _KW_SHIFT) | (reg.astype(np.int64) << _REG_SHIFT)
                       | (dev.astype(np.int64) << _DEV_SHIFT) | (gran << _GRAN_SHIFT)
                       | days.astype(np.int64), values, lines.astype(np.int32))
        last_row = (int(lines[-1]), chunk[cmap["value"]].iloc[-1])
    if rows_read == 0:
        raise ImportFailed(f"{path}:2: no data rows")
    if last_row[1].strip() == "" and _cut_off(path):
        # "…,2017-02-02," and then nothing: the file stops inside its last row
        bad.add([last_row[0]], "the row has no value and the file ends without a newline "
                               "(cut off?); end the row with a newline if it is meant empty")
    if bad:
        raise bad.error()
    infer = granularity == "auto" and "granularity" not in cmap
    names = {v: k for k, v in keyword_names.items()}

    def checked():
        """Each partition's rows sorted, de-duplicated, their granularity inferred; the
        earliest conflicting duplicate of the whole file raised after the last."""
        conflict = None
        for keys, values, lines in packed.partitions():
            try:
                keep = _check_duplicates(keys, values, lines, path, names, registry)
            except ImportFailed as err:
                if conflict is None or err.line < conflict.line:
                    conflict = err
            if conflict is not None:
                continue        # nothing more is written: the transaction is rolled back
            if keep is not None:
                keys, values = keys[keep], values[keep]
            if infer:
                keys |= _infer_granularity(keys) << _GRAN_SHIFT
            yield keys, values
        if conflict is not None:
            raise conflict

    return _write(db, path, checked(), keyword_names, source, encoding,
                  "long" if is_long else "wide", rows_read)


def _cut_off(path: Path) -> bool:
    """The file does not end with a newline."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) not in (b"\n", b"\r")


def _keyword_index(names: dict[str, int], spell):
    """Provisional index of a keyword, by the keyword it spells (store.keyword_spelling): a
    taxonomy alias counts as its term (人工智慧 is 人工智能) and ＡＩ or ai as AI, so it joins the
    rankings instead of becoming a keyword of its own; a name with an invisible character is
    a bad row."""
    def index(text: str) -> int:
        if not text:
            raise ValueError("is empty")
        return names.setdefault(spell(text), len(names))
    return index


def _date_or_raise(text: str) -> int:
    day = _parse_date(text)
    if day is None:
        raise ValueError("is not a date (expected YYYY-MM-DD)")
    return day


def _device_index(text: str) -> int:
    text = text.lower()
    if not text:
        return 0
    if text not in DEVICE_ALIASES:
        raise ValueError("must be all, pc or wise")
    return store.DEVICES.index(DEVICE_ALIASES[text])


def _gran_index(text: str) -> int:
    text = text.lower()
    if text in ("", "day", "daily", "日"):
        return 0
    if text in ("week", "weekly", "周"):
        return 1
    raise ValueError("must be day or week")


def _unpack(key: int) -> tuple[int, int, int, int, int]:
    """(keyword index, region, device, granularity, day) of a packed key."""
    return (key >> _KW_SHIFT, (key >> _REG_SHIFT) & _MAX_REGION, (key >> _DEV_SHIFT) & 3,
            (key >> _GRAN_SHIFT) & 1, key & ((1 << _DAY_BITS) - 1))


def _check_duplicates(keys: np.ndarray, values: np.ndarray, lines: np.ndarray, path: Path,
                      names: dict[int, str], registry) -> np.ndarray | None:
    """Error on a key given twice with different values; else a mask keeping the first of each
    repeated key (None when nothing repeats). Arrays are sorted by key."""
    same = keys[1:] == keys[:-1]
    if not same.any():
        return None
    prev, cur = values[:-1], values[1:]
    differs = same & ~((cur == prev) | (np.isnan(cur) & np.isnan(prev)))
    if differs.any():
        # Report the earliest offending line in the file, not the first in key order.
        idx = np.flatnonzero(differs) + 1
        at = idx[np.argmin(lines[idx])]
        first = at - 1
        while first > 0 and keys[first - 1] == keys[at]:
            first -= 1
        kw, region, _, _, day = _unpack(int(keys[at]))
        raise ImportFailed(
            f"{path}:{lines[at]}: {names[kw]} / {registry.by_code[region].name} / {_iso(day)} "
            f"was already given a different value at line {lines[first]}", int(lines[at]))
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = ~same
    return keep


def _file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _write(db: Database, path: Path, partitions, keyword_names: dict[str, int], source: str,
           encoding: str, form: str, rows_read: int) -> ImportResult:
    """Store the checked rows of every partition in one transaction: a partition that fails
    its check (or any error) rolls back what the others wrote."""
    day_mask = (1 << _DAY_BITS) - 1
    detail = {"file": str(path.resolve()), "sha256": _file_digest(path), "encoding": encoding,
              "form": form, "rows_read": rows_read}
    gran_counts = {"day": 0, "week": 0}
    regions: set[int] = set()
    with db.atomic():
        run = store.start_run(db, "import", source, detail)
        ids = store.keyword_ids(db, keyword_names)
        id_of = np.zeros(len(keyword_names), dtype=np.int64)
        for term, idx in keyword_names.items():
            id_of[idx] = ids[term]
        written = 0
        pairs: dict[tuple[int, int], tuple[int, int]] = {}
        for keys, values in partitions:
            n = len(keys)
            weekly = int(((keys >> _GRAN_SHIFT) & 1).sum())
            gran_counts["week"] += weekly
            gran_counts["day"] += n - weekly
            regions.update(np.unique((keys >> _REG_SHIFT) & _MAX_REGION).tolist())
            for lo in range(0, n, WRITE_BATCH):
                hi = min(n, lo + WRITE_BATCH)
                k = keys[lo:hi]
                batch_values = values[lo:hi]
                value_list = np.nan_to_num(batch_values, nan=0.0).astype(np.int64).tolist()
                for i in np.flatnonzero(np.isnan(batch_values)).tolist():
                    value_list[i] = None
                # the device and granularity bits are obs' own codes (store.DEVICES order,
                # week=1); the keys are sorted, as the function needs
                written += store.upsert_obs_sorted(
                    db, id_of[k >> _KW_SHIFT], (k >> _REG_SHIFT) & _MAX_REGION,
                    (k >> _DEV_SHIFT) & 3, (k >> _GRAN_SHIFT) & 1, (k & day_mask) - _TO_1970,
                    value_list, run.id)
            series = keys >> _GRAN_SHIFT  # keyword, region, device, granularity
            starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
            ends = np.r_[starts[1:], len(keys)] - 1
            for a, b in zip(starts.tolist(), ends.tolist()):
                kw, region, _, _, first = _unpack(int(keys[a]))
                last = _unpack(int(keys[b]))[4]
                key = (int(id_of[kw]), region)
                lo, hi = pairs.get(key, (first, last))
                pairs[key] = (min(lo, first), max(hi, last))
        store.record_touched(db, run.id, [(k, r, _iso(lo), _iso(hi))
                                          for (k, r), (lo, hi) in pairs.items()])
        detail["granularity"] = gran_counts
        store.finish_run(db, run, "ok", written, detail)
    return ImportResult(path=str(path), form=form, encoding=encoding, rows_read=rows_read,
                        rows_written=written, keywords=len(keyword_names),
                        regions=len(regions), granularity=gran_counts, run_id=run.id)
