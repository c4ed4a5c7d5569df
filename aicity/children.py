"""Work in child processes: a fresh interpreter (spawned) that calls a library function with
typed arguments (`collect(…, access=SiteAccess, tuning=Tuning)`, `analyze(…)`, an export),
never a command line built and parsed again.

A crawl's reactor runs once a process, and forking analysis workers after a crawl hung them:
the nightly job runs each stage this way, the demo its crawlers and its analysis, tests and
benches the emulator. A child keeps the caller's working directory (a relative cookies file
means what it meant), imports this very package (multiprocessing hands it the parent's
`sys.path`), dies with its parent, and may hold file descriptors of its parent's (the nightly
job's run lock: held as long as any stage lives).

Dying with the parent takes two things. PR_SET_PDEATHSIG sends SIGTERM when the parent dies,
but a child may catch SIGTERM to stop cleanly (a crawl finishes the series in hand), and a pool
worker whose task is done goes back to wait for the next one on a queue whose other end it
holds itself, so it never sees the parent go: a killed nightly job left its collect child
running, holding the run lock, and the next night was refused. So each child also watches its
parent (watch_parent): once the parent is gone, the child ends as soon as its task returns, and
at the latest ORPHAN_GRACE seconds later, whatever the task is doing.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import reduction

# descriptors a child keeps open for its whole life (see Inherited)
_HELD: list[int] = []

# How long an orphaned child may take to stop cleanly (a crawl commits what it holds and records
# its run) before it is ended outright: under the 5 s in which a killed job's children are gone.
ORPHAN_GRACE = 3.5
# the exit status of a child ended because its parent died (as if killed by SIGTERM)
ORPHANED = 128 + signal.SIGTERM

# set while a task runs in this child (see _task): an orphan with no task ends at once
_IDLE = threading.Event()
_IDLE.set()
# the pid this child was started by, once start_child has run
_PARENT: list[int] = []


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
    watch_parent(parent)


def watch_parent(parent: int, grace: float = ORPHAN_GRACE) -> threading.Thread:
    """End this process once `parent` is gone: at once when no task of ours is running, else
    when it returns, and `grace` seconds after the parent's death at the latest (the death
    signal has asked the task to stop by then; one that did not is cut short: what it had
    committed stays, and its run reads as interrupted)."""
    _PARENT[:] = [parent]
    watcher = threading.Thread(target=_watch, args=(parent, grace), daemon=True,
                               name="aicity-parent-watch")
    watcher.start()
    return watcher


def _watch(parent: int, grace: float) -> None:
    wait_for_death(parent)
    _IDLE.wait(grace)
    os._exit(ORPHANED)


def wait_for_death(pid: int) -> None:
    """Return once process `pid` has ended (a pidfd becomes readable then: no polling on Linux
    5.3 and later; elsewhere the parent pid is asked twice a second)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while os.getppid() == pid:
            time.sleep(0.5)
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def orphaned() -> bool:
    """True in a child started by start_child whose parent has died."""
    return bool(_PARENT) and os.getppid() != _PARENT[0]


def _task(fn, args, kwargs):
    """A task in a child: marked busy while it runs; an orphan ends as it returns (its answer
    has nobody to go to, and the pool's queue would hold it for ever)."""
    _IDLE.clear()
    try:
        return fn(*args, **kwargs)
    finally:
        _IDLE.set()
        if orphaned():
            os._exit(ORPHANED)


class ChildPool(ProcessPoolExecutor):
    """A pool of spawned children that die with this process (see the module's note)."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(_task, fn, args, kwargs)


def spawned_pool(workers: int = 1, *, keep_fds: tuple[int, ...] = (),
                 max_tasks_per_child: int | None = None) -> ProcessPoolExecutor:
    """A pool of spawned children started by start_child."""
    return ChildPool(workers, mp_context=mp.get_context("spawn"), initializer=start_child,
                     initargs=(os.getpid(), tuple(Inherited(fd) for fd in keep_fds)),
                     max_tasks_per_child=max_tasks_per_child)


def exit_within(seconds: float, status: int) -> threading.Timer:
    """End this process with `status` after `seconds`, whatever its main thread is doing (a
    reactor stuck in a call to a server that no longer answers); cancel() the timer to spare
    it."""
    timer = threading.Timer(seconds, os._exit, args=(status,))
    timer.daemon = True
    timer.start()
    return timer


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
