"""aicity: search interest in AI terms across Chinese cities, Baidu-Index style, ranked the way
the Tsinghua SEM / Baidu report of January 2018 did.

Rooms: `keywords` (taxonomy, jieba), `crawler` (Scrapy project), `emulator` (a loopback stand-in
for Baidu Index), `db` (schema, every SQL statement, reference data), `analysis` (pure functions
over frames and arrays), `scheduler` (the nightly job and the demo), `cli` (a thin click layer).
"""
from __future__ import annotations

import os
from pathlib import Path

__version__ = "0.1.0"

# The folder holding this package. Child processes (`python -m aicity …`) get it first on
# PYTHONPATH, so they run the same code as their parent, installed or from a source tree.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def child_env(base: dict | None = None, **extra: str) -> dict:
    """An environment for a child `python -m aicity …` that imports this very package."""
    env = dict(os.environ if base is None else base, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", ""))
                                        if p)
    return env
