"""How result tables are written: an aligned table, CSV or JSON, numbers rounded alike.

The command line prints with these, and the explorer's downloads and JSON API answer with them,
so a download is byte for byte what `--format csv` prints. No pandas needed to write rows:
`aicity rank` answers at once.
"""
from __future__ import annotations

import csv
import json
import sys
import unicodedata
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def frame_rows(frame: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """A frame's columns and rows of plain values (None for missing)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [str(c) for c in frame.columns], [
        tuple(v.item() if isinstance(v, np.generic) else v for v in row)
        for row in plain.itertuples(index=False, name=None)]


def emit_rows(columns: list[str], rows: list[tuple], fmt: str, out=None) -> None:
    """Print rows of plain values (int, float, text, bool, None) as an aligned table, CSV
    (UTF-8, header) or a JSON list of objects. No pandas: `aicity regions` and `aicity rank`
    answer at once. Floats are rounded to DECIMALS (numpy's rounding, as a frame's round())."""
    out = out or sys.stdout
    rows = [tuple(_round(v, c) for v, c in zip(row, columns)) for row in rows]
    if fmt == "csv":
        from aicity.service.cells import neutralise
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([neutralise(c) for c in columns])
        writer.writerows(["" if v is None else neutralise(v) for v in row] for row in rows)
    elif fmt == "json":
        out.write(json.dumps([dict(zip(columns, row)) for row in rows], ensure_ascii=False,
                             indent=1) + "\n")
    elif not rows:
        out.write("(no rows)\n")
    else:
        # right-aligned, one space apart, floats to at most six decimals with room for a sign
        # (the look of pandas' to_string, which these tables had before)
        # widths in terminal columns: 成都市 takes six, not three (they did not line up)
        cells = [list(columns)] + [[_cell(v) for v in row] for row in rows]
        widths = [max(display_width(r[i]) for r in cells) for i in range(len(columns))]
        out.write("\n".join(" ".join(" " * (w - display_width(text)) + text
                                      for text, w in zip(r, widths))
                             for r in cells) + "\n")


def cell_text(value, column: str) -> str:
    """One plain value (frame_rows) as the aligned table prints it in `column`: rounded as
    every table rounds, empty for none. The explorer's pages show cells with it."""
    return _cell(_round(value, column))


def display_width(text: str) -> int:
    """Terminal columns a text takes: wide and full-width characters (CJK) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value: .6f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(value)


# Every table shows numbers with the same decimals (coordinates keep the registry's six).
DECIMALS = 4
KEEP_DECIMALS = {"lon": 6, "lat": 6}


def _round(value, column: str):
    if isinstance(value, float):
        return float(np.round(value, KEEP_DECIMALS.get(column, DECIMALS)))
    return value
