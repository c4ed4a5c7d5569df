"""Start and stop the emulator in a child process (for `aicity demo`, benches and tests).

A child process, not a thread: the emulator and the crawler each want a core and a reactor.
The child is spawned and calls `serve_emulator` with the world's arguments (aicity.children),
as `aicity emulator` does from its options.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from contextlib import contextmanager
from datetime import datetime, timedelta

from aicity.vocabulary import SHANGHAI


def _serve(parent: int, options: dict, cpus: tuple[int, ...], ready) -> None:
    """In the child: build the world, serve on a free loopback port, say which (or why not)."""
    from datetime import date

    from aicity.children import start_child
    from aicity.emulator import build_state, serve_emulator
    start_child(parent)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        state = build_state(latest=date.fromisoformat(options.pop("latest")), **options)
    except ValueError as err:
        ready.send(("error", str(err)))
        return
    # what it would print or log goes nowhere: the parent has the port, and tests and the
    # demo keep their output for themselves
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    serve_emulator(state, port=0, host="127.0.0.1",
                   on_ready=lambda port: ready.send(("port", port)))


@contextmanager
def running_emulator(*, seed: int = 0, faults: str = "", latest: str | None = None,
                     rate_limit: str = "0", block_seconds: float = 600.0,
                     timeout_delay: float = 30.0, extra_words: str = "", taxonomy: str = "",
                     habits: str = "real", site_key: str = "", site_t0: int | None = None,
                     site_version: str = "", cpus: tuple[int, ...] = ()):
    """Yield the base URL of a fresh emulator on a free loopback port; stop it afterwards.

    `cpus` pins the emulator to those cores (benches give it one of its own). The child is
    spawned: a script that calls this at its top level needs multiprocessing's
    `if __name__ == "__main__":` guard, as every bench has."""
    # by default the world ends yesterday in Beijing (the emulator takes nothing of the
    # crawler's, not even its rule for what the site has published)
    yesterday = (datetime.now(SHANGHAI) - timedelta(days=1)).date().isoformat()
    options = {"latest": latest or yesterday, "seed": seed,
               "faults": faults, "rate_limit": rate_limit, "block_seconds": block_seconds,
               "timeout_delay": timeout_delay, "taxonomy": taxonomy or None,
               "extra_words": extra_words, "habits": habits, "site_key": site_key,
               "site_t0": site_t0, "site_version": site_version}
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_serve, args=(os.getpid(), options, tuple(cpus), theirs),
                       daemon=True)
    proc.start()
    theirs.close()
    try:
        try:
            # the world is built and the port bound first: that takes a few seconds
            what, value = ours.recv() if ours.poll(120) else ("error", "no answer in 120 s")
        except EOFError:
            what, value = "error", f"it exited with {proc.exitcode}"
        if what != "port":
            raise RuntimeError(f"emulator did not start: {value}")
        yield f"http://127.0.0.1:{value}"
    finally:
        proc.terminate()            # the reactor stops on SIGTERM
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        ours.close()
