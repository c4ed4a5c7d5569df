"""Child processes that run `python -m aicity …`: the same code as their parent, and gone when
their parent dies.

The nightly job runs each stage this way (Scrapy's reactor runs once per process) and the demo
its analysis (forking workers after a crawl in the same process hung them).
"""
from __future__ import annotations

import os
import signal
import sys

from aicity import PACKAGE_ROOT


def aicity_command(*args: str) -> list[str]:
    """argv for `python -m aicity ARGS` with this interpreter."""
    return [sys.executable, "-m", "aicity", *args]


def child_env(base: dict | None = None, **extra: str) -> dict:
    """An environment for a child `python -m aicity …` that imports this very package. An
    installed package is found as it is; a source tree (not installed) goes first on the
    child's PYTHONPATH. The child keeps the caller's working directory, so relative paths the
    user gave (a cookies file, a cipher file, the database) mean what they meant."""
    env = dict(os.environ if base is None else base, **extra)
    if (PACKAGE_ROOT / "setup.cfg").is_file():      # running from a checkout
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def die_with_parent(parent: int):
    """preexec_fn for a child: the kernel sends it SIGTERM when the parent dies, even by
    SIGKILL, so no collect outlives its job and runs beside the next one (Linux; a no-op
    elsewhere, where an inherited lock still keeps the next job out)."""
    # prctl is looked up here, in the parent: the preexec_fn runs between fork and exec, where
    # a lock another thread of the parent held at the fork (an import, a library's loader) is
    # never released, and an import there could wait for ever. The child only calls C.
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal():
        prctl(1, signal.SIGTERM)                   # PR_SET_PDEATHSIG
        if os.getppid() != parent:                 # the parent died before prctl took effect
            os._exit(1)
    return set_death_signal
