"""A loopback Baidu Index emulator: the same protocol, a simulated world (source 'emulator').

`serve_emulator` is what `aicity emulator` runs; `process.running_emulator` starts one in a
child process for the demo, benches and tests.
"""
from __future__ import annotations

import ipaddress
from datetime import date


def build_state(*, latest: date, seed: int = 0, faults: str = "", rate_limit: str = "120/60",
                block_seconds: float = 600.0, timeout_delay: float = 30.0,
                taxonomy=None, extra_words: str = "", habits: str = "real",
                site_key: str = "", site_t0: int | None = None, site_version: str = ""):
    """The emulator's state: a simulated world for the taxonomy's keywords (and extra words),
    the site's limits, habits and Cipher-Text constants, and injected faults. ValueError names
    a spec that does not parse."""
    from aicity.db.regions import default_registry
    from aicity.emulator.server import EmulatorState, Habits, Limits, Site, parse_faults
    from aicity.emulator.world import World
    from aicity.keywords.taxonomy import default_taxonomy, load_taxonomy
    fault_rates = parse_faults(faults)
    habit_set = Habits.parse(habits)
    site = Site(**{k: v for k, v in (("key", site_key), ("t0", site_t0),
                                     ("version", site_version)) if v})
    if rate_limit in ("0", ""):
        requests, window = 0, 60.0
    else:
        n, _, secs = rate_limit.partition("/")
        requests, window = int(n), float(secs or 60)
    tax = load_taxonomy(taxonomy) if taxonomy else default_taxonomy()
    words = {}
    for t in tax.terms:
        words.setdefault(t.term, (t.category, t.group, t.since))
    for w in filter(None, (x.strip() for x in extra_words.split(","))):
        words.setdefault(w, ("", ""))
    world = World(default_registry(), words, seed=seed, latest=latest)
    return EmulatorState(world, Limits(requests, window, block_seconds, timeout_delay),
                         fault_rates, seed, habits=habit_set, site=site)


def serve_emulator(state, *, port: int = 8765, host: str = "127.0.0.1", on_ready=None) -> None:
    """Serve until stopped; `on_ready(port)` once bound. Only a loopback host is allowed."""
    from aicity.emulator.server import serve
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{host} is not a loopback address")
    serve(state, port=port, host=host, on_ready=on_ready)
