"""aicity: search interest in AI terms across Chinese cities, Baidu-Index style, ranked the way
the Tsinghua SEM / Baidu report of January 2018 did.

Rooms: `keywords` (taxonomy, jieba), `crawler` (Scrapy project), `emulator` (a loopback stand-in
for Baidu Index), `db` (schema, every SQL statement, reference data), `analysis` (pure functions
over frames and arrays), `service` (what the commands do between the two), `importer` (CSV
import), `children` (work in spawned processes), `scheduler` (the nightly job), `demo`, `cli` (a
thin click layer).
"""
from __future__ import annotations

__version__ = "0.1.0"

