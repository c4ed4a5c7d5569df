"""Start and stop the emulator as a child process (for `aicity demo`, benches and tests).

A child process, not a thread: the emulator and the crawler each want a core and a reactor.
"""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

from aicity.children import child_env


@contextmanager
def running_emulator(*, seed: int = 0, faults: str = "", latest: str | None = None,
                     rate_limit: str = "0", block_seconds: float = 600.0,
                     timeout_delay: float = 30.0, extra_words: str = "", taxonomy: str = "",
                     habits: str = "real", site_key: str = "", site_t0: int | None = None,
                     site_version: str = "", prefix: tuple[str, ...] = ()):
    """Yield the base URL of a fresh emulator on a free loopback port; stop it afterwards.

    `prefix` goes before the command (benches pin the emulator to its own core with
    ("taskset", "-c", "1"))."""
    args = [sys.executable, "-m", "aicity", "emulator", "--port", "0", "--seed", str(seed),
            "--rate-limit", rate_limit, "--block-seconds", str(block_seconds),
            "--timeout-delay", str(timeout_delay), "--habits", habits]
    if site_key:
        args += ["--site-key", site_key]
    if site_t0 is not None:
        args += ["--site-t0", str(site_t0)]
    if site_version:
        args += ["--site-version", site_version]
    if faults:
        args += ["--faults", faults]
    if latest:
        args += ["--latest", latest]
    if extra_words:
        args += ["--extra-words", extra_words]
    if taxonomy:
        args += ["--taxonomy", taxonomy]
    args = [*prefix, *args]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    try:
        line = proc.stdout.readline()  # blocks until the server has bound its port
        if "listening on" not in line:
            err = proc.stderr.read() if proc.poll() is not None else ""
            raise RuntimeError(f"emulator did not start: {line.strip()} {err.strip()}")
        yield line.strip().rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
