"""Built STL operators kept on disk between runs (analysis.decompose builds them; building one
costs a fit per day of its length, reading it back a few milliseconds).

The one place that says where the cache lives: `AICITY_CACHE_DIR`, else `$XDG_CACHE_HOME/aicity`,
else `~/.cache/aicity`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aicity.analysis.decompose import DecomposeConfig, operator_key, stl_operators


def default_cache_dir() -> Path:
    """Where built operators are kept unless a caller names a folder."""
    if os.environ.get("AICITY_CACHE_DIR"):
        return Path(os.environ["AICITY_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "aicity"
    return Path.home() / ".cache" / "aicity"


def cached_stl_operators(n: int, granularity: str, config: DecomposeConfig,
                         cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """stl_operators(n, granularity, config), read from the cache folder when built before
    (keyed by the settings and the statsmodels version), else built and kept there."""
    import statsmodels
    key = "-".join(str(k) for k in operator_key(n, granularity, config))
    path = Path(cache_dir or default_cache_dir()) / f"stl-{statsmodels.__version__}-{key}.npz"
    try:
        with np.load(path) as saved:
            if saved["trend"].shape == (n, n):
                return saved["trend"], saved["season"]
    except (OSError, KeyError, ValueError):
        pass                # absent, or damaged: built again below
    trend, season = stl_operators(n, granularity, config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # written aside and renamed: two analyses building the same operator never read half
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, trend=trend, season=season)
        os.replace(tmp, path)
    except OSError:
        pass          # a cache that cannot be written only costs the next run the build
    return trend, season
