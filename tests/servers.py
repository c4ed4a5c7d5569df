"""Real PostgreSQL and Redis servers on loopback, started for a test session (or a bench run)
in a temporary folder and stopped after it. `.ci/run` installs Debian's postgresql and
redis-server; where they are missing the tests that need them skip and say why.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """Debian puts the server programs under /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb") or next(iter(sorted(glob.glob(
        "/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None)
    return Path(found).parent if found else None


def why_no_postgres() -> str:
    if postgres_bin() is None:
        return "PostgreSQL's server (initdb, pg_ctl) is not installed: apt-get install postgresql"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "PostgreSQL refuses to run as root and runuser is missing"
    return ""


def why_no_redis() -> str:
    return "" if shutil.which("redis-server") else \
        "redis-server is not installed: apt-get install redis-server"


def _wait_for_port(port: int, proc: subprocess.Popen | None, what: str,
                   timeout: float = 30.0) -> None:
    # Polls the port a server opens; the server's own start-up is what is waited for.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} in {timeout:.0f} s")


@contextlib.contextmanager
def running_postgres():
    """A throwaway PostgreSQL cluster on a free loopback port; yields a URL to database
    'postgres' (superuser, trust authentication on loopback only)."""
    bindir = postgres_bin()
    tmp = Path(tempfile.mkdtemp(prefix="aicity-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:            # initdb and postgres refuse root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(tmp, "postgres")
    data, port = tmp / "data", free_port()
    log = tmp / "server.log"
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                        "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True,
                       capture_output=True)
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log),
                        "-w", "-o", f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 "
                        f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                        "start"], check=True, capture_output=True)
        _wait_for_port(port, None, "postgres")
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        # `pg_ctl restart -m fast`, as an operator or a fail-over restarts it
        RESTART[url] = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log),
                        "-m", "fast", "-w", "restart"]
        yield url
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


# the command that restarts each server running_postgres started, by its URL
RESTART: dict[str, list[str]] = {}


def new_database(server_url: str, name: str) -> str:
    """A new empty database on the server; returns its URL."""
    import psycopg
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def running_redis():
    """A throwaway redis-server on a free loopback port, no persistence; yields its URL."""
    tmp = Path(tempfile.mkdtemp(prefix="aicity-redis-"))
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def counting_relay(target_url: str):
    """A loopback TCP relay in front of `target_url` that counts the connections it accepts
    (what a client's keep-alive decides); yields (its URL, a list whose length is that count)."""
    import asyncio
    import threading
    from urllib.parse import urlsplit

    target = urlsplit(target_url)
    accepted: list[float] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def pipe(reader, writer):
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(client_reader, client_writer):
        accepted.append(time.monotonic())
        server_reader, server_writer = await asyncio.open_connection(target.hostname,
                                                                     target.port)
        await asyncio.gather(pipe(client_reader, server_writer),
                             pipe(server_reader, client_writer))

    async def main():
        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            with contextlib.suppress(asyncio.CancelledError):   # how the relay is stopped
                await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port[0]}", accepted
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(10)
        loop.close()
