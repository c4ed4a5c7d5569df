"""Work in child processes: a fresh interpreter (spawned) that calls a library function with
typed arguments (`collect(…, access=SiteAccess, tuning=Tuning)`, `analyze(…)`, an export),
never a command line built and parsed again.

A crawl's reactor runs once a process, and forking analysis workers after a crawl hung them:
the nightly job runs each stage this way, the demo its crawlers and its analysis, tests and
benches the emulator. A child keeps the caller's working directory (a relative cookies file
means what it meant), imports this very package (multiprocessing hands it the parent's
`sys.path`), dies with its parent (PR_SET_PDEATHSIG), and may hold file descriptors of its
parent's (the nightly job's run lock: held as long as any stage lives).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import reduction

# descriptors a child keeps open for its whole life (see Inherited)
_HELD: list[int] = []


class Inherited:
    """A file descriptor of the parent's for a spawned child: duplicated into the child as it
    starts (multiprocessing passes it along with its own), and kept open there."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        # pickled while the child is being spawned: DupFd then hands the descriptor over
        return (_keep, (reduction.DupFd(self.fd),))


def _keep(dup) -> int:
    fd = dup.detach()
    _HELD.append(fd)
    return fd


def start_child(parent: int, inherited: tuple[Inherited, ...] = ()) -> None:
    """A spawned child's first step: die with `parent`, even when it is killed outright (no
    crawler outlives its demo, no collect runs on beside the next night's), and keep the
    inherited descriptors (they arrive already open: unpickling them kept them)."""
    set_death_signal = die_with_parent(parent)
    if set_death_signal is not None:
        set_death_signal()


def spawned_pool(workers: int = 1, *, keep_fds: tuple[int, ...] = (),
                 max_tasks_per_child: int | None = None) -> ProcessPoolExecutor:
    """A pool of spawned children started by start_child."""
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                               initializer=start_child,
                               initargs=(os.getpid(), tuple(Inherited(fd) for fd in keep_fds)),
                               max_tasks_per_child=max_tasks_per_child)


def in_child(fn, /, *args, keep_fds: tuple[int, ...] = (), **kwargs):
    """fn(*args, **kwargs) in a spawned child: its return value, or its exception raised here
    (concurrent.futures' BrokenProcessPool when the child died without one)."""
    with spawned_pool(1, keep_fds=keep_fds) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def stop_on_sigterm() -> None:
    """SIGTERM ends this process as Ctrl-C would: worker pools are stopped on the way out (a
    parent that died on the spot left each worker a broken pipe and a traceback); the run is
    recorded as interrupted by the next one. (`aicity analyze`, and the job's analysis stage,
    which its child receives when the job is killed.)"""
    def stop(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)


def die_with_parent(parent: int):
    """A function that makes the calling process receive SIGTERM when `parent` dies (Linux;
    None elsewhere, where an inherited lock still keeps the next job out)."""
    # prctl is looked up here, before any fork: a preexec_fn runs between fork and exec, where
    # a lock another thread of the parent held at the fork (an import, a library's loader) is
    # never released, and an import there could wait for ever. The caller only calls C.
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
