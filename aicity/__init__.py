"""aicity: search interest in AI terms across Chinese cities, Baidu-Index style, ranked the way
the Tsinghua SEM / Baidu report of January 2018 did.

Rooms: `keywords` (taxonomy, jieba), `crawler` (Scrapy project), `emulator` (a loopback stand-in
for Baidu Index), `db` (schema, every SQL statement, reference data), `analysis` (pure functions
over frames and arrays), `scheduler` (the nightly job and the demo), `cli` (a thin click layer).
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

# The folder holding this package. Child processes (`python -m aicity …`) get it first on
# PYTHONPATH (aicity.children), so they run the same code as their parent, installed or from a
# source tree.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

